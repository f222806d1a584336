"""Running per-token layers on the real tokens of a padded batch only.

A padded batch ``[B, T, D]`` with a padding mask wastes the padding's share of every per-token
layer (projections, feed-forward, norms): a text batch of mixed lengths is often half padding.
`Packing` records where the ``N`` real tokens sit, so an encoder can keep them as ``[N, D]``
and scatter to ``[B, T, D]`` only around attention. The shapes depend on the data, so encoders
offer a switch to turn it off (CUDA graphs). Under `torch.export` a masked batch is always packed
(``N`` becomes a symbol of the program): one program serves every mask, with no guard on the
mask's values (see also `padding_matters`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Packing", "padding_matters"]

#: Packing pays for its gathers once at least this share of a batch is padding.
MIN_PADDING = 0.1


def padding_matters(mask: Tensor | None) -> bool:
    """Whether a padding mask ``[B, T]`` must be applied: it marks some padding, or the model is
    being exported (then always, so the program has one graph for every mask and no guard on the
    mask's values). Eager code skips an all-real mask, keeping the fastest attention kernels."""
    if mask is None:
        return False
    return torch.compiler.is_exporting() or not bool(mask.all())


@dataclass(frozen=True)
class Packing:
    """Where the ``N`` real tokens of a padded ``[B, T]`` batch sit."""

    index: Tensor  # [N] flat positions of the real tokens in [B * T]
    batch: int
    length: int

    @classmethod
    def of(cls, mask: Tensor) -> Packing:
        """From a ``[B, T]`` mask, True (or 1) at real tokens."""
        if mask.dim() != 2:
            raise ValueError(f"expected a padding mask [batch, length]; found shape {list(mask.shape)}")
        return cls(mask.flatten().nonzero().squeeze(1), mask.shape[0], mask.shape[1])

    @classmethod
    def when_worthwhile(cls, mask: Tensor | None) -> Packing | None:
        """The packing of ``mask``, or ``None`` when it has too little padding to pay (or is
        ``None``): how an encoder decides, in one place."""
        if mask is None:
            return None
        if torch.compiler.is_exporting():  # one program for every mask: packed always, N a symbol
            return cls.of(mask)
        return cls.of(mask) if cls.worthwhile(mask) else None

    @staticmethod
    def worthwhile(mask: Tensor) -> bool:
        """Whether ``mask`` holds enough padding for packing to be faster."""
        return float(mask.float().mean()) <= 1 - MIN_PADDING

    def pad(self, x: Tensor) -> Tensor:
        """``[N, C]`` -> ``[B, T, C]``, zeros at padding."""
        out = x.new_zeros(self.batch * self.length, x.shape[-1])
        return out.index_copy(0, self.index, x).view(self.batch, self.length, -1)

    def unpad(self, x: Tensor) -> Tensor:
        """``[B, T, C]`` -> ``[N, C]``."""
        return x.reshape(self.batch * self.length, -1).index_select(0, self.index)
