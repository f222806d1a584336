"""Inference preprocessing, built with torchvision's transforms v2 from a weights entry's metadata.

``ImageClassification`` accepts a path, a PIL image, a uint8 image tensor ``[C, H, W]`` (1, 3 or 4
channels), or a list of those, and returns the float tensor the model takes: ``[3, S, S]`` for one
image, ``[N, 3, S, S]`` for a list.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MAX_IMAGE_PIXELS",
    "ImageClassification",
    "ObjectDetection",
    "SemanticSegmentation",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


MAX_IMAGE_PIXELS = 100_000_000
"""The most pixels an image file may decode to (a 10000 x 10000 image: 300 MB as RGB). A larger
file is refused before its pixels are decoded; a large JPEG is first decoded at 1/2, 1/4 or 1/8
scale when the preset's resize allows it, so only what remains counts."""

_DRAFT_PIXELS = 4096 * 4096  # below this, files decode at full size (bit-equal to a plain PIL decode)


@dataclass(frozen=True)
class ImageClassification:
    """Resize the shorter side to ``resize_size``, center-crop ``crop_size``, scale to [0, 1] and
    normalise with ``mean``/``std`` (the preset a classification checkpoint was evaluated with)."""

    crop_size: int
    resize_size: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"

    def _pipeline(self) -> Any:
        from torchvision.transforms import InterpolationMode, v2

        return v2.Compose(
            [
                v2.Resize(self.resize_size, interpolation=InterpolationMode(self.interpolation), antialias=True),
                v2.CenterCrop(self.crop_size),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(mean=list(self.mean), std=list(self.std)),
            ]
        )

    def __call__(self, images: Any) -> torch.Tensor:
        pipeline = self._pipeline()
        if isinstance(images, (list, tuple)):
            return torch.stack([pipeline(_to_rgb_uint8(image, self.resize_size)) for image in images])
        return pipeline(_to_rgb_uint8(images, self.resize_size))

    def describe(self) -> str:
        return (
            f"resize {self.resize_size} ({self.interpolation}), center crop {self.crop_size}, "
            f"scale to [0, 1], normalise mean={[round(m, 4) for m in self.mean]} std={[round(v, 4) for v in self.std]}"
        )


@dataclass(frozen=True)
class SemanticSegmentation:
    """Resize the shorter side to ``resize_size`` (no crop: every pixel gets a label), scale to
    [0, 1] and normalise."""

    resize_size: int = 520
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __call__(self, images: Any) -> Any:
        from torchvision.transforms import InterpolationMode, v2

        pipeline = v2.Compose(
            [
                v2.Resize(self.resize_size, interpolation=InterpolationMode.BILINEAR, antialias=True),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(mean=list(self.mean), std=list(self.std)),
            ]
        )
        if isinstance(images, (list, tuple)):
            return [pipeline(_to_rgb_uint8(image, self.resize_size)) for image in images]
        return pipeline(_to_rgb_uint8(images, self.resize_size))

    def describe(self) -> str:
        return f"resize {self.resize_size} (bilinear), scale to [0, 1], normalise"


@dataclass(frozen=True)
class ObjectDetection:
    """Detection models resize and normalise inside the model: this only turns a path, PIL image
    or uint8 tensor into a float ``[3, H, W]`` tensor in [0, 1] (a list stays a list, since
    detection images may differ in size)."""

    def __call__(self, images: Any) -> Any:
        if isinstance(images, (list, tuple)):
            return [self(image) for image in images]
        image = _to_rgb_uint8(images)
        return image.to(torch.float32) if image.is_floating_point() else image.to(torch.float32) / 255.0

    def describe(self) -> str:
        return "to RGB, scale to [0, 1] (the model resizes and normalises)"


def _to_rgb_uint8(image: Any, min_side: int | None = None) -> torch.Tensor:
    """An RGB image tensor from a path, a PIL image or an image tensor, as torchvision's transforms
    take them: ``[3, H, W]``, or ``[N, 3, H, W]`` for a batched tensor; uint8 (0-255), or floating
    point in [0, 1] when given so (a float tensor in 0-255 is refused: it would silently normalise
    wrong). A file is decoded no larger than needed for a shorter side of ``min_side`` (when the
    format allows it) and within ``MAX_IMAGE_PIXELS``."""
    from torchvision.transforms.v2 import functional as F

    if isinstance(image, (str, Path)):
        return F.pil_to_tensor(_decode(Path(image), min_side))
    if hasattr(image, "convert") and hasattr(image, "mode"):  # a PIL image
        return F.pil_to_tensor(image.convert("RGB"))
    if isinstance(image, torch.Tensor):
        if image.dim() not in (3, 4) or image.shape[-3] not in (1, 3, 4):
            raise ValueError(
                f"expected an image tensor [C, H, W] or a batch [N, C, H, W] with C in (1, 3, 4); "
                f"found shape {list(image.shape)}"
            )
        if image.is_floating_point():
            if image.numel() and not (float(image.min()) >= 0.0 and float(image.max()) <= 1.0):
                raise ValueError(
                    f"a floating-point image tensor is read in [0, 1] (torchvision's convention); found values in "
                    f"[{float(image.min()):g}, {float(image.max()):g}]: divide by 255, or pass the uint8 tensor"
                )
        elif image.dtype != torch.uint8:
            raise ValueError(f"expected a uint8 (0-255) or floating-point ([0, 1]) image tensor; found {image.dtype}")
        if image.shape[-3] == 1:
            return image.expand(*image.shape[:-3], 3, *image.shape[-2:])
        return image[..., :3, :, :]
    raise TypeError(
        f"expected a path, a PIL image or an image tensor [C, H, W] / [N, C, H, W]; found {type(image).__name__}"
    )


def _decode(path: Path, min_side: int | None) -> Any:
    """An RGB PIL image from a file, bounded: the header's size is checked before any pixel is
    decoded; a JPEG larger than ``_DRAFT_PIXELS`` decodes at the smallest DCT scale that keeps its
    shorter side at least ``2 * min_side`` (so the final antialiased resize still downsamples).
    Other formats (PNG, WebP, TIFF, ...) cannot decode at a reduced scale: one that large is shrunk
    with a box filter right after decoding, to a shorter side of ``2 * min_side``, so the pixels that
    go on to the tensor and the resize are no more than a JPEG's would be."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}")
    try:
        # Pillow's warnings (bombs, truncated palettes, EXIF) never reach the user's stderr: the
        # bound is ours and a file that cannot be used is an error. Some formats decode while they
        # open (ICO and CUR decode their largest frame): Pillow's own bomb check then enforces our
        # bound before any pixel of it (it raises past twice its limit).
        with warnings.catch_warnings(), _pillow_limit(MAX_IMAGE_PIXELS // 2):
            warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
            with opened:
                width, height = opened.size
                if min_side and width * height > _DRAFT_PIXELS and min(width, height) > 2 * min_side:
                    scale = 2 * min_side / min(width, height)
                    opened.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
                width, height = opened.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ValueError(_too_large(path, width, height))
                rgb = opened.convert("RGB")
        if min_side and width * height > _DRAFT_PIXELS and min(width, height) > 4 * min_side:
            scale = 2 * min_side / min(width, height)  # a box filter keeps the geometry (fractional boxes)
            return rgb.resize((math.ceil(width * scale), math.ceil(height * scale)), Image.Resampling.BOX)
        return rgb
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        claimed = f"{int(found.group(1)):,} pixels" if found else "more pixels than allowed"
        raise ValueError(
            f"{path} claims {claimed} (refused before decoding); expected at most {MAX_IMAGE_PIXELS:,} "
            "(downscale it first, or raise torchgraft.vision.transforms.MAX_IMAGE_PIXELS)"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"{path} is not an image Pillow can decode (JPEG, PNG, WebP, TIFF, BMP, ...): {exc}") from exc


_PILLOW_LIMIT = threading.Lock()


@contextlib.contextmanager
def _pillow_limit(pixels: int) -> Iterator[None]:
    """Pillow's ``MAX_IMAGE_PIXELS`` set to ``pixels`` while one image opens (a global of Pillow's,
    so one decode at a time changes it)."""
    from PIL import Image

    with _PILLOW_LIMIT:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _too_large(path: Path, width: int, height: int) -> str:
    return (
        f"{path} is {width} x {height} ({width * height:,} pixels); expected at most {MAX_IMAGE_PIXELS:,} "
        "(downscale it first, or raise torchgraft.vision.transforms.MAX_IMAGE_PIXELS)"
    )
