"""Greedy CTC decoding: the best label per frame, repeats merged, blanks dropped.

What the ASR bundles' ``aux`` logits become text through, with the labels of their weights
(``weights.meta["categories"]``: blank first, ``"|"`` between words).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["greedy_ctc_decode"]


def greedy_ctc_decode(
    emissions: Tensor,
    labels: Sequence[str],
    *,
    lengths: Tensor | None = None,
    blank: int = 0,
    word_delimiter: str | None = "|",
) -> list[str]:
    """Transcripts of ``emissions`` ``[batch, frames, labels]`` (or ``[frames, labels]``):
    logits or log-probabilities, only their argmax matters. ``lengths`` (frames per item) ignores
    padded frames; ``word_delimiter`` becomes a space, and runs of it collapse to one."""
    if emissions.dim() == 2:
        emissions = emissions.unsqueeze(0)
    if emissions.dim() != 3:
        raise ValueError(f"expected emissions [batch, frames, labels]; found shape {list(emissions.shape)}")
    if emissions.shape[-1] != len(labels):
        raise ValueError(f"emissions have {emissions.shape[-1]} labels per frame, but {len(labels)} labels were given")
    if not 0 <= blank < len(labels):
        raise ValueError(f"blank index {blank} is outside the {len(labels)} labels")
    if lengths is not None and lengths.shape != (emissions.shape[0],):
        raise ValueError(f"lengths must be [batch] = [{emissions.shape[0]}]; found {list(lengths.shape)}")
    best = emissions.argmax(dim=-1)  # [B, T]
    transcripts = []
    for i, path in enumerate(best):
        if lengths is not None:
            path = path[: int(lengths[i])]
        merged = torch.unique_consecutive(path)
        text = "".join(labels[int(j)] for j in merged if int(j) != blank)
        if word_delimiter:
            text = " ".join(text.replace(word_delimiter, " ").split())
        transcripts.append(text)
    return transcripts
