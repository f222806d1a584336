"""Speech to text with CTC models: frame outputs of long recordings in bounded chunks, and greedy
decoding (the best label per frame, repeats merged, blanks dropped) with the labels of the
weights (``weights.meta["categories"]``: blank first, ``"|"`` between words).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["chunked_emissions", "greedy_ctc_decode"]


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


def chunked_emissions(
    model: torch.nn.Module,
    waveform: Tensor,
    *,
    sample_rate: int = 16000,
    chunk_seconds: float = 30.0,
    context_seconds: float = 2.0,
    progress: bool = False,
) -> Tensor:
    """Frame outputs ``[frames, C]`` of a ``Wav2Vec2Model`` over a long recording ``[samples]``,
    computed ``chunk_seconds`` at a time with ``context_seconds`` of audio on each side that is
    seen but not kept, so memory and attention cost stay bounded however long the recording is.

    Chunks start on frame boundaries (multiples of the feature extractor's total stride), so every
    kept frame sits exactly where it would in one pass, and the context is never less than what
    the convolutions see (so only attention, and a group-norm extractor's statistics, see less
    than the whole recording); a recording no longer than one chunk plus its context is one pass.
    ``progress`` shows a bar over the chunks (tqdm, on stderr)."""
    if waveform.dim() != 1:
        raise ValueError(f"expected a mono waveform [samples]; found shape {list(waveform.shape)}")
    if not (math.isfinite(chunk_seconds) and chunk_seconds > 0) or not (
        math.isfinite(context_seconds) and context_seconds >= 0
    ):
        raise ValueError(
            f"chunk_seconds must be a finite number > 0 and context_seconds a finite number >= 0; found "
            f"{chunk_seconds}, {context_seconds}"
        )
    layers = model.cfg.extractor_conv_layer_config
    stride = math.prod(s for _, _, s in layers)
    # Context never less than what the convolutions see: a frame's `field` of samples, and half
    # the positional convolution's kernel of frames on each side.
    field = 1 + sum((k - 1) * math.prod(s for _, _, s in layers[:i]) for i, (_, k, _) in enumerate(layers))
    if waveform.shape[0] < field:
        raise ValueError(
            f"the recording has {waveform.shape[0]} samples ({waveform.shape[0] / sample_rate * 1000:.1f} ms); "
            f"this model needs at least {field} ({field / sample_rate * 1000:.0f} ms at {sample_rate} Hz, what its "
            f"convolutions see for one frame)"
        )
    least = math.ceil((field - stride) / stride) + model.cfg.encoder_pos_conv_kernel // 2
    chunk = max(1, round(chunk_seconds * sample_rate / stride)) * stride
    context = max(round(context_seconds * sample_rate / stride), least) * stride
    n = waveform.shape[0]
    if n <= chunk + 2 * context:
        return model(waveform[None])[0][0]
    kept = []
    starts = range(0, n, chunk)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="chunks", unit="chunk", leave=False)
    for start in starts:
        left = max(0, start - context)
        out = model(waveform[left : min(n, start + chunk + context)][None])[0][0]  # [frames, C]
        first = (start - left) // stride
        kept.append(out[first : first + chunk // stride])
    return torch.cat(kept)
