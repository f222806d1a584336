"""CLIP's text tower: a causal transformer over CLIP's byte-level BPE tokens, summarised by the
end-of-text token (the last real one). torchgraft-multimodal joins it to an image tower; here it
is a text backbone of its own, in open_clip's block layout (``resblocks.N.ln_1``, ``attn``,
``ln_2``, ``mlp.c_fc`` / ``mlp.c_proj``, ``ln_final``), so its checkpoints need only prefixes moved.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from torchgraft.core import Features, FeatureSpec
from torchgraft.core.attention import MultiheadAttention
from torchgraft.core.layers import QuickGELU
from torchgraft.core.preflight import check_fields

__all__ = ["CLIPTextConfig", "CLIPTextTransformer"]


@dataclass(frozen=True)
class CLIPTextConfig:
    vocab_size: int = 49408
    context_length: int = 77
    width: int = 512
    heads: int = 8
    layers: int = 12
    mlp_ratio: float = 4.0
    #: ``"quick_gelu"`` in OpenAI's checkpoints, ``"gelu"`` in LAION's.
    activation: str = "gelu"
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        check_fields(self, what=type(self).__name__)
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")
        if self.activation not in ("gelu", "quick_gelu"):
            raise ValueError(f"activation must be 'gelu' or 'quick_gelu'; found {self.activation!r}")


class Block(nn.Module):
    """Pre-norm: ``x + attn(ln_1(x))``, ``x + mlp(ln_2(x))``."""

    def __init__(self, cfg: CLIPTextConfig) -> None:
        super().__init__()
        hidden = int(cfg.width * cfg.mlp_ratio)
        self.ln_1 = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.attn = MultiheadAttention(cfg.width, cfg.heads, causal=True)
        self.ln_2 = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        activation = QuickGELU() if cfg.activation == "quick_gelu" else nn.GELU()
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(cfg.width, hidden))
        self.mlp.add_module("gelu", activation)
        self.mlp.add_module("c_proj", nn.Linear(hidden, cfg.width))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class CLIPTextTransformer(nn.Module):
    """``forward(input_ids [B, T], attention_mask=None) -> [B, T, width]`` after the final norm.
    Without an attention mask, a row's real tokens run up to its end-of-text token (the highest id
    in CLIP's vocabulary, as open_clip's ``argmax`` pooling assumes)."""

    def __init__(self, cfg: CLIPTextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.width)
        self.positional_embedding = nn.Parameter(torch.empty(cfg.context_length, cfg.width))
        self.resblocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln_final = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.feature_spec = FeatureSpec(kind="sequence", width=cfg.width, has_mask=True, causal=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """open_clip's initialisation of its text transformer."""
        c = self.cfg
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        proj_std, attn_std, fc_std = (c.width**-0.5) * ((2 * c.layers) ** -0.5), c.width**-0.5, (2 * c.width) ** -0.5
        for block in self.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.zeros_(block.attn.in_proj_bias)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.zeros_(block.attn.out_proj.bias)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.zeros_(block.mlp.c_fc.bias)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
            nn.init.zeros_(block.mlp.c_proj.bias)
            block.ln_1.reset_parameters()
            block.ln_2.reset_parameters()
        self.ln_final.reset_parameters()

    def shard_units(self) -> list[nn.Module]:
        """The residual blocks, sharded one by one."""
        return list(self.resblocks)

    def forward_features(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Features:
        length = input_ids.shape[1]
        if length > self.cfg.context_length:
            raise ValueError(f"{length} tokens exceed CLIP's context of {self.cfg.context_length}")
        x = self.token_embedding(input_ids) + self.positional_embedding[:length]  # [B, T, D]
        for block in self.resblocks:
            x = block(x)
        if attention_mask is None:  # real tokens: up to the end-of-text token, the row's highest id
            end = input_ids.argmax(-1, keepdim=True)  # [B, 1]
            mask = torch.arange(length, device=input_ids.device)[None] <= end
        else:
            mask = attention_mask.bool()
        return Features(last=self.ln_final(x), mask=mask)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        return self.forward_features(input_ids, attention_mask).last
