#!/usr/bin/env python3
"""The repository's entry point on a fresh machine (only python3 and pip needed).

    python3 dev.py demo     the main job end to end
    python3 dev.py test     the whole test suite (lint, wheel builds, docs site, each package alone and against
                            the lowest core it declares, cross-package)
    python3 dev.py bench    the benchmarks
    python3 dev.py nox ...  any nox command

It keeps its own tools (nox) in .nox/_tools, so nothing is installed into the system Python.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".nox" / "_tools"
NOX = "nox==2026.10.20"
COMMANDS = {
    "demo": ["-s", "demo"],
    "test": ["-s", "lint", "build", "docs", "tests", "lowest", "cross"],
    "bench": ["-s", "bench"],
    "nox": [],
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    python = TOOLS / "bin" / "python"
    if not (TOOLS / "bin" / "nox").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        subprocess.check_call([str(python), "-m", "pip", "install", "--quiet", NOX])
    rest = argv[1:]
    cmd = [str(TOOLS / "bin" / "nox"), "-f", str(ROOT / "noxfile.py"), *COMMANDS[argv[0]]]
    if argv[0] != "nox" and rest:
        cmd += ["--", *rest]
    else:
        cmd += rest
    return subprocess.call(cmd, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
