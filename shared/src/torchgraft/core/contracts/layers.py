"""Layers every family is built from: activations, normalisation, rotary positions, gated MLPs,
layer scale and stochastic depth; and the adaptation of a first convolution to another number of
input channels.

Each follows the published layout of the models that use it (parameter names included), so a
family built from them loads its checkpoints as they are: ``RMSNorm`` as Llama's (normalised in
float32, then cast back, then scaled), ``GatedMLP`` with ``gate_proj`` / ``up_proj`` / ``down_proj``,
``RotaryEmbedding`` with the default, linear, dynamic-NTK and Llama 3 frequency rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ROPE_TYPES",
    "DropPath",
    "GatedMLP",
    "LayerScale",
    "QuickGELU",
    "RMSNorm",
    "RopeScaling",
    "RotaryEmbedding",
    "adapt_input_channels",
    "apply_rotary",
]


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``: OpenAI CLIP's approximation of GELU."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


class RMSNorm(nn.Module):
    """Root-mean-square normalisation with a learned scale, computed in float32 and cast back to
    the input's dtype before the scale is applied (Llama's order, which bf16 outputs depend on).
    ``offset=1.0`` scales by ``1 + weight`` (Gemma's layout, whose checkpoints store the offset)."""

    def __init__(self, dim: int, eps: float = 1e-6, *, offset: float = 0.0) -> None:
        super().__init__()
        self.eps, self.offset = eps, offset
        self.weight = nn.Parameter(torch.ones(dim) if offset == 0.0 else torch.zeros(dim))

    def forward(self, x: Tensor) -> Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return (self.weight + self.offset) * x.to(dtype)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}" + (f", offset={self.offset}" if self.offset else "")


#: The frequency rules `RotaryEmbedding` implements (transformers' ``rope_type`` names).
ROPE_TYPES = ("default", "linear", "dynamic", "llama3")


@dataclass(frozen=True)
class RopeScaling:
    """How rotary frequencies are scaled for contexts longer than the training length:
    ``"linear"`` divides positions by ``factor``; ``"dynamic"`` (NTK) raises the base once a
    sequence exceeds ``original_max_positions``; ``"llama3"`` keeps high frequencies, divides low
    ones by ``factor`` and blends between ``low_freq_factor`` and ``high_freq_factor``."""

    rope_type: str = "default"
    factor: float = 1.0
    original_max_positions: int | None = None
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0

    def __post_init__(self) -> None:
        if self.rope_type not in ROPE_TYPES:
            raise ValueError(f"rope_type must be one of {ROPE_TYPES}; found {self.rope_type!r}")
        if not (isinstance(self.factor, (int, float)) and math.isfinite(self.factor) and self.factor > 0):
            raise ValueError(f"rope scaling factor must be a finite number > 0; found {self.factor!r}")
        if self.rope_type in ("dynamic", "llama3") and not self.original_max_positions:
            raise ValueError(f"rope_type {self.rope_type!r} needs original_max_positions")
        if self.rope_type == "llama3" and not 0 < self.low_freq_factor < self.high_freq_factor:
            raise ValueError(
                f"llama3 scaling needs 0 < low_freq_factor < high_freq_factor; found "
                f"{self.low_freq_factor}, {self.high_freq_factor}"
            )


class RotaryEmbedding(nn.Module):
    """Rotary position embeddings: ``forward(positions [B, T])`` gives ``(cos, sin)`` of shape
    ``[B, T, dim]`` for `apply_rotary` (the two halves of each head's dimensions rotate together,
    the layout of Llama, Qwen and Mistral checkpoints). ``dim`` is the rotated part of a head
    (all of it unless the family rotates a fraction)."""

    def __init__(
        self, dim: int, *, base: float = 10000.0, max_positions: int = 2048, scaling: RopeScaling | None = None
    ) -> None:
        super().__init__()
        if dim <= 0 or dim % 2:
            raise ValueError(f"a rotary dimension must be even and positive; found {dim}")
        self.dim, self.base, self.max_positions = dim, float(base), max_positions
        self.scaling = scaling or RopeScaling()
        # Non-persistent: checkpoints never store it, and it is recomputed exactly on any device.
        self.register_buffer("inv_freq", self._inv_freq(self.base), persistent=False)

    def _inv_freq(self, base: float) -> Tensor:
        inv = 1.0 / (base ** (torch.arange(0, self.dim, 2, dtype=torch.int64).float() / self.dim))
        s = self.scaling
        if s.rope_type == "linear":
            return inv / s.factor
        if s.rope_type == "llama3":
            assert s.original_max_positions is not None
            low_wavelen = s.original_max_positions / s.low_freq_factor
            high_wavelen = s.original_max_positions / s.high_freq_factor
            wavelen = 2 * math.pi / inv
            scaled = torch.where(wavelen > low_wavelen, inv / s.factor, inv)
            smooth = (s.original_max_positions / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor)
            blended = (1 - smooth) * scaled / s.factor + smooth * scaled
            medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
            return torch.where(medium, blended, scaled)
        return inv

    def forward(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        inv_freq = self.inv_freq
        s = self.scaling
        if s.rope_type == "dynamic":
            assert s.original_max_positions is not None
            longest = int(positions.max()) + 1
            if longest > s.original_max_positions:
                ratio = s.factor * longest / s.original_max_positions - (s.factor - 1)
                base = self.base * ratio ** (self.dim / (self.dim - 2))
                inv_freq = self._inv_freq(base).to(inv_freq.device)
        freqs = positions[..., None].float() * inv_freq.float()  # [B, T, dim / 2]
        emb = torch.cat([freqs, freqs], dim=-1)
        return emb.cos(), emb.sin()


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotates ``x`` ``[B, heads, T, head_dim]`` by positions' ``cos`` / ``sin`` ``[B, T, dim]``;
    when ``dim < head_dim`` only the first ``dim`` dimensions rotate (partial rotary)."""
    dim = cos.shape[-1]
    rotated, kept = x[..., :dim], x[..., dim:]
    cos, sin = cos[:, None].to(x.dtype), sin[:, None].to(x.dtype)
    half = dim // 2
    turned = torch.cat([-rotated[..., half:], rotated[..., :half]], dim=-1)
    out = rotated * cos + turned * sin
    return torch.cat([out, kept], dim=-1) if kept.shape[-1] else out


class GatedMLP(nn.Module):
    """``down_proj(act(gate_proj(x)) * up_proj(x))``: SwiGLU with ``act=F.silu`` (Llama, Qwen,
    Mistral), gated GELU with the tanh GELU (Gemma, T5 v1.1's layout under other names)."""

    def __init__(self, dim: int, hidden: int, *, bias: bool = False, activation: str = "silu") -> None:
        super().__init__()
        acts = {"silu": F.silu, "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"), "gelu": F.gelu}
        if activation not in acts:
            raise ValueError(f"activation must be one of {sorted(acts)}; found {activation!r}")
        self.activation = activation
        self.act = acts[activation]
        self.gate_proj = nn.Linear(dim, hidden, bias=bias)
        self.up_proj = nn.Linear(dim, hidden, bias=bias)
        self.down_proj = nn.Linear(hidden, dim, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class LayerScale(nn.Module):
    """A learned per-channel scale of a residual branch (CaiT, DINOv2), parameter ``gamma``."""

    def __init__(self, dim: int, init: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class DropPath(nn.Module):
    """Stochastic depth: in training, drops a residual branch per sample with probability ``p``
    and rescales the kept ones by ``1 / (1 - p)``; the identity in evaluation."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop-path probability must be in [0, 1); found {p!r}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)  # [B, 1, ...]
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def adapt_input_channels(weight: Tensor, in_chans: int) -> Tensor:
    """A first convolution's filters ``[O, C, *k]``, trained on ``C`` input channels, for
    ``in_chans``: summed over the channels for one (a grayscale image gives each filter the
    response the colour image of the same intensities gave), else the ``C`` channels repeated and
    cut to ``in_chans``, scaled by ``C / in_chans`` so the response to an input of equal channels
    keeps its size (timm's rule, for grayscale or multispectral input)."""
    if weight.dim() < 3:
        raise ValueError(f"expected convolution filters [out, in, *kernel]; found shape {list(weight.shape)}")
    if in_chans <= 0:
        raise ValueError(f"in_chans must be positive; found {in_chans}")
    base = weight.shape[1]
    if in_chans == base:
        return weight
    work = weight.float()
    if in_chans == 1:
        adapted = work.sum(dim=1, keepdim=True)
    else:
        repeats = [1, math.ceil(in_chans / base)] + [1] * (weight.dim() - 2)
        adapted = work.repeat(*repeats)[:, :in_chans] * (base / in_chans)
    return adapted.to(weight.dtype).contiguous()
