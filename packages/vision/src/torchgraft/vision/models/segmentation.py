"""Semantic segmentation heads on any spatial backbone: DeepLabV3 (Chen et al., 2017) and FCN
(Long et al., 2015), in torchvision's state-dict layout (``backbone``, ``classifier``,
``aux_classifier``). The last stage feeds the head and the one before it the optional auxiliary
head (the backbone's own classifier, unused, is dropped); ``forward`` returns ``{"out": [B, C, H, W], "aux": ...}`` at the input resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
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

from .._imagenet import voc_categories
from ..transforms import SemanticSegmentation
from ._meta import TORCHVISION

__all__ = [
    "DeepLabHead",
    "DeepLabV3",
    "DeepLabV3_ResNet50_Weights",
    "FCN",
    "FCNHead",
    "FCN_ResNet50_Weights",
    "deeplabv3",
    "deeplabv3_resnet50",
    "fcn",
    "fcn_resnet50",
]


class FCNHead(nn.Sequential):
    def __init__(self, in_channels: int, num_classes: int) -> None:
        inter = in_channels // 4
        super().__init__(
            nn.Conv2d(in_channels, inter, 3, padding=1, bias=False),
            nn.BatchNorm2d(inter),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(inter, num_classes, 1),
        )


class ASPPPooling(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        for layer in self:
            x = layer(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: a 1x1 branch, one 3x3 branch per rate, image pooling."""

    def __init__(self, in_channels: int, rates: Sequence[int], out_channels: int = 256) -> None:
        super().__init__()
        branches: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU())
        ]
        for rate in rates:
            branches.append(
                nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 3, padding=rate, dilation=rate, bias=False),
                    nn.BatchNorm2d(out_channels),
                    nn.ReLU(),
                )
            )
        branches.append(ASPPPooling(in_channels, out_channels))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(
            nn.Conv2d(len(branches) * out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Dropout(0.5),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))


class DeepLabHead(nn.Sequential):
    def __init__(self, in_channels: int, num_classes: int, rates: Sequence[int] = (12, 24, 36)) -> None:
        super().__init__(
            ASPP(in_channels, rates),
            nn.Conv2d(256, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.Conv2d(256, num_classes, 1),
        )


class _Segmenter(nn.Module):
    head_factory: Callable[[int, int], nn.Module]

    def __init__(self, backbone: nn.Module, num_classes: int = 21, *, aux_loss: bool = False) -> None:
        super().__init__()
        spec = check_backbone(backbone)
        if spec.kind != "spatial" or not spec.stages:
            raise IncompatibleHeadError(
                f"{type(self).__name__} needs a spatial backbone with stages; {type(backbone).__name__} produces {spec.kind} features"
            )
        if aux_loss and len(spec.stages) < 2:
            raise IncompatibleHeadError(f"aux_loss needs two stages; {type(backbone).__name__} has {len(spec.stages)}")
        if hasattr(backbone, "reset_classifier"):
            backbone.reset_classifier(0)
        self.backbone = backbone
        self.aux_loss = aux_loss
        self._out_stage = spec.stages[-1].name
        self._aux_stage = spec.stages[-2].name if aux_loss else None
        self.classifier = self.head_factory(spec.stages[-1].channels, num_classes)
        self.aux_classifier = FCNHead(spec.stages[-2].channels, num_classes) if aux_loss else None

    def shard_units(self) -> list[nn.Module]:
        """The backbone's shard units (`torchgraft.core.distributed.build_sharded`)."""
        return shard_units(self, self.backbone)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        size = x.shape[-2:]
        stages = self.backbone.forward_features(x).stages
        result = {
            "out": F.interpolate(
                self.classifier(stages[self._out_stage]), size=size, mode="bilinear", align_corners=False
            )
        }
        if self.aux_classifier is not None:
            aux = self.aux_classifier(stages[self._aux_stage])
            result["aux"] = F.interpolate(aux, size=size, mode="bilinear", align_corners=False)
        return result


class DeepLabV3(_Segmenter):
    head_factory = staticmethod(DeepLabHead)


class FCN(_Segmenter):
    head_factory = staticmethod(FCNHead)


# --------------------------------------------------------------------------- builders
def _segmenter(
    cls: type[_Segmenter],
    weights: Weights | WeightsEnum | None,
    progress: bool,
    backbone: nn.Module | str | Part,
    backbone_weights: Any,
    backbone_config: dict[str, Any] | None,
    config: dict[str, Any],
    head: tuple[str, ...] = (),
) -> Any:
    part = Part.of("backbone", backbone, backbone_weights, backbone_config)
    if isinstance(part.model, str) and part.model.startswith(("resnet", "resnext", "wide_resnet")):
        part = replace(part, config={"replace_stride_with_dilation": (False, True, True), **part.config})  # stride 8
    return build_model(
        lambda backbone, num_classes=21, aux_loss=False: cls(backbone, num_classes, aux_loss=aux_loss),
        weights=weights,
        progress=progress,
        config=config,
        fixed=fixed_config(weights),
        head=head,
        parts={"backbone": part},
    )


def _voc(
    file: str, *, num_params: int, miou: float, pixel_acc: float, gflops: float, recipe: str, approx_size_mb: float
) -> Weights:
    return Weights(
        url=TORCHVISION + file,
        sha256=file.rsplit("-", 1)[1].split(".")[0],
        transforms=SemanticSegmentation,
        meta={
            "num_params": num_params,
            "approx_size_mb": approx_size_mb,
            "categories": voc_categories(),
            "metrics": {"COCO-val2017-VOC-labels": {"miou": miou, "pixel_acc": pixel_acc}},
            "gflops": gflops,
            "min_size": (1, 1),  # as torchvision's: no crop, and the dilated stages keep a 1x1 input 1x1
            "recipe": recipe,
            "license": "BSD-3-Clause",
            "training_data": "COCO train2017, the images with the 20 Pascal VOC categories, labelled with those",
            "pretraining_data": "ImageNet-1K (the ResNet-50 backbone)",
            "config": {"aux_loss": True},
        },
    )


class DeepLabV3_ResNet50_Weights(WeightsEnum):
    COCO_WITH_VOC_LABELS_V1 = _voc(
        "deeplabv3_resnet50_coco-cd0a2569.pth",
        approx_size_mb=160.515,
        num_params=42004074,
        miou=66.4,
        pixel_acc=92.4,
        gflops=178.722,
        recipe="https://github.com/pytorch/vision/tree/main/references/segmentation#deeplabv3_resnet50",
    )
    DEFAULT = COCO_WITH_VOC_LABELS_V1


class FCN_ResNet50_Weights(WeightsEnum):
    COCO_WITH_VOC_LABELS_V1 = _voc(
        "fcn_resnet50_coco-1167a1af.pth",
        approx_size_mb=135.009,
        num_params=35322218,
        miou=60.5,
        pixel_acc=91.4,
        gflops=152.717,
        recipe="https://github.com/pytorch/vision/tree/main/references/segmentation#fcn_resnet50",
    )
    DEFAULT = COCO_WITH_VOC_LABELS_V1


@register_model()
def deeplabv3(
    *,
    weights: Weights | None = None,
    progress: bool = True,
    backbone: nn.Module | str = "resnet50",
    backbone_weights: Any = None,
    backbone_config: dict[str, Any] | None = None,
    num_classes: int = 21,
    aux_loss: bool = False,
) -> DeepLabV3:
    """DeepLabV3 from [Rethinking Atrous Convolution for Semantic Image Segmentation](https://arxiv.org/abs/1706.05587) on any spatial backbone: an ASPP head on the last stage (and
    an FCN auxiliary head on the one before it with ``aux_loss=True``); ``{"out": [B, C, H, W]}``.

    Args:
        weights: your own ``Weights`` of the whole model (see `deeplabv3_resnet50` for the
            published ones), or ``None``.
        progress: show a progress bar while downloading.
        backbone: a registered model name or a backbone module; ResNets are dilated to output stride 8.
        backbone_weights: the backbone's weights (name or member) when ``backbone`` is a name.
        backbone_config: builder arguments for a named backbone.
        num_classes: output classes, 21 for Pascal VOC.
        aux_loss: add the auxiliary head (returned as ``"aux"``).

    Example::

        model = deeplabv3(backbone="mobilenet_v3_large", backbone_weights="DEFAULT", num_classes=3)
    """
    config = {"num_classes": num_classes, "aux_loss": aux_loss}
    return _segmenter(
        DeepLabV3, own_weights("deeplabv3", weights), progress, backbone, backbone_weights, backbone_config, config
    )


@register_model()
def fcn(
    *,
    weights: Weights | None = None,
    progress: bool = True,
    backbone: nn.Module | str = "resnet50",
    backbone_weights: Any = None,
    backbone_config: dict[str, Any] | None = None,
    num_classes: int = 21,
    aux_loss: bool = False,
) -> FCN:
    """FCN from [Fully Convolutional Networks for Semantic Segmentation](https://arxiv.org/abs/1411.4038) on any spatial backbone: a convolutional head on the last
    stage, upsampled to the input size; ``{"out": [B, C, H, W]}``.

    Args:
        weights: your own ``Weights`` of the whole model (see `fcn_resnet50`), or ``None``.
        progress: show a progress bar while downloading.
        backbone: a registered model name or a backbone module; ResNets are dilated to output stride 8.
        backbone_weights: the backbone's weights when ``backbone`` is a name.
        backbone_config: builder arguments for a named backbone.
        num_classes: output classes, 21 for Pascal VOC.
        aux_loss: add the auxiliary head (returned as ``"aux"``).

    Example::

        model = fcn(backbone="resnet18", backbone_weights="DEFAULT", num_classes=3)
    """
    config = {"num_classes": num_classes, "aux_loss": aux_loss}
    return _segmenter(FCN, own_weights("fcn", weights), progress, backbone, backbone_weights, backbone_config, config)


@register_model()
def deeplabv3_resnet50(
    *,
    weights: DeepLabV3_ResNet50_Weights | str | None = None,
    progress: bool = True,
    backbone_weights: Any = None,
    **kwargs: Any,
) -> DeepLabV3:
    """DeepLabV3 on a dilated ResNet-50 (torchvision's ``deeplabv3_resnet50``), 42.0 M parameters.

    Args:
        weights: `DeepLabV3_ResNet50_Weights` (``COCO_WITH_VOC_LABELS_V1`` = ``DEFAULT``:
            trained on COCO's 20 VOC categories, 66.4 mIoU), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        backbone_weights: the ResNet-50's weights, when ``weights`` is ``None``.
        **kwargs: ``num_classes`` and ``aux_loss`` (fixed by the published weights).

    Example::

        weights = DeepLabV3_ResNet50_Weights.DEFAULT
        model = deeplabv3_resnet50(weights=weights).eval()
        masks = model(weights.transforms()("street.jpg")[None])["out"].argmax(1)
    """
    return _segmenter(
        DeepLabV3, DeepLabV3_ResNet50_Weights.verify(weights), progress, "resnet50", backbone_weights, None, kwargs,
        head=("classifier.4.", "aux_classifier.4."),
    )  # fmt: skip


@register_model()
def fcn_resnet50(
    *,
    weights: FCN_ResNet50_Weights | str | None = None,
    progress: bool = True,
    backbone_weights: Any = None,
    **kwargs: Any,
) -> FCN:
    """FCN on a dilated ResNet-50 (torchvision's ``fcn_resnet50``), 35.3 M parameters.

    Args:
        weights: `FCN_ResNet50_Weights` (``COCO_WITH_VOC_LABELS_V1`` = ``DEFAULT``, 60.5 mIoU on
            COCO's VOC categories), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        backbone_weights: the ResNet-50's weights, when ``weights`` is ``None``.
        **kwargs: ``num_classes`` and ``aux_loss`` (fixed by the published weights).

    Example::

        model = fcn_resnet50(weights="DEFAULT").eval()
    """
    return _segmenter(
        FCN, FCN_ResNet50_Weights.verify(weights), progress, "resnet50", backbone_weights, None, kwargs,
        head=("classifier.4.", "aux_classifier.4."),
    )  # fmt: skip
