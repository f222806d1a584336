"""What every text family's builder does the same way: build its model class from a frozen config
dataclass whose fields the caller may override (a mistyped field gets "did you mean"), with a
user's own Hugging Face-layout ``Weights`` read through the family's adapter."""

from __future__ import annotations

from dataclasses import fields, replace
from functools import partial
from typing import Any, TypeVar

from torch import nn

from torchgraft.core import UnknownKeywordError, Weights, build_model, fixed_config
from torchgraft.core.weights import StateDictAdapter

__all__ = ["build_family", "configured"]

M = TypeVar("M", bound=nn.Module)


def configured(model_class: type[M], base: Any, **config: Any) -> M:
    """``model_class(replace(base, **config))``; a key that is no field of ``base`` raises
    `UnknownKeywordError` with the closest field."""
    names = sorted(f.name for f in fields(base))
    unknown = sorted(set(config) - set(names))
    if unknown:
        raise UnknownKeywordError(f"{model_class.__name__} ({type(base).__name__} fields)", unknown, names)
    return model_class(replace(base, **config))


def build_family(
    model_class: type[M],
    base: Any,
    adapter: StateDictAdapter,
    weights: Weights | None,
    progress: bool,
    config: dict[str, Any],
) -> M:
    """A family builder's body: ``weights`` (a catalog entry, or the user's own checkpoint in the
    Hugging Face layout, then read through ``adapter``) loaded into ``configured(model_class, base, **config)``."""
    if weights is not None and weights.adapter is None:
        weights = replace(weights, adapter=adapter)
    return build_model(
        partial(configured, model_class, base),
        weights=weights,
        progress=progress,
        config=config,
        fixed=fixed_config(weights),
    )
