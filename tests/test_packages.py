"""All distributions installed together: one registry, no name clashes, nothing heavy imported to list."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata


def test_every_domain_package_is_discovered():
    eps = {ep.name: ep.value for ep in metadata.entry_points(group="torchgraft.models")}
    for domain in ("vision", "text", "audio"):
        assert eps.get(domain) == f"torchgraft.{domain}.models"


def test_listing_every_domain_imports_no_domain_library():
    code = (
        "import sys, torchgraft.core as tg; names = tg.list_models(); "
        "print([m for m in ('torchvision', 'torchaudio', 'tokenizers', 'transformers') if m in sys.modules])"
    )
    assert subprocess.check_output([sys.executable, "-c", code], text=True).strip() == "[]"
