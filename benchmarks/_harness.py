"""Shared by the benchmarks: run a measurement in a fresh Python process and read back JSON, with
the peak RSS reset after imports so it measures the work alone."""

from __future__ import annotations

import json
import subprocess
import sys

# Prepended to every child: `peak_mb()` is the growth of peak RSS since `reset_peak()`.
PRELUDE = r"""
import json, sys, time
def _hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
def reset_peak():
    global _BASE
    open("/proc/self/clear_refs", "w").write("5")
    _BASE = _hwm()
def peak_mb():
    return max(_hwm() - _BASE, 0.0)
def report(**values):
    print(json.dumps(values), flush=True)
"""


def run_child(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.check_output([sys.executable, "-c", PRELUDE + code, *args], text=True, env=env)
    return json.loads(out.strip().splitlines()[-1])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
