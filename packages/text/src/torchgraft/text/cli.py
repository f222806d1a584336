"""``torchgraft embed`` and ``torchgraft similarity`` (a ``torchgraft.cli`` plugin)."""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_MODEL = "all_minilm_l6_v2"


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    for name, help_text, func in (
        ("embed", "sentence embeddings of texts", embed),
        ("similarity", "cosine-similarity matrix of texts", similarity),
    ):
        p = sub.add_parser(name, parents=[common], help=help_text)
        p.add_argument("texts", nargs="+", metavar="TEXT")
        p.add_argument("--model", help=f"a sentence-embedding model (default {DEFAULT_MODEL})")
        p.add_argument("--weights", help="its weights: MEMBER, model.MEMBER or Enum.MEMBER (default DEFAULT)")
        p.set_defaults(func=func)


def _embed(args: argparse.Namespace) -> tuple[Any, str]:
    import torch

    import torchgraft.core as tg
    from torchgraft.core.cli import pick_weights

    args.model, weights = pick_weights(args.model, args.weights, DEFAULT_MODEL)
    if weights.role == "backbone":  # decided before any download
        raise ValueError(
            f"{weights} are encoder weights, not a sentence-embedding model: use a model such as "
            f"{DEFAULT_MODEL}, or build one with torchgraft.text.models.sentence_embedder(backbone={args.model!r})"
        )
    if weights.transforms is None:
        raise ValueError(f"{weights} has no tokenizer to turn text into model inputs")
    model = tg.get_model(args.model, weights=weights).eval()
    with torch.inference_mode():
        vectors = model(**weights.transforms()(args.texts))
    if vectors.dim() != 2:
        raise ValueError(f"{args.model} is not a sentence-embedding model: it returned shape {list(vectors.shape)}")
    return vectors, str(weights)


def embed(args: argparse.Namespace) -> int:
    from torchgraft.core.cli import emit

    vectors, weights = _embed(args)
    data = {
        "model": args.model,
        "weights": weights,
        "embeddings": [[round(float(x), 7) for x in row] for row in vectors],
    }

    def text(d: dict[str, Any]) -> str:
        lines = [f"{d['model']} ({d['weights']}): {len(d['embeddings'][0])} dimensions"]
        for t, row in zip(args.texts, d["embeddings"], strict=True):
            lines.append(f"{t[:40]!r}: [{', '.join(f'{x:+.4f}' for x in row[:4])}, ...]")
        return "\n".join(lines)

    emit(args, data, text)
    return 0


def similarity(args: argparse.Namespace) -> int:
    import torch.nn.functional as F

    from torchgraft.core.cli import emit

    vectors, weights = _embed(args)
    unit = F.normalize(vectors, dim=-1)
    matrix = (unit @ unit.T).clamp(-1, 1)
    data = {
        "model": args.model,
        "weights": weights,
        "texts": args.texts,
        "similarity": [[round(float(x), 6) for x in row] for row in matrix],
    }

    def text(d: dict[str, Any]) -> str:
        labels = [f"[{i}]" for i in range(len(d["texts"]))]
        lines = [f"{label} {t}" for label, t in zip(labels, d["texts"], strict=True)]
        lines.append("      " + " ".join(f"{label:>6}" for label in labels))
        lines += [
            f"{label:>5} " + " ".join(f"{x:6.3f}" for x in row)
            for label, row in zip(labels, d["similarity"], strict=True)
        ]
        return "\n".join(lines)

    emit(args, data, text)
    return 0
