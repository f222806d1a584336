"""Every ```python block in docs/ runs, in order, file by file: the docs cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


PAGES = [p for p in sorted(DOCS.glob("*.md")) if BLOCK.search(p.read_text())]


def test_the_api_pages_have_examples():
    assert {p.name for p in PAGES} >= {"weights.md", "builders.md", "loading.md", "composition.md"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_doc_examples_run(page, tmp_path, monkeypatch):
    blocks = BLOCK.findall(page.read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "cache"))
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
