"""What every builder does the same way: reconcile the caller's config with what the weights fix,
build the architecture, and load the weights on the fast path.

A builder reads::

    @register_model()
    def resnet50(*, weights: ResNet50_Weights | str | None = None, progress: bool = True,
                 **config: Any) -> ResNet:
        weights = ResNet50_Weights.verify(weights)
        return build_model(partial(ResNet, Bottleneck, [3, 4, 6, 3]), weights=weights,
                           progress=progress, config=config, fixed=categories_config(weights),
                           head=("fc.",))
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from torch import nn

from ..contracts.errors import ConfigConflictError, UnknownKeywordError
from ..contracts.preflight import check_size
from ..generation import config_for, with_publisher_defaults
from ..io.loading import init_empty, load_weights
from ..io.weights import Weights, WeightsEnum
from .parts import BuiltPart, Part, joined_report, own_weights

__all__ = [
    "BuildMode",
    "DeferredLoad",
    "architecture_only",
    "build_model",
    "deferred_loads",
    "categories_config",
    "check_keywords",
    "fixed_config",
    "own_weights",
    "Part",
]


@dataclass
class DeferredLoad:
    """A load `build_model` was asked to leave to its caller (`deferred_loads`): the module built
    on ``meta``, the weights, and the `load_weights` arguments it would have used."""

    model: nn.Module
    weights: Weights | WeightsEnum
    options: dict[str, Any]


@dataclass(frozen=True)
class BuildMode:
    """What `build_model` does with weights: ``"load"`` them (the default); build the
    ``"architecture"`` they need on ``meta`` and fetch nothing; or ``"defer"`` the load, appending
    it to ``loads``. `build_model` takes one as ``mode=``; `architecture_only` and `deferred_loads`
    set it for every builder called within them (a builder's signature is the public one, so the
    mode reaches its `build_model` that way)."""

    kind: Literal["load", "architecture", "defer"] = "load"
    loads: list[DeferredLoad] | None = None


_LOAD = BuildMode()  # frozen: one default shared by every context
_MODE: contextvars.ContextVar[BuildMode] = contextvars.ContextVar("torchgraft_build_mode", default=_LOAD)


def current_mode() -> BuildMode:
    """The mode a `build_model` without a ``mode=`` of its own builds in here."""
    return _MODE.get()


@contextlib.contextmanager
def building(mode: BuildMode) -> Iterator[BuildMode]:
    """Within this context, every `build_model` without a ``mode=`` of its own builds in ``mode``."""
    token = _MODE.set(mode)
    try:
        yield mode
    finally:
        _MODE.reset(token)


@contextlib.contextmanager
def architecture_only() -> Iterator[None]:
    """Within this context, builders given weights build the architecture those weights need
    (parameters on ``meta``) and skip fetching and loading them: how the conformance kit counts a
    checkpoint's parameters without downloading it."""
    with building(BuildMode("architecture")):
        yield


@contextlib.contextmanager
def deferred_loads() -> Iterator[list[DeferredLoad]]:
    """Within this context builders build with parameters on ``meta`` and, instead of loading
    their weights, append each load they would make (a task builder's backbone included) to the
    list it yields: how a sharded build loads every checkpoint into shards (see
    `torchgraft.core.distributed.build_sharded`)."""
    loads: list[DeferredLoad] = []
    with building(BuildMode("defer", loads)), init_empty():
        yield loads


M = TypeVar("M", bound=nn.Module)


def categories_config(weights: Weights | WeightsEnum | None, key: str = "num_classes") -> dict[str, int]:
    """``{"num_classes": len(categories)}`` for weights that carry categories, else ``{}``."""
    if weights is None:
        return {}
    cats = weights.meta.get("categories")
    return {key: len(cats)} if cats is not None else {}


def fixed_config(weights: Weights | WeightsEnum | None, key: str = "num_classes") -> dict[str, Any]:
    """Every builder config value a checkpoint fixes: ``num_classes`` from its categories, plus
    ``meta["config"]`` (e.g. ``{"image_size": 384}`` or ``{"tf_padding": True}``)."""
    if weights is None:
        return {}
    return {**categories_config(weights, key), **dict(weights.meta.get("config", {}))}


def build_model(
    factory: Callable[..., M],
    *,
    weights: Weights | WeightsEnum | None,
    progress: bool = True,
    config: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
    head: tuple[str, ...] = (),
    parts: Mapping[str, Part] | None = None,
    mode: BuildMode | None = None,
) -> M:
    """Builds ``factory(**config)`` and loads ``weights`` into it.

    ``parts`` (``{"backbone": Part(...)}``) are built first and passed to ``factory`` under their
    role. Without ``weights`` each loads its own weights and the model's ``load_report`` joins
    theirs (every other tensor is fresh); with ``weights`` (the user's own checkpoint of the whole model) they are built as
    architectures only, on ``meta``, and nothing of theirs is fetched.

    ``mode`` (a `BuildMode`) says whether to load the weights, build only the architecture they
    need, or defer the load; by default, the mode of the enclosing `architecture_only` or
    `deferred_loads` context, else ``"load"``.

    ``fixed`` holds config values the weights impose (e.g. ``num_classes`` from their categories);
    ``meta["defaults"]`` of the weights holds values they were trained with that the caller may
    override (dropout rates, for fine-tuning as the publisher did).
    A conflicting value from the caller raises `ConfigConflictError` naming both, unless the
    weights' role is ``"backbone"``: then the state-dict keys under the ``head`` prefixes are built
    fresh at the caller's size, and the rest loads strictly.

    With weights, the architecture is built with parameters on ``meta`` (no random initialisation)
    and the checkpoint tensors are assigned from a memory-mapped file; the model's ``load_report``
    (`torchgraft.core.loading.LoadReport`) then names the concrete entry loaded. A model that
    generates text takes its publisher's decoding defaults (``meta["generation"]``) into its
    ``generation_config``.
    """
    mode = mode if mode is not None else _MODE.get()
    config = dict(config or {})
    parts = dict(parts or {})
    check_keywords(factory, {**config, **parts})
    if not parts and any(type(v) is int and v > 1 << 12 for v in config.values()):  # sizes worth a look first
        check_size(lambda values: factory(**values), config, what=_factory_name(factory))
    if weights is None:
        built = {role: part.build() for role, part in parts.items()}
        model = factory(**config, **_modules(built))
        if built:
            model.load_report = joined_report(model, built)
        return model
    # Values the checkpoint was trained with that callers may change (dropouts): under theirs.
    config = {**dict(weights.meta.get("defaults", {})), **config}
    resized = False
    for key, value in (fixed or {}).items():
        if key in config and config[key] != value:
            if config[key] == 0 and type(value) is int:
                continue  # num_classes=0: a headless backbone; its classifier's keys are discarded on load
            if weights.role != "backbone":
                raise ConfigConflictError(
                    f"{key}={config[key]!r} conflicts with {_name(weights)}, which fixes {key}={value!r}; "
                    f"drop {key}= to use the weights as published, or pass weights=None"
                )
            resized = True
        else:
            config[key] = value
    with init_empty():
        with building(BuildMode("architecture")):  # the parts: architectures only, the checkpoint holds them
            built = {role: part.build() for role, part in parts.items()}
        model = factory(**config, **_modules(built))
    if mode.kind == "architecture":
        return model
    options = {
        "strict": True,
        "progress": progress,
        "fresh_ok": head if weights.role == "backbone" else (),
        "ignore_mismatched": head if resized else (),
    }
    if mode.kind == "defer":
        assert mode.loads is not None, "a deferring BuildMode holds the list its loads go to"
        mode.loads.append(DeferredLoad(model, weights, options))
    else:
        # The report names the concrete entry (never "DEFAULT"): kept on the model for reproducibility.
        model.load_report = load_weights(model, weights, **options)
    if "generation" in weights.meta and hasattr(model, "generation_config"):
        model.generation_config = with_publisher_defaults(config_for(model, None), weights)
    return model


def _modules(built: Mapping[str, BuiltPart]) -> dict[str, nn.Module]:
    return {role: part.module for role, part in built.items()}


def check_keywords(factory: Callable[..., Any], config: Mapping[str, Any]) -> None:
    """Raises `UnknownKeywordError` (with the closest name) for config keys ``factory``
    does not take; a factory with ``**kwargs`` checks its own."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = [k for k in config if k not in params]
    if unknown:
        named = [p for p, v in params.items() if v.kind in (v.KEYWORD_ONLY, v.POSITIONAL_OR_KEYWORD)] if params else []
        target = getattr(factory, "func", factory)
        raise UnknownKeywordError(f"{getattr(target, '__name__', type(target).__name__)}", unknown, named)


def _factory_name(factory: Callable[..., Any]) -> str:
    """The model class a factory builds, where it says (``partial(configured, TextEncoder, ...)``,
    ``partial(configured, ResNet.from_config, ...)``)."""
    args = [getattr(a, "__self__", a) for a in getattr(factory, "args", ())]
    classes = [a for a in args if isinstance(a, type) and issubclass(a, nn.Module)]
    target = classes[0] if classes else getattr(factory, "func", factory)
    return getattr(target, "__name__", type(target).__name__)


def _name(weights: Weights | WeightsEnum) -> str:
    return str(weights) if isinstance(weights, WeightsEnum) else f"Weights({weights.url})"
