"""Mutation fuzzing of file readers (checkpoints, images, audio), for a bounded time.

A reader passes when every mutated input either reads or raises one of the error types it
documents, and no input makes it allocate more than a small factor of the input's size. The
inputs are mutations of a few valid seed files: bit flips, integer fields set to boundary values
(where formats keep sizes, counts and offsets), truncations, repeated or dropped slices, appended
bytes, and any format-aware mutator the caller adds.

The reader runs in a child process, so a crash (a segfault, a Rust panic, an abort) is reported
with the input that caused it instead of taking the test run down. Memory is the growth of the
child's resident set while one input is read (the kernel's peak, reset before each input), so it
counts every allocator: Python's, torch's, Pillow's, libsndfile's, and pages of memory-mapped
files.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import importlib.util
import json
import os
import random
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FuzzReport", "fuzz", "mutate", "mutate_json"]

_INTERESTING = (0, 1, 2, 7, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**63 - 1, 2**64 - 1)


@dataclass
class FuzzReport:
    """What a fuzz run did: inputs tried, how each ended, the largest memory growth, failures."""

    target: str
    cases: int = 0
    read: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    max_growth: int = 0
    memory_checked: bool = False
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.cases > 0 and not self.failures

    def __str__(self) -> str:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items(), key=lambda kv: -kv[1]))
        growth = f"{self.max_growth / 2**20:.1f} MiB" if self.memory_checked else "not measured"
        lines = [
            f"{self.target}: {self.cases} inputs, {self.read} read, typed errors: {errors or 'none'}; "
            f"largest memory growth {growth}"
        ]
        lines += [f"  FAILED ({f['kind']}) on {f['input']}: {f['detail']}" for f in self.failures]
        return "\n".join(lines)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random mutation of ``data`` (half of them within its first KiB, where formats keep
    their headers)."""
    buf = bytearray(data)
    if not buf:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    span = min(len(buf), 1024) if rng.random() < 0.5 else len(buf)
    kind = rng.randrange(6)
    if kind == 0:  # flip a few bits
        for _ in range(rng.randrange(1, 9)):
            buf[rng.randrange(span)] ^= 1 << rng.randrange(8)
    elif kind == 1:  # an integer field set to a boundary value
        width = rng.choice((1, 2, 4, 8))
        at = rng.randrange(max(1, span - width + 1))
        value = rng.choice((*_INTERESTING, len(buf), 16 * len(buf))) % (1 << (8 * width))
        buf[at : at + width] = value.to_bytes(width, rng.choice(("little", "big")))
    elif kind == 2:  # truncated
        del buf[rng.randrange(len(buf)) :]
    elif kind == 3:  # a slice repeated
        a = rng.randrange(len(buf))
        b = min(len(buf), a + rng.randrange(1, 4096))
        buf[a:a] = buf[a:b] * rng.randrange(1, 4)
    elif kind == 4:  # a slice dropped
        a = rng.randrange(span)
        del buf[a : a + rng.randrange(1, 256)]
    else:  # bytes appended
        buf += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4096)))
    return bytes(buf)


#: Values a hostile JSON field takes: sizes at and past every boundary, wrong types, non-numbers.
_HOSTILE = (
    0, -1, 1, 2, 3, 7, 10**6, 10**9, 10**12, 2**31, 2**63, -(2**63), 0.5, -0.0, 1e308, True, False, None,
    "", "0", "nan", "../../etc/passwd", "/etc/passwd", "a" * 300, [], [1, 2], {}, {"a": 1},
)  # fmt: skip


def mutate_json(data: bytes, rng: random.Random) -> bytes:
    """A JSON document that still parses, with one field (at any depth) given a hostile value
    (`_HOSTILE`), removed, or renamed; bytes that are not a JSON object are mutated as bytes."""
    try:
        doc = json.loads(data)
    except ValueError:
        return mutate(data, rng)
    holders: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            holders.append((node, key))
            walk(value)

    walk(doc)
    if not holders:
        return mutate(data, rng)
    node, key = rng.choice(holders)
    kind = rng.randrange(4)
    if kind == 0 and isinstance(node, dict):
        del node[key]
    elif kind == 1 and isinstance(node, dict):
        node[key + rng.choice(("_", "X"))] = node.pop(key)
    else:
        node[key] = rng.choice(_HOSTILE)
    return json.dumps(doc).encode()


def fuzz(
    target: str,
    seeds: Sequence[str | Path],
    *,
    seconds: float,
    allowed: Sequence[str],
    folder: str | Path,
    min_cases: int = 1,
    mutator: str | None = None,
    memory_factor: float = 8.0,
    memory_slack: int = 48 << 20,
    rng_seed: int = 0,
    timeout: float | None = None,
) -> FuzzReport:
    """Reads mutations of ``seeds`` with ``target`` for ``seconds``, and at least ``min_cases``
    of them however long that takes (so what a test asserts of the first inputs does not depend
    on how busy the machine is: the mutations come from ``rng_seed``), in a child process.

    ``target`` and ``mutator`` name functions as ``package.module:function`` or
    ``/path/to/file.py:function``: ``target(path)`` reads a file; ``mutator(data, rng)`` returns a
    mutation of ``data`` (used for half of the inputs, `mutate` for the rest). ``allowed`` names the
    error types the reader documents (``module:Class``; subclasses count). An input fails when it
    raises anything else, kills the child, or grows its resident memory by more than
    ``memory_factor * len(input) + memory_slack``. The inputs that failed are kept in ``folder``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "target": target,
        "seeds": [str(s) for s in seeds],
        "seconds": seconds,
        "min_cases": min_cases,
        "allowed": list(allowed),
        "folder": str(folder),
        "mutator": mutator,
        "memory_factor": memory_factor,
        "memory_slack": memory_slack,
        "rng_seed": rng_seed,
    }
    code = "import json, sys; from torchgraft.core.fuzz import _child; _child(json.loads(sys.argv[1]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout or seconds * 4 + 120,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines:
        return FuzzReport(**json.loads(lines[-1]))
    current = sorted(folder.glob("current*"))
    report = FuzzReport(target=target)
    report.failures.append(
        {
            "kind": "crash",
            "input": str(current[0]) if current else "?",
            "detail": f"the reader's process ended with status {proc.returncode}: {proc.stderr.strip()[-2000:]}",
        }
    )
    return report


# --------------------------------------------------------------------------- the child process
def _resolve(name: str) -> Any:
    where, _, attr = name.rpartition(":")
    if where.endswith(".py"):
        spec = importlib.util.spec_from_file_location(f"_fuzz_{Path(where).stem}", where)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    return getattr(module, attr)


def _status(key: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Resets the kernel's resident-set peak (VmHWM) to the current size (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _status("VmHWM") is not None
    except OSError:
        return False


def _child(spec: dict[str, Any]) -> None:
    read: Callable[[Path], Any] = _resolve(spec["target"])
    extra = _resolve(spec["mutator"]) if spec["mutator"] else None
    allowed = tuple(_resolve(name) for name in spec["allowed"])
    seeds = [Path(s) for s in spec["seeds"]]
    datas = [s.read_bytes() for s in seeds]
    folder = Path(spec["folder"])
    rng = random.Random(spec["rng_seed"])
    for seed in seeds:  # warm up: lazy imports and first-call caches are not an input's doing
        with contextlib.suppress(Exception):  # the seeds' own outcome is the caller's to check
            read(seed)
    measured = _reset_peak()
    report = FuzzReport(target=spec["target"], memory_checked=measured)
    errors: collections.Counter[str] = collections.Counter()
    deadline = time.monotonic() + spec["seconds"]
    while (time.monotonic() < deadline or report.cases < spec["min_cases"]) and not report.failures:
        pick = rng.randrange(len(seeds))
        data = datas[pick]
        for _ in range(rng.choice((1, 1, 2, 3))):
            data = extra(data, rng) if extra is not None and rng.random() < 0.5 else mutate(data, rng)
        path = folder / f"current{seeds[pick].suffix}"
        path.write_bytes(data)
        failure = None
        if measured:
            _reset_peak()
        before = _status("VmRSS") or 0
        try:
            read(path)
            report.read += 1
        except allowed as exc:
            errors[type(exc).__name__] += 1
        except BaseException as exc:
            tb = traceback.format_exception(exc)
            failure = {"kind": "untyped error", "detail": f"{type(exc).__name__}: {exc}\n{''.join(tb[-6:])}"}
        if measured:
            growth = max(0, (_status("VmHWM") or 0) - before)
            report.max_growth = max(report.max_growth, growth)
            bound = spec["memory_factor"] * len(data) + spec["memory_slack"]
            if failure is None and growth > bound:
                failure = {
                    "kind": "memory",
                    "detail": f"resident memory grew {growth:,} bytes reading {len(data):,} bytes (bound {bound:,.0f})",
                }
        report.cases += 1
        if failure is not None:
            kept = folder / f"failure-{report.cases}{seeds[pick].suffix}"
            os.replace(path, kept)
            report.failures.append({**failure, "input": str(kept)})
    report.errors = dict(errors)
    print(json.dumps(report.__dict__))
