"""From task-head outputs back to text: extractive-QA answer spans, and one label per word for token
classification.

Both read what ``TextTransform`` returns alongside the model inputs: ``offsets`` and
``sequence_ids`` (``return_offsets=True``), ``overflow_to_sample`` for long contexts cut into windows
(``return_overflowing=True``), ``word_ids`` for pre-split words (``return_word_ids=True``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Answer", "decode_answers", "word_labels"]


@dataclass(frozen=True)
class Answer:
    """An answer span: ``context[start:end] == text``; ``score`` is the product of its start and end
    probabilities. The null answer (no answer in the context) has ``text == ""`` and ``start == end == 0``."""

    text: str
    start: int
    end: int
    score: float


def decode_answers(
    start_logits: Tensor,
    end_logits: Tensor,
    batch: Mapping[str, Tensor],
    contexts: Sequence[str],
    *,
    max_answer_length: int = 30,
    top_k: int = 1,
    null_answers: bool = False,
) -> list[list[Answer]]:
    """The ``top_k`` best answers per question, best first.

    ``start_logits`` / ``end_logits``: ``[N, T]`` for the ``N`` rows of ``batch`` (windows of long
    contexts included); ``batch`` holds ``offsets``, ``sequence_ids`` and, for windows,
    ``overflow_to_sample``; ``contexts``: the context of each question (the second text of each
    pair). A span lies within the context (``sequence_ids == 1``), ends at or after its start and
    is at most ``max_answer_length`` tokens long. Start and end probabilities are softmaxes over a
    window's context tokens and its first token, whose pair of probabilities is the null score; with
    ``null_answers`` the null answer (the lowest null score of the question's windows) is ranked
    among the spans by that score, as transformers' question-answering pipeline ranks it.
    """
    for key in ("offsets", "sequence_ids"):
        if key not in batch:
            raise KeyError(f"decode_answers needs batch[{key!r}]: tokenize with return_offsets=True")
    if start_logits.shape != end_logits.shape or start_logits.shape != batch["sequence_ids"].shape:
        raise ValueError(
            f"expected start and end logits shaped like the batch {list(batch['sequence_ids'].shape)}; "
            f"found {list(start_logits.shape)} and {list(end_logits.shape)}"
        )
    if max_answer_length < 1 or top_k < 1:
        raise ValueError(f"max_answer_length and top_k must be positive; found {max_answer_length} and {top_k}")
    rows = batch.get("overflow_to_sample", torch.arange(len(start_logits)))
    if int(rows.max()) >= len(contexts):
        raise ValueError(f"the batch has {int(rows.max()) + 1} questions but {len(contexts)} contexts were given")
    spans: list[list[Answer]] = [[] for _ in contexts]
    nulls: list[float] = [float("inf")] * len(contexts)
    for n in range(len(start_logits)):
        sample = int(rows[n])
        context = batch["sequence_ids"][n] == 1  # [T] context tokens
        allowed = context.clone()
        allowed[0] = True  # the first token carries the null answer
        start = start_logits[n].float().masked_fill(~allowed, float("-inf")).softmax(-1)  # [T]
        end = end_logits[n].float().masked_fill(~allowed, float("-inf")).softmax(-1)
        nulls[sample] = min(nulls[sample], float(start[0] * end[0]))
        scores = start[:, None] * end[None, :]  # [T, T]: start i, end j
        valid = torch.triu(torch.ones_like(scores, dtype=torch.bool)) & ~torch.triu(
            torch.ones_like(scores, dtype=torch.bool), diagonal=max_answer_length
        )
        valid &= context[:, None] & context[None, :]
        scores = scores.masked_fill(~valid, -1.0)
        best = scores.flatten().topk(min(top_k, int(valid.sum()))) if valid.any() else None
        if best is None:
            continue
        offsets = batch["offsets"][n]
        for score, flat in zip(best.values.tolist(), best.indices.tolist(), strict=True):
            i, j = divmod(flat, scores.shape[1])
            first, last = int(offsets[i][0]), int(offsets[j][1])
            spans[sample].append(Answer(contexts[sample][first:last], first, last, score))
    answers = []
    for sample, found in enumerate(spans):
        if null_answers:
            found = [*found, Answer("", 0, 0, nulls[sample])]
        answers.append(sorted(found, key=lambda a: a.score, reverse=True)[:top_k])
    return answers


def word_labels(predictions: Tensor, word_ids: Tensor) -> list[list[int]]:
    """One label per word: the prediction at each word's first token (``predictions``: ``[B, T]``
    labels, or ``[B, T, C]`` logits; ``word_ids``: ``[B, T]`` from ``return_word_ids=True``, -1 for
    special and padding tokens)."""
    labels = predictions.argmax(-1) if predictions.dim() == 3 else predictions
    if labels.shape != word_ids.shape:
        raise ValueError(
            f"expected predictions shaped like word_ids {list(word_ids.shape)}; found {list(predictions.shape)}"
        )
    out = []
    for row_labels, row_words in zip(labels.tolist(), word_ids.tolist(), strict=True):
        words: dict[int, int] = {}
        for label, word in zip(row_labels, row_words, strict=True):
            if word >= 0 and word not in words:
                words[word] = label
        out.append([words[w] for w in sorted(words)])
    return out
