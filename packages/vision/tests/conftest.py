"""Real photographs for the vision tests: the sample images scikit-image and scikit-learn ship."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def sample_images() -> dict[str, Path]:
    import skimage
    import sklearn

    sk = Path(skimage.__file__).parent / "data"
    sl = Path(sklearn.__file__).parent / "datasets" / "images"
    return {
        "cat": sk / "chelsea.png",
        "coffee": sk / "coffee.png",
        "cameraman": sk / "camera.png",
        "flower": sl / "flower.jpg",
        "china": sl / "china.jpg",
        "motorcycle": sk / "motorcycle_left.png",
        "astronaut": sk / "astronaut.png",
    }


@pytest.fixture(scope="session")
def photos() -> dict[str, Path]:
    images = sample_images()
    missing = [str(p) for p in images.values() if not p.is_file()]
    assert not missing, f"sample images missing: {missing}"
    return images


@pytest.fixture(autouse=True)
def _cache_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path_factory.mktemp("tg_home")))
    monkeypatch.delenv("TORCHGRAFT_OFFLINE", raising=False)
    os.environ.setdefault("CI", "1")
