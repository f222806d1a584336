"""One conformance suite for every registered model of every domain, re-expressing the rules of
torchvision's ``test/test_extended_models.py`` (the weights schema) and timm's ``tests/test_models.py``
(forward, backward, features, classifier resets, copies, compilation) for torchgraft's contract.

Each domain package runs ``check(rule, case)`` for every rule in `RULES` and every model it
registers (``pytest.mark.parametrize`` over both). A rule that does not apply to a model raises
`NotApplicable` saying why; the test turns that into a skip with the reason shown.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import pickle
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..building.builders import fixed_config
from ..building.export import export
from ..building.registry import get_model_builder, get_model_weights, get_weight, model_domain
from ..contracts.errors import UnknownWeightsError
from ..contracts.features import shard_units
from ..contracts.torch_internals import reset_compiler
from ..io.loading import load_weights
from ..io.weights import WeightsEnum
from .testing import (
    RankFailure,
    check_builder_signature,
    check_builds_on_meta,
    check_composition,
    check_num_params,
    check_state_dict_roundtrip,
    check_weights_enum,
    outputs_close,
    torchrun,
)

__all__ = ["RULES", "Case", "NotApplicable", "check", "check_sharding", "pytest_check"]


class NotApplicable(Exception):
    """This rule does not apply to this model; the message says why."""


@dataclass(frozen=True)
class Case:
    """A registered model with a tiny ``config`` and example ``inputs`` (and keyword inputs)."""

    name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    inputs: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    #: Rules known not to apply, with the reason (e.g. ``{"backward": "training needs targets"}``).
    exempt: Mapping[str, str] = field(default_factory=dict)

    @property
    def builder(self) -> Callable[..., nn.Module]:
        return get_model_builder(self.name)

    def build(self) -> nn.Module:
        """A fresh copy of the model built from ``config`` (built once per case: building large
        models costs more than copying them)."""
        key = (self.name, repr(sorted(self.config.items(), key=str)))
        if _LAST_BUILT.get("key") != key:
            _LAST_BUILT.clear()
            torch.manual_seed(0)
            _LAST_BUILT.update(key=key, model=self.builder(weights=None, **self.config))
        return copy.deepcopy(_LAST_BUILT["model"])

    def run(self, model: nn.Module) -> Any:
        return model(*self.inputs, **self.kwargs)

    def run_with(self, model: nn.Module, first: Any) -> Any:
        """``run`` with another first input."""
        return model(first, *self.inputs[1:], **self.kwargs)


_LAST_BUILT: dict[str, Any] = {}


def _enum(case: Case) -> type[WeightsEnum]:
    try:
        return get_model_weights(case.name)
    except UnknownWeightsError:
        raise NotApplicable(f"{case.name} publishes no weights") from None


def _tensors(output: Any) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output] if output.is_floating_point() else []
    if isinstance(output, Mapping):
        return [t for v in output.values() for t in _tensors(v)]
    if isinstance(output, (list, tuple)):
        return [t for v in output for t in _tensors(v)]
    last = getattr(output, "last", None)
    return _tensors(last) if last is not None else []


# --------------------------------------------------------------------------- the builder
def rule_signature(case: Case) -> None:
    """Keyword-only ``weights=None`` / ``progress=True``, a return annotation, ``weights`` typed with
    the model's enum, and a docstring that says what the model and its weights are, with an example
    (torchvision's ``_docs`` rule)."""
    builder = case.builder
    check_builder_signature(builder)
    signature = inspect.signature(builder)
    assert signature.return_annotation is not inspect.Signature.empty, f"{case.name}: no return annotation"
    doc = inspect.getdoc(builder) or ""
    assert len(doc.splitlines()) >= 5 and "Example" in doc and "weights" in doc, (
        f"{case.name}: the docstring must say what the model and its weights are, with an example; found {doc[:80]!r}"
    )
    try:
        enum = get_model_weights(case.name)
    except UnknownWeightsError:
        return
    annotation = str(signature.parameters["weights"].annotation)
    assert enum.__name__ in annotation, f"{case.name}: weights= is typed {annotation!r}, expected {enum.__name__}"
    assert enum.__name__ in doc, f"{case.name}: the docstring does not name {enum.__name__}"


def rule_exported(case: Case) -> None:
    """The builder and its weights enum import from ``torchgraft.<domain>.models`` and are in its
    ``__all__``."""
    domain = model_domain(case.name)
    if domain in ("user", ""):
        raise NotApplicable(f"{case.name} is a user's model, not a domain package's")
    package = importlib.import_module(f"torchgraft.{domain}.models")
    names = [case.name]
    with contextlib.suppress(UnknownWeightsError):
        names.append(get_model_weights(case.name).__name__)
    for name in names:
        assert name in package.__all__ and hasattr(package, name), f"{name} is not exported from {package.__name__}"


def rule_meta_build(case: Case) -> None:
    """Builds with every parameter on the ``meta`` device (what the fast loading path needs)."""
    check_builds_on_meta(case.builder, case.config)


def rule_roundtrip(case: Case) -> None:
    """A safetensors round trip through ``load_weights`` gives identical tensors and outputs."""
    check_state_dict_roundtrip(case.builder, case.config, case.inputs, case.kwargs)


# --------------------------------------------------------------------------- the weights
_MEMBER = re.compile(r"^[A-Z][A-Z0-9_]*$")
#: What an entry says of where its weights come from: at least one of these.
_PROVENANCE = ("training_data", "pretraining_data", "finetuning_data", "ported_from")


def rule_weights_schema(case: Case) -> None:
    """torchvision's weights schema, in torchgraft's keys: ``<Name>_Weights`` with UPPER_CASE members
    and a ``DEFAULT``; every entry has ``num_params``, ``license``, a ``recipe`` or ``source``, its
    provenance (``training_data``, ``pretraining_data``, ``finetuning_data`` or ``ported_from``), and a
    file size (``size`` in bytes or ``meta["approx_size_mb"]``) and ``transforms``; classifiers' entries (``categories``;
    not a CTC label set, which names its ``blank``) carry ``metrics`` (dataset -> values); image classifiers (``min_size``) also ``gflops``."""
    enum = _enum(case)
    check_weights_enum(enum)
    assert enum.__name__.endswith("_Weights"), f"{enum.__name__}: weights enums are named <Model>_Weights"
    for member in enum:
        assert _MEMBER.match(member.name), f"{member}: member names are UPPER_CASE"
        meta = member.value.meta
        assert "recipe" in meta or "source" in meta, f"{member}: meta needs a recipe or source"
        assert any(meta.get(k) for k in _PROVENANCE), (
            f"{member}: meta says neither what the weights were trained on nor whom they were ported from "
            f"(one of {_PROVENANCE}; torchvision's _docs)"
        )
        assert member.value.size or meta.get("approx_size_mb"), f"{member}: no file size (size or approx_size_mb)"
        assert member.value.transforms is not None, f"{member}: no transforms (how inputs are prepared for it)"
        if meta.get("categories") is not None and member.value.role == "full" and "blank" not in meta:
            metrics = meta.get("metrics")
            assert isinstance(metrics, Mapping) and metrics, f"{member}: categories without metrics"
            assert all(isinstance(v, Mapping) and v for v in metrics.values()), (
                f"{member}: metrics are dataset -> values"
            )
        if "min_size" in meta:  # an image classifier
            assert meta.get("gflops") is not None, f"{member}: an image classifier's entry needs gflops"


def rule_num_params(case: Case) -> None:
    """``meta["num_params"]`` equals the architecture each entry builds (torchvision's num_params)."""
    check_num_params(case.builder, _enum(case))


def rule_weights_by_name(case: Case) -> None:
    """Each member is found by every name form (torchvision's ``get_weight`` by string)."""
    enum = _enum(case)
    for member in enum:
        for form in (f"{enum.__name__}.{member.name}", f"{case.name}.{member.name}"):
            assert get_weight(form) is member, f"get_weight({form!r}) is not {member}"
        assert get_weight(member.name, model=case.name) is member
    assert get_weight(f"{case.name}.default") is enum.default()


def rule_weights_pickle(case: Case) -> None:
    """Members pickle, copy and deep-copy to themselves (DataLoader workers, multiprocessing)."""
    for member in _enum(case):
        assert pickle.loads(pickle.dumps(member)) is member, f"{member} does not pickle to itself"
        assert copy.copy(member) is member and copy.deepcopy(member) is member
        assert pickle.loads(pickle.dumps(member.value)) == member.value


def rule_min_size(case: Case) -> None:
    """An image model accepts an input of its entries' ``min_size`` (torchvision's rule), built as
    each entry fixes it; a classifier then gives one logit per category."""
    enum = _enum(case)
    members = [m for m in enum if "min_size" in m.value.meta]
    if not members:
        raise NotApplicable("no entry declares a min_size")
    batched = not (case.inputs and isinstance(case.inputs[0], list))  # detectors take a list of images
    for member in members:
        height, width = member.value.meta["min_size"]
        model = case.builder(weights=None, **fixed_config(member)).eval()
        image = torch.rand(3, height, width)
        with torch.no_grad():
            out = model(image[None]) if batched else model([image])
        categories = member.value.meta.get("categories")
        if isinstance(out, torch.Tensor) and categories is not None:
            assert out.shape[-1] == len(categories), f"{member}: {list(out.shape)} at min_size {height}x{width}"


# --------------------------------------------------------------------------- the model
def rule_forward_backward(case: Case) -> None:
    """In training mode, a forward and a backward reach every trainable parameter (timm's rule)."""
    model = case.build().train()
    outputs = _tensors(case.run(model))
    assert outputs, f"{case.name}: the forward returned no floating-point tensor"
    sum(o.float().square().mean() for o in outputs).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{case.name}: no gradient reached {missing[:5]}{' ...' if len(missing) > 5 else ''}"


def rule_features(case: Case) -> None:
    """``forward_features`` gives what ``feature_spec`` declares (stage maps, widths, mask), and a
    classifier with every pooling the spec allows trains on it (timm's ``forward_features`` /
    ``forward_head(pre_logits=True)`` rules, through the backbone contract)."""
    model = case.build()
    if not callable(getattr(model, "forward_features", None)):
        raise NotApplicable(f"{case.name} is a task model, not a backbone")
    check_composition(model, case.inputs, case.kwargs)


def rule_reset_classifier(case: Case) -> None:
    """A backbone with its own classifier drops and regrows it: ``reset_classifier(0)`` leaves no
    parameter behind, ``reset_classifier(n)`` gives ``n`` outputs, and ``num_classes=0`` builds it
    headless (timm's rule; part of core's backbone contract)."""
    model = case.build().eval()
    name = getattr(model, "classifier_name", None)
    if name is None:
        raise NotApplicable(f"{type(model).__name__} has no classifier of its own (the contract's classifier_name)")
    model.reset_classifier(0)
    assert model.num_classes == 0, f"{case.name}: num_classes is {model.num_classes} after reset_classifier(0)"
    left = [n for n, _ in model.named_parameters() if n.startswith(f"{name}.")]
    assert not left, f"{case.name}: reset_classifier(0) left {left}"
    with torch.no_grad():
        case.run(model)
    model.reset_classifier(5)
    assert model.num_classes == 5
    with torch.no_grad():
        out = _tensors(case.run(model))[0]
    assert out.shape[-1] == 5, f"{case.name}: reset_classifier(5) gives outputs of shape {list(out.shape)}"
    if "num_classes" in case.config:
        headless = case.builder(weights=None, **{**case.config, "num_classes": 0})
        assert headless.num_classes == 0 and not [n for n, _ in headless.named_parameters() if n.startswith(f"{name}.")]


def rule_timm_head(case: Case) -> None:
    """A backbone with its own classifier has timm's head forms: ``forward`` equals
    ``forward_head(forward_features(x))`` (given `Features` or their ``last`` tensor),
    ``pre_logits=True`` gives ``[B, num_features]``, ``get_classifier()`` is the classifier, and
    ``feature_info`` lists the spec's stages."""
    model = case.build().eval()
    if not callable(getattr(model, "forward_head", None)):
        raise NotApplicable(f"{type(model).__name__} has no classifier of its own, so no forward_head")
    with torch.no_grad():
        expected = case.run(model)
        features = model.forward_features(*case.inputs, **case.kwargs)
        for given in (features, features.last):
            assert outputs_close(expected, model.forward_head(given)), f"{case.name}: forward_head differs from forward"
        pooled = model.forward_head(features, pre_logits=True)
    assert pooled.shape == (pooled.shape[0], model.num_features), (
        f"{case.name}: pre_logits gives {list(pooled.shape)}, but num_features is {model.num_features}"
    )
    assert model.get_classifier() is getattr(model, model.classifier_name)
    spec = model.feature_spec
    assert model.feature_info.channels() == [s.channels for s in spec.stages]
    assert model.feature_info.reduction() == [s.stride for s in spec.stages]


def _first_input(case: Case) -> torch.Tensor:
    if not case.inputs or not isinstance(case.inputs[0], torch.Tensor) or case.inputs[0].dim() != 4:
        raise NotApplicable(f"{case.name} takes no image batch [B, C, H, W]")
    return case.inputs[0]


def rule_in_chans(case: Case) -> None:
    """A backbone naming its first convolution (``input_conv``) builds with ``in_chans=1`` and
    loads the 3-channel model's state dict, its filters summed (``LoadReport.adapted``): on a
    grayscale batch it computes what the 3-channel model computes on that batch repeated over the
    channels (timm's ``in_chans``)."""
    model = case.build().eval()
    conv = getattr(model, "input_conv", None)
    if not isinstance(conv, str):
        raise NotApplicable(f"{type(model).__name__} names no first convolution (input_conv) to adapt")
    gray = _first_input(case)[:, :1]
    single = case.builder(weights=None, **{**case.config, "in_chans": 1}).eval()
    report = load_weights(single, model.state_dict())
    assert list(report.adapted) == [f"{conv}.weight"], f"{case.name}: adapted {report.adapted}"
    with torch.no_grad():
        expected = case.run_with(model, gray.expand(-1, 3, -1, -1))
        found = case.run_with(single, gray)
    assert outputs_close(expected, found, atol=1e-4), f"{case.name}: the in_chans=1 model computes other outputs"


def rule_features_only(case: Case) -> None:
    """``features_only=True, out_indices=(0, -1)`` gives the first and last stage maps, equal to
    ``forward_features``' with the same weights, and ``feature_info`` describing them (timm's);
    ``out_indices=(0,)`` gives the first alone, and a backbone offering ``prune_after`` holds no
    layer after it (a full state dict still loads, the rest discarded)."""
    model = case.build().eval()
    spec = getattr(model, "feature_spec", None)
    if spec is None or not spec.stages:
        raise NotApplicable(f"{case.name} has no stage maps (features_only needs a spatial backbone)")
    config = {k: v for k, v in case.config.items() if k != "num_classes"}
    maps = case.builder(weights=None, features_only=True, out_indices=(0, -1), **config).eval()
    load_weights(maps, model.state_dict())
    with torch.no_grad():
        found = maps(*case.inputs, **case.kwargs)
        stages = model.forward_features(*case.inputs, **case.kwargs).stages
    names = [spec.stages[0].name, spec.stages[-1].name]
    assert maps.feature_info.module_name() == names and maps.feature_info.channels() == [
        spec.stages[0].channels,
        spec.stages[-1].channels,
    ]
    assert outputs_close([stages[n] for n in names], found), f"{case.name}: features_only maps differ"
    first = case.builder(weights=None, features_only=True, out_indices=(0,), **config).eval()
    report = load_weights(first, model.state_dict())
    with torch.no_grad():
        assert outputs_close([stages[names[0]]], first(*case.inputs, **case.kwargs)), f"{case.name}: stage 0 differs"
    if callable(getattr(model, "prune_after", None)):
        held = sum(p.numel() for p in first.parameters())
        assert held < sum(p.numel() for p in maps.parameters()), f"{case.name}: prune_after removed nothing"
        assert report.discarded, f"{case.name}: the pruned layers' checkpoint keys were not discarded"


def rule_deepcopy(case: Case) -> None:
    """A deep copy computes the same outputs (timm's rule)."""
    model = case.build().eval()
    twin = copy.deepcopy(model)
    with torch.no_grad():
        assert outputs_close(case.run(model), case.run(twin)), f"{case.name}: a deep copy computes other outputs"


def rule_compile(case: Case) -> None:
    """``torch.compile`` traces the model (TorchDynamo; graph breaks allowed) and gives the eager
    outputs (timm's rule; the eager backend keeps the CPU suite fast, inductor runs in the GPU
    benchmark)."""
    reset_compiler()
    model = case.build().eval()
    compiled = torch.compile(model, backend="eager")
    with torch.no_grad():
        assert outputs_close(case.run(model), case.run(compiled), atol=1e-4), f"{case.name}: compiled outputs differ"


def _bound(bounds: Any, side: str, default: int) -> int:
    """One side of a range constraint, or ``default`` where it is unbounded."""
    try:
        return int(getattr(bounds, side))
    except (AttributeError, OverflowError, TypeError, ValueError):
        return default


def _other_sizes(program: Any, shapes: Sequence[Any], leaves: Sequence[Any]) -> list[Any]:
    """``leaves`` (the flattened inputs the program was exported with, ``shapes`` their traced
    values) grown along the program's dynamic dimensions: each free size to about twice its
    example (within its range), every tensor re-indexed cyclically along those dimensions, so
    token ids, masks and lengths stay valid."""
    import sympy

    example: dict[Any, int] = {}
    for fake, leaf in zip(shapes, leaves, strict=True):
        if isinstance(leaf, torch.Tensor):
            for d, size in zip(fake.shape, leaf.shape, strict=True):
                if isinstance(d, torch.SymInt) and isinstance(d.node.expr, sympy.Symbol):
                    example[d.node.expr] = size
    chosen = {}
    for symbol, size in example.items():
        bounds = program.range_constraints.get(symbol)
        upper, lower = _bound(bounds, "upper", 2 * size), _bound(bounds, "lower", 2)
        chosen[symbol] = min(2 * size, upper) if upper > size else max(lower, size - 1)
    grown = []
    for fake, leaf in zip(shapes, leaves, strict=True):
        if not isinstance(leaf, torch.Tensor):
            grown.append(leaf)
            continue
        for dim, d in enumerate(fake.shape):
            if isinstance(d, torch.SymInt):
                new = int(d.node.expr.subs(chosen))
                index = torch.arange(new, device=leaf.device) % leaf.shape[dim]
                leaf = leaf.index_select(dim, index)
        grown.append(leaf)
    return grown


def rule_exportable(case: Case) -> None:
    """``torch.export.export`` (`torchgraft.core.export.export`) succeeds with every dimension
    dynamic that the model allows, the batch at least (a list of images is a Python list: its
    length stays static), with no guard on the values of masks and lengths; the program equals
    eager (1e-5) on inputs of another batch and length than the example."""
    from torch.utils import _pytree as pytree

    reset_compiler()
    model = case.build().eval()
    args, kwargs = tuple(case.inputs), dict(case.kwargs)
    try:
        program = export(model, *args, **kwargs)
    except Exception as exc:  # the message is the finding
        raise AssertionError(f"{case.name}: torch.export failed: {type(exc).__name__}: {str(exc)[:1500]}") from exc
    leaves, spec = pytree.tree_flatten((args, kwargs))
    # The user inputs' traced values: the last placeholders (parameters and buffers come first).
    shapes = [n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder"][-len(leaves) :]
    if not isinstance(case.inputs[0], (list, tuple)):
        first = next(i for i, leaf in enumerate(leaves) if isinstance(leaf, torch.Tensor))
        batch = shapes[first].shape[0]
        assert isinstance(batch, torch.SymInt), f"{case.name}: the exported batch is fixed at {batch}"
    other_args, other_kwargs = pytree.tree_unflatten(_other_sizes(program, shapes, leaves), spec)
    with torch.no_grad():
        expected = model(*other_args, **other_kwargs)
        found = program.module()(*other_args, **other_kwargs)
    assert outputs_close(expected, found, atol=1e-5), f"{case.name}: the exported program differs from eager"


def rule_shardable(case: Case) -> None:
    """No 0-D parameter (FSDP2 shards along dimension 0; a scalar cannot be split, so a learned
    scale is a ``[1]`` tensor), and ``shard_units()``, where declared, gives distinct submodules
    of the model that do not nest."""
    model = case.build()
    scalars = [name for name, p in model.named_parameters() if p.dim() == 0]
    assert not scalars, f"{case.name}: 0-D parameters cannot be sharded: {scalars} (make them shape [1])"
    units = shard_units(model)
    inside = {id(m) for m in model.modules()}
    assert all(id(u) in inside for u in units), f"{case.name}: shard_units() gives modules outside the model"
    assert len({id(u) for u in units}) == len(units), f"{case.name}: shard_units() repeats a module"
    for unit in units:
        nested = [type(u).__name__ for u in units if u is not unit and any(m is u for m in unit.modules())]
        assert not nested, f"{case.name}: shard unit {type(unit).__name__} contains other units {nested}"


RULES: dict[str, Callable[[Case], None]] = {
    "signature": rule_signature,
    "exported": rule_exported,
    "meta_build": rule_meta_build,
    "roundtrip": rule_roundtrip,
    "weights_schema": rule_weights_schema,
    "num_params": rule_num_params,
    "weights_by_name": rule_weights_by_name,
    "weights_pickle": rule_weights_pickle,
    "min_size": rule_min_size,
    "forward_backward": rule_forward_backward,
    "features": rule_features,
    "reset_classifier": rule_reset_classifier,
    "timm_head": rule_timm_head,
    "in_chans": rule_in_chans,
    "features_only": rule_features_only,
    "deepcopy": rule_deepcopy,
    "compile": rule_compile,
    "exportable": rule_exportable,
    "shardable": rule_shardable,
}


def check(rule: str, case: Case) -> None:
    """Runs one rule on one case; raises `NotApplicable` (with the reason) where it does not
    apply, ``AssertionError`` where the model breaks it."""
    if rule in case.exempt:
        raise NotApplicable(case.exempt[rule])
    RULES[rule](case)


def pytest_check(rule: str, case: Case) -> None:
    """`check` inside a pytest test: a rule that does not apply is a skip with its reason."""
    import pytest

    try:
        check(rule, case)
    except NotApplicable as reason:
        pytest.skip(f"{rule} does not apply to {case.name}: {reason}")


# --------------------------------------------------------------------------- sharded builds
def check_sharding(cases: Sequence[Case], *, world_size: int = 2, timeout: float = 1200.0) -> dict[str, str]:
    """Builds, shards and loads every case from ``meta`` at ``world_size`` (one ``torchrun`` job,
    gloo on CPU): each model is built with seeded random weights and saved, then rebuilt with
    `torchgraft.core.distributed.build_sharded` from that file on every rank; its gathered state
    dict must equal the file and its outputs the unsharded model's. Returns ``{name: what failed}``
    (empty when every model passes)."""
    import json
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "cases.pkl").write_bytes(pickle.dumps(list(cases)))
        try:
            torchrun("-m", "torchgraft.core.testkit.conformance", str(folder), nproc=world_size, timeout=timeout)
        except RankFailure as failure:
            return {"(job)": f"the sharding job failed: {failure}"}
        results = [folder / f"sharding-{r}.json" for r in range(world_size)]
        if missing := [r.name for r in results if not r.is_file()]:
            return {"(job)": f"the sharding job exited 0 but wrote no {', '.join(missing)}"}
        failures: dict[str, str] = {}
        for result in results:
            failures |= json.loads(result.read_text())
        return failures


def _as_built_with_weights(case: Case, path: Any) -> nn.Module:
    """The architecture ``case``'s builder makes when given weights (which may differ from a
    build without: a detector freezes its batch norms), with seeded random values."""
    from ..building.builders import architecture_only
    from ..io.loading import FreshPlan
    from ..io.weights import Weights

    placeholder = Weights(url=path.as_uri(), sha256="0" * 64, meta={})
    torch.manual_seed(0)  # anything a builder still initialises itself is the same on every rank
    with architecture_only():
        model = case.builder(weights=placeholder, **case.config)
    torch.manual_seed(0)
    meta = {id(t) for t in [*model.parameters(), *model.buffers()] if t.device.type == "meta"}
    FreshPlan.of(model, meta).apply(torch.device("cpu"))
    return model


def _sharding_main(folder: str) -> None:
    """What each rank of `check_sharding` runs."""
    import json
    import traceback
    from pathlib import Path

    import torch.distributed as dist
    from safetensors.torch import save_model
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    from ..building.distributed import build_sharded
    from ..io.store import sha256_file
    from ..io.weights import Weights

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    cases: list[Case] = pickle.loads(Path(folder, "cases.pkl").read_bytes())
    failures: dict[str, str] = {}
    for case in cases:
        path = Path(folder, f"{case.name}.safetensors")
        try:
            reference = _as_built_with_weights(case, path).eval()
            if rank == 0:
                save_model(reference, str(path))
            dist.barrier()
            weights = Weights(url=path.as_uri(), sha256=sha256_file(path), meta={})
            sharded = build_sharded(case.builder, weights=weights, **case.config).eval()
            # Every collective first, on every rank; the checks after (an assertion between two
            # collectives would leave the other rank waiting in the second).
            full = get_model_state_dict(sharded, options=StateDictOptions(full_state_dict=True))
            with torch.no_grad():
                outputs = case.run(sharded)
                expected_outputs = case.run(reference)
            expected = reference.state_dict()
            assert not sharded.load_report.fresh, f"left fresh: {sharded.load_report.fresh[:4]}"
            assert full.keys() == expected.keys(), (
                f"state-dict keys differ: {sorted(full.keys() ^ expected.keys())[:4]}"
            )
            differ = [k for k in expected if not torch.equal(full[k].cpu(), expected[k])]
            assert not differ, f"tensors differ after sharding: {differ[:4]}"
            assert outputs_close(expected_outputs, outputs, atol=1e-5), "outputs differ from the unsharded model's"
        except Exception as exc:  # recorded per model; every rank runs the same collectives
            failures[case.name] = f"rank {rank}: {type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"
        dist.barrier()
    Path(folder, f"sharding-{rank}.json").write_text(json.dumps(failures))
    dist.destroy_process_group()


if __name__ == "__main__":
    import sys

    _sharding_main(sys.argv[1])
