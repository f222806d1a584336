"""Shared by the multimodal tests: a tiny CLIP shape (two layers a tower, 32-pixel images, a
100-token vocabulary)."""

from __future__ import annotations

import pytest


@pytest.fixture
def tiny_clip() -> dict:
    """The config fields of a CLIP small enough to build, run and export in a second."""
    return {
        "embed_dim": 32,
        "image_size": 32,
        "patch_size": 8,
        "vision_width": 64,
        "vision_layers": 2,
        "vision_heads": 2,
        "context_length": 16,
        "vocab_size": 100,
        "text_width": 64,
        "text_heads": 2,
        "text_layers": 2,
    }
