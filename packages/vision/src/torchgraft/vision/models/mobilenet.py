"""MobileNetV2 (Sandler et al., 2018) and MobileNetV3 large/small (Howard et al., 2019), in
torchvision's state-dict layout. ``MobileNetV3`` takes its ``inverted_residual_setting``,
``last_channel``, ``block`` and ``norm_layer``, so new variants come from configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

import torch
from torch import nn

from torchgraft.core import WeightsEnum, register_model
from torchgraft.core.family import Family
from torchgraft.core.layers import DropPath

from ._backbone import SequentialBackbone, depth_drop, stage_spec, strides_of
from ._layers import ConvNormAct, SqueezeExcitation, init_conv_bn, make_divisible
from ._meta import TORCHVISION, imagenet_weights

__all__ = [
    "InvertedResidualConfig",
    "MobileNetV2",
    "MobileNetV3",
    "MobileNet_V2_Weights",
    "MobileNet_V3_Large_Weights",
    "MobileNet_V3_Small_Weights",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
]


def _init_mobilenet(model: nn.Module) -> None:
    init_conv_bn(model, linear=_init_linear)


def _init_linear(layer: nn.Linear) -> None:
    nn.init.normal_(layer.weight, 0, 0.01)
    nn.init.zeros_(layer.bias)


class _ResettableClassifier:
    """The backbone contract's classifier part for a ``classifier`` Sequential ending in a Linear."""

    classifier: nn.Sequential
    feature_spec: object
    classifier_name = "classifier"

    @property
    def num_classes(self) -> int:
        fc = self.classifier[len(self.classifier) - 1] if len(self.classifier) else None
        return fc.out_features if isinstance(fc, nn.Linear) else 0

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh last linear layer for ``num_classes``, or none for 0."""
        width = self.feature_spec.width  # type: ignore[attr-defined]
        self.classifier[len(self.classifier) - 1] = nn.Linear(width, num_classes) if num_classes else nn.Identity()


class InvertedResidualV2(nn.Module):
    def __init__(
        self,
        inp: int,
        oup: int,
        stride: int,
        expand_ratio: int,
        norm_layer: Callable[..., nn.Module],
        *,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        hidden = round(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvNormAct(inp, hidden, 1, norm_layer=norm_layer, activation_layer=nn.ReLU6))
        layers += [
            ConvNormAct(hidden, hidden, 3, stride, groups=hidden, norm_layer=norm_layer, activation_layer=nn.ReLU6),
            nn.Conv2d(hidden, oup, 1, bias=False),
            norm_layer(oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.conv(x)) if self.use_res_connect else self.conv(x)


# expansion t, channels c, repeats n, stride s (Sandler et al., table 2)
V2_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


@dataclass(frozen=True)
class MobileNetV2Config:
    """MobileNetV2's constructor arguments, every one a builder keyword."""

    num_classes: int = 1000
    width_mult: float = 1.0
    inverted_residual_setting: tuple[tuple[int, int, int, int], ...] = V2_SETTING
    round_nearest: int = 8
    dropout: float = 0.2
    norm_layer: Callable[..., nn.Module] | None = None
    in_chans: int = 3
    stochastic_depth_prob: float = 0.0


@dataclass(frozen=True)
class MobileNetV3Config:
    """A MobileNetV3: ``arch`` (``"large"`` or ``"small"``) with its width multiplier, reduced tail
    and dilation (`v3_setting`), and the constructor's options; every field a builder keyword."""

    arch: str = "large"
    width_mult: float = 1.0
    reduced_tail: bool = False
    dilated: bool = False
    num_classes: int = 1000
    block: Callable[..., nn.Module] | None = None
    norm_layer: Callable[..., nn.Module] | None = None
    dropout: float = 0.2
    in_chans: int = 3
    stochastic_depth_prob: float = 0.0


class MobileNetV2(_ResettableClassifier, SequentialBackbone):
    @classmethod
    def from_config(cls, cfg: MobileNetV2Config) -> MobileNetV2:
        """The MobileNetV2 ``cfg`` describes (the family's constructor)."""
        return cls(**{f.name: getattr(cfg, f.name) for f in fields(cfg)})

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        inverted_residual_setting: Sequence[tuple[int, int, int, int]] = V2_SETTING,
        round_nearest: int = 8,
        dropout: float = 0.2,
        norm_layer: Callable[..., nn.Module] | None = None,
        in_chans: int = 3,
        stochastic_depth_prob: float = 0.0,
    ) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        if any(len(row) != 4 for row in inverted_residual_setting):
            raise ValueError(f"each inverted_residual_setting row is (t, c, n, s); found {inverted_residual_setting}")
        channels = make_divisible(32 * width_mult, round_nearest)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult), round_nearest)
        layers: list[nn.Module] = [
            ConvNormAct(in_chans, channels, 3, 2, norm_layer=norm_layer, activation_layer=nn.ReLU6)
        ]
        shape = [(channels, 2)]
        total = sum(row[2] for row in inverted_residual_setting)
        for t, c, n, s in inverted_residual_setting:
            out = make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                drop = depth_drop(stochastic_depth_prob, len(layers) - 1, total)
                layers.append(InvertedResidualV2(channels, out, s if i == 0 else 1, t, norm_layer, **drop))
                shape.append((out, s if i == 0 else 1))
                channels = out
        layers.append(ConvNormAct(channels, self.last_channel, 1, norm_layer=norm_layer, activation_layer=nn.ReLU6))
        shape.append((self.last_channel, 1))
        self.features = nn.Sequential(*layers)
        self.feature_spec, self._stage_at = stage_spec(strides_of(shape), width=self.last_channel)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Identity())
        self.reset_classifier(num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init_mobilenet(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.features(x))  # features: [B, C, H/32, W/32]


# --------------------------------------------------------------------------- MobileNetV3
@dataclass(frozen=True)
class InvertedResidualConfig:
    input_channels: int
    kernel: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    activation: str  # "RE" (ReLU) or "HS" (hard-swish)
    stride: int
    dilation: int = 1

    def scaled(self, width_mult: float) -> InvertedResidualConfig:
        return InvertedResidualConfig(
            make_divisible(self.input_channels * width_mult),
            self.kernel,
            make_divisible(self.expanded_channels * width_mult),
            make_divisible(self.out_channels * width_mult),
            self.use_se,
            self.activation,
            self.stride,
            self.dilation,
        )


class InvertedResidualV3(nn.Module):
    def __init__(
        self, cnf: InvertedResidualConfig, norm_layer: Callable[..., nn.Module], *, drop_path: float = 0.0
    ) -> None:
        super().__init__()
        if cnf.stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2; found {cnf.stride}")
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        act = nn.Hardswish if cnf.activation == "HS" else nn.ReLU
        layers: list[nn.Module] = []
        if cnf.expanded_channels != cnf.input_channels:
            layers.append(
                ConvNormAct(cnf.input_channels, cnf.expanded_channels, 1, norm_layer=norm_layer, activation_layer=act)
            )
        stride = 1 if cnf.dilation > 1 else cnf.stride
        layers.append(
            ConvNormAct(
                cnf.expanded_channels,
                cnf.expanded_channels,
                cnf.kernel,
                stride,
                groups=cnf.expanded_channels,
                dilation=cnf.dilation,
                norm_layer=norm_layer,
                activation_layer=act,
            )
        )
        if cnf.use_se:
            squeeze = make_divisible(cnf.expanded_channels // 4, 8)
            layers.append(SqueezeExcitation(cnf.expanded_channels, squeeze, scale_activation=nn.Hardsigmoid))
        layers.append(
            ConvNormAct(cnf.expanded_channels, cnf.out_channels, 1, norm_layer=norm_layer, activation_layer=None)
        )
        self.block = nn.Sequential(*layers)
        self.out_channels = cnf.out_channels
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = self.drop_path(out)
            out += x
        return out


class MobileNetV3(_ResettableClassifier, SequentialBackbone):
    @classmethod
    def from_config(cls, cfg: MobileNetV3Config) -> MobileNetV3:
        """The MobileNetV3 ``cfg`` describes: its `v3_setting`, then its options."""
        setting, last = v3_setting(
            cfg.arch, width_mult=cfg.width_mult, reduced_tail=cfg.reduced_tail, dilated=cfg.dilated
        )
        return cls(
            setting,
            last,
            num_classes=cfg.num_classes,
            block=cfg.block,
            norm_layer=cfg.norm_layer,
            dropout=cfg.dropout,
            in_chans=cfg.in_chans,
            stochastic_depth_prob=cfg.stochastic_depth_prob,
        )

    def __init__(
        self,
        inverted_residual_setting: Sequence[InvertedResidualConfig],
        last_channel: int,
        *,
        num_classes: int = 1000,
        block: Callable[..., nn.Module] | None = None,
        norm_layer: Callable[..., nn.Module] | None = None,
        dropout: float = 0.2,
        in_chans: int = 3,
        stochastic_depth_prob: float = 0.0,
    ) -> None:
        super().__init__()
        if not inverted_residual_setting or not all(
            isinstance(c, InvertedResidualConfig) for c in inverted_residual_setting
        ):
            raise TypeError("inverted_residual_setting must be a non-empty sequence of InvertedResidualConfig")
        block = block or InvertedResidualV3
        norm_layer = norm_layer or partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
        first = inverted_residual_setting[0].input_channels
        layers: list[nn.Module] = [
            ConvNormAct(in_chans, first, 3, 2, norm_layer=norm_layer, activation_layer=nn.Hardswish)
        ]
        shape = [(first, 2)]
        for index, cnf in enumerate(inverted_residual_setting):
            layers.append(
                block(cnf, norm_layer, **depth_drop(stochastic_depth_prob, index, len(inverted_residual_setting)))
            )
            shape.append((cnf.out_channels, 1 if cnf.dilation > 1 else cnf.stride))
        last_in = inverted_residual_setting[-1].out_channels
        last_out = 6 * last_in
        layers.append(ConvNormAct(last_in, last_out, 1, norm_layer=norm_layer, activation_layer=nn.Hardswish))
        shape.append((last_out, 1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self._head_shape = (last_out, last_channel, dropout)
        self.feature_spec, self._stage_at = stage_spec(strides_of(shape), width=last_out)
        self.reset_classifier(num_classes)
        self.reset_parameters()

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh classifier (linear, hardswish, dropout, linear) for ``num_classes``, or none for 0
        (its hidden layer is part of the classifier, so a headless backbone keeps no dead layer)."""
        last_out, last_channel, dropout = self._head_shape
        self.classifier = (
            nn.Sequential(
                nn.Linear(last_out, last_channel),
                nn.Hardswish(inplace=True),
                nn.Dropout(p=dropout, inplace=True),
                nn.Linear(last_channel, num_classes),
            )
            if num_classes
            else nn.Sequential()
        )
        for layer in self.classifier:
            if isinstance(layer, nn.Linear):
                _init_linear(layer)

    def reset_parameters(self) -> None:
        _init_mobilenet(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.features(x))  # features: [B, C, H/32, W/32]


def v3_setting(
    arch: str, *, width_mult: float = 1.0, reduced_tail: bool = False, dilated: bool = False
) -> tuple[list[InvertedResidualConfig], int]:
    """The paper's large/small stage tables (Howard et al., tables 1 and 2) and last_channel."""
    r = 2 if reduced_tail else 1
    d = 2 if dilated else 1
    c = InvertedResidualConfig
    if arch == "large":
        rows = [
            c(16, 3, 16, 16, False, "RE", 1), c(16, 3, 64, 24, False, "RE", 2), c(24, 3, 72, 24, False, "RE", 1),
            c(24, 5, 72, 40, True, "RE", 2), c(40, 5, 120, 40, True, "RE", 1), c(40, 5, 120, 40, True, "RE", 1),
            c(40, 3, 240, 80, False, "HS", 2), c(80, 3, 200, 80, False, "HS", 1), c(80, 3, 184, 80, False, "HS", 1),
            c(80, 3, 184, 80, False, "HS", 1), c(80, 3, 480, 112, True, "HS", 1), c(112, 3, 672, 112, True, "HS", 1),
            c(112, 5, 672, 160 // r, True, "HS", 2, d), c(160 // r, 5, 960 // r, 160 // r, True, "HS", 1, d),
            c(160 // r, 5, 960 // r, 160 // r, True, "HS", 1, d),
        ]  # fmt: skip
        last = 1280 // r
    elif arch == "small":
        rows = [
            c(16, 3, 16, 16, True, "RE", 2), c(16, 3, 72, 24, False, "RE", 2), c(24, 3, 88, 24, False, "RE", 1),
            c(24, 5, 96, 40, True, "HS", 2), c(40, 5, 240, 40, True, "HS", 1), c(40, 5, 240, 40, True, "HS", 1),
            c(40, 5, 120, 48, True, "HS", 1), c(48, 5, 144, 48, True, "HS", 1), c(48, 5, 288, 96 // r, True, "HS", 2, d),
            c(96 // r, 5, 576 // r, 96 // r, True, "HS", 1, d), c(96 // r, 5, 576 // r, 96 // r, True, "HS", 1, d),
        ]  # fmt: skip
        last = 1024 // r
    else:
        raise ValueError(f"MobileNetV3 arch must be 'large' or 'small'; found {arch!r}")
    return [row.scaled(width_mult) for row in rows], make_divisible(last * width_mult)


VARIANTS: dict[str, MobileNetV2Config | MobileNetV3Config] = {
    "mobilenet_v2": MobileNetV2Config(),
    "mobilenet_v3_large": MobileNetV3Config("large"),
    "mobilenet_v3_small": MobileNetV3Config("small"),
}
#: Two families in one module, one per model class (torchvision's layouts); the classifier's
#: last layer is built fresh over backbone weights.
V2_FAMILY = Family(
    MobileNetV2.from_config,
    MobileNetV2Config,
    {k: v for k, v in VARIANTS.items() if isinstance(v, MobileNetV2Config)},
    head=("classifier.",),
)
V3_FAMILY = Family(
    MobileNetV3.from_config,
    MobileNetV3Config,
    {k: v for k, v in VARIANTS.items() if isinstance(v, MobileNetV3Config)},
    head=("classifier.3.",),
)


# --------------------------------------------------------------------------- weights
_v1 = partial(imagenet_weights, crop=224, resize=256)
_v2 = partial(imagenet_weights, crop=224, resize=232)
_V3_RECIPE = "https://github.com/pytorch/vision/tree/main/references/classification#mobilenetv3-large--small"


class MobileNet_V2_Weights(WeightsEnum):
    IMAGENET1K_V1 = _v1(
        TORCHVISION + "mobilenet_v2-b0353104.pth",
        approx_size_mb=13.555,
        num_params=3504872,
        acc1=71.878,
        acc5=90.286,
        gflops=0.301,
        recipe="https://github.com/pytorch/vision/tree/main/references/classification#mobilenetv2",
    )
    IMAGENET1K_V2 = _v2(
        TORCHVISION + "mobilenet_v2-7ebf99e0.pth",
        approx_size_mb=13.598,
        num_params=3504872,
        acc1=72.154,
        acc5=90.822,
        gflops=0.301,
        recipe="https://github.com/pytorch/vision/issues/3995#new-recipe-with-reg-tuning",
    )
    DEFAULT = IMAGENET1K_V2


class MobileNet_V3_Large_Weights(WeightsEnum):
    IMAGENET1K_V1 = _v1(
        TORCHVISION + "mobilenet_v3_large-8738ca79.pth",
        approx_size_mb=21.114,
        num_params=5483032,
        acc1=74.042,
        acc5=91.34,
        gflops=0.217,
        recipe=_V3_RECIPE,
    )
    IMAGENET1K_V2 = _v2(
        TORCHVISION + "mobilenet_v3_large-5c1a4163.pth",
        approx_size_mb=21.107,
        num_params=5483032,
        acc1=75.274,
        acc5=92.566,
        gflops=0.217,
        recipe="https://github.com/pytorch/vision/issues/3995#new-recipe-with-reg-tuning",
    )
    DEFAULT = IMAGENET1K_V2


class MobileNet_V3_Small_Weights(WeightsEnum):
    IMAGENET1K_V1 = _v1(
        TORCHVISION + "mobilenet_v3_small-047dcff4.pth",
        approx_size_mb=9.829,
        num_params=2542856,
        acc1=67.668,
        acc5=87.402,
        gflops=0.057,
        recipe=_V3_RECIPE,
    )
    DEFAULT = IMAGENET1K_V1


# --------------------------------------------------------------------------- builders
@register_model()
def mobilenet_v2(
    *, weights: MobileNet_V2_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> MobileNetV2:
    """MobileNetV2 from [MobileNetV2: Inverted Residuals and Linear Bottlenecks](https://arxiv.org/abs/1801.04381): 3.5 M parameters, 0.30 GFLOPs.

    Args:
        weights: `MobileNet_V2_Weights` (``IMAGENET1K_V1``, 71.9 % top-1; ``IMAGENET1K_V2`` =
            ``DEFAULT``, 72.2 %), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `MobileNetV2` arguments: ``num_classes`` (``0``: no classifier),
            ``width_mult``, ``dropout``, ``norm_layer``, ...

    Example::

        model = mobilenet_v2(weights="DEFAULT").eval()
    """
    return V2_FAMILY.build("mobilenet_v2", MobileNet_V2_Weights.verify(weights), progress, kwargs)


@register_model()
def mobilenet_v3_large(
    *, weights: MobileNet_V3_Large_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> MobileNetV3:
    """MobileNetV3-Large from [Searching for MobileNetV3](https://arxiv.org/abs/1905.02244):
    5.5 M parameters, 0.22 GFLOPs.

    Args:
        weights: `MobileNet_V3_Large_Weights` (``IMAGENET1K_V1``, 74.0 % top-1;
            ``IMAGENET1K_V2`` = ``DEFAULT``, 75.3 %), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: ``width_mult``, ``reduced_tail``, ``dilated`` (the layer setting), and
            `MobileNetV3` arguments (``num_classes``, ``dropout``, ``norm_layer``, ``block``).

    Example::

        model = mobilenet_v3_large(weights="DEFAULT").eval()
    """
    return V3_FAMILY.build("mobilenet_v3_large", MobileNet_V3_Large_Weights.verify(weights), progress, kwargs)


@register_model()
def mobilenet_v3_small(
    *, weights: MobileNet_V3_Small_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> MobileNetV3:
    """MobileNetV3-Small from [Searching for MobileNetV3](https://arxiv.org/abs/1905.02244):
    2.5 M parameters, 0.06 GFLOPs.

    Args:
        weights: `MobileNet_V3_Small_Weights` (``IMAGENET1K_V1`` = ``DEFAULT``, 67.7 % top-1),
            its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: ``width_mult``, ``reduced_tail``, ``dilated``, and `MobileNetV3` arguments
            (``num_classes``, ``dropout``, ``norm_layer``, ``block``).

    Example::

        model = mobilenet_v3_small(weights="DEFAULT").eval()
    """
    return V3_FAMILY.build("mobilenet_v3_small", MobileNet_V3_Small_Weights.verify(weights), progress, kwargs)
