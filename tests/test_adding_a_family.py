"""docs/adding-a-family.md's family, installed as its distribution would be: its module and its
manifest line (the pyproject's entry points, written to a dist-info as an installer writes them)
are all a fresh interpreter needs to list, build and compose the model."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "adding-a-family.md"
#: The page's ``<!-- file: path -->`` blocks (as tests/test_docs.py reads them).
FILE = re.compile(r"^<!-- file: (?P<path>\S+) -->\n```\w+\n(?P<body>.*?)^```", re.S | re.M)


def _install(tmp_path: Path) -> Path:
    """Writes the page's files and the dist-info ``pip install`` would make; returns the folder
    to put on the path."""
    for found in FILE.finditer(PAGE.read_text()):
        path, body = found["path"], found["body"]
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body)
    project = tomllib.loads((tmp_path / "acme-models" / "pyproject.toml").read_text())["project"]
    src = tmp_path / "acme-models" / "src"
    info = src / f"acme_models-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = [f"{name} = {value}" for name, value in project["entry-points"]["torchgraft.models"].items()]
    (info / "entry_points.txt").write_text("[torchgraft.models]\n" + "\n".join(lines) + "\n")
    return src


def test_one_module_and_one_manifest_line_make_a_registered_model(tmp_path):
    src = _install(tmp_path)
    code = (
        "import sys, torch, torchgraft.core as tg\n"
        "model = tg.get_model('tiny_net', num_classes=3)\n"
        "print(type(model).__module__, model(torch.randn(2, 3, 8, 8)).shape[-1])\n"
        "print(tg.list_models('tiny_*'), tg.get_model_weights('tiny_net').__name__)\n"
        "composite = tg.classifier('tiny_net_wide', 4)\n"
        "print(type(composite.backbone).__name__, composite.head.fc.in_features)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin", "TORCHGRAFT_HOME": str(tmp_path / "cache")},
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "acme_models.tiny_net 3",
        "['tiny_net', 'tiny_net_wide'] TinyNet_Weights",
        "TinyNet 64",
    ]
