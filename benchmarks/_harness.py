"""Shared by the benchmarks: run a measurement in a fresh Python process and read back JSON, with
the peak RSS reset after imports so it measures the work alone."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

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


def interleaved(runs: dict[str, Callable[[], float]], rounds: int, seconds: float) -> dict[str, float]:
    """Work per second of each run (each call returns how much work it did: images, tokens,
    seconds of audio), median of ``rounds`` rounds that alternate the order, so drift hits every
    run alike; ``seconds`` in all per run."""
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(rounds):
        for name in list(runs)[:: 1 if r % 2 == 0 else -1]:
            done, start = 0.0, time.perf_counter()
            while time.perf_counter() - start < seconds / rounds:
                done += runs[name]()
            rates[name].append(done / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in rates.items()}
