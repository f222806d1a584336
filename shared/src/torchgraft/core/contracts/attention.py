"""Multi-head attention in ``nn.MultiheadAttention``'s parameter layout, computed with
``scaled_dot_product_attention``: self- or cross-attention, causal, grouped-query, rotary, with a
key/value cache for generation.

Parameter names follow ``nn.MultiheadAttention``, so checkpoints saved from it (torchvision's ViT,
open_clip) load as they are: ``in_proj_weight`` packs the query, key and value projections
(``[q; k; v]``, rows ``(heads + 2 * kv_heads) * head_dim``), ``in_proj_bias`` their biases, and
``out_proj`` the output. Attending to a memory of another width (``kdim``) uses
``q_proj_weight`` / ``k_proj_weight`` / ``v_proj_weight`` instead, as ``nn.MultiheadAttention``
does when ``kdim != embed_dim``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import apply_rotary

if TYPE_CHECKING:
    from ..generation import KVCache

__all__ = ["MultiheadAttention"]


class MultiheadAttention(nn.Module):
    """``num_heads`` query heads of ``head_dim`` (default ``embed_dim // num_heads``) over
    ``num_kv_heads`` key/value heads (default: as many; fewer is grouped-query attention, each
    key/value head serving ``num_heads // num_kv_heads`` query heads).

    ``forward(x)`` attends over ``x`` ``[B, T, embed_dim]``; ``forward(x, memory=m)`` over a memory
    ``[B, S, kdim]`` (cross-attention). ``causal`` hides later positions; ``attn_mask`` (boolean,
    True: may attend, or additive) is combined with it. ``rotary`` (``cos``, ``sin`` from
    `torchgraft.core.layers.RotaryEmbedding`) rotates queries and keys. With a ``cache``
    (`torchgraft.core.generation.KVCache`) the new keys and values are written at ``slots`` and
    attention reads the whole cache (the caller's ``attn_mask`` masks unfilled slots); cross
    keys and values are computed once and kept in ``cache.cross[layer]``. ``scale=None`` is
    ``1 / sqrt(head_dim)``.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        num_kv_heads: int | None = None,
        head_dim: int | None = None,
        bias: bool = True,
        out_bias: bool | None = None,
        dropout: float = 0.0,
        causal: bool = False,
        kdim: int | None = None,
        scale: float | None = None,
    ) -> None:
        super().__init__()
        kv_heads = num_kv_heads if num_kv_heads is not None else num_heads
        if head_dim is None:
            if embed_dim % num_heads:
                raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}; give head_dim=")
            head_dim = embed_dim // num_heads
        if min(embed_dim, num_heads, kv_heads, head_dim) <= 0 or num_heads % kv_heads:
            raise ValueError(
                f"expected positive sizes with num_heads a multiple of num_kv_heads; found embed_dim={embed_dim}, "
                f"num_heads={num_heads}, num_kv_heads={kv_heads}, head_dim={head_dim}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); found {dropout}")
        self.embed_dim, self.num_heads, self.num_kv_heads, self.head_dim = embed_dim, num_heads, kv_heads, head_dim
        self.dropout, self.causal, self.scale = dropout, causal, scale
        self.kdim = kdim if kdim is not None else embed_dim
        q, kv = num_heads * head_dim, kv_heads * head_dim
        if self.kdim == embed_dim:
            self.in_proj_weight = nn.Parameter(torch.empty(q + 2 * kv, embed_dim))
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = nn.Parameter(torch.empty(q, embed_dim))
            self.k_proj_weight = nn.Parameter(torch.empty(kv, self.kdim))
            self.v_proj_weight = nn.Parameter(torch.empty(kv, self.kdim))
        self.in_proj_bias = nn.Parameter(torch.empty(q + 2 * kv)) if bias else None
        self.out_proj = nn.Linear(q, embed_dim, bias=bias if out_bias is None else out_bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """As ``nn.MultiheadAttention``: Xavier-uniform projections, zero biases."""
        if self.in_proj_weight is not None:
            nn.init.xavier_uniform_(self.in_proj_weight)
        else:
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                nn.init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
        nn.init.kaiming_uniform_(self.out_proj.weight, a=math.sqrt(5))
        if self.out_proj.bias is not None:
            nn.init.zeros_(self.out_proj.bias)

    def _project(self, x: Tensor, memory: Tensor | None, kept: bool) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Queries from ``x``; keys and values from ``memory`` (or ``x``), unless ``kept`` in a cache."""
        q_size, kv_size = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        if memory is None and self.in_proj_weight is None:
            raise ValueError(f"this attention reads a memory of width {self.kdim}; pass memory=")
        if memory is None and self.num_kv_heads == self.num_heads:  # one matmul for q, k and v
            q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
            return q, k, v
        biases = self.in_proj_bias.split([q_size, kv_size, kv_size]) if self.in_proj_bias is not None else (None,) * 3
        if self.in_proj_weight is not None:
            weights = self.in_proj_weight.split([q_size, kv_size, kv_size])
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        q = F.linear(x, weights[0], biases[0])
        if kept:
            return q, None, None
        source = x if memory is None else memory
        return q, F.linear(source, weights[1], biases[1]), F.linear(source, weights[2], biases[2])

    def _heads(self, t: Tensor, heads: int) -> Tensor:
        return t.view(t.shape[0], t.shape[1], heads, self.head_dim).transpose(1, 2)  # [B, H, T, Dh]

    def forward(
        self,
        x: Tensor,
        *,
        memory: Tensor | None = None,
        attn_mask: Tensor | None = None,
        rotary: tuple[Tensor, Tensor] | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
        slots: Tensor | None = None,
    ) -> Tensor:
        """``[B, T, embed_dim]``."""
        B, T, _ = x.shape
        kept: Any = cache.cross[layer] if cache is not None and memory is not None else None
        q, k, v = self._project(x, memory, kept is not None)
        q = self._heads(q, self.num_heads)
        if kept is not None:
            k, v = kept
        else:
            k, v = self._heads(k, self.num_kv_heads), self._heads(v, self.num_kv_heads)
            if rotary is not None and memory is None:
                k = apply_rotary(k, *rotary)
            if cache is not None:
                if memory is not None:
                    cache.cross[layer] = (k, v)
                else:
                    if slots is None:
                        raise ValueError("a cache needs the slots the new tokens take (cache.reserve(T))")
                    k, v = cache.update(layer, slots, k, v)  # [B, KV, capacity, Dh]
        if rotary is not None:
            q = apply_rotary(q, *rotary)
        causal = self.causal and memory is None
        mask = attn_mask
        if causal and (cache is not None or mask is not None):
            mask = _with_causal(mask, q.shape[-2], k.shape[-2], slots, q.device)
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=causal and mask is None,
            scale=self.scale,
            enable_gqa=self.num_kv_heads != self.num_heads,
        )
        return self.out_proj(out.transpose(1, 2).reshape(B, T, -1))


def _with_causal(mask: Tensor | None, queries: int, keys: int, slots: Tensor | None, device: torch.device) -> Tensor:
    """``mask`` (boolean or additive, broadcastable to ``[B, H, T, S]``) with the future hidden:
    query ``i`` sits at key position ``slots[i]`` (a cache) or ``keys - queries + i``."""
    positions = slots if slots is not None else torch.arange(keys - queries, keys, device=device)
    allowed = torch.arange(keys, device=device)[None, :] <= positions[:, None]  # [T, S]
    if mask is None:
        return allowed
    if mask.dtype == torch.bool:
        return mask & allowed
    return mask.masked_fill(~allowed, torch.finfo(mask.dtype).min)
