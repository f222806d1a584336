"""In its own test session, core is installed without any domain package or domain library."""

from __future__ import annotations

import importlib.util
import os

import pytest


@pytest.mark.skipif(
    os.environ.get("TORCHGRAFT_ISOLATED") != "core", reason="only meaningful in the isolated core session"
)
def test_core_session_holds_no_domain_package():
    present = [
        name
        for name in (
            "torchvision",
            "torchaudio",
            "tokenizers",
            "torchgraft.vision",
            "torchgraft.text",
            "torchgraft.audio",
        )
        if importlib.util.find_spec(name) is not None
    ]
    assert not present, f"the core session should hold core alone; found {present}"
