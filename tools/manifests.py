"""Writes what follows from each domain's manifest, the ``[project.entry-points."torchgraft.models"]``
table of ``packages/<domain>/pyproject.toml`` (one line per model: its name and the family module
defining it):

- the ``_FAMILIES`` table of ``torchgraft/<domain>/models/__init__.py``: each public module of the
  package with the names its ``__all__`` exports, and the import block editors read;
- core's ``_providers.py``: which distribution provides each model name and each ``torchgraft``
  subcommand, so that asking for a model or a command of a domain that is not installed says
  what to install (the commands are read by calling each domain's ``torchgraft.cli`` entry point
  on a recording parser).

It reads the sources (nothing is imported) and checks the manifest against them: each entry names
an existing family module that defines and exports a builder of that name, registered with
``@register_model``. ``--check`` fails (exit 1) when a generated file is stale or a manifest is
wrong; the cross-package tests run it.

    python tools/manifests.py           # regenerate
    python tools/manifests.py --check   # stale?
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = ("vision", "text", "audio", "multimodal")
GROUP = "torchgraft.models"
PROVIDERS = ROOT / "shared" / "src" / "torchgraft" / "core" / "building" / "_providers.py"
FAMILIES = re.compile(r"^_FAMILIES: dict\[str, tuple\[str, \.\.\.\]\] = \{\n.*?^\}\n", re.S | re.M)
CHECKING = re.compile(r"^if TYPE_CHECKING:  # what editors and type checkers see\n(?:    .*\n)*", re.M)


class ManifestError(Exception):
    """A manifest entry that does not match the sources."""


def models_dir(domain: str) -> Path:
    return ROOT / "packages" / domain / "src" / "torchgraft" / domain / "models"


def manifest(domain: str) -> dict[str, str]:
    """Model name -> family module (relative to ``torchgraft.<domain>.models``)."""
    path = ROOT / "packages" / domain / "pyproject.toml"
    entries = tomllib.loads(path.read_text(encoding="utf-8"))["project"].get("entry-points", {}).get(GROUP, {})
    prefix = f"torchgraft.{domain}.models."
    wrong = {name: value for name, value in entries.items() if not value.startswith(prefix)}
    if wrong:
        raise ManifestError(f"{path.relative_to(ROOT)}: entries must name a module under {prefix}; found {wrong}")
    return {name: value.removeprefix(prefix) for name, value in entries.items()}


def _exports(path: Path) -> tuple[list[str], set[str]]:
    """A module's ``__all__`` and the functions it defines with ``@register_model``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exported: list[str] | None = None
    registered = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            exported = list(ast.literal_eval(node.value))
        elif isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if ast.unparse(target).split(".")[-1] == "register_model":
                    registered.add(node.name)
    if exported is None:
        raise ManifestError(f"{path.relative_to(ROOT)} has no literal __all__")
    return exported, registered


def families(domain: str) -> dict[str, list[str]]:
    """Each public module of the domain's models package -> its ``__all__``, checked against the
    manifest."""
    folder = models_dir(domain)
    found: dict[str, list[str]] = {}
    registered: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        found[path.stem], registered[path.stem] = _exports(path)
    problems = []
    for name, module in manifest(domain).items():
        where = f"torchgraft.{domain}.models.{module}"
        if module not in found:
            problems.append(f"{name} = {where!r}: no such public module")
        elif name not in registered[module]:
            problems.append(f"{name} = {where!r}: that module defines no @register_model builder {name}")
        elif name not in found[module]:
            problems.append(f"{name} = {where!r}: add {name!r} to that module's __all__")
    listed = set(manifest(domain))
    for module, names in registered.items():
        problems += [
            f"torchgraft.{domain}.models.{module}.{n} is registered but the manifest has no line for it: "
            f'add {n} = "torchgraft.{domain}.models.{module}" to packages/{domain}/pyproject.toml'
            for n in sorted(names - listed)
        ]
    if problems:
        raise ManifestError("\n".join(problems))
    return found


def families_block(table: dict[str, list[str]]) -> str:
    lines = ["_FAMILIES: dict[str, tuple[str, ...]] = {"]
    for module, names in table.items():
        ordered = sorted(names, key=lambda n: (n.lower(), n))
        one = f'    "{module}": ({", ".join(repr(n).replace(chr(39), chr(34)) for n in ordered)},),'
        if len(one) <= 120 and len(ordered) <= 4:
            lines.append(one.replace(",),", ")," if len(ordered) > 1 else ",),"))
        else:
            lines += [f'    "{module}": (', *(f'        "{n}",' for n in ordered), "    ),"]
    return "\n".join(lines) + "\n}\n"


def checking_block(table: dict[str, list[str]]) -> str:
    lines = ["if TYPE_CHECKING:  # what editors and type checkers see"]
    lines += [f"    from .{module} import *  # noqa: F403" for module in table]
    return "\n".join(lines) + "\n"


def models_init(domain: str) -> tuple[Path, str]:
    path = models_dir(domain) / "__init__.py"
    text = path.read_text(encoding="utf-8")
    table = families(domain)
    for pattern, block in ((FAMILIES, families_block(table)), (CHECKING, checking_block(table))):
        if not pattern.search(text):
            raise ManifestError(f"{path.relative_to(ROOT)} lacks the generated block {pattern.pattern[:40]!r}")
        text = pattern.sub(lambda _, b=block: b, text, count=1)
    return path, text


def commands(domain: str) -> list[str]:
    """The ``torchgraft`` subcommands the domain's ``torchgraft.cli`` entry point adds."""
    import argparse
    import importlib

    path = ROOT / "packages" / domain / "pyproject.toml"
    project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    found: list[str] = []
    for target in project.get("entry-points", {}).get("torchgraft.cli", {}).values():
        module, _, function = target.partition(":")
        sys.path.insert(0, str(ROOT / "packages" / domain / "src"))
        try:
            add_commands = getattr(importlib.import_module(module), function)
        finally:
            sys.path.pop(0)
        sub = argparse.ArgumentParser().add_subparsers()
        add_commands(sub, argparse.ArgumentParser(add_help=False))
        found += list(sub.choices)
    return sorted(found)


def providers() -> str:
    lines = [
        '"""Which official distribution provides each model name, so that asking for a model of a domain',
        "that is not installed says what to install. Generated by tools/manifests.py from each domain's",
        'manifest (its pyproject\'s torchgraft.models entry points); do not edit by hand."""',
        "",
        "from __future__ import annotations",
        "",
        '__all__ = ["COMMANDS", "PROVIDERS"]',
        "",
        "PROVIDERS: dict[str, frozenset[str]] = {",
    ]
    for domain in DOMAINS:
        lines.append(f'    "torchgraft-{domain}": frozenset(')
        lines += ["        {", *(f'            "{n}",' for n in sorted(manifest(domain))), "        }", "    ),"]
    lines += [
        "}",
        "",
        "#: The ``torchgraft`` subcommands each distribution adds.",
        "COMMANDS: dict[str, frozenset[str]] = {",
    ]
    for domain in DOMAINS:
        names = ", ".join(f'"{n}"' for n in commands(domain))
        lines.append(f'    "torchgraft-{domain}": frozenset({{{names}}}),')
    return "\n".join([*lines, "}", ""])


def outputs() -> dict[Path, str]:
    generated = dict(models_init(domain) for domain in DOMAINS)
    generated[PROVIDERS] = providers()
    return generated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a generated file is stale")
    args = parser.parse_args(argv)
    try:
        generated = outputs()
    except ManifestError as error:
        print(f"manifest error:\n{error}", file=sys.stderr)
        return 1
    stale = [path for path, text in generated.items() if path.read_text(encoding="utf-8") != text]
    if args.check:
        if stale:
            names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
            print(f"stale files: {names}; run python tools/manifests.py", file=sys.stderr)
            return 1
        return 0
    for path in stale:
        path.write_text(generated[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
