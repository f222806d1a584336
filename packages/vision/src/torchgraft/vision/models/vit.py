"""Vision Transformer (Dosovitskiy et al., 2021) in torchvision's state-dict layout (``conv_proj``,
``class_token``, ``encoder.layers.encoder_layer_N``, ``heads.head``), with attention through
``scaled_dot_product_attention``. As a backbone it is a sequence of patch tokens ``[B, 1 + N, D]``
whose pooled output is the class token.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from torchgraft.core import (
    ClassifierBackbone,
    Features,
    FeatureSpec,
    WeightsEnum,
    register_model,
    warn_deprecated,
)
from torchgraft.core.attention import MultiheadAttention
from torchgraft.core.family import Family
from torchgraft.core.layers import DropPath, QuickGELU
from torchgraft.core.preflight import check_fields

from ._meta import TORCHVISION, imagenet_weights

__all__ = ["QuickGELU", "SelfAttention", "ViTConfig", "ViT_B_16_Weights", "VisionTransformer", "vit_b_16"]


@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 224
    patch_size: int = 16
    num_layers: int = 12
    num_heads: int = 12
    hidden_dim: int = 768
    mlp_dim: int = 3072
    # CLIP's image towers (open_clip's VisionTransformer): no bias in the patch embedding, a norm
    # before the encoder, QuickGELU in OpenAI's checkpoints, LayerNorm's default epsilon.
    patch_bias: bool = True
    pre_norm: bool = False
    activation: str = "gelu"
    layer_norm_eps: float = 1e-6
    in_chans: int = 3
    # The model's options beyond its shape, every one a builder keyword (``vit_b_16(num_classes=10)``).
    num_classes: int = 1000
    dropout: float = 0.0
    attention_dropout: float = 0.0
    stochastic_depth_prob: float = 0.0
    norm_layer: Callable[..., nn.Module] | None = None

    def __post_init__(self) -> None:
        check_fields(self, what=type(self).__name__)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; found {self.activation!r}")


ACTIVATIONS: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "quick_gelu": QuickGELU}


class SelfAttention(MultiheadAttention):
    """Deprecated: `torchgraft.core.attention.MultiheadAttention`, the same parameters and output."""

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0) -> None:
        warn_deprecated(
            "torchgraft.vision.models.vit.SelfAttention is deprecated: use "
            "torchgraft.core.attention.MultiheadAttention(dim, num_heads, dropout=dropout)"
        )
        super().__init__(dim, num_heads, dropout=dropout)


class EncoderBlock(nn.Module):
    def __init__(
        self,
        cfg: ViTConfig,
        *,
        dropout: float,
        attention_dropout: float,
        norm_layer: Callable[..., nn.Module],
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.drop_path = DropPath(drop_path)
        self.ln_1 = norm_layer(cfg.hidden_dim)
        self.self_attention = MultiheadAttention(cfg.hidden_dim, cfg.num_heads, dropout=attention_dropout)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = norm_layer(cfg.hidden_dim)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.hidden_dim, cfg.mlp_dim),
            ACTIVATIONS[cfg.activation](),
            nn.Dropout(dropout),
            nn.Linear(cfg.mlp_dim, cfg.hidden_dim),
            nn.Dropout(dropout),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.self_attention.reset_parameters()
        for layer in (self.mlp[0], self.mlp[3]):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.normal_(layer.bias, std=1e-6)
        self.ln_1.reset_parameters()
        self.ln_2.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.dropout(self.self_attention(self.ln_1(x))))
        return x + self.drop_path(self.mlp(self.ln_2(x)))


class Encoder(nn.Module):
    def __init__(
        self,
        cfg: ViTConfig,
        seq_length: int,
        *,
        dropout: float,
        attention_dropout: float,
        norm_layer: Callable[..., nn.Module],
        stochastic_depth_prob: float = 0.0,
    ) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, cfg.hidden_dim))
        self.dropout = nn.Dropout(dropout)
        self.ln_pre = norm_layer(cfg.hidden_dim) if cfg.pre_norm else nn.Identity()
        block = partial(EncoderBlock, cfg, dropout=dropout, attention_dropout=attention_dropout, norm_layer=norm_layer)
        self.layers = nn.Sequential(
            OrderedDict(
                (f"encoder_layer_{i}", block(drop_path=stochastic_depth_prob * i / cfg.num_layers))
                for i in range(cfg.num_layers)
            )
        )
        self.ln = norm_layer(cfg.hidden_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.pos_embedding, std=0.02)
        for layer in self.layers:
            layer.reset_parameters()
        self.ln.reset_parameters()
        if isinstance(self.ln_pre, nn.LayerNorm):
            self.ln_pre.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.pos_embedding.shape[1]:
            raise ValueError(
                f"expected {self.pos_embedding.shape[1]} tokens (the image size the model was built for); found {x.shape[1]}"
            )
        return self.ln(self.layers(self.ln_pre(self.dropout(x + self.pos_embedding))))


class VisionTransformer(ClassifierBackbone, nn.Module):
    """Patch embedding, class token, pre-LN encoder and a linear head on the class token
    (``num_classes=0``: no head). The image size is fixed at build time (``cfg.image_size``);
    ``cfg.in_chans`` is the input's channels (a 3-channel checkpoint's ``conv_proj`` is adapted on
    load). ``stochastic_depth_prob`` drops residual branches in training, rising linearly from 0 at
    the first block."""

    @classmethod
    def from_config(cls, cfg: ViTConfig) -> VisionTransformer:
        """The model ``cfg`` describes, its options included (the family's constructor)."""
        return cls(
            cfg,
            num_classes=cfg.num_classes,
            dropout=cfg.dropout,
            attention_dropout=cfg.attention_dropout,
            stochastic_depth_prob=cfg.stochastic_depth_prob,
            norm_layer=cfg.norm_layer,
        )

    classifier_name = "heads"
    input_conv = "conv_proj"

    def __init__(
        self,
        cfg: ViTConfig,
        *,
        num_classes: int = 1000,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        stochastic_depth_prob: float = 0.0,
        norm_layer: Callable[..., nn.Module] | None = None,
    ) -> None:
        super().__init__()
        if cfg.image_size % cfg.patch_size:
            raise ValueError(f"image_size {cfg.image_size} is not divisible by patch_size {cfg.patch_size}")
        self.cfg = cfg
        norm_layer = norm_layer or partial(nn.LayerNorm, eps=cfg.layer_norm_eps)
        self.conv_proj = nn.Conv2d(cfg.in_chans, cfg.hidden_dim, cfg.patch_size, cfg.patch_size, bias=cfg.patch_bias)
        seq_length = (cfg.image_size // cfg.patch_size) ** 2 + 1
        self.class_token = nn.Parameter(torch.empty(1, 1, cfg.hidden_dim))
        self.encoder = Encoder(
            cfg,
            seq_length,
            dropout=dropout,
            attention_dropout=attention_dropout,
            norm_layer=norm_layer,
            stochastic_depth_prob=stochastic_depth_prob,
        )
        self.heads = nn.Sequential(OrderedDict(head=nn.Identity()))
        self.feature_spec = FeatureSpec(kind="sequence", width=cfg.hidden_dim, pooled_width=cfg.hidden_dim)
        self.reset_classifier(num_classes)
        self.reset_parameters()

    @property
    def image_size(self) -> int:
        return self.cfg.image_size

    @property
    def num_classes(self) -> int:
        return self.heads.head.out_features if isinstance(self.heads.head, nn.Linear) else 0

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh (zero) head for ``num_classes``, or none for 0."""
        self.heads.head = nn.Linear(self.cfg.hidden_dim, num_classes) if num_classes else nn.Identity()
        if num_classes:
            nn.init.zeros_(self.heads.head.weight)
            nn.init.zeros_(self.heads.head.bias)

    def reset_parameters(self) -> None:
        fan_in = self.conv_proj.in_channels * self.conv_proj.kernel_size[0] * self.conv_proj.kernel_size[1]
        nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
        if self.conv_proj.bias is not None:
            nn.init.zeros_(self.conv_proj.bias)
        nn.init.zeros_(self.class_token)
        self.encoder.reset_parameters()
        if isinstance(self.heads.head, nn.Linear):
            nn.init.zeros_(self.heads.head.weight)
            nn.init.zeros_(self.heads.head.bias)

    def shard_units(self) -> list[nn.Module]:
        """The encoder blocks, sharded one by one."""
        return list(self.encoder.layers)

    def forward_features(self, x: torch.Tensor) -> Features:
        n, _, h, w = x.shape
        size = self.cfg.image_size
        if (h, w) != (size, size):
            raise ValueError(f"expected {size}x{size} images; found {h}x{w}")
        x = self.conv_proj(x).flatten(2).transpose(1, 2)  # [B, N, D]
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)  # [B, 1 + N, D]
        x = self.encoder(x)
        return Features(last=x, pooled=x[:, 0])

    def pool_features(self, features: Features) -> torch.Tensor:
        return features.pooled if features.pooled is not None else features.last[:, 0]  # the class token

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


VARIANTS: dict[str, ViTConfig] = {"vit_b_16": ViTConfig()}
#: The family: ``VisionTransformer`` over one ``ViTConfig`` per variant (torchvision's layout); the
#: ``heads`` classifier is built fresh over backbone weights.
FAMILY = Family(VisionTransformer.from_config, ViTConfig, VARIANTS, head=("heads.",))


class ViT_B_16_Weights(WeightsEnum):
    IMAGENET1K_V1 = imagenet_weights(
        TORCHVISION + "vit_b_16-c867db91.pth",
        approx_size_mb=330.285,
        num_params=86567656,
        acc1=81.072,
        acc5=95.318,
        gflops=17.564,
        crop=224,
        resize=256,
        recipe="https://github.com/pytorch/vision/tree/main/references/classification#vit_b_16",
        config={"image_size": 224},
        min_size=(224, 224),
    )
    IMAGENET1K_SWAG_E2E_V1 = imagenet_weights(
        TORCHVISION + "vit_b_16_swag-9ac1b537.pth",
        approx_size_mb=331.398,
        num_params=86859496,
        acc1=85.304,
        acc5=97.65,
        gflops=55.484,
        crop=384,
        resize=384,
        interpolation="bicubic",
        recipe="https://github.com/facebookresearch/SWAG",
        license="CC-BY-NC-4.0",
        training_data="ImageNet-1K, fine-tuned end to end from the SWAG trunk",
        pretraining_data="IG-3.6B: weakly supervised on Instagram hashtags (SWAG, Singh et al., 2022)",
        config={"image_size": 384},
        min_size=(384, 384),
    )
    IMAGENET1K_SWAG_LINEAR_V1 = imagenet_weights(
        TORCHVISION + "vit_b_16_lc_swag-4e70ced5.pth",
        approx_size_mb=330.285,
        num_params=86567656,
        acc1=81.886,
        acc5=96.18,
        gflops=17.564,
        crop=224,
        resize=224,
        interpolation="bicubic",
        recipe="https://github.com/pytorch/vision/pull/5793",
        license="CC-BY-NC-4.0",
        training_data="ImageNet-1K, a linear classifier on the frozen SWAG trunk",
        pretraining_data="IG-3.6B: weakly supervised on Instagram hashtags (SWAG, Singh et al., 2022)",
        config={"image_size": 224},
        min_size=(224, 224),
    )
    DEFAULT = IMAGENET1K_V1


@register_model()
def vit_b_16(
    *, weights: ViT_B_16_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> VisionTransformer:
    """ViT-B/16 from [An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale](https://arxiv.org/abs/2010.11929): 12 layers, width 768, 16x16 patches, 86.6 M parameters.

    Args:
        weights: `ViT_B_16_Weights` (``IMAGENET1K_V1`` = ``DEFAULT``, 81.1 % top-1 at 224 px;
            ``IMAGENET1K_SWAG_E2E_V1``, 85.3 % at 384 px; ``IMAGENET1K_SWAG_LINEAR_V1``, 81.9 %), its
            name, your own ``Weights``, or ``None``. Each entry fixes ``image_size``.
        progress: show a progress bar while downloading.
        **kwargs: ``image_size`` and `VisionTransformer` arguments (``num_classes``,
            ``dropout``, ``attention_dropout``, ``norm_layer``).

    Example::

        model = vit_b_16(weights="DEFAULT").eval()
    """
    return FAMILY.build("vit_b_16", ViT_B_16_Weights.verify(weights), progress, kwargs)
