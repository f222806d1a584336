"""The model registry: every builder by name, across all installed torchgraft packages.

Domain packages announce themselves in the entry-point group ``torchgraft.models``; each entry
names a module whose import registers that domain's builders. Those modules import only torch at
module level, so listing models never imports torchvision, torchaudio or tokenizers.
"""

from __future__ import annotations

import fnmatch
import inspect
import threading
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TypeVar

from torch import nn

from .errors import DuplicateModelError, TorchgraftError, UnknownModelError, UnknownWeightsError
from .weights import WeightsEnum

__all__ = [
    "ENTRY_POINT_GROUP",
    "get_model",
    "get_model_weights",
    "get_weight",
    "list_models",
    "register_builder",
    "register_model",
]

ENTRY_POINT_GROUP = "torchgraft.models"
F = TypeVar("F", bound=Callable[..., nn.Module])


@dataclass(frozen=True)
class _Entry:
    name: str
    builder: Callable[..., nn.Module]
    domain: str
    weights: type[WeightsEnum] | None


_MODELS: dict[str, _Entry] = {}
_lock = threading.RLock()
_plugins_loaded = False


def _infer_domain(module_name: str) -> str:
    parts = module_name.split(".")
    if len(parts) >= 2 and parts[0] == "torchgraft" and parts[1] != "core":
        return parts[1]
    return "user"


def _weights_enum_of(builder: Callable[..., Any]) -> type[WeightsEnum] | None:
    """The WeightsEnum named in the annotation of the builder's ``weights`` parameter."""
    try:
        hints = typing.get_type_hints(builder)
    except Exception:
        return None
    hint = hints.get("weights")
    stack = [hint]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, WeightsEnum):
            return item
        stack.extend(typing.get_args(item))
    return None


def register_model(
    name: str | None = None, *, domain: str | None = None, weights: type[WeightsEnum] | None = None
) -> Callable[[F], F]:
    """Registers a builder under ``name`` (default: the function's name).

    The builder's weights enum is read from the annotation of its ``weights`` parameter unless
    given. Names are unique across every installed package.
    """

    def wrap(builder: F) -> F:
        key = name or builder.__name__
        params = inspect.signature(builder).parameters
        if "weights" not in params or params["weights"].kind is not inspect.Parameter.KEYWORD_ONLY:
            raise TypeError(f"builder {key} must take keyword-only weights=; see the builder conventions")
        entry = _Entry(key, builder, domain or _infer_domain(builder.__module__), weights or _weights_enum_of(builder))
        with _lock:
            old = _MODELS.get(key)
            same = old is not None and (
                (old.builder.__module__, old.builder.__qualname__) == (builder.__module__, builder.__qualname__)
            )
            if old is not None and not same:
                raise DuplicateModelError(
                    f"model name {key!r} is already registered by {old.builder.__module__}."
                    f"{old.builder.__qualname__}; {builder.__module__}.{builder.__qualname__} "
                    "must use another name"
                )
            _MODELS[key] = entry
        return builder

    return wrap


def _verify_weights(name: str, enum: type[WeightsEnum] | None, weights: Any) -> Any:
    from .weights import Weights

    if enum is not None:
        return enum.verify(weights)
    if weights is None or isinstance(weights, Weights):
        return weights  # a model without published weights still loads the user's own checkpoint
    raise UnknownWeightsError(f"{name} has no published weights; pass weights=None or your own Weights")


def register_builder(
    name: str,
    build: Callable[[Any, bool, dict[str, Any]], nn.Module],
    *,
    weights: type[WeightsEnum] | None = None,
    doc: str,
    module: str,
) -> Callable[..., nn.Module]:
    """Defines and registers ``name(*, weights=None, progress=True, **config)`` that verifies
    ``weights`` against its enum (or accepts the user's own ``Weights``) and calls
    ``build(weights, progress, config)``: how a family registers one builder per variant."""

    def builder(*, weights: Any = None, progress: bool = True, **config: Any) -> nn.Module:
        return build(_verify_weights(name, enum, weights), progress, config)

    enum = weights
    builder.__name__ = builder.__qualname__ = name
    builder.__module__ = module
    builder.__doc__ = doc
    return register_model(name, weights=enum)(builder)


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    with _lock:
        if _plugins_loaded:
            return
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                ep.load()
            except DuplicateModelError:
                raise
            except Exception as exc:
                raise TorchgraftError(
                    f"the installed package providing {ENTRY_POINT_GROUP} entry {ep.name!r} "
                    f"({ep.value}) failed to import: {exc}"
                ) from exc
        _plugins_loaded = True


def _entry(name: str) -> _Entry:
    _load_plugins()
    try:
        return _MODELS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_MODELS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"no model named {name!r} is registered ({len(_MODELS)} models installed){hint}"
        ) from None


def _as_patterns(patterns: str | Iterable[str] | None) -> list[str]:
    if patterns is None:
        return []
    return [patterns] if isinstance(patterns, str) else list(patterns)


def list_models(
    include: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
    *,
    domain: str | None = None,
) -> list[str]:
    """Sorted names of registered models, filtered by fnmatch patterns and domain."""
    _load_plugins()
    inc, exc = _as_patterns(include), _as_patterns(exclude)
    names = []
    for name, entry in _MODELS.items():
        if domain is not None and entry.domain != domain:
            continue
        if inc and not any(fnmatch.fnmatchcase(name, p) for p in inc):
            continue
        if any(fnmatch.fnmatchcase(name, p) for p in exc):
            continue
        names.append(name)
    return sorted(names)


def model_domain(name: str) -> str:
    return _entry(name).domain


def get_model_builder(name: str) -> Callable[..., nn.Module]:
    return _entry(name).builder


def get_model(name: str, *, weights: Any = None, **config: Any) -> nn.Module:
    """Builds a registered model: ``get_model("resnet50", weights="DEFAULT", num_classes=...)``."""
    return _entry(name).builder(weights=weights, **config)


def get_model_weights(name: str) -> type[WeightsEnum]:
    """The weights enum of a registered model."""
    entry = _entry(name)
    if entry.weights is None:
        raise UnknownWeightsError(f"model {name!r} has no published weights")
    return entry.weights


def get_weight(name: str) -> WeightsEnum:
    """A weights member by its full name, e.g. ``"ResNet50_Weights.IMAGENET1K_V2"``."""
    enum_name, _, member = name.rpartition(".")
    if not enum_name:
        raise UnknownWeightsError(f"expected a full weights name like 'ResNet50_Weights.DEFAULT'; found {name!r}")
    _load_plugins()
    enums = {e.weights.__name__: e.weights for e in _MODELS.values() if e.weights is not None}
    if enum_name not in enums:
        import difflib

        close = difflib.get_close_matches(enum_name, list(enums), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise UnknownWeightsError(f"no registered model uses a weights enum named {enum_name!r}{hint}")
    return enums[enum_name].verify(member)
