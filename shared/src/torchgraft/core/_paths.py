"""The import paths core's modules had before they were kept in folders by layer:
``torchgraft.core.store`` is ``torchgraft.core.io.store``, ``torchgraft.core.registry`` is
``torchgraft.core.building.registry``, and so on. Each old path imports the module itself (not a
copy), so imports, pickles and monkeypatches written against it keep working."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

__all__ = ["LAYERS", "MOVED", "install"]

#: Core's folders, lowest layer first; a module imports from its own folder and those before it.
LAYERS = ("contracts", "io", "generation", "building", "testkit")
#: Flat module name (the old paths, and the short names of new modules) -> where it lives
#: (relative to ``torchgraft.core``).
MOVED = {
    **{
        name: f"contracts.{name}"
        for name in (
            "errors",
            "settings",
            "torch_internals",
            "features",
            "heads",
            "layers",
            "attention",
            "packing",
            "lazy",
            "preflight",
            "classifier",
        )
    },
    **{
        name: f"io.{name}"
        for name in ("files", "pickles", "transfer", "store", "checkpoints", "weights", "hub", "loading")
    },
    "cache": "io.store.cache",
    **{
        name: f"building.{name}"
        for name in (
            "parts",
            "builders",
            "family",
            "compose",
            "registry",
            "towers",
            "distributed",
            "export",
            "_providers",
        )
    },
    **{name: f"testkit.{name}" for name in ("testing", "conformance", "fuzz")},
}
_PREFIX = "torchgraft.core."


class _Alias(importlib.abc.Loader):
    """Loads an old path as the module at its new one."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self.spec  # the import system gave it the alias's; it keeps its own


class _OldPaths(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        moved = MOVED.get(fullname[len(_PREFIX) :]) if fullname.startswith(_PREFIX) else None
        if moved is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(_PREFIX + moved))


def install() -> None:
    """Lets the old paths import (once per interpreter), and names every moved module already
    imported under its old path too: in ``sys.modules``, and as an attribute of the package unless
    the package exports something else by that name (``compose`` the function stays
    ``torchgraft.core.compose``)."""
    if not any(isinstance(finder, _OldPaths) for finder in sys.meta_path):
        sys.meta_path.insert(0, _OldPaths())
    package = sys.modules[_PREFIX.rstrip(".")]
    for old, new in MOVED.items():
        module = sys.modules.get(_PREFIX + new)
        if module is not None:
            sys.modules.setdefault(_PREFIX + old, module)
            if not hasattr(package, old):
                setattr(package, old, module)
