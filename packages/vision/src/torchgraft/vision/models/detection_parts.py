"""The parts of a two-stage detector: image batching, anchors, box encoding, matching and sampling,
the region proposal network and the box head. Parameter layouts follow torchvision's, so its
Faster R-CNN checkpoints load. torchvision is imported lazily (for ``torchvision.ops``): importing
this module costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._layers import ConvNormAct

__all__ = ["AnchorGenerator", "BoxCoder", "DetectionTransform", "RPN", "RoIHeads"]

BBOX_CLIP = math.log(1000.0 / 16)


def _ops():
    import torchvision.ops

    return torchvision.ops


# --------------------------------------------------------------------------- images in, boxes out
class DetectionTransform(nn.Module):
    """Normalises, resizes (shorter side to ``min_size``, longer at most ``max_size``) and pads a
    list of ``[3, H, W]`` images into one ``[N, 3, H', W']`` batch; maps boxes back afterwards."""

    def __init__(
        self, min_size: int, max_size: int, mean: Sequence[float], std: Sequence[float], size_divisible: int = 32
    ) -> None:
        super().__init__()
        self.min_size, self.max_size, self.size_divisible = min_size, max_size, size_divisible
        self.mean, self.std = list(mean), list(std)

    def _resize(self, image: Tensor, target: dict[str, Tensor] | None) -> tuple[Tensor, dict[str, Tensor] | None]:
        h, w = image.shape[-2:]
        scale = min(self.min_size / min(h, w), self.max_size / max(h, w))
        image = F.interpolate(
            image[None], scale_factor=scale, mode="bilinear", recompute_scale_factor=True, align_corners=False
        )[0]
        if target is not None and "boxes" in target:
            target = {**target, "boxes": _rescale(target["boxes"], (h, w), image.shape[-2:])}
        return image, target

    def forward(
        self, images: Sequence[Tensor], targets: Sequence[dict[str, Tensor]] | None = None
    ) -> tuple[Tensor, list[tuple[int, int]], list[dict[str, Tensor]] | None]:
        out_images, out_targets = [], [] if targets is not None else None
        for i, image in enumerate(images):
            if image.dim() != 3 or image.shape[0] != 3 or not image.is_floating_point():
                raise ValueError(
                    f"images must be float tensors [3, H, W] in [0, 1]; image {i} is {image.dtype} {list(image.shape)}"
                )
            mean = image.new_tensor(self.mean)[:, None, None]
            std = image.new_tensor(self.std)[:, None, None]
            resized, target = self._resize((image - mean) / std, None if targets is None else targets[i])
            out_images.append(resized)
            if out_targets is not None:
                out_targets.append(target)
        sizes = [tuple(img.shape[-2:]) for img in out_images]
        stride = self.size_divisible
        H = int(math.ceil(max(s[0] for s in sizes) / stride) * stride)
        W = int(math.ceil(max(s[1] for s in sizes) / stride) * stride)
        batch = out_images[0].new_zeros(len(out_images), 3, H, W)
        for img, slot in zip(out_images, batch, strict=True):
            slot[:, : img.shape[1], : img.shape[2]].copy_(img)
        return batch, sizes, out_targets

    @staticmethod
    def postprocess(
        results: list[dict[str, Tensor]], sizes: list[tuple[int, int]], originals: list[tuple[int, int]]
    ) -> list[dict[str, Tensor]]:
        return [{**r, "boxes": _rescale(r["boxes"], s, o)} for r, s, o in zip(results, sizes, originals, strict=True)]


def _rescale(boxes: Tensor, old: Sequence[int], new: Sequence[int]) -> Tensor:
    ratio_h = torch.tensor(new[0], dtype=torch.float32, device=boxes.device) / torch.tensor(
        old[0], dtype=torch.float32, device=boxes.device
    )
    ratio_w = torch.tensor(new[1], dtype=torch.float32, device=boxes.device) / torch.tensor(
        old[1], dtype=torch.float32, device=boxes.device
    )
    x1, y1, x2, y2 = boxes.unbind(1)
    return torch.stack((x1 * ratio_w, y1 * ratio_h, x2 * ratio_w, y2 * ratio_h), dim=1)


# --------------------------------------------------------------------------- anchors and boxes
class AnchorGenerator(nn.Module):
    """``len(sizes[i]) * len(aspect_ratios[i])`` anchors per position of feature map ``i``."""

    def __init__(self, sizes: Sequence[Sequence[int]], aspect_ratios: Sequence[Sequence[float]]) -> None:
        super().__init__()
        if len(sizes) != len(aspect_ratios):
            raise ValueError(f"one aspect-ratio list per size list: found {len(sizes)} and {len(aspect_ratios)}")
        self.cell_anchors = [self._cell(s, a) for s, a in zip(sizes, aspect_ratios, strict=True)]

    @staticmethod
    def _cell(sizes: Sequence[int], ratios: Sequence[float]) -> Tensor:
        scales = torch.as_tensor(sizes, dtype=torch.float32)
        ratios_t = torch.as_tensor(ratios, dtype=torch.float32)
        h = torch.sqrt(ratios_t)
        w = 1 / h
        ws = (w[:, None] * scales[None, :]).view(-1)
        hs = (h[:, None] * scales[None, :]).view(-1)
        return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()

    def num_anchors_per_location(self) -> list[int]:
        return [c.shape[0] for c in self.cell_anchors]

    def forward(self, image_size: Sequence[int], feature_maps: Sequence[Tensor]) -> Tensor:
        anchors = []
        for cell, fmap in zip(self.cell_anchors, feature_maps, strict=True):
            fh, fw = fmap.shape[-2:]
            sy, sx = image_size[0] // fh, image_size[1] // fw
            dev = fmap.device
            ys = torch.arange(0, fh, dtype=torch.int32, device=dev) * sy
            xs = torch.arange(0, fw, dtype=torch.int32, device=dev) * sx
            yy, xx = torch.meshgrid(ys, xs, indexing="ij")
            shifts = torch.stack((xx.reshape(-1), yy.reshape(-1), xx.reshape(-1), yy.reshape(-1)), dim=1)
            anchors.append((shifts.view(-1, 1, 4) + cell.to(dev).view(1, -1, 4)).reshape(-1, 4))
        return torch.cat(anchors)  # [sum(H_i * W_i * A_i), 4], the same for every image of a batch


class BoxCoder:
    """Boxes as offsets ``(dx, dy, dw, dh)`` relative to reference boxes, scaled by ``weights``."""

    def __init__(self, weights: tuple[float, float, float, float]) -> None:
        self.weights = weights

    def encode(self, boxes: Tensor, refs: Tensor) -> Tensor:
        wx, wy, ww, wh = self.weights
        rw, rh = refs[:, 2] - refs[:, 0], refs[:, 3] - refs[:, 1]
        rx, ry = refs[:, 0] + 0.5 * rw, refs[:, 1] + 0.5 * rh
        bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        bx, by = boxes[:, 0] + 0.5 * bw, boxes[:, 1] + 0.5 * bh
        return torch.stack(
            (wx * (bx - rx) / rw, wy * (by - ry) / rh, ww * torch.log(bw / rw), wh * torch.log(bh / rh)), dim=1
        )

    def decode(self, codes: Tensor, refs: Tensor) -> Tensor:
        """``codes`` ``[N, 4k]`` against ``refs`` ``[N, 4]`` -> boxes ``[N, k, 4]``."""
        refs = refs.to(codes.dtype)
        wx, wy, ww, wh = self.weights
        rw, rh = refs[:, 2] - refs[:, 0], refs[:, 3] - refs[:, 1]
        rx, ry = refs[:, 0] + 0.5 * rw, refs[:, 1] + 0.5 * rh
        dx, dy = codes[:, 0::4] / wx, codes[:, 1::4] / wy
        dw = torch.clamp(codes[:, 2::4] / ww, max=BBOX_CLIP)
        dh = torch.clamp(codes[:, 3::4] / wh, max=BBOX_CLIP)
        cx, cy = dx * rw[:, None] + rx[:, None], dy * rh[:, None] + ry[:, None]
        w, h = torch.exp(dw) * rw[:, None], torch.exp(dh) * rh[:, None]
        half_w = torch.tensor(0.5, dtype=cx.dtype, device=w.device) * w
        half_h = torch.tensor(0.5, dtype=cy.dtype, device=h.device) * h
        out = torch.stack((cx - half_w, cy - half_h, cx + half_w, cy + half_h), dim=2)
        return out.reshape(codes.shape[0], -1, 4)


def match(quality: Tensor, high: float, low: float, allow_low_quality: bool) -> Tensor:
    """For each prediction (column of the ``[gt, pred]`` IoU matrix), the matched ground-truth index,
    or -1 (background, IoU < low) or -2 (ignored, low <= IoU < high)."""
    if quality.numel() == 0:
        return torch.full((quality.shape[1],), -1, dtype=torch.int64, device=quality.device)
    best, idx = quality.max(dim=0)
    original = idx.clone() if allow_low_quality else None
    idx[best < low] = -1
    idx[(best >= low) & (best < high)] = -2
    if original is not None:
        best_for_gt, _ = quality.max(dim=1)
        gt_pred = torch.where(quality == best_for_gt[:, None])
        idx[gt_pred[1]] = original[gt_pred[1]]
    return idx


def sample(labels: Sequence[Tensor], per_image: int, positive_fraction: float) -> tuple[list[Tensor], list[Tensor]]:
    """Random balanced positives (label >= 1) and negatives (label 0), as masks per image."""
    pos_masks, neg_masks = [], []
    for lab in labels:
        positive = torch.where(lab >= 1)[0]
        negative = torch.where(lab == 0)[0]
        num_pos = min(positive.numel(), int(per_image * positive_fraction))
        num_neg = min(negative.numel(), per_image - num_pos)
        pos = positive[torch.randperm(positive.numel(), device=lab.device)[:num_pos]]
        neg = negative[torch.randperm(negative.numel(), device=lab.device)[:num_neg]]
        pos_mask = torch.zeros_like(lab, dtype=torch.uint8)
        neg_mask = torch.zeros_like(lab, dtype=torch.uint8)
        pos_mask[pos] = 1
        neg_mask[neg] = 1
        pos_masks.append(pos_mask)
        neg_masks.append(neg_mask)
    return pos_masks, neg_masks


# --------------------------------------------------------------------------- region proposals
class RPNHead(nn.Module):
    def __init__(self, in_channels: int, num_anchors: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(ConvNormAct(in_channels, in_channels, 3, norm_layer=None))
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in (self.conv[0][0], self.cls_logits, self.bbox_pred):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, features: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        logits, deltas = [], []
        for f in features:
            t = self.conv(f)
            logits.append(self.cls_logits(t))
            deltas.append(self.bbox_pred(t))
        return logits, deltas


def _flatten(maps: Sequence[Tensor], channels_per_anchor: int) -> Tensor:
    """Per-level ``[N, A*C, H, W]`` maps -> ``[N, sum(H*W*A), C]`` in anchor order."""
    flat = []
    for m in maps:
        n, ac, h, w = m.shape
        a = ac // channels_per_anchor
        flat.append(m.view(n, a, channels_per_anchor, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, channels_per_anchor))
    return torch.cat(flat, dim=1)


class RPN(nn.Module):
    def __init__(
        self,
        anchor_generator: AnchorGenerator,
        head: RPNHead,
        *,
        fg_iou_thresh: float = 0.7,
        bg_iou_thresh: float = 0.3,
        batch_size_per_image: int = 256,
        positive_fraction: float = 0.5,
        pre_nms_top_n: dict[str, int] | None = None,
        post_nms_top_n: dict[str, int] | None = None,
        nms_thresh: float = 0.7,
        score_thresh: float = 0.0,
    ) -> None:
        super().__init__()
        self.anchor_generator, self.head = anchor_generator, head
        self.coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
        self.fg, self.bg = fg_iou_thresh, bg_iou_thresh
        self.batch_size_per_image, self.positive_fraction = batch_size_per_image, positive_fraction
        self.pre_nms_top_n = pre_nms_top_n or {"training": 2000, "testing": 1000}
        self.post_nms_top_n = post_nms_top_n or {"training": 2000, "testing": 1000}
        self.nms_thresh, self.score_thresh, self.min_size = nms_thresh, score_thresh, 1e-3

    def _mode(self) -> str:
        return "training" if self.training else "testing"

    def forward(
        self,
        batch: Tensor,
        sizes: list[tuple[int, int]],
        features: list[Tensor],
        targets: list[dict[str, Tensor]] | None,
    ) -> tuple[list[Tensor], dict[str, Tensor]]:
        ops = _ops()
        logits, deltas = self.head(features)
        anchors = self.anchor_generator(batch.shape[-2:], features)
        per_level = [lvl[0].numel() for lvl in logits]  # anchors per level: A * H * W
        objectness = _flatten(logits, 1).flatten(1)  # [N, total]
        codes = _flatten(deltas, 4)  # [N, total, 4]
        n = batch.shape[0]
        proposals = self.coder.decode(codes.detach().reshape(-1, 4), anchors.repeat(n, 1)).view(n, -1, 4)
        boxes = self._filter(proposals, objectness.detach(), sizes, per_level, ops)
        losses: dict[str, Tensor] = {}
        if self.training:
            if targets is None:
                raise ValueError("in training mode, targets (a list of dicts with boxes and labels) are required")
            losses = self._losses(anchors, objectness, codes, targets, ops)
        return boxes, losses

    def _filter(
        self, proposals: Tensor, objectness: Tensor, sizes: list[tuple[int, int]], per_level: list[int], ops
    ) -> list[Tensor]:
        n = proposals.shape[0]
        levels = torch.cat(
            [torch.full((c,), i, dtype=torch.int64, device=proposals.device) for i, c in enumerate(per_level)]
        )
        levels = levels.reshape(1, -1).expand_as(objectness)
        top_idx, offset = [], 0
        for chunk in objectness.split(per_level, 1):
            k = min(self.pre_nms_top_n[self._mode()], chunk.shape[1])
            top_idx.append(chunk.topk(k, dim=1).indices + offset)
            offset += chunk.shape[1]
        idx = torch.cat(top_idx, dim=1)
        rows = torch.arange(n, device=proposals.device)[:, None]
        objectness, levels, proposals = objectness[rows, idx], levels[rows, idx], proposals[rows, idx]
        probs = torch.sigmoid(objectness)
        out = []
        for boxes, scores, lvl, size in zip(proposals, probs, levels, sizes, strict=True):
            boxes = ops.clip_boxes_to_image(boxes, size)
            keep = ops.remove_small_boxes(boxes, self.min_size)
            boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
            keep = torch.where(scores >= self.score_thresh)[0]
            boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
            keep = ops.batched_nms(boxes, scores, lvl, self.nms_thresh)[: self.post_nms_top_n[self._mode()]]
            out.append(boxes[keep])
        return out

    def _losses(
        self, anchors: Tensor, objectness: Tensor, codes: Tensor, targets: list[dict[str, Tensor]], ops
    ) -> dict[str, Tensor]:
        labels, regression = [], []
        for t in targets:
            gt = t["boxes"]
            if gt.numel() == 0:
                labels.append(torch.zeros(anchors.shape[0], device=anchors.device))
                regression.append(torch.zeros_like(anchors))
                continue
            idx = match(ops.box_iou(gt, anchors), self.fg, self.bg, allow_low_quality=True)
            matched = gt[idx.clamp(min=0)]
            lab = (idx >= 0).to(torch.float32)
            lab[idx == -1] = 0.0
            lab[idx == -2] = -1.0
            labels.append(lab)
            regression.append(self.coder.encode(matched, anchors))
        pos, neg = sample(labels, self.batch_size_per_image, self.positive_fraction)
        pos_idx = torch.where(torch.cat(pos))[0]
        all_idx = torch.where(torch.cat(pos) | torch.cat(neg))[0]
        box_loss = F.smooth_l1_loss(
            codes.reshape(-1, 4)[pos_idx], torch.cat(regression)[pos_idx], beta=1 / 9, reduction="sum"
        )
        obj_loss = F.binary_cross_entropy_with_logits(objectness.flatten()[all_idx], torch.cat(labels)[all_idx])
        return {"loss_objectness": obj_loss, "loss_rpn_box_reg": box_loss / max(all_idx.numel(), 1)}


# --------------------------------------------------------------------------- box head
class TwoMLPHead(nn.Module):
    def __init__(self, in_channels: int, representation: int) -> None:
        super().__init__()
        self.fc6 = nn.Linear(in_channels, representation)
        self.fc7 = nn.Linear(representation, representation)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.fc7(F.relu(self.fc6(x.flatten(1)))))


class BoxPredictor(nn.Module):
    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.cls_score = nn.Linear(in_channels, num_classes)
        self.bbox_pred = nn.Linear(in_channels, num_classes * 4)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = x.flatten(1)
        return self.cls_score(x), self.bbox_pred(x)


class RoIHeads(nn.Module):
    def __init__(
        self,
        box_roi_pool: nn.Module,
        box_head: nn.Module,
        box_predictor: nn.Module,
        *,
        fg_iou_thresh: float = 0.5,
        bg_iou_thresh: float = 0.5,
        batch_size_per_image: int = 512,
        positive_fraction: float = 0.25,
        score_thresh: float = 0.05,
        nms_thresh: float = 0.5,
        detections_per_img: int = 100,
    ) -> None:
        super().__init__()
        self.box_roi_pool, self.box_head, self.box_predictor = box_roi_pool, box_head, box_predictor
        self.coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
        self.fg, self.bg = fg_iou_thresh, bg_iou_thresh
        self.batch_size_per_image, self.positive_fraction = batch_size_per_image, positive_fraction
        self.score_thresh, self.nms_thresh, self.detections_per_img = score_thresh, nms_thresh, detections_per_img

    def forward(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        sizes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]] | None,
    ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        ops = _ops()
        if self.training:
            if targets is None:
                raise ValueError("in training mode, targets are required")
            proposals, labels, regression = self._select_training_samples(proposals, targets, ops)
        pooled = self.box_roi_pool(features, proposals, sizes)
        class_logits, box_codes = self.box_predictor(self.box_head(pooled))
        if self.training:
            labels_t, regression_t = torch.cat(labels), torch.cat(regression)
            cls_loss = F.cross_entropy(class_logits, labels_t)
            pos = torch.where(labels_t > 0)[0]
            codes = box_codes.reshape(box_codes.shape[0], -1, 4)[pos, labels_t[pos]]
            box_loss = F.smooth_l1_loss(codes, regression_t[pos], beta=1 / 9, reduction="sum") / max(
                labels_t.numel(), 1
            )
            return [], {"loss_classifier": cls_loss, "loss_box_reg": box_loss}
        return self._postprocess(class_logits, box_codes, proposals, sizes, ops), {}

    def _select_training_samples(self, proposals: list[Tensor], targets: list[dict[str, Tensor]], ops):
        out_props, out_labels, out_reg = [], [], []
        for props, t in zip(proposals, targets, strict=True):
            gt_boxes, gt_labels = t["boxes"].to(props.dtype), t["labels"].to(torch.int64)
            props = torch.cat([props, gt_boxes])
            if gt_boxes.numel() == 0:
                idx = torch.full((props.shape[0],), -1, dtype=torch.int64, device=props.device)
                gt_boxes = props.new_zeros(1, 4)
                gt_labels = torch.zeros(1, dtype=torch.int64, device=props.device)
            else:
                idx = match(ops.box_iou(gt_boxes, props), self.fg, self.bg, allow_low_quality=False)
            labels = gt_labels[idx.clamp(min=0)]
            labels[idx == -1] = 0
            labels[idx == -2] = -1
            pos, neg = sample([labels], self.batch_size_per_image, self.positive_fraction)
            keep = torch.where(pos[0] | neg[0])[0]
            props, labels = props[keep], labels[keep]
            out_props.append(props)
            out_labels.append(labels)
            out_reg.append(self.coder.encode(gt_boxes[idx.clamp(min=0)][keep], props))
        return out_props, out_labels, out_reg

    def _postprocess(
        self, logits: Tensor, codes: Tensor, proposals: list[Tensor], sizes: list[tuple[int, int]], ops
    ) -> list[dict[str, Tensor]]:
        num_classes = logits.shape[-1]
        counts = [p.shape[0] for p in proposals]
        boxes_all = self.coder.decode(codes, torch.cat(proposals)).split(counts)
        scores_all = F.softmax(logits, -1).split(counts)
        results = []
        for boxes, scores, size in zip(boxes_all, scores_all, sizes, strict=True):
            boxes = ops.clip_boxes_to_image(boxes, size)
            labels = torch.arange(num_classes, device=boxes.device).view(1, -1).expand_as(scores)
            boxes, scores, labels = boxes[:, 1:].reshape(-1, 4), scores[:, 1:].reshape(-1), labels[:, 1:].reshape(-1)
            keep = torch.where(scores > self.score_thresh)[0]
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = ops.remove_small_boxes(boxes, 1e-2)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = ops.batched_nms(boxes, scores, labels, self.nms_thresh)[: self.detections_per_img]
            results.append({"boxes": boxes[keep], "labels": labels[keep], "scores": scores[keep]})
        return results
