"""Exporting models out of Python with ``torch.export``: one program per model, or one per tower
of a dual encoder (index images offline with one program, embed queries online with the other).

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

__all__ = ["auto_dynamic_shapes", "export", "export_towers"]


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


def export_towers(model: nn.Module, inputs: Mapping[str, Any]) -> dict[str, torch.export.ExportedProgram]:
    """One program per tower of a dual encoder (or fusion), each exported on its own from its
    example in ``inputs`` (``{"image": images, "text": token_ids}``): each program computes what
    ``model.encode(name, x)`` computes (normalised embeddings for CLIP's towers)."""
    towers = getattr(model, "towers", None)
    if not isinstance(towers, nn.ModuleDict):
        raise TypeError(
            f"export_towers takes a model with towers (a DualEncoder or Fusion); found {type(model).__name__}"
        )
    unknown = [name for name in inputs if name not in towers]
    if unknown or not inputs:
        raise KeyError(f"expected examples for the towers {list(towers)}; found {list(inputs)}")
    programs = {}
    for name, example in inputs.items():  # as the towers are called: a dict, a tuple, or one tensor
        if isinstance(example, Mapping):
            programs[name] = export(towers[name], **example)
        elif isinstance(example, tuple):
            programs[name] = export(towers[name], *example)
        else:
            programs[name] = export(towers[name], example)
    return programs
