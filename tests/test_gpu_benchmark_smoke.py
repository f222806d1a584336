"""benchmarks/gpu.py runs where a GPU is lent, rarely: its smoke mode keeps it working meanwhile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"


@pytest.mark.slow
def test_the_gpu_benchmark_runs_its_three_sections_on_cpu():
    cmd = [sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--dtype", "float32", "--no-compile"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 3, done.stdout  # header, rule, one row per section
    assert "load resnet50" in table[2] and "torchvision" in table[3] and "same tokens: True" in table[4]
