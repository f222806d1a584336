"""All distributions installed together: one registry, no name clashes, nothing heavy imported to list."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_domain_package_is_discovered():
    import torchgraft.core as tg
    from torchgraft.core._providers import PROVIDERS

    eps = {ep.name: ep.value for ep in metadata.entry_points(group="torchgraft.models")}
    for domain in ("vision", "text", "audio", "multimodal"):
        names = tg.list_models(domain=domain)
        assert names and all(eps[n].startswith(f"torchgraft.{domain}.models.") for n in names)
        # core's table of which distribution provides which model (for "pip install ..." hints)
        assert sorted(PROVIDERS[f"torchgraft-{domain}"]) == names, f"run python tools/manifests.py ({domain})"


def test_listing_every_domain_imports_no_domain_library():
    code = (
        "import sys, torchgraft.core as tg; names = tg.list_models(); "
        "print([m for m in ('torchvision', 'torchaudio', 'tokenizers', 'transformers') if m in sys.modules])"
    )
    assert subprocess.check_output([sys.executable, "-c", code], text=True).strip() == "[]"


def _manifests():
    import importlib.util

    spec = importlib.util.spec_from_file_location("manifests", ROOT / "tools" / "manifests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_family_tables_and_providers_follow_the_manifests():
    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "manifests.py"), "--check"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr


def test_a_manifest_line_is_checked_against_the_sources(monkeypatch):
    manifests = _manifests()
    real = manifests.manifest("text")
    cases = {
        "no such public module": {**real, "tiny": "nowhere"},
        "defines no @register_model builder tiny": {**real, "tiny": "bert"},
        "registered but the manifest has no line for it: add gpt2 = ": {k: v for k, v in real.items() if k != "gpt2"},
    }
    for message, entries in cases.items():
        monkeypatch.setattr(manifests, "manifest", lambda domain, e=entries: e)
        with pytest.raises(manifests.ManifestError, match=message):
            manifests.families("text")
    monkeypatch.setattr(manifests, "manifest", lambda domain: real)
    exports = manifests._exports
    monkeypatch.setattr(
        manifests, "_exports", lambda path: ([n for n in exports(path)[0] if n != "gpt2"], exports(path)[1])
    )
    with pytest.raises(manifests.ManifestError, match="add 'gpt2' to that module's __all__"):
        manifests.families("text")


def test_an_entry_outside_the_domain_is_refused(tmp_path, monkeypatch):
    manifests = _manifests()
    (tmp_path / "packages" / "text").mkdir(parents=True)
    (tmp_path / "packages" / "text" / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[project.entry-points."torchgraft.models"]\ntiny = "elsewhere.tiny"\n'
    )
    monkeypatch.setattr(manifests, "ROOT", tmp_path)
    with pytest.raises(manifests.ManifestError, match="must name a module under torchgraft.text.models."):
        manifests.manifest("text")
