"""Transformer text encoders of the BERT family: BERT (any size, MiniLM included), RoBERTa, XLM-R.

One class, ``TextEncoder``, configured by a frozen ``EncoderConfig``; RoBERTa and XLM-R differ from
BERT only in configuration (positions offset past the padding index, one token type). Attention
runs through ``scaled_dot_product_attention`` with a padding mask, and query/key/value are one
fused projection. Padded batches run their per-token layers on the real tokens only (``Packing``);
hidden states at padding positions are zeros. Hugging Face checkpoints (``BertModel``,
``RobertaModel``, ``XLMRobertaModel`` layouts, with or without their ``bert.``/``roberta.``
prefix) load through ``hf_to_torchgraft``.

As a backbone it is a sequence ``[B, T, D]`` with a padding mask; its pooled output is the first
(``[CLS]``/``<s>``) token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from torchgraft.core import Features, FeatureSpec, Packing

__all__ = ["EncoderConfig", "TextEncoder", "hf_to_torchgraft"]


@dataclass(frozen=True)
class EncoderConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    max_positions: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    # RoBERTa/XLM-R number positions from pad_token_id + 1 and skip padding tokens.
    roberta_positions: bool = False
    dropout: float = 0.1
    # Run per-token layers on the real tokens only when a batch is >= 10% padding; data-dependent
    # shapes, so turn it off for torch.export / CUDA graphs.
    unpad: bool = True

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")


class Embeddings(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.word = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.position = nn.Embedding(cfg.max_positions, cfg.hidden_size)
        self.token_type = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def positions(self, input_ids: Tensor) -> Tensor:
        if self.cfg.roberta_positions:
            real = input_ids.ne(self.cfg.pad_token_id).int()
            return torch.cumsum(real, dim=1) * real + self.cfg.pad_token_id
        return torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None) -> Tensor:
        positions = self.positions(input_ids)
        if positions.max() >= self.cfg.max_positions:
            raise ValueError(
                f"sequence of {input_ids.shape[1]} tokens exceeds the model's {self.cfg.max_positions} positions"
            )
        types = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
        x = self.word(input_ids) + self.position(positions) + self.token_type(types)
        return self.dropout(self.norm(x))


class SelfAttention(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.num_heads, self.dropout = cfg.num_heads, cfg.dropout
        self.qkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.out = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, x: Tensor, attn_mask: Tensor | None, packing: Packing | None = None) -> Tensor:
        """``x``: ``[B, T, D]``, or ``[N, D]`` real tokens with their ``packing``."""
        qkv = self.qkv(x) if packing is None else packing.pad(self.qkv(x))  # [B, T, 3D]
        B, T, D3 = qkv.shape
        D = D3 // 3
        q, k, v = qkv.view(B, T, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)  # [B, H, T, Dh]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        out = out.transpose(1, 2).reshape(B, T, D)
        return self.out(out if packing is None else packing.unpad(out))


class EncoderLayer(nn.Module):
    """Post-norm transformer layer (BERT): ``norm1(x + attn(x))``, ``norm2(h + ffn(h))``."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.attn = SelfAttention(cfg)
        self.norm1 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.fc1 = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.fc2 = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.norm2 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, attn_mask: Tensor | None, packing: Packing | None = None) -> Tensor:
        x = self.norm1(x + self.dropout(self.attn(x, attn_mask, packing)))
        return self.norm2(x + self.dropout(self.fc2(F.gelu(self.fc1(x)))))


class TextEncoder(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings = Embeddings(cfg)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.num_layers))
        self.feature_spec = FeatureSpec(
            kind="sequence", width=cfg.hidden_size, has_mask=True, pooled_width=cfg.hidden_size
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """BERT's initialisation: normal(0, 0.02) weights, zero biases, identity norms."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if isinstance(m, nn.Linear):
                    nn.init.zeros_(m.bias)
                elif m.padding_idx is not None:
                    with torch.no_grad():
                        m.weight[m.padding_idx].zero_()
            elif isinstance(m, nn.LayerNorm):
                m.reset_parameters()

    def forward_features(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, token_type_ids: Tensor | None = None
    ) -> Features:
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [batch, tokens]; found shape {list(input_ids.shape)}")
        mask = attention_mask.bool() if attention_mask is not None else None
        # [B, 1, 1, T]: every query may attend to the real (non-padding) keys only.
        attn_mask = mask[:, None, None, :] if mask is not None and not bool(mask.all()) else None
        x = self.embeddings(input_ids, token_type_ids)  # [B, T, D]
        packing = Packing.when_worthwhile(mask) if self.cfg.unpad else None
        h = packing.unpad(x) if packing is not None else x  # [N, D]: the real tokens only
        for layer in self.layers:
            h = layer(h, attn_mask, packing)
        x = packing.pad(h) if packing is not None else h  # zeros at padding
        return Features(last=x, mask=mask, pooled=x[:, 0])

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, token_type_ids: Tensor | None = None
    ) -> Tensor:
        """Hidden states ``[B, T, D]`` of the last layer."""
        return self.forward_features(input_ids, attention_mask, token_type_ids).last


# --------------------------------------------------------------------------- Hugging Face layout
_HF_RENAMES = [
    (r"^embeddings\.word_embeddings\.", "embeddings.word."),
    (r"^embeddings\.position_embeddings\.", "embeddings.position."),
    (r"^embeddings\.token_type_embeddings\.", "embeddings.token_type."),
    (r"^embeddings\.LayerNorm\.", "embeddings.norm."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\1.attn.out."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"layers.\1.norm1."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\1.fc1."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\1.fc2."),
    (r"^encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"layers.\1.norm2."),
]
_QKV = re.compile(r"^encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.(weight|bias)$")
_DROPPED = re.compile(r"^(pooler\.|embeddings\.position_ids$|lm_head\.|cls\.|classifier\.)")


def hf_to_torchgraft(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Maps a Hugging Face BERT/RoBERTa/XLM-R encoder state dict onto ``TextEncoder``'s: renames,
    fuses query/key/value into one projection, and drops the pooler and task heads (torchgraft
    attaches heads by composition)."""
    prefix = next(
        (p for p in ("bert.", "roberta.", "model.") if any(k.startswith(p + "embeddings.") for k in state)), ""
    )
    out: dict[str, Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, Tensor]] = {}
    for key, tensor in state.items():
        if prefix and not key.startswith(prefix):
            continue
        key = key[len(prefix) :]
        if _DROPPED.match(key):
            continue
        if m := _QKV.match(key):
            qkv.setdefault((m.group(1), m.group(3)), {})[m.group(2)] = tensor
            continue
        # Checkpoints converted from the original TensorFlow BERT name LayerNorm gamma/beta.
        key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key))
        for pattern, repl in _HF_RENAMES:
            new, n = re.subn(pattern, repl, key)
            if n:
                out[new] = tensor
                break
        else:
            out[key] = tensor  # left for the strict load to report as unexpected
    for (layer, kind), parts in qkv.items():
        if set(parts) != {"query", "key", "value"}:
            raise KeyError(f"layer {layer} {kind}: expected query, key and value; found {sorted(parts)}")
        out[f"layers.{layer}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]])
    return out
