"""Fast, safe checkpoint loading.

The fast path never pays for work the checkpoint makes useless: a model built under
`init_empty` has its parameters on the ``meta`` device (their random initialisation costs
nothing), and `load_weights` then *assigns* the tensors of a memory-mapped checkpoint to them,
so the bytes are read from disk once, when first used, and never copied.

Safety: safetensors is preferred; a pickle checkpoint is read only through
``torch.load(..., weights_only=True)``, passed explicitly, with no fallback to an unsafe load.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..contracts.errors import (
    ConfigConflictError,
    InitializationError,
    StateDictMismatchError,
    WeightsMismatchError,
)
from ..contracts.features import FeatureMaps
from ..contracts.heads import Composite
from ..contracts.layers import adapt_input_channels
from .checkpoints import read_checkpoint, sniff_format
from .weights import Weights, WeightsEnum

__all__ = [
    "LoadPlan",
    "LoadReport",
    "FreshPlan",
    "current_tensor",
    "init_empty",
    "load_weights",
    "plan_load",
    "read_checkpoint",
    "sniff_format",
]


# --------------------------------------------------------------------------- building empty
@contextlib.contextmanager
def init_empty() -> Iterator[None]:
    """Within this context, new parameters are created on the ``meta`` device.

    Their initialisation (often the slowest part of building a large model) becomes a no-op.
    Buffers stay real: they are small, and non-persistent ones (absent from checkpoints) must keep
    the values the constructor computed.
    """
    original = nn.Module.register_parameter

    def register_on_meta(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        original(module, name, param)
        if param is not None and param.device.type != "meta":
            kwargs = param.__dict__.copy()
            meta = param.to("meta")
            module._parameters[name] = type(param)(meta, requires_grad=param.requires_grad)
            module._parameters[name].__dict__.update(kwargs)

    # Random initialisers on meta tensors run through torch's Python reference kernels, whose first
    # use imports torch._dynamo (about a second): skip them outright for meta tensors.
    patched: dict[tuple[Any, str], Any] = {}
    for owner, names in ((nn.init, _INIT_FUNCTIONS), (torch.Tensor, _TENSOR_INITS)):
        for fn_name in names:
            fn = getattr(owner, fn_name, None)
            if fn is not None:
                patched[(owner, fn_name)] = fn
                setattr(owner, fn_name, _skip_on_meta(fn))
    # Weight normalisation computes norms while it registers; on meta they would take the same slow path.
    for fn_name, meta_result in _META_SHORTCUTS.items():
        fn = getattr(torch, fn_name, None)
        if fn is not None:
            patched[(torch, fn_name)] = fn
            setattr(torch, fn_name, _meta_shortcut(fn, meta_result))
    nn.Module.register_parameter = register_on_meta  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_parameter = original  # type: ignore[method-assign]
        for (owner, fn_name), fn in patched.items():
            setattr(owner, fn_name, fn)


_INIT_FUNCTIONS = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
)  # fmt: skip
_TENSOR_INITS = ("normal_", "uniform_", "bernoulli_", "exponential_", "geometric_", "log_normal_", "cauchy_", "random_")


def _norm_except_dim_shape(v: torch.Tensor, pow: float = 2, dim: int = 0) -> torch.Tensor:
    if dim == -1:
        return torch.empty((), device="meta", dtype=v.dtype)
    shape = [1] * v.dim()
    shape[dim] = v.shape[dim]
    return torch.empty(shape, device="meta", dtype=v.dtype)


_META_SHORTCUTS = {
    "norm_except_dim": _norm_except_dim_shape,
    "_weight_norm": lambda v, g, dim=0: torch.empty_like(v, device="meta"),
}


def _meta_shortcut(fn: Any, meta_result: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(tensor, torch.Tensor) and tensor.device.type == "meta":
            return meta_result(tensor, *args, **kwargs)
        return fn(tensor, *args, **kwargs)

    return wrapper


def _skip_on_meta(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(tensor, torch.Tensor) and tensor.device.type == "meta":
            return tensor
        return fn(tensor, *args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------- loading
@dataclass
class LoadReport:
    """What `load_weights` did, key by key (keys in the model's namespace).

    ``converted`` maps a model key to the checkpoint key it came from, for keys a weights entry's
    adapter renamed (``"(computed)"`` for tensors the adapter derived); ``mismatched`` lists ``(key, checkpoint_shape, model_shape)`` for head tensors
    skipped because the caller asked for a differently sized head.
    """

    source: str
    loaded: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    converted: dict[str, str] = field(default_factory=dict)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    #: The concrete entry that was loaded (``"ResNet50_Weights.IMAGENET1K_V2"``, never an alias
    #: such as ``DEFAULT``) and the digest of its file, so a run stays reproducible.
    weights: str | None = None
    sha256: str | None = None
    #: Checkpoint keys of what the model's backbone has removed: its classifier
    #: (``reset_classifier(0)``), the layers after the last stage it returns (``prune_after``).
    discarded: list[str] = field(default_factory=list)
    #: For a model joined from parts loaded on their own (dual encoders, fused towers, seq2seq):
    #: the checkpoint each loaded key came from.
    sources: dict[str, str] = field(default_factory=dict)
    #: First convolutions adapted to the model's input channels (``in_chans=``): key -> how.
    adapted: dict[str, str] = field(default_factory=dict)

    @classmethod
    def combined(cls, model: nn.Module, parts: Mapping[str, LoadReport | None]) -> LoadReport:
        """One report for ``model`` joined from parts loaded on their own: each part's loaded keys
        under its prefix (``"towers.image.backbone."``), with the checkpoint each came from; every
        other tensor of ``model`` (projections, cross-attention, a part built without weights) is fresh.
        A part's key the model no longer holds (a batch norm's counter, once frozen) is left out."""
        held = set(model.state_dict())
        sources = {
            prefix + key: report.weights or report.source
            for prefix, report in parts.items()
            if report is not None
            for key in report.loaded
            if prefix + key in held
        }
        checkpoints = sorted(set(sources.values()))
        return cls(
            source=" + ".join(checkpoints) if checkpoints else "no checkpoint",
            loaded=sorted(sources),
            fresh=sorted(held - set(sources)),
            sources=sources,
        )

    @property
    def complete(self) -> bool:
        """Every model tensor came from the checkpoint and every checkpoint tensor was used."""
        return not (self.fresh or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        parts = [f"{len(self.loaded)} loaded"]
        for name in ("fresh", "unexpected", "converted", "mismatched", "discarded", "adapted"):
            items = getattr(self, name)
            if items:
                shown = list(items)[:4]
                more = f", ... (+{len(items) - 4})" if len(items) > 4 else ""
                parts.append(f"{len(items)} {name}: {', '.join(map(str, shown))}{more}")
        return f"LoadReport({self.source}: " + "; ".join(parts) + ")"


def _tensor_slots(model: nn.Module) -> dict[str, tuple[nn.Module, str, bool]]:
    """``key -> (owning module, attribute, is_parameter)`` for every state-dict tensor, aliases
    (tied parameters) included."""
    slots: dict[str, tuple[nn.Module, str, bool]] = {}
    for mod_name, module in model.named_modules(remove_duplicate=False):
        prefix = f"{mod_name}." if mod_name else ""
        for name, param in module._parameters.items():
            if param is not None:
                slots[prefix + name] = (module, name, True)
        for name, buf in module._buffers.items():
            if buf is not None and name not in module._non_persistent_buffers_set:
                slots[prefix + name] = (module, name, False)
    return slots


def current_tensor(slot: tuple[nn.Module, str, bool]) -> torch.Tensor:
    """The tensor a state-dict slot (module, name, is_parameter) holds now."""
    module, name, is_param = slot
    return module._parameters[name] if is_param else module._buffers[name]  # type: ignore[return-value]


def _tie_groups(slots: Mapping[str, tuple[nn.Module, str, bool]]) -> dict[str, list[str]]:
    """Each tied parameter key -> every key sharing that parameter object."""
    by_id: dict[int, list[str]] = {}
    for key, slot in slots.items():
        if slot[2]:
            by_id.setdefault(id(current_tensor(slot)), []).append(key)
    return {key: group for group in by_id.values() if len(group) > 1 for key in group}


def _source_name(source: Any) -> str:
    if isinstance(source, WeightsEnum):
        return str(source)
    if isinstance(source, Weights):
        return source.url
    if isinstance(source, (str, Path)):
        return str(source)
    return "state dict"


def load_weights(
    model: nn.Module,
    weights_or_path: Weights | WeightsEnum | str | Path | Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    prefix: str | None = None,
    fresh_ok: tuple[str, ...] = (),
    ignore_mismatched: tuple[str, ...] = (),
    device: torch.device | str | None = None,
    progress: bool | None = None,
) -> LoadReport:
    """Loads a checkpoint into ``model`` and reports what happened instead of printing warnings.

    Parameters on ``meta`` (from `init_empty`) receive the checkpoint tensors themselves
    (memory-mapped, no copy, cast only if the dtype differs); real parameters are copied into in
    place, keeping their device and dtype. Parameters the checkpoint does not provide are
    materialised and initialised with their module's ``reset_parameters()``.

    ``strict``: every checkpoint key must be used and every model key provided, except keys under
    ``fresh_ok`` prefixes, which may be missing (a task head trained by the user). With a
    backbone-role weights entry loaded into a `torchgraft.core.compose.Composite`, the
    checkpoint goes under ``backbone.`` and ``head.`` may be fresh. Keys under ``ignore_mismatched``
    whose shape differs are skipped and reported (a head resized on purpose); any other shape
    difference raises. Settings the checkpoint fixes (``meta["config"]``, e.g. ``tf_padding``)
    must equal the model's (`config_value`), or `ConfigConflictError` names the key and
    both values. Nothing in ``model`` changes when an error is raised.
    """
    plan = plan_load(
        model,
        weights_or_path,
        strict=strict,
        prefix=prefix,
        fresh_ok=fresh_ok,
        ignore_mismatched=ignore_mismatched,
        device=device,
        progress=progress,
    )
    return plan.apply(device)


@dataclass
class LoadPlan:
    """Everything `load_weights` decides before it changes a model: the checkpoint tensors by
    model key (``state``, memory-mapped), the keys they provide, tied aliases, the modules that
    will initialise the rest (``fresh``), and the report to return. `plan_load` makes one; the
    sharded loader (`torchgraft.core.distributed.build_sharded`) applies it to shards instead."""

    state: dict[str, torch.Tensor]
    provided: set[str]
    slots: dict[str, tuple[nn.Module, str, bool]]
    ties: dict[str, list[str]]
    fresh: FreshPlan
    report: LoadReport

    def apply(self, device: torch.device | str | None = None) -> LoadReport:
        """Puts the checkpoint tensors into the model (assigned where it is on ``meta``, copied in
        place elsewhere; cast to ``device`` when given), ties the aliases, initialises what is
        fresh, and returns the report."""
        target = torch.device(device) if device is not None else None
        with torch.no_grad():
            for key in sorted(self.provided):
                _put(self.slots[key], self.state[key], target)
            for key in self.provided:
                for alias in self.ties.get(key, ()):
                    module, name, _ = self.slots[alias]
                    owner, owner_name, _ = self.slots[key]
                    module._parameters[name] = owner._parameters[owner_name]
        self.report.fresh = self.fresh.apply(target)
        return self.report


def plan_load(
    model: nn.Module,
    weights_or_path: Weights | WeightsEnum | str | Path | Mapping[str, torch.Tensor],
    *,
    strict: bool = True,
    prefix: str | None = None,
    fresh_ok: tuple[str, ...] = (),
    ignore_mismatched: tuple[str, ...] = (),
    device: torch.device | str | None = None,
    progress: bool | None = None,
) -> LoadPlan:
    """Reads and checks a checkpoint against ``model`` as `load_weights` does (same arguments,
    same errors) without changing anything: the `LoadPlan` says what a load would do. The
    report's ``fresh`` is filled in when the plan is applied."""
    source = _source_name(weights_or_path)
    converted: dict[str, str] = {}
    if isinstance(weights_or_path, (Weights, WeightsEnum)):
        _check_fixed_config(model, weights_or_path, prefix, source)
        state, converted = _read_weights(weights_or_path, progress=progress, device=device)
    elif isinstance(weights_or_path, (str, Path)):
        state = read_checkpoint(weights_or_path, device=device)
    elif isinstance(weights_or_path, Mapping):
        state = dict(weights_or_path)
    else:
        raise TypeError(
            "load_weights takes Weights, a weights enum member, a path or a state dict; "
            f"found {type(weights_or_path).__name__}"
        )

    if isinstance(model, FeatureMaps) and prefix is None and not any(k.startswith("backbone.") for k in state):
        prefix = "backbone."  # a backbone's own checkpoint
    if isinstance(model, Composite) and prefix is None and not any(k.startswith(("backbone.", "head.")) for k in state):
        # A backbone's own checkpoint: it goes under backbone., and the head may be fresh.
        prefix = "backbone."
        fresh_ok = (*fresh_ok, "head.")
    if prefix:
        converted = {prefix + k: v for k, v in converted.items()}
        state = {prefix + k: v for k, v in state.items()}

    slots = _tensor_slots(model)
    ties = _tie_groups(slots)
    adapted = _adapt_input_convs(model, state, slots)
    removed = _removed_prefixes(model)
    discarded = sorted(k for k in state if k not in slots and removed and k.startswith(removed))
    for key in discarded:
        del state[key]
    unexpected = sorted(k for k in state if k not in slots)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
    bad_shapes: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
    for key in (k for k in slots if k in state):  # model order, for readable messages
        want, got = tuple(current_tensor(slots[key]).shape), tuple(state[key].shape)
        if want != got:
            (mismatched if key.startswith(ignore_mismatched) and ignore_mismatched else bad_shapes).append(
                (key, got, want)
            )
    for key, _, _ in mismatched:
        del state[key]
    provided = set(state) & slots.keys()
    covered = provided | {alias for key in provided for alias in ties.get(key, ())}
    missing = sorted(k for k in slots if k not in covered)
    must_have = [k for k in missing if not (fresh_ok and k.startswith(fresh_ok))]
    mismatched_keys = {k for k, _, _ in mismatched}
    must_have = [k for k in must_have if k not in mismatched_keys]
    for key in (k for k in slots if k in state):
        want_dtype, got_dtype = current_tensor(slots[key]).dtype, state[key].dtype
        if _dtype_kind(want_dtype) != _dtype_kind(got_dtype):  # a cast would drop the imaginary part, or round
            raise StateDictMismatchError(
                f"checkpoint {source} does not fit the model: {key} is {got_dtype} in the checkpoint, and the "
                f"model's is {want_dtype}; a {_dtype_kind(got_dtype)} tensor is never cast to "
                f"{_dtype_kind(want_dtype)}",
                missing=[],
                unexpected=[],
                mismatched=[],
            )
    if bad_shapes or (strict and (must_have or unexpected)):
        raise StateDictMismatchError(
            _mismatch_message(source, must_have if strict else [], unexpected if strict else [], bad_shapes),
            missing=must_have,
            unexpected=unexpected,
            mismatched=bad_shapes,
        )

    if isinstance(weights_or_path, Weights) and not (
        prefix or fresh_ok or mismatched or discarded or missing or unexpected
    ):
        _check_num_params(model, weights_or_path, source)

    # Decided before anything changes: a fresh tensor nobody can initialise fails the whole load.
    provided_ids = {id(current_tensor(slots[k])) for k in covered}
    pending = {id(t) for t in [*model.parameters(), *model.buffers()] if t.device.type == "meta"} - provided_ids
    fresh = FreshPlan.of(model, pending)
    entry = weights_or_path if isinstance(weights_or_path, (Weights, WeightsEnum)) else None
    report = LoadReport(
        weights=str(entry) if isinstance(entry, WeightsEnum) else None,
        sha256=entry.sha256 if entry is not None else None,
        source=source,
        loaded=sorted(covered),
        unexpected=unexpected,
        converted={k: v for k, v in sorted(converted.items()) if k in provided},
        mismatched=sorted(mismatched),
        discarded=discarded,
        adapted=adapted,
    )
    return LoadPlan(state=state, provided=provided, slots=slots, ties=ties, fresh=fresh, report=report)


def _check_num_params(model: nn.Module, weights: Weights, source: str) -> None:
    """Your own `Weights` that declare ``meta["num_params"]`` and load into the whole model must
    declare its count (the catalog's entries are held to theirs by the conformance suite)."""
    declared = weights.meta.get("num_params")
    if declared is None:
        return
    found = sum(p.numel() for p in model.parameters())
    if found != declared:
        raise WeightsMismatchError(
            f"{source} declares num_params={declared}, but the model it loads completely has {found} "
            f"parameters: correct meta['num_params'] (or leave it out)"
        )


def _adapt_input_convs(
    model: nn.Module, state: dict[str, torch.Tensor], slots: Mapping[str, tuple[nn.Module, str, bool]]
) -> dict[str, str]:
    """Adapts in ``state`` the filters of each first convolution a module declares
    (``input_conv``: its path) whose checkpoint tensor differs from the model's in input channels
    only; returns ``{key: how}`` for the report."""
    adapted = {}
    for name, module in model.named_modules():
        conv = getattr(module, "input_conv", None)
        if not isinstance(conv, str):
            continue
        key = f"{name}.{conv}.weight" if name else f"{conv}.weight"
        if key not in state or key not in slots:
            continue
        want, got = tuple(current_tensor(slots[key]).shape), tuple(state[key].shape)
        if len(want) == len(got) >= 3 and want != got and want[0] == got[0] and want[2:] == got[2:]:
            state[key] = adapt_input_channels(state[key], want[1])
            adapted[key] = f"{got[1]} -> {want[1]} input channels"
    return adapted


def _removed_prefixes(model: nn.Module) -> tuple[str, ...]:
    """Key prefixes of what backbones in ``model`` have removed: their own classifiers
    (``num_classes == 0``) and the layers they have pruned (``pruned``); a full checkpoint's keys
    there are dropped, not errors."""
    prefixes = []
    for name, module in model.named_modules():
        at = f"{name}." if name else ""
        attr = getattr(module, "classifier_name", None)
        if isinstance(attr, str) and getattr(module, "num_classes", None) == 0:
            prefixes.append(f"{at}{attr}.")
        prefixes += [f"{at}{p}" for p in getattr(module, "pruned", ()) if isinstance(p, str)]
    return tuple(prefixes)


_MISSING = object()


def config_value(model: nn.Module, key: str) -> Any:
    """The value of a build setting a checkpoint may fix, as the model exposes it: an attribute of
    that name, or a field of its ``cfg`` / ``config`` dataclass (the convention every torchgraft
    model follows); a sentinel when it exposes none."""
    for holder in (model, getattr(model, "cfg", None), getattr(model, "config", None)):
        value = getattr(holder, key, _MISSING) if holder is not None else _MISSING
        if value is not _MISSING and not isinstance(value, (nn.Module, torch.Tensor)):
            return value
    return _MISSING


def _check_fixed_config(model: nn.Module, weights: Weights | WeightsEnum, prefix: str | None, source: str) -> None:
    """Refuses a model built with settings other than those the checkpoint fixes (``meta["config"]``):
    its tensors may fit while its features are wrong (EfficientNet-Lite without TF padding)."""
    fixed = weights.meta.get("config", {})
    target = model
    if prefix is None and isinstance(model, Composite):
        target = model.backbone
    for part in (prefix or "").strip(".").split(".") if prefix else ():
        target = getattr(target, part, target)
    for key, value in fixed.items():
        found = config_value(target, key)
        if found is _MISSING:
            raise ConfigConflictError(
                f"{source} fixes {key}={value!r}, but {type(target).__name__} exposes no {key} to check it against "
                f"(expected an attribute or a cfg field named {key}); build the model with its builder and weights="
            )
        if found != value:
            raise ConfigConflictError(
                f"{source} fixes {key}={value!r}, but the model was built with {key}={found!r}: "
                f"build it with {key}={value!r}, or through its builder with weights="
            )


def _read_weights(
    weights: Weights | WeightsEnum, *, progress: bool | None, device: torch.device | str | None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The entry's state dict in the model's layout, and which keys its adapter renamed
    (``new -> old``, or ``"(computed)"`` for tensors the adapter derived)."""
    raw = read_checkpoint(weights.fetch(progress=progress), format=weights.format, device=device)
    if weights.adapter is None:
        return raw, {}
    origin = {id(tensor): key for key, tensor in raw.items()}
    state = weights.adapter(dict(raw))
    converted = {
        key: origin.get(id(tensor), "(computed)") for key, tensor in state.items() if origin.get(id(tensor)) != key
    }
    return state, converted


def _dtype_kind(dtype: torch.dtype) -> str:
    """``complex``, ``floating``, or ``integer`` (bool included): a checkpoint tensor may change
    precision on load, never kind."""
    if dtype.is_complex:
        return "complex"
    return "floating" if dtype.is_floating_point else "integer"


def _mismatch_message(
    source: str,
    missing: list[str],
    unexpected: list[str],
    shapes: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
) -> str:
    def show(keys: list[Any]) -> str:
        return ", ".join(map(str, keys[:6])) + (f", ... (+{len(keys) - 6})" if len(keys) > 6 else "")

    lines = [f"checkpoint {source} does not fit the model:"]
    if missing:
        lines.append(f"  {len(missing)} model keys missing from the checkpoint: {show(missing)}")
    if unexpected:
        lines.append(f"  {len(unexpected)} checkpoint keys the model does not have: {show(unexpected)}")
    for key, got, want in shapes[:6]:
        lines.append(f"  {key}: checkpoint shape {list(got)}, model expects {list(want)}")
    if len(shapes) > 6:
        lines.append(f"  ... and {len(shapes) - 6} more shape mismatches")
    return "\n".join(lines)


def _put(slot: tuple[nn.Module, str, bool], value: torch.Tensor, device: torch.device | None) -> None:
    module, name, is_param = slot
    current = current_tensor(slot)
    if current.device.type == "meta":
        value = value.to(device=device or value.device, dtype=current.dtype)
        if is_param:
            module._parameters[name] = nn.Parameter(value, requires_grad=current.requires_grad)
        else:
            module._buffers[name] = value
    else:
        current.copy_(value)


@dataclass
class FreshPlan:
    """Which modules initialise the tensors a load leaves on ``meta``, in order: ``(module, key
    prefix, its reset_parameters, own parameter names or None for the whole subtree)``.
    `FreshPlan.of` decides it before anything is loaded; `apply` gives those tensors storage and
    their modules' initialisation."""

    steps: list[tuple[nn.Module, str, Callable[[], Any], list[str] | None]]

    @classmethod
    def of(cls, model: nn.Module, pending: set[int]) -> FreshPlan:
        """The plan for the tensors of ``model`` still on ``meta`` whose ids are in ``pending``;
        raises `InitializationError` for a module that cannot initialise its own."""
        return cls(_fresh_steps(model, pending))

    def apply(self, device: torch.device | None = None) -> list[str]:
        """Gives real storage (on ``device``, else the CPU) and a proper initialisation to the
        planned tensors; returns their keys."""
        return _apply_fresh(self.steps, device)


def _fresh_steps(
    model: nn.Module, pending: set[int]
) -> list[tuple[nn.Module, str, Callable[[], Any], list[str] | None]]:
    plan: list[tuple[nn.Module, str, Callable[[], Any], list[str] | None]] = []

    def left(t: torch.Tensor) -> bool:
        return t.device.type == "meta" and id(t) in pending

    def visit(module: nn.Module, name: str, covered: bool = False) -> None:
        tensors = list(module.parameters()) + list(module.buffers())
        if not any(left(t) for t in tensors):
            return
        prefix = f"{name}." if name else ""
        reset = getattr(module, "reset_parameters", None) or getattr(module, "_reset_parameters", None)
        params = list(module.parameters())
        if params and all(left(p) for p in params) and reset is not None:
            # The subtree is initialised as construction does it: each child by its own reset
            # first, then this module's (which may redo some of them, as its __init__ would). A
            # parent's reset alone can miss children (MultiheadAttention's skips out_proj.weight).
            for child_name, child in module.named_children():
                visit(child, prefix + child_name, covered=True)
            plan.append((module, prefix, reset, None))
            return
        own = [k for k, p in module._parameters.items() if p is not None and left(p)]
        if own and reset is not None:
            plan.append((module, prefix, reset, own))
        elif own and not covered:  # under a resettable parent, that parent initialises them
            raise InitializationError(
                f"cannot initialise fresh parameters {[prefix + k for k in own]}: "
                f"{type(module).__name__} has no reset_parameters(); define one, or load a checkpoint that provides them"
            )
        for child_name, child in module.named_children():
            visit(child, prefix + child_name, covered)

    visit(model, "")
    return plan


def _apply_fresh(
    plan: list[tuple[nn.Module, str, Callable[[], Any], list[str] | None]], device: torch.device | None
) -> list[str]:
    fresh: list[str] = []
    device = device or torch.device("cpu")
    made: dict[int, torch.Tensor] = {}  # meta tensor -> its real one: tied parameters stay one

    def real(t: torch.Tensor, make: Callable[[torch.Tensor], torch.Tensor]) -> Any:
        if id(t) not in made:
            made[id(t)] = make(t)
        return made[id(t)]

    def materialize(module: nn.Module, recurse: bool) -> None:
        for mod in module.modules() if recurse else (module,):
            for key, p in mod._parameters.items():
                if p is not None and p.device.type == "meta":
                    mod._parameters[key] = real(
                        p, lambda t: nn.Parameter(torch.empty_like(t, device=device), requires_grad=t.requires_grad)
                    )
            for key, b in mod._buffers.items():
                if b is not None and b.device.type == "meta":
                    mod._buffers[key] = real(b, lambda t: torch.empty_like(t, device=device))

    for module, prefix, reset, own in plan:
        if own is None:
            fresh.extend(prefix + k for k, _ in module.named_parameters())
            reparametrized = _fresh_parametrizations(module)
            materialize(module, recurse=True)  # children reset before are real already: kept
            _reset(reset, reparametrized)
            continue
        # reset_parameters() re-initialises the whole module: keep what was loaded.
        kept_params = {k: p for k, p in module._parameters.items() if p is not None and k not in own}
        kept_buffers = dict(module._buffers)
        materialize(module, recurse=False)
        reset()
        module._parameters.update(kept_params)
        module._buffers.update(kept_buffers)
        fresh.extend(prefix + k for k in own)
    return sorted(set(fresh))


def _fresh_parametrizations(module: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(module, tensor name)`` of the parametrized tensors (weight norm) under ``module`` whose
    originals are still on ``meta``."""
    from torch.nn.utils import parametrize

    return [
        (m, name)
        for m in module.modules()
        if parametrize.is_parametrized(m)
        for name, originals in m.parametrizations.items()
        if any(p.device.type == "meta" for p in originals.parameters())
    ]


def _reset(reset: Callable[[], Any], parametrized: list[tuple[nn.Module, str]]) -> None:
    """Runs ``reset``; a parametrized tensor (weight norm's ``weight``) is initialised as its
    module's constructor did before the parametrization was added: ``reset`` writes a plain value
    (the parametrization's cached output), which then sets the originals (its right inverse). A
    reset alone would write into a temporary and leave the originals uninitialised."""
    if not parametrized:
        reset()
        return
    from torch.nn.utils import parametrize

    with torch.no_grad():
        for module, name in parametrized:
            for original in module.parametrizations[name].parameters():
                original.zero_()  # no NaN from uninitialised memory reaches the cached value
        with parametrize.cached():
            for module, name in parametrized:
                getattr(module, name)  # computed once: what reset() now initialises in place
            reset()
            values = [(module, name, getattr(module, name).detach().clone()) for module, name in parametrized]
        for module, name, value in values:
            setattr(module, name, value)
