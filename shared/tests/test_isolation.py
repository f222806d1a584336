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


@pytest.mark.skipif(
    os.environ.get("TORCHGRAFT_ISOLATED") != "core", reason="only meaningful in the isolated core session"
)
def test_a_domains_command_without_the_domain_says_what_to_install(capsys):
    from torchgraft.core.cli import main

    assert main(["similarity", "a cat", "a dog"]) == 2
    err = capsys.readouterr().err
    assert "torchgraft similarity is provided by torchgraft-text, which is not installed" in err
    assert "pip install torchgraft-text" in err
