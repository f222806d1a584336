"""ResNet 18-152, ResNeXt-50 32x4d and Wide ResNet-50-2 (He et al., 2016; Xie et al., 2017;
Zagoruyko & Komodakis, 2016), in torchvision's state-dict layout (``conv1``, ``layer1..4``, ``fc``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from torchgraft.core import (
    ClassifierBackbone,
    Features,
    FeatureSpec,
    StageSpec,
    WeightsEnum,
    register_model,
)
from torchgraft.core.family import Family
from torchgraft.core.layers import DropPath

from ._backbone import depth_drop
from ._layers import init_conv_bn
from ._meta import TORCHVISION, imagenet_weights

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNeXt50_32X4D_Weights",
    "ResNet",
    "ResNet18_Weights",
    "ResNet34_Weights",
    "ResNet50_Weights",
    "ResNet101_Weights",
    "ResNet152_Weights",
    "ResNetConfig",
    "Wide_ResNet50_2_Weights",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "wide_resnet50_2",
]


@dataclass(frozen=True)
class ResNetConfig:
    """A ResNet: its block (``"basic"``, ``"bottleneck"`` or a block class), blocks per stage, and
    the constructor's options (every one a builder keyword: ``resnet50(norm_layer=...)``)."""

    block: str | type[nn.Module]
    layers: tuple[int, int, int, int]
    groups: int = 1
    width_per_group: int = 64
    num_classes: int = 1000
    zero_init_residual: bool = False
    replace_stride_with_dilation: tuple[bool, bool, bool] = (False, False, False)
    norm_layer: Callable[..., nn.Module] | None = None
    in_chans: int = 3
    dropout: float = 0.0
    stochastic_depth_prob: float = 0.0


def _conv3x3(cin: int, cout: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, padding=dilation, groups=groups, bias=False, dilation=dilation)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(f"BasicBlock supports groups=1 and width_per_group=64; found {groups} and {base_width}")
        self.conv1 = _conv3x3(inplanes, planes, stride, dilation=dilation)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes, dilation=dilation)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.drop_path(self.bn2(self.conv2(out)))
        out += identity  # in place: one allocation fewer per block
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (stride here, as in torchvision's "ResNet v1.5") -> 1x1 expand."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = norm_layer(width)
        self.conv2 = _conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.drop_path(self.bn3(self.conv3(out)))
        out += identity  # in place: one allocation fewer per block
        return self.relu(out)


_BLOCKS: dict[str, type[nn.Module]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(ClassifierBackbone, nn.Module):
    """A spatial backbone with five stages: ``stem`` (stride 2, before max-pooling) and
    ``layer1..4`` (strides 4, 8, 16, 32). ``replace_stride_with_dilation`` keeps later stages at a
    higher resolution (for segmentation). ``num_classes=0`` builds it without ``fc``.

    ``in_chans`` is the input's channels (a 3-channel checkpoint's ``conv1`` is adapted on load);
    ``dropout`` drops pooled features before ``fc``; ``stochastic_depth_prob`` drops residual
    branches, rising linearly from 0 at the first block to it at the last (as torchvision's
    EfficientNet), for training. None of them changes the state dict."""

    classifier_name = "fc"
    input_conv = "conv1"

    @classmethod
    def from_config(cls, cfg: ResNetConfig) -> ResNet:
        """The ResNet ``cfg`` describes (the family's constructor; ``ResNet(block, layers, ...)`` stays
        torchvision's)."""
        return cls(
            cfg.block,
            cfg.layers,
            num_classes=cfg.num_classes,
            zero_init_residual=cfg.zero_init_residual,
            groups=cfg.groups,
            width_per_group=cfg.width_per_group,
            replace_stride_with_dilation=cfg.replace_stride_with_dilation,
            norm_layer=cfg.norm_layer,
            in_chans=cfg.in_chans,
            dropout=cfg.dropout,
            stochastic_depth_prob=cfg.stochastic_depth_prob,
        )

    def __init__(
        self,
        block: type[nn.Module] | str,
        layers: Sequence[int],
        *,
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        replace_stride_with_dilation: Sequence[bool] = (False, False, False),
        norm_layer: Callable[..., nn.Module] | None = None,
        in_chans: int = 3,
        dropout: float = 0.0,
        stochastic_depth_prob: float = 0.0,
    ) -> None:
        super().__init__()
        block_cls = _BLOCKS[block] if isinstance(block, str) else block
        if len(layers) != 4 or len(replace_stride_with_dilation) != 3:
            raise ValueError(
                f"expected 4 layer counts and 3 dilation flags; found {list(layers)} and {list(replace_stride_with_dilation)}"
            )
        self._norm_layer = norm_layer or nn.BatchNorm2d
        self.zero_init_residual = zero_init_residual
        self.groups, self.base_width = groups, width_per_group
        self.inplanes, self.dilation = 64, 1
        self.dropout = dropout
        self._drop_path = (stochastic_depth_prob, sum(layers))
        self._blocks_made = 0
        self.conv1 = nn.Conv2d(in_chans, 64, 7, 2, 3, bias=False)
        self.bn1 = self._norm_layer(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        strides = [1, 2, 2, 2]
        stages = [StageSpec("stem", 64, 2)]
        total = 4
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            dilate = i > 0 and replace_stride_with_dilation[i - 1]
            setattr(self, f"layer{i + 1}", self._make_layer(block_cls, planes, n, strides[i], dilate))
            total *= 1 if dilate else strides[i]
            stages.append(StageSpec(f"layer{i + 1}", planes * block_cls.expansion, total))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.feature_spec = FeatureSpec(kind="spatial", width=512 * block_cls.expansion, stages=tuple(stages))
        self.pruned: tuple[str, ...] = ()
        self.reset_classifier(num_classes)
        self.reset_parameters()

    def _make_layer(self, block: type[nn.Module], planes: int, n: int, stride: int, dilate: bool) -> nn.Sequential:
        norm_layer, previous = self._norm_layer, self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                norm_layer(planes * block.expansion),
            )
        common = {"groups": self.groups, "base_width": self.base_width, "norm_layer": norm_layer}
        layers = [block(self.inplanes, planes, stride, downsample, dilation=previous, **common, **self._depth_drop())]
        self.inplanes = planes * block.expansion
        layers += [
            block(self.inplanes, planes, dilation=self.dilation, **common, **self._depth_drop()) for _ in range(1, n)
        ]
        return nn.Sequential(*layers)

    def _depth_drop(self) -> dict[str, float]:
        """The next block's ``drop_path=`` keyword (`depth_drop`), counting the blocks made."""
        prob, total = self._drop_path
        index, self._blocks_made = self._blocks_made, self._blocks_made + 1
        return depth_drop(prob, index, total)

    @property
    def num_classes(self) -> int:
        return self.fc.out_features if isinstance(self.fc, nn.Linear) else 0

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh ``fc`` for ``num_classes``, or none (``nn.Identity``) for 0: a pure backbone."""
        self.fc = nn.Linear(self.feature_spec.width, num_classes) if num_classes else nn.Identity()

    def reset_parameters(self) -> None:
        init_conv_bn(self)
        if self.zero_init_residual:
            for m in self.modules():
                last = getattr(m, "bn3", None) if isinstance(m, Bottleneck) else getattr(m, "bn2", None)
                if isinstance(m, (Bottleneck, BasicBlock)) and last is not None and last.weight is not None:
                    nn.init.zeros_(last.weight)

    def shard_units(self) -> list[nn.Module]:
        """The four stages, sharded one by one (`torchgraft.core.distributed.build_sharded`)."""
        return [layer for layer in self._layers() if layer is not None]

    def _layers(self) -> list[nn.Module | None]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def prune_after(self, stage: str) -> None:
        """Removes ``fc`` and the stages after ``stage`` (``"stem"``, ``"layer1"`` ... ``"layer4"``):
        ``forward_features`` and ``feature_spec`` end there, and a full checkpoint's keys of the
        removed stages are discarded on load (``pruned``). What ``features_only=True`` builds."""
        spec = self.feature_spec.up_to(stage)
        self.reset_classifier(0)
        removed = [
            name
            for name in ("layer1", "layer2", "layer3", "layer4")[len(spec.stages) - 1 :]
            if getattr(self, name) is not None
        ]
        for name in removed:
            setattr(self, name, None)
        self.pruned = (*self.pruned, *(f"{name}." for name in removed))
        self.feature_spec = spec

    def _trunk(self, x: torch.Tensor, stages: dict[str, torch.Tensor] | None) -> torch.Tensor:
        """The last map ``[B, C, H/32, W/32]``; each stage's map also goes into ``stages`` when
        given (``forward`` gives none: holding them all would keep them alive)."""
        x = self.relu(self.bn1(self.conv1(x)))  # [B, 64, H/2, W/2]
        if stages is not None:
            stages["stem"] = x
        for index, layer in enumerate(self._layers()):
            if layer is None:  # pruned (features_only)
                break
            x = layer(self.maxpool(x) if index == 0 else x)
            if stages is not None:
                stages[f"layer{index + 1}"] = x
        return x

    def forward_features(self, x: torch.Tensor) -> Features:
        stages: dict[str, torch.Tensor] = {}
        return Features(last=self._trunk(x, stages), stages=stages)

    def pool_features(self, features: Features) -> torch.Tensor:
        pooled = torch.flatten(self.avgpool(features.last), 1)  # [B, C]
        return nn.functional.dropout(pooled, self.dropout, self.training) if self.dropout else pooled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self._trunk(x, None))


VARIANTS: dict[str, ResNetConfig] = {
    "resnet18": ResNetConfig("basic", (2, 2, 2, 2)),
    "resnet34": ResNetConfig("basic", (3, 4, 6, 3)),
    "resnet50": ResNetConfig("bottleneck", (3, 4, 6, 3)),
    "resnet101": ResNetConfig("bottleneck", (3, 4, 23, 3)),
    "resnet152": ResNetConfig("bottleneck", (3, 8, 36, 3)),
    "resnext50_32x4d": ResNetConfig("bottleneck", (3, 4, 6, 3), groups=32, width_per_group=4),
    "wide_resnet50_2": ResNetConfig("bottleneck", (3, 4, 6, 3), width_per_group=128),
}
#: The family: ``ResNet`` over one ``ResNetConfig`` per variant (torchvision's layout); the ``fc``
#: head is built fresh over backbone weights.
FAMILY = Family(ResNet.from_config, ResNetConfig, VARIANTS, head=("fc.",))


# --------------------------------------------------------------------------- weights
_V1 = "https://github.com/pytorch/vision/tree/main/references/classification#resnet"
_V2 = "https://github.com/pytorch/vision/issues/3995#new-recipe"
_v1 = partial(imagenet_weights, recipe=_V1, crop=224, resize=256)
_v2 = partial(imagenet_weights, recipe=_V2, crop=224, resize=232)


class ResNet18_Weights(WeightsEnum):
    IMAGENET1K_V1 = _v1(
        TORCHVISION + "resnet18-f37072fd.pth",
        approx_size_mb=44.661,
        num_params=11689512,
        acc1=69.758,
        acc5=89.078,
        gflops=1.814,
    )
    DEFAULT = IMAGENET1K_V1


class ResNet34_Weights(WeightsEnum):
    IMAGENET1K_V1 = _v1(
        TORCHVISION + "resnet34-b627a593.pth",
        approx_size_mb=83.275,
        num_params=21797672,
        acc1=73.314,
        acc5=91.42,
        gflops=3.664,
    )
    DEFAULT = IMAGENET1K_V1


class ResNet50_Weights(WeightsEnum):
    IMAGENET1K_V1 = _v1(
        TORCHVISION + "resnet50-0676ba61.pth",
        approx_size_mb=97.781,
        num_params=25557032,
        acc1=76.13,
        acc5=92.862,
        gflops=4.089,
    )
    IMAGENET1K_V2 = _v2(
        TORCHVISION + "resnet50-11ad3fa6.pth",
        approx_size_mb=97.79,
        num_params=25557032,
        acc1=80.858,
        acc5=95.434,
        gflops=4.089,
        recipe="https://github.com/pytorch/vision/issues/3995#issuecomment-1013906621",
    )
    DEFAULT = IMAGENET1K_V2


class ResNet101_Weights(WeightsEnum):
    IMAGENET1K_V1 = _v1(
        TORCHVISION + "resnet101-63fe2227.pth",
        approx_size_mb=170.511,
        num_params=44549160,
        acc1=77.374,
        acc5=93.546,
        gflops=7.801,
    )
    IMAGENET1K_V2 = _v2(
        TORCHVISION + "resnet101-cd907fc2.pth",
        approx_size_mb=170.53,
        num_params=44549160,
        acc1=81.886,
        acc5=95.78,
        gflops=7.801,
    )
    DEFAULT = IMAGENET1K_V2


class ResNet152_Weights(WeightsEnum):
    IMAGENET1K_V1 = _v1(
        TORCHVISION + "resnet152-394f9c45.pth",
        approx_size_mb=230.434,
        num_params=60192808,
        acc1=78.312,
        acc5=94.046,
        gflops=11.514,
    )
    IMAGENET1K_V2 = _v2(
        TORCHVISION + "resnet152-f82ba261.pth",
        approx_size_mb=230.474,
        num_params=60192808,
        acc1=82.284,
        acc5=96.002,
        gflops=11.514,
    )
    DEFAULT = IMAGENET1K_V2


class ResNeXt50_32X4D_Weights(WeightsEnum):
    IMAGENET1K_V1 = _v1(
        TORCHVISION + "resnext50_32x4d-7cdf4587.pth",
        approx_size_mb=95.789,
        num_params=25028904,
        acc1=77.618,
        acc5=93.698,
        gflops=4.23,
        recipe="https://github.com/pytorch/vision/tree/main/references/classification#resnext",
    )
    IMAGENET1K_V2 = _v2(
        TORCHVISION + "resnext50_32x4d-1a0047aa.pth",
        approx_size_mb=95.833,
        num_params=25028904,
        acc1=81.198,
        acc5=95.34,
        gflops=4.23,
    )
    DEFAULT = IMAGENET1K_V2


class Wide_ResNet50_2_Weights(WeightsEnum):
    IMAGENET1K_V1 = _v1(
        TORCHVISION + "wide_resnet50_2-95faca4d.pth",
        approx_size_mb=131.82,
        num_params=68883240,
        acc1=78.468,
        acc5=94.086,
        gflops=11.398,
        recipe="https://github.com/pytorch/vision/pull/912#issue-445437439",
    )
    IMAGENET1K_V2 = _v2(
        TORCHVISION + "wide_resnet50_2-9ba9bcbe.pth",
        approx_size_mb=263.124,
        num_params=68883240,
        acc1=81.602,
        acc5=95.758,
        gflops=11.398,
        recipe="https://github.com/pytorch/vision/issues/3995#new-recipe-with-fixres",
    )
    DEFAULT = IMAGENET1K_V2


# --------------------------------------------------------------------------- builders
@register_model()
def resnet18(*, weights: ResNet18_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-18 from [Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385): basic blocks [2, 2, 2, 2], 11.7 M parameters.

    Args:
        weights: `ResNet18_Weights` (``IMAGENET1K_V1``, 69.8 % top-1), its name, your own
            ``Weights``, or ``None`` for random initialisation.
        progress: show a progress bar while downloading.
        **kwargs: `ResNet` arguments: ``num_classes`` (``0``: no ``fc``), ``zero_init_residual``,
            ``replace_stride_with_dilation``, ``norm_layer``, ``in_chans``, ``dropout``,
            ``stochastic_depth_prob``; or ``features_only=True`` (with ``out_indices``) for the
            stage maps as a list.

    Example::

        model = resnet18(weights="DEFAULT").eval()
    """
    return FAMILY.build("resnet18", ResNet18_Weights.verify(weights), progress, kwargs)


@register_model()
def resnet34(*, weights: ResNet34_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-34 from [Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385): basic blocks [3, 4, 6, 3], 21.8 M parameters.

    Args:
        weights: `ResNet34_Weights` (``IMAGENET1K_V1``, 73.3 % top-1), its name, your own
            ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `ResNet` arguments (``num_classes``, ``zero_init_residual``, ``norm_layer``, ...).

    Example::

        model = resnet34(weights="DEFAULT").eval()
    """
    return FAMILY.build("resnet34", ResNet34_Weights.verify(weights), progress, kwargs)


@register_model()
def resnet50(*, weights: ResNet50_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-50 from [Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385): bottleneck blocks [3, 4, 6, 3] with the stride on the 3x3
    convolution ("ResNet v1.5", as torchvision), 25.6 M parameters.

    Args:
        weights: `ResNet50_Weights` (``IMAGENET1K_V1``, 76.1 % top-1, the original recipe;
            ``IMAGENET1K_V2`` = ``DEFAULT``, 80.9 %, torchvision's new recipe), its name, your own
            ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `ResNet` arguments (``num_classes``, ``zero_init_residual``,
            ``replace_stride_with_dilation``, ``norm_layer``, ``in_chans``, ``dropout``,
            ``stochastic_depth_prob``), or ``features_only=True`` with ``out_indices``.

    Example::

        weights = ResNet50_Weights.DEFAULT
        model = resnet50(weights=weights).eval()
        probs = model(weights.transforms()("photo.jpg")[None]).softmax(-1)
    """
    return FAMILY.build("resnet50", ResNet50_Weights.verify(weights), progress, kwargs)


@register_model()
def resnet101(*, weights: ResNet101_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-101 from [Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385): bottleneck blocks [3, 4, 23, 3], 44.5 M parameters.

    Args:
        weights: `ResNet101_Weights` (``IMAGENET1K_V1``, 77.4 %; ``IMAGENET1K_V2`` =
            ``DEFAULT``, 81.9 %), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `ResNet` arguments (``num_classes``, ``zero_init_residual``, ``norm_layer``, ...).

    Example::

        model = resnet101(weights="DEFAULT").eval()
    """
    return FAMILY.build("resnet101", ResNet101_Weights.verify(weights), progress, kwargs)


@register_model()
def resnet152(*, weights: ResNet152_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-152 from [Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385): bottleneck blocks [3, 8, 36, 3], 60.2 M parameters.

    Args:
        weights: `ResNet152_Weights` (``IMAGENET1K_V1``, 78.3 %; ``IMAGENET1K_V2`` =
            ``DEFAULT``, 82.3 %), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `ResNet` arguments (``num_classes``, ``zero_init_residual``, ``norm_layer``, ...).

    Example::

        model = resnet152(weights="DEFAULT").eval()
    """
    return FAMILY.build("resnet152", ResNet152_Weights.verify(weights), progress, kwargs)


@register_model()
def resnext50_32x4d(
    *, weights: ResNeXt50_32X4D_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> ResNet:
    """ResNeXt-50 32x4d from [Aggregated Residual Transformations for Deep Neural Networks](https://arxiv.org/abs/1611.05431): ResNet-50 with grouped 3x3 convolutions (32 groups of 4
    channels), 25.0 M parameters.

    Args:
        weights: `ResNeXt50_32X4D_Weights` (``IMAGENET1K_V1``, 77.6 %; ``IMAGENET1K_V2`` =
            ``DEFAULT``, 81.2 %), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `ResNet` arguments (``num_classes``, ``zero_init_residual``, ``norm_layer``, ...).

    Example::

        model = resnext50_32x4d(weights="DEFAULT").eval()
    """
    return FAMILY.build("resnext50_32x4d", ResNeXt50_32X4D_Weights.verify(weights), progress, kwargs)


@register_model()
def wide_resnet50_2(
    *, weights: Wide_ResNet50_2_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> ResNet:
    """Wide ResNet-50-2 from [Wide Residual Networks](https://arxiv.org/abs/1605.07146): ResNet-50
    with twice as many channels inside each bottleneck, 68.9 M parameters.

    Args:
        weights: `Wide_ResNet50_2_Weights` (``IMAGENET1K_V1``, 78.5 %; ``IMAGENET1K_V2`` =
            ``DEFAULT``, 81.6 %), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `ResNet` arguments (``num_classes``, ``zero_init_residual``, ``norm_layer``, ...).

    Example::

        model = wide_resnet50_2(weights="DEFAULT").eval()
    """
    return FAMILY.build("wide_resnet50_2", Wide_ResNet50_2_Weights.verify(weights), progress, kwargs)
