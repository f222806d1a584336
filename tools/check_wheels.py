"""Checks the built wheels: each has its own version, domain wheels depend on a bounded core range
and on no other domain's libraries, and no wheel ships ``torchgraft/__init__.py`` (the namespace
package is shared)."""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {
    "torchgraft-core": ROOT / "shared/src/torchgraft/core/_version.py",
    "torchgraft-vision": ROOT / "packages/vision/src/torchgraft/vision/_version.py",
    "torchgraft-text": ROOT / "packages/text/src/torchgraft/text/_version.py",
    "torchgraft-audio": ROOT / "packages/audio/src/torchgraft/audio/_version.py",
    "torchgraft-multimodal": ROOT / "packages/multimodal/src/torchgraft/multimodal/_version.py",
}
DOMAIN_DEPS = {"torchvision": "vision", "torchaudio": "audio", "tokenizers": "text"}


def check(wheel: Path, core_version: Version) -> list[str]:
    problems = []
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(meta_name).decode())
        entry = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
        entry_points = zf.read(entry).decode() if entry else ""
    name, version = meta["Name"], meta["Version"]
    domain = name.removeprefix("torchgraft-")
    source = re.search(r'__version__ = "([^"]+)"', SOURCES[name].read_text()).group(1)
    if version != source:
        problems.append(f"{name}: wheel version {version} != {SOURCES[name].name} {source}")
    if "torchgraft/__init__.py" in names:
        problems.append(f"{name}: ships torchgraft/__init__.py, which breaks the namespace package")
    requires = [Requirement(r) for r in meta.get_all("Requires-Dist") or []]
    runtime = [r for r in requires if not (r.marker and "extra" in str(r.marker))]
    for req in runtime:
        owner = DOMAIN_DEPS.get(req.name)
        if owner is not None and owner != domain:
            problems.append(f"{name}: depends on {req.name}, which belongs to the {owner} package")
    if domain != "core":
        core = [r for r in runtime if r.name == "torchgraft-core"]
        if not core:
            problems.append(f"{name}: does not depend on torchgraft-core")
        else:
            spec = core[0].specifier
            uppers = [s for s in spec if s.operator in ("<", "<=")]
            if not uppers or not spec.contains(core_version):
                problems.append(f"{name}: core range {spec} must be bounded and admit core {core_version}")
        section = entry_points.split("[torchgraft.models]", 1)[-1].split("\n[", 1)[0] if entry_points else ""
        models = re.findall(r"^(\w+) = (\S+)$", section, re.M)
        if not models:
            problems.append(f"{name}: no torchgraft.models entry points (one per model)")
        outside = [f"{m} = {v}" for m, v in models if not v.startswith(f"torchgraft.{domain}.models.")]
        if outside:
            problems.append(f"{name}: torchgraft.models entries outside torchgraft.{domain}.models: {outside}")
    print(f"{'ok ' if not problems else 'BAD'} {wheel.name}: {name} {version}, requires {[str(r) for r in runtime]}")
    return problems


def _wheel_name(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(zf.read(meta).decode())["Name"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path, help="folder holding the built wheels")
    parser.add_argument("--only", help="source folder of the one distribution expected (for releases)")
    args = parser.parse_args()
    wheels = sorted(args.dist.glob("*.whl"))
    core_version = Version(re.search(r'"([^"]+)"', SOURCES["torchgraft-core"].read_text()).group(1))
    expected = list(SOURCES)
    if args.only:
        folder = (ROOT / args.only).resolve()
        expected = [n for n, v in SOURCES.items() if folder in v.parents]
    found = {_wheel_name(w) for w in wheels}
    problems = [f"no wheel built for {n}" for n in expected if n not in found]
    for wheel in wheels:
        problems += check(wheel, core_version)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
