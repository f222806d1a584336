"""Metadata shared by the ImageNet classification weights entries."""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from torchgraft.core import Weights

from .._imagenet import imagenet_categories
from ..transforms import ImageClassification

__all__ = ["TORCHVISION", "imagenet_weights"]

TORCHVISION = "https://download.pytorch.org/models/"
_PREFIX = re.compile(r"-([0-9a-f]{8,64})\.(?:pth|safetensors)$")


def imagenet_weights(
    url: str,
    *,
    num_params: int,
    acc1: float,
    acc5: float | None = None,
    gflops: float,
    recipe: str,
    crop: int,
    resize: int,
    interpolation: str = "bilinear",
    license: str = "BSD-3-Clause",
    sha256: str | None = None,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
    size: int | None = None,
    format: str | None = None,
    adapter: Any = None,
    **extra: Any,
) -> Weights:
    """An ImageNet-1k classifier checkpoint. For torchvision's files the sha256 prefix is the one
    in the file name (what torchvision itself checks)."""
    if sha256 is None:
        match = _PREFIX.search(url)
        if match is None:
            raise ValueError(f"{url}: no sha256 given and none in the file name")
        sha256 = match.group(1)
    preset = {"crop_size": crop, "resize_size": resize, "interpolation": interpolation}
    if mean is not None:
        preset.update(mean=mean, std=std)
    return Weights(
        url=url,
        sha256=sha256,
        transforms=partial(ImageClassification, **preset),
        meta={
            "num_params": num_params,
            "categories": imagenet_categories(),
            "metrics": {"ImageNet-1K": {"acc@1": acc1, **({"acc@5": acc5} if acc5 is not None else {})}},
            "gflops": gflops,
            "recipe": recipe,
            "license": license,
            "min_size": (1, 1),
            "preprocessing": preset,
            "training_data": "ImageNet-1K (ILSVRC 2012): 1.28 M training images in 1,000 classes",
            **extra,
        },
        size=size,
        format=format,
        adapter=adapter,
    )
