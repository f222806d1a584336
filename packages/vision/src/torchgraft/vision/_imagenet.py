"""Label sets of the datasets the published checkpoints were trained on, in prediction order."""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["coco_categories", "imagenet_categories", "voc_categories"]


def _read(name: str, expected: int) -> tuple[str, ...]:
    text = resources.files("torchgraft.vision").joinpath(f"data/{name}").read_text()
    names = tuple(line for line in text.splitlines() if line)
    assert len(names) == expected, f"expected {expected} categories in {name}, found {len(names)}"
    return names


@cache
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet-1k classes."""
    return _read("imagenet_categories.txt", 1000)


@cache
def coco_categories() -> tuple[str, ...]:
    """COCO's 91 detection ids (index 0 is the background; unused ids are "N/A")."""
    return _read("coco_categories.txt", 91)


@cache
def voc_categories() -> tuple[str, ...]:
    """The 21 Pascal VOC classes (index 0 is the background)."""
    return _read("voc_categories.txt", 21)
