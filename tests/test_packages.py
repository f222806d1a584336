"""All distributions installed together: one registry, no name clashes, nothing heavy imported to list."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata


def test_every_domain_package_is_discovered():
    import torchgraft.core as tg
    from torchgraft.core._providers import PROVIDERS

    eps = {ep.name: ep.value for ep in metadata.entry_points(group="torchgraft.models")}
    for domain in ("vision", "text", "audio", "multimodal"):
        names = tg.list_models(domain=domain)
        assert names and all(eps[n].startswith(f"torchgraft.{domain}.models.") for n in names)
        # core's table of which distribution provides which model (for "pip install ..." hints)
        assert sorted(PROVIDERS[f"torchgraft-{domain}"]) == names, f"update core/_providers.py for {domain}"


def test_listing_every_domain_imports_no_domain_library():
    code = (
        "import sys, torchgraft.core as tg; names = tg.list_models(); "
        "print([m for m in ('torchvision', 'torchaudio', 'tokenizers', 'transformers') if m in sys.modules])"
    )
    assert subprocess.check_output([sys.executable, "-c", code], text=True).strip() == "[]"
