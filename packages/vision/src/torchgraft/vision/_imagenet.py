"""The 1000 ImageNet-1k class names, in the order classifiers trained on it predict them."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def imagenet_categories() -> tuple[str, ...]:
    text = resources.files("torchgraft.vision").joinpath("data/imagenet_categories.txt").read_text()
    names = tuple(line for line in text.splitlines() if line)
    assert len(names) == 1000, f"expected 1000 ImageNet categories, found {len(names)}"
    return names
