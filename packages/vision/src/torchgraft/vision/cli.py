"""``torchgraft classify``: ImageNet top-K labels for image files (a ``torchgraft.cli`` plugin)."""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_MODEL = "efficientnet_lite0"


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("classify", parents=[common], help="top-K ImageNet labels for images")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, WebP, ...)")
    p.add_argument("--model", help=f"a vision classifier (default {DEFAULT_MODEL})")
    p.add_argument("--weights", help="its weights: MEMBER, model.MEMBER or Enum.MEMBER (default: the model's DEFAULT)")
    p.add_argument("--top", type=int, default=5, help="how many labels per image (default 5)")
    p.set_defaults(func=classify)


def classify(args: argparse.Namespace) -> int:
    import torch

    import torchgraft.core as tg
    from torchgraft.core.cli import emit, pick_weights, ranked, ranked_text

    if args.top < 1:
        raise ValueError(f"--top must be at least 1; found {args.top}")
    args.model, weights = pick_weights(args.model, args.weights, DEFAULT_MODEL)
    categories = weights.meta.get("categories")
    if not categories or weights.transforms is None:
        raise ValueError(f"{weights} is not an image classifier's weights (no categories or preprocessing)")
    preprocess = weights.transforms()
    inputs = [preprocess(path) for path in args.images]  # every file decodes (bounded) before any download
    model = tg.get_model(args.model, weights=weights).eval()
    results = []
    with torch.inference_mode():
        for path, image in zip(args.images, inputs, strict=True):
            probs = model(image.unsqueeze(0)).softmax(dim=-1)[0]
            results.append({"file": path, "top": ranked(probs, categories, args.top)})
    data = {"model": args.model, "weights": str(weights), "results": results}
    emit(args, data, lambda d: ranked_text(f"{d['model']} ({d['weights']})", d["results"]))
    return 0
