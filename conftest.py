"""Repository-wide pytest hooks: every test starts from the same seeds, and the needs_cuda marker."""

from __future__ import annotations

import random

import pytest


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Seeds Python's, NumPy's and torch's generators before every test, so what a test draws
    (inputs, fresh heads, dropout) is the same whatever ran before it and however it was selected."""
    import torch

    random.seed(0)
    torch.manual_seed(0)
    try:
        import numpy
    except ImportError:
        return
    numpy.random.seed(0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "needs_cuda" in item.keywords:
            item.add_marker(skip)
