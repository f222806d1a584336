"""Exporting models out of Python with ``torch.export``: one program per model (a dual encoder's
towers, one program each: `torchgraft.core.towers.export_towers`).

Every dimension of every tensor input is left to ``torch.export.Dim.AUTO``: dynamic wherever the
model allows (batch, sequence and audio length, image size), specialised where it does not (a
ViT's image size). An example of batch 1 would be specialised to 1 (``torch.export``
specialises sizes 0 and 1): give an example batch of at least 2.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["auto_dynamic_shapes", "export"]


def _auto(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return {i: torch.export.Dim.AUTO for i in range(value.dim())}
    if isinstance(value, (list, tuple)):
        return type(value)(_auto(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _auto(v) for k, v in value.items()}
    return None


def auto_dynamic_shapes(module: nn.Module, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``torch.export``'s ``dynamic_shapes`` for ``module(*args, **kwargs)``, by parameter name
    (``*inputs`` and ``**kwargs`` parameters included): every tensor dimension ``Dim.AUTO``."""
    bound = inspect.signature(module.forward).bind(*args, **kwargs)
    return {name: _auto(value) for name, value in bound.arguments.items()}


def export(module: nn.Module, *args: Any, **kwargs: Any) -> torch.export.ExportedProgram:
    """``torch.export.export(module, args, kwargs)`` with every dimension dynamic that the model
    allows (see the module docstring); the model is put in ``eval`` mode first. Tensors are made
    contiguous, so the program holds no guard on an example's strides."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"export takes an nn.Module; found {type(module).__name__}")
    from torch.utils import _pytree as pytree

    contiguous = lambda tree: pytree.tree_map_only(torch.Tensor, torch.Tensor.contiguous, tree)  # noqa: E731
    args, kwargs = contiguous(args), contiguous(dict(kwargs))
    module.eval()
    dynamic = auto_dynamic_shapes(module, args, kwargs)
    return torch.export.export(module, args, kwargs, dynamic_shapes=dynamic, strict=False)
