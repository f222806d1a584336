"""Registering a family's builders from one description each, keeping every builder keyword-only
with the same ``(*, weights=None, progress=True, **config)`` signature."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from torchgraft.core import Weights, WeightsEnum, register_model

__all__ = ["registered_builder"]

Build = Callable[[Weights | WeightsEnum | None, bool, dict[str, Any]], nn.Module]


def _verify(name: str, enum: type[WeightsEnum] | None, weights: Any) -> Weights | WeightsEnum | None:
    if enum is not None:
        return enum.verify(weights)
    if weights is None or isinstance(weights, Weights):
        return weights  # a model without published weights still loads the user's own checkpoint
    raise ValueError(f"{name} has no published weights in torchgraft; pass weights=None or your own Weights")


def registered_builder(
    name: str, enum: type[WeightsEnum] | None, build: Build, *, doc: str, module: str
) -> Callable[..., nn.Module]:
    """Defines and registers ``name(*, weights=None, progress=True, **config)``."""

    def builder(*, weights: Any = None, progress: bool = True, **config: Any) -> nn.Module:
        return build(_verify(name, enum, weights), progress, config)

    builder.__name__ = builder.__qualname__ = name
    builder.__module__ = module
    builder.__doc__ = doc
    return register_model(name, weights=enum)(builder)
