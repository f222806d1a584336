"""The model registry: every builder by name, across all installed torchgraft packages.

Domain packages announce their models in the entry-point group ``torchgraft.models``: one entry
per model, named after it, naming the module whose import registers it. ``get_model(name)`` imports
that module alone; ``list_models()`` imports them all. Those modules import only torch at module
level, so neither imports torchvision, torchaudio or tokenizers.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import inspect
import threading
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any, TypeVar

from torch import nn

from ..contracts.errors import (
    DuplicateModelError,
    TorchgraftError,
    UnknownKeywordError,
    UnknownModelError,
    UnknownWeightsError,
    warn_deprecated,
)
from ..io.weights import WeightsEnum
from ._providers import PROVIDERS

__all__ = [
    "ENTRY_POINT_GROUP",
    "LEGACY_REMOVED_IN",
    "domains",
    "entry_of",
    "get_model",
    "get_model_weights",
    "get_weight",
    "is_model",
    "list_models",
    "list_pretrained",
    "register_deprecations",
    "register_model",
    "weights_enum_of",
]

ENTRY_POINT_GROUP = "torchgraft.models"
#: The release that removes the legacy keywords (``pretrained=``, ``encoder=``, ...).
LEGACY_REMOVED_IN = "torchgraft 0.3"
F = TypeVar("F", bound=Callable[..., nn.Module])

# Old keyword -> the one name per idea it became (only for builders that take the new one).
_RENAMED_KEYWORDS = {
    "weights_backbone": "backbone_weights",
    "encoder": "backbone",
    "encoder_weights": "backbone_weights",
    "encoder_config": "backbone_config",
}


@dataclass(frozen=True)
class _Entry:
    name: str
    builder: Callable[..., nn.Module]
    domain: str
    weights: type[WeightsEnum] | None


_MODELS: dict[str, _Entry] = {}
_DEPRECATED: dict[str, tuple[str, str]] = {}  # old model name -> (new name, removed in)
_lock = threading.RLock()
_plugins_loaded = False


def _infer_domain(module_name: str) -> str:
    parts = module_name.split(".")
    if len(parts) >= 2 and parts[0] == "torchgraft" and parts[1] != "core":
        return parts[1]
    return "user"


def weights_enum_of(builder: Callable[..., Any]) -> type[WeightsEnum] | None:
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
    """Registers a builder under ``name`` (default: the function's name) and returns it wrapped
    with the legacy keywords (``pretrained=``, ``pretrained_backbone=``, renamed keywords: each
    mapped with one `TorchgraftDeprecationWarning`) and "did you mean" for mistyped ones.

    A builder takes keyword-only ``weights=`` and ``progress=``; its weights enum is read from the
    annotation of ``weights`` unless given. Names are unique across every installed package.
    """

    def wrap(builder: F) -> F:
        key = name or builder.__name__
        params = inspect.signature(builder).parameters
        for required in ("weights", "progress"):
            if required not in params or params[required].kind is not inspect.Parameter.KEYWORD_ONLY:
                raise TypeError(f"builder {key} must take keyword-only {required}=; see the builder conventions")
        enum = weights or weights_enum_of(builder)
        wrapped = _with_legacy_keywords(builder, key, enum, params)
        entry = _Entry(key, wrapped, domain or _infer_domain(builder.__module__), enum)
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
            if enum is not None:
                enum.add_model_name(key)
        return wrapped  # type: ignore[return-value]

    return wrap


def _with_legacy_keywords(
    builder: Callable[..., nn.Module],
    name: str,
    enum: type[WeightsEnum] | None,
    params: Mapping[str, inspect.Parameter],
) -> Any:
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = [p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY]

    @functools.wraps(builder)
    def call(*args: Any, **kwargs: Any) -> nn.Module:
        if args:
            raise TypeError(f"{name}() takes keyword arguments only; found {len(args)} positional")
        old_args: list[str] = []
        new_args: list[str] = []
        for old, new in _RENAMED_KEYWORDS.items():
            if old in kwargs and old not in params and new in params:
                if new in kwargs:
                    raise TypeError(f"{name}() got both {old}= and {new}=; pass only {new}=")
                kwargs[new] = kwargs.pop(old)
                old_args.append(f"{old}=...")
                new_args.append(f"{new}=...")
        if "pretrained" in kwargs and "pretrained" not in params:
            given = kwargs.pop("pretrained")
            kwargs["weights"] = _legacy_pretrained(name, enum, given, kwargs.get("weights"))
            old_args.append(f"pretrained={given!r}")
            new_args.append(f"weights={kwargs['weights']}")
        if "pretrained_backbone" in kwargs and "backbone_weights" in params:
            given = kwargs.pop("pretrained_backbone")
            backbone = kwargs.get("backbone", params["backbone"].default if "backbone" in params else None)
            kwargs["backbone_weights"] = _legacy_backbone(name, backbone, given, kwargs.get("backbone_weights"))
            old_args.append(f"pretrained_backbone={given!r}")
            new_args.append(f"backbone_weights={kwargs['backbone_weights']}")
        if old_args:
            warn_deprecated(
                f"{name}({', '.join(old_args)}) is deprecated: write {name}({', '.join(new_args)}) instead; "
                f"the old keywords will be removed in {LEGACY_REMOVED_IN}"
            )
        if not open_ended:
            unknown = [k for k in kwargs if k not in params]
            if unknown:
                raise UnknownKeywordError(f"{name}()", unknown, accepted)
        return builder(**kwargs)

    return call


def _legacy_pretrained(name: str, enum: type[WeightsEnum] | None, pretrained: Any, weights: Any) -> Any:
    if not pretrained:
        return weights
    if weights is not None:
        raise TypeError(f"{name}() got pretrained=True and weights={weights!r}; pass only weights=")
    if enum is None:
        _load_plugins()  # to name the models like it that do have weights
        with_weights = [n for n, e in _MODELS.items() if e.weights is not None]
        close = difflib.get_close_matches(name, with_weights, n=3, cutoff=0.6)
        hint = f"; models like it that have weights: {', '.join(close)}" if close else ""
        raise UnknownWeightsError(
            f"{name}() got pretrained=True, but {name} has no published weights: pass weights=None or your own Weights{hint}"
        )
    return enum.first_published()


def _legacy_backbone(name: str, backbone: Any, pretrained: Any, backbone_weights: Any) -> Any:
    if not pretrained:
        return backbone_weights
    if backbone_weights is not None:
        raise TypeError(f"{name}() got pretrained_backbone=True and backbone_weights=; pass only backbone_weights=")
    if not isinstance(backbone, str):
        raise TypeError(
            f"{name}(): pretrained_backbone=True needs backbone= as a model name; found {type(backbone).__name__}"
        )
    return get_model_weights(backbone).first_published()


def register_deprecations(
    models: Mapping[str, str] | None = None, weights: Mapping[str, str] | None = None, *, removed_in: str
) -> None:
    """Renames, kept working for a while: ``models={"old_name": "new_name"}`` and
    ``weights={"Enum.OLD": "NEW"}``. Old names resolve with a `TorchgraftDeprecationWarning`
    naming the new one and ``removed_in``, and are hidden from `list_models`."""
    with _lock:
        for old, new in (models or {}).items():
            _DEPRECATED[old] = (new, removed_in)
        for old, new in (weights or {}).items():
            enum_name, _, member = old.rpartition(".")
            enum = _enum_named(enum_name) if enum_name else None
            if enum is None:
                raise UnknownWeightsError(f"expected 'Enum.MEMBER' naming a registered weights enum; found {old!r}")
            enum.add_renamed_member(member, new, removed_in=removed_in)


def _load(ep: metadata.EntryPoint) -> None:
    try:
        ep.load()
    except DuplicateModelError:
        raise
    except Exception as exc:
        raise TorchgraftError(
            f"the installed package providing {ENTRY_POINT_GROUP} entry {ep.name!r} ({ep.value}) failed to import: {exc}"
        ) from exc


def _load_plugins() -> None:
    """Imports every module the installed packages name (what listing models needs)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    with _lock:
        if _plugins_loaded:
            return
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            _load(ep)
        _plugins_loaded = True


def entry_of(name: str) -> _Entry:
    """The registered model ``name``. Packages give each model an entry point of its own name, so
    this imports the one module that defines it; only a name no entry point carries (a renamed model,
    a package with one entry for many models, a typo) makes every package load."""
    entry = _MODELS.get(name)
    if entry is None and not _plugins_loaded:
        with _lock:
            for ep in metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
                _load(ep)
        entry = _MODELS.get(name)
    if entry is None:
        _load_plugins()
        entry = _MODELS.get(name)
    if entry is not None:
        return entry
    if name in _DEPRECATED:
        new, removed_in = _DEPRECATED[name]
        warn_deprecated(f"model {name!r} was renamed {new!r}; the old name will be removed in {removed_in}")
        return entry_of(new)
    raise UnknownModelError(_unknown_model_message(name)) from None


def _unknown_model_message(name: str) -> str:
    for dist, names in PROVIDERS.items():
        if name in names:
            domain = dist.removeprefix("torchgraft-")
            if not any(e.domain == domain for e in _MODELS.values()):
                return f"model {name!r} is provided by {dist}, which is not installed: pip install {dist}"
    close = difflib.get_close_matches(name, list(_MODELS), n=6)
    close = sorted(close, key=lambda n: not len(_MODELS[n].weights or ()))[:3]  # with weights first, then closest
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    missing = [d for d in PROVIDERS if not any(e.domain == d.removeprefix("torchgraft-") for e in _MODELS.values())]
    more = f" (not installed: {', '.join(missing)})" if missing else ""
    return f"no model named {name!r} is registered ({len(_MODELS)} models installed{more}){hint}"


def _as_patterns(patterns: str | Iterable[str] | None) -> list[str]:
    if patterns is None:
        return []
    return [patterns] if isinstance(patterns, str) else list(patterns)


def list_models(
    include: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
    *,
    domain: str | None = None,
    module: ModuleType | str | None = None,
    pretrained: bool = False,
) -> list[str]:
    """Sorted names of registered models, filtered by fnmatch patterns, domain (in any case),
    ``module`` (torchvision's ``list_models(module=torchvision.models)``: the models defined in
    that module or package) and ``pretrained`` (timm's: only models with published weights).
    Deprecated names are not listed; they still resolve."""
    _load_plugins()
    inc, exc = _as_patterns(include), _as_patterns(exclude)
    within = module.__name__ if isinstance(module, ModuleType) else module
    if within is not None and not isinstance(within, str):
        raise TypeError(f"module= takes a module or its name; found {type(module).__name__}")
    names = []
    for name, entry in _MODELS.items():
        if domain is not None and entry.domain.lower() != domain.lower():
            continue
        where = entry.builder.__module__
        if within is not None and where != within and not where.startswith(within + "."):
            continue
        if pretrained and entry.weights is None:
            continue
        if inc and not any(fnmatch.fnmatchcase(name, p) for p in inc):
            continue
        if any(fnmatch.fnmatchcase(name, p) for p in exc):
            continue
        names.append(name)
    return sorted(names)


def list_pretrained(include: str | Iterable[str] | None = None, *, domain: str | None = None) -> list[str]:
    """Every published weights entry as ``"<model>.<MEMBER>"`` (timm's ``list_pretrained``), the
    form `get_model` and every weights argument accept; ``include`` filters with fnmatch patterns
    on that form."""
    inc = _as_patterns(include)
    found = []
    for name in list_models(domain=domain, pretrained=True):
        enum = _MODELS[name].weights
        assert enum is not None
        found += [f"{name}.{member.name}" for member in enum.members()]
    return sorted(f for f in found if not inc or any(fnmatch.fnmatchcase(f, p) for p in inc))


def is_model(name: str) -> bool:
    """Whether ``name`` is a registered model (timm's ``is_model``); a weights tag
    (``"resnet50.IMAGENET1K_V2"``) is not a model name."""
    try:
        entry_of(name)
    except UnknownModelError:
        return False
    return True


def model_domain(name: str) -> str:
    return entry_of(name).domain


def domains() -> list[str]:
    """The domains of the registered models (one per installed package that registers any)."""
    _load_plugins()
    return sorted({entry.domain for entry in _MODELS.values()})


def get_model_builder(name: str) -> Callable[..., nn.Module]:
    return entry_of(name).builder


def get_model(name: str, *, weights: Any = None, **config: Any) -> nn.Module:
    """Builds a registered model: ``get_model("resnet50", weights="DEFAULT", num_classes=...)``.

    ``weights`` takes a member, your own ``Weights``, or a name: ``"IMAGENET1K_V2"``,
    ``"resnet50.IMAGENET1K_V2"``, ``"ResNet50_Weights.IMAGENET1K_V2"``, ``"DEFAULT"`` in any case.
    ``name`` may carry the weights as a tag, as timm's names do: ``get_model("resnet50.IMAGENET1K_V2")``."""
    owner, dot, tag = name.rpartition(".")
    if dot and not is_model(name) and is_model(owner):
        if weights is not None:
            raise TypeError(
                f"get_model({name!r}, weights={weights!r}) names weights twice; write "
                f"get_model({owner!r}, weights={tag!r}) or get_model({name!r})"
            )
        return entry_of(owner).builder(weights=get_weight(name), **config)
    return entry_of(name).builder(weights=weights, **config)


def get_model_weights(name: str | Callable[..., nn.Module]) -> type[WeightsEnum]:
    """The weights enum of a registered model, named or given as its builder
    (``get_model_weights(resnet50)``, as torchvision takes it)."""
    if callable(name) and not isinstance(name, str):
        name = _name_of_builder(name)
    entry = entry_of(name)
    if entry.weights is None:
        raise UnknownWeightsError(f"model {name!r} has no published weights")
    return entry.weights


def _name_of_builder(builder: Callable[..., nn.Module]) -> str:
    _load_plugins()
    for key, entry in _MODELS.items():
        if entry.builder is builder or getattr(entry.builder, "__wrapped__", None) is builder:
            return key
    what = getattr(builder, "__qualname__", type(builder).__name__)
    raise UnknownModelError(f"{what} is not a registered builder; pass a model name or a function from a models module")


def _enum_named(enum_name: str) -> type[WeightsEnum] | None:
    _load_plugins()
    return next(
        (e.weights for e in _MODELS.values() if e.weights is not None and e.weights.__name__ == enum_name), None
    )


def model_of(weights: WeightsEnum) -> str:
    """The registered model that takes ``weights`` (the first registered, where several share an enum)."""
    _load_plugins()
    for name, entry in _MODELS.items():
        if entry.weights is type(weights):
            return name
    raise UnknownWeightsError(f"no registered model takes {weights}")


def resolve_target(target: str, *, default: bool = True) -> tuple[str, WeightsEnum | None]:
    """What a command line names: ``resnet50`` (its ``DEFAULT`` when ``default``, else no weights),
    ``resnet50.IMAGENET1K_V2``, ``ResNet50_Weights.IMAGENET1K_V2``; returns ``(model, member)``."""
    if "." not in target:
        enum = None if is_model(target) else _enum_named(target)
        if enum is not None:  # an enum's name: the model that takes it, all its entries or its DEFAULT
            owner = model_of(enum.first_published())
            return owner, (enum.default() if default else None)
        entry_of(target)
        if not default:
            return target, None
        enum = get_model_weights(target)
        member = enum.default()
        if member is None:
            raise UnknownWeightsError(f"{target} has no DEFAULT weights; name one: {', '.join(enum.__members__)}")
        return target, member
    member = get_weight(target)
    owner = target.rpartition(".")[0]
    return (owner if owner in _MODELS or owner in _DEPRECATED else model_of(member)), member


def get_weight(name: str, *, model: str | None = None) -> WeightsEnum:
    """A weights member by name, in any of the forms users write: ``"resnet50.IMAGENET1K_V2"``,
    ``"ResNet50_Weights.IMAGENET1K_V2"``, ``"ResNet50_Weights.default"``, or a bare member name
    (``"IMAGENET1K_V2"``, ``"DEFAULT"``) with ``model=``."""
    owner, _, member = name.rpartition(".")
    if not owner:
        if model is None:
            raise UnknownWeightsError(
                f"expected a weights name like '<model>.DEFAULT' or '<Enum>_Weights.<MEMBER>' "
                f"(or a bare member name with model=); found {name!r}"
            )
        return get_model_weights(model).verify(name)
    try:
        enum = get_model_weights(owner)  # "resnet50.X": imports ResNet's module alone
    except UnknownModelError:
        enum = _enum_named(owner)  # "ResNet50_Weights.X"
    if enum is None:
        _load_plugins()
        enums = sorted({e.weights.__name__ for e in _MODELS.values() if e.weights is not None})
        close = difflib.get_close_matches(owner, enums + list(_MODELS), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise UnknownWeightsError(f"{owner!r} is neither a registered model nor a weights enum{hint}")
    return enum.verify(member)
