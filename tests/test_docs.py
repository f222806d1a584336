"""Every ```python block of the docs and READMEs runs on its own, as a user copying it alone would run
it (a fresh interpreter namespace, an empty folder holding only the repository's example photos,
an empty cache), and prints what its comments say: a ``print(...)  # expected`` line's output must
match the comment, where ``...`` stands for any text (as doctest's ELLIPSIS).

A block under a ``<!-- file: path -->`` line is a file the user saves rather than runs (a module,
a pyproject): it is written at that path in the folder of every block of its page."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
FILE = re.compile(r"^<!-- file: (?P<path>\S+) -->\n```\w+\n(?P<body>.*?)^```", re.S | re.M)
PRINT_WITH_COMMENT = re.compile(r"^\s*print\(.*\)\s+#\s?(?P<expected>.*)$")

PAGES = [
    p
    for p in [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted(ROOT.glob("*/README.md")),
        *sorted(ROOT.glob("packages/*/README.md")),
    ]
    if BLOCK.search(p.read_text())
]
FILES = {page: {m["path"]: m["body"] for m in FILE.finditer(page.read_text())} for page in PAGES}
BLOCKS = [
    (page, i, code)
    for page in PAGES
    for i, code in enumerate(BLOCK.findall(page.read_text()))
    if code not in FILES[page].values()
]


def matches(expected: str, printed: str) -> bool:
    """``printed`` equals ``expected`` with each ``...`` standing for any text (whitespace folded)."""
    fold = " ".join
    pattern = ".*".join(re.escape(fold(part.split())) for part in expected.split("..."))
    return re.fullmatch(pattern, fold(printed.split()), re.S) is not None


def test_matches_follows_doctest_ellipsis():
    assert matches("torch.Size([2, 3])", "torch.Size([2, 3])")
    assert matches("LoadReport(a: 4 loaded; ...)", "LoadReport(a: 4 loaded; 2 fresh: x, y)")
    assert not matches("torch.Size([2, 3])", "torch.Size([2, 4])")
    assert not matches("tabby", "tennis ball")


def test_the_api_pages_have_examples():
    assert {p.name for p in PAGES if p.parent.name == "docs"} >= {
        "weights.md",
        "builders.md",
        "loading.md",
        "composition.md",
    }


@pytest.mark.parametrize(("page", "index", "code"), BLOCKS, ids=[f"{p.relative_to(ROOT)}[{i}]" for p, i, _ in BLOCKS])
def test_each_block_runs_alone_and_prints_what_its_comments_say(page, index, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "cache"))
    for path, body in FILES[page].items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body)
    monkeypatch.setattr(sys, "path", list(sys.path))  # what a block puts on it goes with the block
    monkeypatch.setattr(sys, "path_importer_cache", dict(sys.path_importer_cache))
    before = set(sys.modules)
    lines = code.splitlines()
    printed: list[tuple[int, str]] = []
    name = f"{page.name}[block {index}]"

    def recording_print(
        *args: object, sep: str = " ", end: str = "\n", file: object = None, flush: bool = False
    ) -> None:
        frame = sys._getframe(1)
        if file is None and frame.f_code.co_filename == name:
            printed.append((frame.f_lineno, sep.join(map(str, args))))
        else:
            print(*args, sep=sep, end=end, file=file, flush=flush)

    namespace: dict = {"__name__": f"docs_{page.stem}_{index}", "print": recording_print}
    try:
        exec(compile(code, name, "exec"), namespace)
    finally:  # modules the block imported from its own folder go with it
        for module in set(sys.modules) - before:
            where = [getattr(sys.modules[module], "__file__", None), *getattr(sys.modules[module], "__path__", [])]
            if any(str(w or "").startswith(str(tmp_path)) for w in where):
                del sys.modules[module]
    checked = 0
    for lineno, text in printed:
        found = PRINT_WITH_COMMENT.match(lines[lineno - 1])
        if found:
            expected = found["expected"]
            assert matches(expected, text), f"{name} line {lineno} printed {text!r}; its comment says {expected!r}"
            checked += 1
    commented = [n for n, line in enumerate(lines, 1) if PRINT_WITH_COMMENT.match(line)]
    assert checked >= len(set(commented) & {n for n, _ in printed}), "every commented print that ran was checked"
    never_ran = sorted(set(commented) - {n for n, _ in printed})
    assert not never_ran, f"{name}: commented print lines {never_ran} never ran"


def test_a_file_block_is_a_file_its_page_uses():
    assert FILES[ROOT / "docs" / "adding-a-family.md"].keys() == {
        "acme-models/src/acme_models/tiny_net.py",
        "acme-models/pyproject.toml",
    }
    for page, files in FILES.items():
        for path, body in files.items():
            if path.endswith(".py"):
                compile(body, f"{page.name}:{path}", "exec")
            used = any(Path(path).stem in code for p, _, code in BLOCKS if p == page)
            assert used or path.endswith(".toml"), f"{page.name}: no block uses {path}"


def test_every_meta_key_in_use_is_in_the_weights_schema():
    import torchgraft.core as tg
    from torchgraft.core.errors import UnknownWeightsError

    schema = (ROOT / "docs" / "weights.md").read_text().split("## The weights schema")[1].split("\n\n`meta` keys")[0]
    documented = set(re.findall(r"`(\w+)`", schema))
    used = {}
    for name in tg.list_models():
        try:
            enum = tg.get_model_weights(name)
        except UnknownWeightsError:
            continue
        for member in enum:
            used.update({key: str(member) for key in member.value.meta})
    missing = {key: where for key, where in used.items() if key not in documented}
    assert not missing, f"document these meta keys in docs/weights.md's schema: {missing}"


def test_generated_model_tables_are_current():
    import subprocess

    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "model_tables.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
