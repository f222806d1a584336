"""Runs every multi-process test (pytest marker ``multiprocess``) many times, half of the runs on
a quiet machine and half beside two CPU-burning processes, and prints how often each test passed.

    python tools/stress.py [--runs 20] [--json] [--keep DIR] [PYTEST_ARGS ...]

``nox -s stress`` runs it with every distribution installed (not part of ``.ci/run``). Quiet and
busy runs alternate, so both meet the same state of the machine. Each run's JUnit XML and each
failing test's report are kept under ``--keep`` (default ``.nox/stress-logs``); the exit status
is 1 when any test failed once.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_DIRS = ["shared/tests", *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("packages/*/tests")), "tests"]
PYTEST = [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT)]
BURNERS = 2


def collect(extra: list[str]) -> list[str]:
    done = subprocess.run(
        [*PYTEST, "-m", "multiprocess", "--collect-only", "-q", *TEST_DIRS, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    if done.returncode != 0 or not ids:
        raise SystemExit(f"collecting the multi-process tests failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return ids


def outcomes(report: Path) -> dict[str, tuple[str, str]]:
    """``{test id: (outcome, message)}`` from a JUnit XML report."""
    found: dict[str, tuple[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        name = f"{module}.py::{case.get('name')}"
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            found[name] = ("failed", (bad.get("message") or "")[:300])
        elif case.find("skipped") is not None:
            found[name] = ("skipped", "")
        else:
            found[name] = ("passed", "")
    return found


def one_run(index: int, busy: bool, keep: Path, extra: list[str]) -> tuple[dict[str, tuple[str, str]], float]:
    burners = []
    if busy:
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BURNERS)]
    report = keep / f"run-{index:02d}-{'busy' if busy else 'quiet'}.xml"
    start = time.monotonic()
    try:
        done = subprocess.run(
            [*PYTEST, "-m", "multiprocess", "-p", "no:cacheprovider", f"--junitxml={report}", *TEST_DIRS, *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    seconds = time.monotonic() - start
    if not report.is_file():
        raise SystemExit(f"run {index} wrote no report:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    if done.returncode != 0:
        (keep / f"run-{index:02d}.log").write_text(done.stdout + done.stderr)
    return outcomes(report), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs in all, half quiet and half busy (default 20)")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.add_argument("--keep", type=Path, default=ROOT / ".nox" / "stress-logs", help="where reports are kept")
    args, extra = parser.parse_known_args()
    if args.runs < 2 or args.runs % 2:
        parser.error(f"--runs must be an even number of at least 2 (half quiet, half busy); found {args.runs}")
    args.keep.mkdir(parents=True, exist_ok=True)
    tests = collect(extra)  # path.py::name, as `outcomes` rebuilds them from JUnit's class names
    counts = {t: {"quiet": 0, "busy": 0, "failures": []} for t in tests}
    seconds = {"quiet": 0.0, "busy": 0.0}
    for index in range(args.runs):
        busy = index % 2 == 1
        mode = "busy" if busy else "quiet"
        results, took = one_run(index, busy, args.keep, extra)
        seconds[mode] += took
        failed = []
        for test in tests:
            outcome, message = results.get(test, ("missing", "not reported"))
            if outcome == "passed":
                counts[test][mode] += 1
            else:
                failed.append(test)
                counts[test]["failures"].append({"run": index, "mode": mode, "outcome": outcome, "message": message})
        status = "all passed" if not failed else f"FAILED: {', '.join(failed)}"
        print(f"run {index + 1:2d}/{args.runs} ({mode}, {took:.0f} s): {status}", file=sys.stderr, flush=True)
    half = args.runs // 2
    if args.json:
        print(json.dumps({"runs_per_mode": half, "seconds": seconds, "tests": counts}, indent=2))
    else:
        width = max(len(t) for t in tests)
        print(f"{'test':<{width}}  quiet  busy")
        print(f"{'-' * width}  -----  -----")
        for test, c in counts.items():
            print(f"{test:<{width}}  {c['quiet']:>2}/{half:<2}  {c['busy']:>2}/{half:<2}")
        print(f"\n{args.runs} runs: quiet {seconds['quiet'] / half:.0f} s, busy {seconds['busy'] / half:.0f} s per run")
        for test, c in counts.items():
            for f in c["failures"]:
                print(f"{test}: run {f['run']} ({f['mode']}) {f['outcome']}: {f['message']}")
    return 1 if any(c["failures"] for c in counts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
