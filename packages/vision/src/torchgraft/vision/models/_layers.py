"""Building blocks shared by the vision models (state-dict layouts follow torchvision's)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Conv2dSame", "ConvNormAct", "SqueezeExcitation", "init_conv_bn", "make_divisible"]


def init_conv_bn(model: nn.Module, linear: Callable[[nn.Linear], None] | None = None) -> None:
    """The convnets' initialisation: convolutions He-normal (fan out), norms to identity, linear
    layers by ``linear`` (default: their own ``reset_parameters``)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            (linear or nn.Linear.reset_parameters)(m)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Rounds a channel count to a multiple of ``divisor``, never more than 10% below ``value``."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class Conv2dSame(nn.Conv2d):
    """A convolution with TensorFlow's "SAME" padding (asymmetric when the stride does not divide
    the input), needed for checkpoints ported from TensorFlow to give identical outputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        dh, dw = self.dilation
        ph = max((math.ceil(ih / sh) - 1) * sh + (kh - 1) * dh + 1 - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + (kw - 1) * dw + 1 - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class ConvNormAct(nn.Sequential):
    """conv (``0``) -> norm (``1``) -> activation (``2``), torchvision's Conv2dNormActivation layout."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        *,
        groups: int = 1,
        norm_layer: Callable[..., nn.Module] | None = nn.BatchNorm2d,
        activation_layer: Callable[..., nn.Module] | None = nn.ReLU,
        tf_padding: bool = False,
        dilation: int = 1,
    ) -> None:
        conv_cls = Conv2dSame if tf_padding else nn.Conv2d
        padding = 0 if tf_padding else (kernel_size - 1) // 2 * dilation
        layers: list[nn.Module] = [
            conv_cls(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding,
                dilation=dilation,
                groups=groups,
                bias=norm_layer is None,
            )
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            layers.append(activation_layer(inplace=True) if _takes_inplace(activation_layer) else activation_layer())
        super().__init__(*layers)
        self.out_channels = out_channels


def _takes_inplace(layer: Callable[..., nn.Module]) -> bool:
    return layer in (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.Hardsigmoid)


class SqueezeExcitation(nn.Module):
    """Channel attention: ``x * scale(fc2(act(fc1(avgpool(x)))))``."""

    def __init__(
        self,
        channels: int,
        squeeze_channels: int,
        *,
        activation: Callable[..., nn.Module] = nn.ReLU,
        scale_activation: Callable[..., nn.Module] = nn.Sigmoid,
    ) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * scale
