"""The image decoder under mutated files (JPEG baseline and progressive, PNG, WebP, GIF, BMP,
TIFF): every input decodes or raises the ValueError the transforms document; none crashes the
process or allocates beyond its bound.

The pixel bound is set to a few times the seeds' size in the fuzzing process, so a header that
claims more pixels than the file holds is caught at a small multiple of the file's size."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from torchgraft.core.fuzz import fuzz
from torchgraft.vision import transforms as T

SECONDS = float(os.environ.get("TORCHGRAFT_FUZZ_SECONDS", "8"))
SIZE = (48, 36)
BOUND = 4 * SIZE[0] * SIZE[1]


def read(path: Path) -> None:
    T.MAX_IMAGE_PIXELS = BOUND  # the fuzzing child process only: never call this in the test process
    T.ImageClassification(crop_size=24, resize_size=28)(path)
    T.ObjectDetection()(path)


@pytest.mark.parametrize(
    ("suffix", "options"),
    [
        (".jpg", {"quality": 85}),
        (".jpg", {"quality": 85, "progressive": True}),
        (".png", {}),
        (".webp", {"quality": 80}),
        (".gif", {}),
        (".bmp", {}),
        (".tiff", {"compression": "tiff_deflate"}),
    ],
    ids=["jpeg", "jpeg-progressive", "png", "webp", "gif", "bmp", "tiff"],
)
def test_image_decoding_survives_mutated_files(tmp_path, photos, suffix, options):
    seed = tmp_path / f"seed{suffix}"
    with Image.open(photos["cat"]) as image:
        image.convert("RGB").resize(SIZE).save(seed, **options)
    T.ImageClassification(crop_size=24, resize_size=28)(seed)  # the seed decodes (read() is for the child only)
    report = fuzz(
        f"{__file__}:read",
        [seed],
        seconds=SECONDS / 2,
        min_cases=60,  # the same first 60 mutations on any machine, however busy
        allowed=["builtins:ValueError"],
        folder=tmp_path / "inputs",
        memory_slack=24 << 20,
    )
    print(report)
    assert report.ok, str(report)
    assert report.cases >= 60 and report.errors.get("ValueError"), str(report)
