"""``torchgraft zero-shot``: the probability of each label for images, from a CLIP model and
prompts (a ``torchgraft.cli`` plugin). Its JSON has ``classify``'s shape."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "clip_vit_b32"
#: The most classes one command embeds (ImageNet's thousand).
MAX_LABELS = 1000


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("zero-shot", parents=[common], help="probability of each label for images (CLIP, no training)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, WebP, ...)")
    p.add_argument("--labels", required=True, help='comma-separated class names, e.g. "a cat,a dog,a plane"')
    p.add_argument("--model", help=f"a zero-shot image-text model (default {DEFAULT_MODEL})")
    p.add_argument("--weights", help="its weights: MEMBER, model.MEMBER or Enum.MEMBER (default DEFAULT)")
    p.set_defaults(func=zero_shot)


def zero_shot(args: argparse.Namespace) -> int:
    import torch

    import torchgraft.core as tg
    from torchgraft.core.cli import emit, pick_weights, ranked, ranked_text

    labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    if len(labels) < 2:
        raise ValueError(f"--labels needs at least two comma-separated class names; found {labels}")
    if len(labels) > MAX_LABELS:
        raise ValueError(
            f"--labels names {len(labels):,} classes; the command takes at most {MAX_LABELS:,} (each class embeds "
            f"its prompts: a thousand take minutes on a CPU). For more, build the head once in Python with "
            f"torchgraft.core.zero_shot_classifier(..., progress=True) and keep it"
        )
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"--labels names {', '.join(map(repr, repeated))} more than once; each class once")
    missing = [path for path in args.images if not Path(path).is_file()]
    if missing:
        raise FileNotFoundError(f"no image file at {', '.join(missing)}")
    args.model, weights = pick_weights(args.model, args.weights, DEFAULT_MODEL)
    templates = weights.meta.get("prompt_templates")
    if not templates:  # decided before any download
        raise ValueError(f"{weights} is not a zero-shot image-text model's weights (no prompt templates)")
    image_only = getattr(weights.transforms, "image", None)
    # Every image decoded (bounded, checked) before the model and its tokenizer are fetched.
    pixels = [image_only()(path) for path in args.images] if image_only is not None else None
    model = tg.get_model(args.model, weights=weights).eval()
    prepare = model.transforms()
    head = tg.zero_shot_classifier(
        model, labels, templates, tokenize=prepare["text"], progress=sys.stderr.isatty() and len(labels) > 20
    )
    classify = tg.compose(model.towers["image"], head).eval()
    results = []
    with torch.inference_mode():
        for i, path in enumerate(args.images):
            x = pixels[i] if pixels is not None else prepare["image"](path)
            probs = classify(x.unsqueeze(0)).softmax(dim=-1)[0]
            results.append({"file": path, "top": ranked(probs, labels)})  # classify's records: every label
    data = {"model": args.model, "weights": str(weights), "results": results}
    emit(args, data, lambda d: ranked_text(f"{d['model']} ({d['weights']}), {len(labels)} labels", d["results"]))
    return 0
