"""Faster R-CNN with a feature pyramid built from any spatial backbone's stages (Ren et al., 2015;
Lin et al., 2017), keeping torchvision's calling convention and state-dict layout.

``FasterRCNN(backbone, num_classes)`` takes a torchgraft spatial backbone (its ``feature_spec``
stages feed the FPN) or a torchvision-style module with ``out_channels`` returning a dict of maps.
Images are a list of float ``[3, H, W]`` tensors in [0, 1]; training returns a dict of losses,
eval a list of ``{"boxes", "labels", "scores"}``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from torchgraft.core import (
    IncompatibleHeadError,
    Part,
    Weights,
    WeightsEnum,
    build_model,
    check_backbone,
    fixed_config,
    own_weights,
    register_model,
    shard_units,
)

from .._imagenet import coco_categories
from ..transforms import IMAGENET_MEAN, IMAGENET_STD, ObjectDetection
from ._meta import TORCHVISION
from .detection_parts import RPN, AnchorGenerator, BoxPredictor, DetectionTransform, RoIHeads, RPNHead, TwoMLPHead

__all__ = [
    "BackboneWithFPN",
    "FasterRCNN",
    "FasterRCNN_ResNet50_FPN_Weights",
    "fasterrcnn",
    "fasterrcnn_resnet50_fpn",
    "freeze_batchnorm",
]


class BackboneWithFPN(nn.Module):
    """A spatial backbone (``body``) whose stages feed a feature pyramid (``fpn``): maps
    ``"0".."n-1"`` at the stages' strides, each ``out_channels`` wide, plus ``"pool"``."""

    def __init__(
        self, body: nn.Module, stage_names: Sequence[str], in_channels: Sequence[int], out_channels: int = 256
    ) -> None:
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

        self.body = body
        self.stage_names = list(stage_names)
        self.fpn = FeaturePyramidNetwork(list(in_channels), out_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        stages = self.body.forward_features(x).stages
        return self.fpn(OrderedDict((str(i), stages[name]) for i, name in enumerate(self.stage_names)))


def pyramid_from_spec(backbone: nn.Module, *, max_levels: int = 4, out_channels: int = 256) -> BackboneWithFPN:
    """Wraps a torchgraft spatial backbone: its last ``max_levels`` stages of stride >= 4. The
    backbone's own classifier, unused by a detector, is dropped (``reset_classifier(0)``)."""
    spec = check_backbone(backbone)
    stages = [s for s in spec.stages if s.stride >= 4][-max_levels:]
    if spec.kind != "spatial" or len(stages) < 2:
        raise IncompatibleHeadError(
            f"a feature pyramid needs a spatial backbone with at least two stages of stride >= 4; "
            f"{type(backbone).__name__} produces {spec.kind} features with stages {[(s.name, s.stride) for s in spec.stages]}"
        )
    if hasattr(backbone, "reset_classifier"):
        backbone.reset_classifier(0)
    return BackboneWithFPN(backbone, [s.name for s in stages], [s.channels for s in stages], out_channels)


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """Replaces every ``BatchNorm2d`` by a ``FrozenBatchNorm2d`` holding the same statistics (what
    detection fine-tuning with small batches needs); returns ``module``."""
    from torchvision.ops import FrozenBatchNorm2d

    for name, child in list(module.named_children()):
        if type(child) is nn.BatchNorm2d:
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            with torch.no_grad():
                for key in ("weight", "bias", "running_mean", "running_var"):
                    source = getattr(child, key)
                    if source is not None and source.device.type != "meta":
                        getattr(frozen, key).copy_(source)
            setattr(module, name, frozen)
        else:
            freeze_batchnorm(child)
    return module


class FasterRCNN(nn.Module):
    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int = 91,
        *,
        min_size: int = 800,
        max_size: int = 1333,
        image_mean: Sequence[float] = IMAGENET_MEAN,
        image_std: Sequence[float] = IMAGENET_STD,
        anchor_sizes: Sequence[Sequence[int]] = ((32,), (64,), (128,), (256,), (512,)),
        aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
        rpn_pre_nms_top_n_train: int = 2000,
        rpn_pre_nms_top_n_test: int = 1000,
        rpn_post_nms_top_n_train: int = 2000,
        rpn_post_nms_top_n_test: int = 1000,
        rpn_nms_thresh: float = 0.7,
        rpn_fg_iou_thresh: float = 0.7,
        rpn_bg_iou_thresh: float = 0.3,
        rpn_batch_size_per_image: int = 256,
        rpn_positive_fraction: float = 0.5,
        rpn_score_thresh: float = 0.0,
        box_score_thresh: float = 0.05,
        box_nms_thresh: float = 0.5,
        box_detections_per_img: int = 100,
        box_fg_iou_thresh: float = 0.5,
        box_bg_iou_thresh: float = 0.5,
        box_batch_size_per_image: int = 512,
        box_positive_fraction: float = 0.25,
        representation_size: int = 1024,
    ) -> None:
        super().__init__()
        from torchvision.ops import MultiScaleRoIAlign

        if hasattr(backbone, "feature_spec") and not hasattr(backbone, "out_channels"):
            backbone = pyramid_from_spec(backbone)
        if not hasattr(backbone, "out_channels"):
            raise IncompatibleHeadError(
                f"FasterRCNN needs a torchgraft spatial backbone or a module with out_channels returning a dict of maps; "
                f"found {type(backbone).__name__}"
            )
        channels = backbone.out_channels
        levels = len(getattr(backbone, "stage_names", ["0", "1", "2", "3"]))
        if len(anchor_sizes) != levels + 1:
            anchor_sizes = tuple((32 * 2**i,) for i in range(levels + 1))
        anchors = AnchorGenerator(anchor_sizes, (tuple(aspect_ratios),) * len(anchor_sizes))
        self.transform = DetectionTransform(min_size, max_size, image_mean, image_std)
        self.backbone = backbone
        self.rpn = RPN(
            anchors,
            RPNHead(channels, anchors.num_anchors_per_location()[0]),
            fg_iou_thresh=rpn_fg_iou_thresh,
            bg_iou_thresh=rpn_bg_iou_thresh,
            batch_size_per_image=rpn_batch_size_per_image,
            positive_fraction=rpn_positive_fraction,
            pre_nms_top_n={"training": rpn_pre_nms_top_n_train, "testing": rpn_pre_nms_top_n_test},
            post_nms_top_n={"training": rpn_post_nms_top_n_train, "testing": rpn_post_nms_top_n_test},
            nms_thresh=rpn_nms_thresh,
            score_thresh=rpn_score_thresh,
        )
        self.roi_heads = RoIHeads(
            MultiScaleRoIAlign([str(i) for i in range(levels)], output_size=7, sampling_ratio=2),
            TwoMLPHead(channels * 7 * 7, representation_size),
            BoxPredictor(representation_size, num_classes),
            fg_iou_thresh=box_fg_iou_thresh,
            bg_iou_thresh=box_bg_iou_thresh,
            batch_size_per_image=box_batch_size_per_image,
            positive_fraction=box_positive_fraction,
            score_thresh=box_score_thresh,
            nms_thresh=box_nms_thresh,
            detections_per_img=box_detections_per_img,
        )

    def shard_units(self) -> list[nn.Module]:
        """The backbone's shard units (`torchgraft.core.distributed.build_sharded`)."""
        return shard_units(self, self.backbone.body)

    def forward(self, images: Sequence[Tensor], targets: Sequence[dict[str, Tensor]] | None = None) -> Any:
        if isinstance(images, Tensor):
            raise TypeError(
                "FasterRCNN takes a list of [3, H, W] images (they may differ in size), not a batched tensor"
            )
        if self.training:
            _check_targets(targets, len(images))
        originals = [tuple(img.shape[-2:]) for img in images]
        batch, sizes, targets = self.transform(images, targets)
        features = self.backbone(batch)
        if isinstance(features, Tensor):
            features = OrderedDict([("0", features)])
        proposals, rpn_losses = self.rpn(batch, sizes, list(features.values()), targets)
        detections, box_losses = self.roi_heads(features, proposals, sizes, targets)
        if self.training:
            return {**box_losses, **rpn_losses}
        return DetectionTransform.postprocess(detections, sizes, originals)


def _check_targets(targets: Sequence[dict[str, Tensor]] | None, n: int) -> None:
    if targets is None or len(targets) != n:
        raise ValueError(
            f"training needs one target dict per image; found {None if targets is None else len(targets)} for {n} images"
        )
    for i, t in enumerate(targets):
        boxes = t.get("boxes")
        if not isinstance(boxes, Tensor) or boxes.dim() != 2 or boxes.shape[-1] != 4 or not boxes.is_floating_point():
            raise ValueError(
                f"target {i}: boxes must be a float tensor [N, 4] (x1, y1, x2, y2); found {getattr(boxes, 'shape', boxes)}"
            )
        bad = (boxes[:, 2:] <= boxes[:, :2]).any(dim=1)
        if bad.any():
            raise ValueError(
                f"target {i}: box {int(bad.nonzero()[0])} {boxes[bad][0].tolist()} has no positive width and height"
            )
        if "labels" not in t or t["labels"].shape != boxes.shape[:1]:
            raise ValueError(f"target {i}: labels must be an int64 tensor [N] matching the {boxes.shape[0]} boxes")


# --------------------------------------------------------------------------- builders
def _resnet_trainable(backbone: nn.Module, trainable: int) -> None:
    if not 0 <= trainable <= 5:
        raise ValueError(f"trainable_backbone_layers must be in 0..5; found {trainable}")
    keep = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable]
    if trainable == 5:
        keep.append("bn1")
    for name, param in backbone.named_parameters():
        if all(not name.startswith(layer) for layer in keep):
            param.requires_grad_(False)


def _detector_trunk(backbone: nn.Module, pretrained: bool, trainable_backbone_layers: int | None) -> nn.Module:
    """The backbone as a detector trunk: its classifier removed, batch norms frozen when it comes
    pre-trained (as torchvision does), and its early ResNet stages frozen."""
    if hasattr(backbone, "reset_classifier"):
        backbone.reset_classifier(0)
    if pretrained:
        freeze_batchnorm(backbone)
    layers = trainable_backbone_layers if trainable_backbone_layers is not None else (3 if pretrained else 5)
    if hasattr(backbone, "layer4"):
        _resnet_trainable(backbone, layers)
    elif trainable_backbone_layers is not None:
        raise ValueError(
            f"trainable_backbone_layers is supported for ResNet-family backbones; found {type(backbone).__name__}"
        )
    return backbone


@register_model()
def fasterrcnn(
    *,
    weights: Weights | None = None,
    progress: bool = True,
    backbone: nn.Module | str | Part = "resnet50",
    backbone_weights: Any = None,
    backbone_config: dict[str, Any] | None = None,
    num_classes: int = 91,
    trainable_backbone_layers: int | None = None,
    **kwargs: Any,
) -> FasterRCNN:
    """Faster R-CNN from [Faster R-CNN: Towards Real-Time Object Detection with Region Proposal
    Networks](https://arxiv.org/abs/1506.01497), with a feature pyramid (FPN), on any spatial
    backbone. In training mode ``model(images, targets)`` returns the losses; in eval mode a list of
    ``{"boxes", "labels", "scores"}`` per image.

    Args:
        weights: your own ``Weights`` of the whole detector (see `fasterrcnn_resnet50_fpn` for
            COCO), or ``None``.
        progress: show a progress bar while downloading.
        backbone: a registered model name or a backbone module; its own classifier is removed.
        backbone_weights: the backbone's weights when ``backbone`` is a name (its batch norms are
            then frozen, as torchvision does).
        backbone_config: builder arguments for a named backbone.
        num_classes: classes including the background, 91 for COCO.
        trainable_backbone_layers: ResNet stages left trainable (default 3 with backbone weights, else 5).
        **kwargs: `FasterRCNN` arguments (``min_size``, ``max_size``, ``box_score_thresh``, ...).

    Example::

        model = fasterrcnn(backbone="efficientnet_lite0", backbone_weights="DEFAULT", num_classes=3)
    """
    weights = own_weights("fasterrcnn", weights)
    part = Part.of("backbone", backbone, backbone_weights, backbone_config)

    def factory(backbone: nn.Module, **config: Any) -> FasterRCNN:
        return FasterRCNN(_detector_trunk(backbone, part.pretrained, trainable_backbone_layers), **config)

    return build_model(
        factory,
        weights=weights,
        progress=progress,
        config={"num_classes": num_classes, **kwargs},
        parts={"backbone": part},
    )


class FasterRCNN_ResNet50_FPN_Weights(WeightsEnum):
    COCO_V1 = Weights(
        url=TORCHVISION + "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth",
        sha256="258fb6c6",
        transforms=ObjectDetection,
        meta={
            "num_params": 41755286,
            "approx_size_mb": 159.743,
            "categories": coco_categories(),
            "metrics": {"COCO-val2017": {"box_map": 37.0}},
            "gflops": 134.38,
            "recipe": "https://github.com/pytorch/vision/tree/main/references/detection#faster-r-cnn-resnet-50-fpn",
            "license": "BSD-3-Clause",
            "training_data": "COCO train2017 (80 object categories)",
            "pretraining_data": "ImageNet-1K (the ResNet-50 backbone)",
            "min_size": (1, 1),
        },
    )
    DEFAULT = COCO_V1


@register_model()
def fasterrcnn_resnet50_fpn(
    *,
    weights: FasterRCNN_ResNet50_FPN_Weights | str | None = None,
    progress: bool = True,
    backbone_weights: Any = None,
    trainable_backbone_layers: int | None = None,
    **kwargs: Any,
) -> FasterRCNN:
    """The canonical Faster R-CNN: ResNet-50 + FPN in torchvision's state-dict layout, 41.8 M parameters.

    Args:
        weights: `FasterRCNN_ResNet50_FPN_Weights` (``COCO_V1`` = ``DEFAULT``, 37.0 box mAP on
            COCO val2017), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        backbone_weights: the ResNet-50's weights, when ``weights`` is ``None``.
        trainable_backbone_layers: ResNet stages left trainable (default 3 with weights, else 5).
        **kwargs: ``num_classes`` (fixed by the COCO weights) and `FasterRCNN` arguments.

    Example::

        weights = FasterRCNN_ResNet50_FPN_Weights.DEFAULT
        model = fasterrcnn_resnet50_fpn(weights=weights).eval()
        detections = model([weights.transforms()("street.jpg")])
    """
    from torchvision.ops import FrozenBatchNorm2d

    weights = FasterRCNN_ResNet50_FPN_Weights.verify(weights)
    if weights is not None:
        backbone_weights = None  # the detector's checkpoint holds the backbone too
    pretrained = weights is not None or backbone_weights is not None

    body = Part("resnet50", backbone_weights, {"norm_layer": FrozenBatchNorm2d if pretrained else nn.BatchNorm2d})

    def factory(backbone: nn.Module, **c: Any) -> FasterRCNN:
        body = backbone
        body.reset_classifier(0)
        _resnet_trainable(
            body, trainable_backbone_layers if trainable_backbone_layers is not None else (3 if pretrained else 5)
        )
        return FasterRCNN(body, **c)

    return build_model(
        factory,
        weights=weights,
        progress=progress,
        config=kwargs,
        fixed=fixed_config(weights),
        head=("roi_heads.box_predictor.",),
        parts={"backbone": body},
    )
