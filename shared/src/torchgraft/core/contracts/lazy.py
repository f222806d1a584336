"""Lazy package namespaces (PEP 562), so a domain's ``models`` package exports every builder, enum
and class while importing none of its family modules until a name is used.

    __all__, __getattr__, __dir__ = lazy_exports(__name__, {"resnet": ("ResNet", "resnet50", ...)})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, families: Mapping[str, Sequence[str]]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for ``package``, whose submodule ``family`` defines each
    name listed under it; a name is imported on first use and then kept in the package."""
    owner = {name: family for family, names in families.items() for name in names}

    def __getattr__(name: str) -> Any:
        family = owner.get(name)
        if family is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{family}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *owner})

    return sorted(owner), __getattr__, __dir__
