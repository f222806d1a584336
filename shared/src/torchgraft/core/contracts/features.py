"""The backbone contract, shared by every domain.

A backbone is an ``nn.Module`` with

* ``feature_spec``: a `FeatureSpec` saying what it produces, and
* ``forward_features(*inputs, **kwargs) -> Features``: the features themselves.

Its ordinary ``forward`` stays whatever is natural for the domain (logits for an ImageNet model);
task heads only ever see `Features`, so one head works on a backbone of any domain.

A backbone that carries its own task output (an ImageNet ``fc``, a CTC ``aux`` layer) also has

* ``num_classes``: that output's size, ``0`` when it has been removed;
* ``reset_classifier(num_classes)``: a fresh output of that size, or none for ``0``;
* ``classifier_name``: the attribute holding it, whose checkpoint keys a headless backbone drops.

``classifier()`` and the dense task models remove it (``reset_classifier(0)``), so a composite holds
no dead parameters, and a full checkpoint still loads into the headless backbone (its classifier
keys are reported as ``discarded``). Builders take ``num_classes=0`` for a headless model.

A backbone may also declare, for sharding across processes (FSDP2, see
`torchgraft.core.distributed.build_sharded`),

* ``shard_units() -> list[nn.Module]``: the submodules sharded one by one (transformer blocks,
  ResNet stages), so a rank gathers one unit's weights at a time; models that wrap a backbone
  (composites, dual encoders) give their parts' units (`shard_units`).

Shapes, by ``kind``:

* ``"spatial"``:  ``last`` is ``[B, C, H, W]``; ``stages`` maps each stage name to its map
  ``[B, C_i, H / stride_i, W / stride_i]`` (dense heads such as FPN read them).
* ``"sequence"``: ``last`` is ``[B, T, D]``; ``mask`` is ``[B, T]`` bool, ``True`` on real
  (non-padding) positions, or ``None`` when every position is real. ``causal=True`` marks a
  decoder, whose position ``t`` has seen only positions up to ``t``: its summary is the last real
  token (pooling ``"last"``), not the first.
* ``"pooled"``:   ``last`` is ``[B, D]``.

Any kind may also fill ``pooled`` (``[B, D_pooled]``) with the backbone's own summary vector
(a CLS token, a pooler output); ``FeatureSpec.pooled_width`` then says its width.

timm's forms stand beside the contract, on the same spec:

* a spatial backbone's stages as timm's ``feature_info`` (`FeatureInfo`: ``num_chs``,
  ``reduction``, ``module`` per stage, with ``channels()``, ``reduction()``, ``module_name()``);
* ``features_only=True, out_indices=...`` on a builder: a `FeatureMaps`, whose ``forward`` returns
  the selected stages' maps as a list. A backbone may offer ``prune_after(stage)``: it removes
  every layer after that stage (and its classifier), ends its ``feature_spec`` there, and lists
  the removed layers' key prefixes in ``pruned`` (a full checkpoint's keys there are discarded on
  load), so those layers are neither held nor run;
* ``forward_head(x, pre_logits=...)``, ``get_classifier()`` and ``num_features`` on a backbone with
  a classifier of its own (`torchgraft.core.contracts.classifier.ClassifierBackbone`);
* ``in_chans=``: a backbone naming its first convolution (``input_conv``, the module's path) loads
  a checkpoint trained on another number of input channels, its filters adapted
  (`torchgraft.core.layers.adapt_input_channels`, reported in ``LoadReport.adapted``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import nn

from .errors import BackboneContractError

__all__ = [
    "Backbone",
    "FeatureInfo",
    "FeatureMaps",
    "FeatureSpec",
    "Features",
    "StageSpec",
    "check_backbone",
    "checked_features",
    "stage_indices",
]

KINDS = ("spatial", "sequence", "pooled")


@dataclass(frozen=True)
class StageSpec:
    """One feature map of a spatial backbone: its name, channels and stride w.r.t. the input."""

    name: str
    channels: int
    stride: int


@dataclass(frozen=True)
class FeatureSpec:
    """What a backbone's ``forward_features`` returns (see the module docstring for shapes)."""

    kind: Literal["spatial", "sequence", "pooled"]
    width: int
    stages: tuple[StageSpec, ...] = ()
    has_mask: bool = False
    pooled_width: int | None = None
    causal: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"FeatureSpec kind must be one of {KINDS}; found {self.kind!r}")
        if self.width <= 0:
            raise ValueError(f"FeatureSpec width must be positive; found {self.width}")
        if self.stages and self.kind != "spatial":
            raise ValueError(f"only spatial backbones have stages; found stages on kind {self.kind!r}")
        if self.has_mask and self.kind != "sequence":
            raise ValueError(f"only sequence backbones have a padding mask; found kind {self.kind!r}")
        if self.causal and self.kind != "sequence":
            raise ValueError(f"only sequence backbones can be causal; found kind {self.kind!r}")
        object.__setattr__(self, "stages", tuple(self.stages))
        if self.stages and self.stages[-1].channels != self.width:
            raise ValueError(
                f"the last stage ({self.stages[-1].name}) has {self.stages[-1].channels} channels, "
                f"but width is {self.width}: they must agree"
            )

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def up_to(self, stage: str) -> FeatureSpec:
        """This spec ending at ``stage`` (its width that stage's channels): what a backbone
        declares once ``prune_after(stage)`` has removed the layers after it."""
        if stage not in self.stage_names:
            raise ValueError(f"{stage!r} is no stage of this backbone; its stages are {list(self.stage_names)}")
        stages = self.stages[: self.stage_names.index(stage) + 1]
        return FeatureSpec(kind="spatial", width=stages[-1].channels, stages=stages)


@dataclass
class Features:
    """What a backbone hands to a task head."""

    last: torch.Tensor
    mask: torch.Tensor | None = None
    stages: dict[str, torch.Tensor] = field(default_factory=dict)
    pooled: torch.Tensor | None = None


@runtime_checkable
class Backbone(Protocol):
    feature_spec: FeatureSpec

    def forward_features(self, *args: object, **kwargs: object) -> Features: ...


def check_backbone(module: object) -> FeatureSpec:
    """Returns ``module.feature_spec``, or raises `BackboneContractError` saying what is
    missing."""
    if not isinstance(module, nn.Module):
        raise BackboneContractError(f"a backbone must be an nn.Module; found {type(module).__name__}")
    spec = getattr(module, "feature_spec", None)
    missing = []
    if not isinstance(spec, FeatureSpec):
        missing.append(f"a feature_spec (FeatureSpec), found {type(spec).__name__}")
    if not callable(getattr(module, "forward_features", None)):
        missing.append("a forward_features(...) -> Features method")
    if missing:
        inner = getattr(module, "backbone", None)
        hint = (
            "; it holds a backbone with a head: pass its .backbone"
            if isinstance(inner, nn.Module) and isinstance(getattr(inner, "feature_spec", None), FeatureSpec)
            else ""
        )
        raise BackboneContractError(
            f"{type(module).__name__} is not a torchgraft backbone: it needs " + " and ".join(missing) + hint
        )
    return spec  # type: ignore[return-value]


def shard_units(module: nn.Module, *parts: nn.Module | None) -> list[nn.Module]:
    """The shard units ``module`` declares (its ``shard_units()``), or, with ``parts``, those
    the parts declare (a composite's backbone, a dual encoder's towers); none when nothing is
    declared (the model is then one unit)."""
    owners = parts if parts else (module,)
    units: list[nn.Module] = []
    for owner in owners:
        declare = getattr(owner, "shard_units", None) if owner is not None else None
        found = list(declare()) if callable(declare) else []
        bad = [type(u).__name__ for u in found if not isinstance(u, nn.Module) or u is owner]
        if bad:
            raise TypeError(f"{type(owner).__name__}.shard_units() must give submodules; found {bad}")
        units += found
    return units


def checked_features(backbone: nn.Module, features: object) -> Features:
    """What ``backbone.forward_features`` returned, if it honours the contract: `Features` whose
    ``last`` has the width the ``feature_spec`` declares (channels ``[B, C, H, W]`` for a spatial
    backbone, the last dimension otherwise). Anything else raises `BackboneContractError` naming
    the backbone, what it returned and what the contract expects, before a head reads it wrong."""
    name = type(backbone).__name__
    if not isinstance(features, Features):
        raise BackboneContractError(
            f"{name}.forward_features returned a {type(features).__name__}; the backbone contract expects "
            "Features(last=..., mask=..., stages=..., pooled=...): wrap the tensor as Features(last=tensor)"
        )
    spec: FeatureSpec = backbone.feature_spec  # type: ignore[assignment]
    last = features.last
    if spec.kind != "pooled" or features.pooled is None:
        width = last.shape[1] if spec.kind == "spatial" and last.dim() == 4 else last.shape[-1]
        if width != spec.width:
            raise BackboneContractError(
                f"{name}.forward_features gives features of width {width} (shape {list(last.shape)}), but its "
                f"feature_spec declares width={spec.width}: make them agree"
            )
    return features


class FeatureInfo(list):
    """Stages as timm's ``feature_info``: one ``{"num_chs", "reduction", "module"}`` dict per
    stage, with timm's accessors (each takes an index, a list of indices, or none for all)."""

    @classmethod
    def of(cls, stages: Sequence[StageSpec]) -> FeatureInfo:
        return cls({"num_chs": s.channels, "reduction": s.stride, "module": s.name} for s in stages)

    def _get(self, key: str, idx: int | Sequence[int] | None) -> Any:
        if idx is None:
            return [info[key] for info in self]
        if isinstance(idx, int):
            return self[idx][key]
        return [self[i][key] for i in idx]

    def channels(self, idx: int | Sequence[int] | None = None) -> Any:
        return self._get("num_chs", idx)

    def reduction(self, idx: int | Sequence[int] | None = None) -> Any:
        return self._get("reduction", idx)

    def module_name(self, idx: int | Sequence[int] | None = None) -> Any:
        return self._get("module", idx)


def stage_indices(spec: FeatureSpec, out_indices: int | Sequence[int | str] | None, *, owner: str) -> tuple[int, ...]:
    """The stages ``out_indices`` selects, as timm reads it: ``None`` every stage, an int ``n`` the
    last ``n``, a sequence of indices (negative from the end) or stage names. Raises ``ValueError``
    listing ``owner``'s stages for anything else."""
    names = spec.stage_names
    listing = ", ".join(f"{i}: {n}" for i, n in enumerate(names))
    if spec.kind != "spatial" or not names:
        raise BackboneContractError(
            f"{owner} has no stages to return (its features are {spec.kind}); features_only=True and out_indices= "
            "need a spatial backbone with stages"
        )
    if out_indices is None:
        return tuple(range(len(names)))
    if isinstance(out_indices, int) and not isinstance(out_indices, bool):
        if not 1 <= out_indices <= len(names):
            raise ValueError(
                f"out_indices={out_indices} asks for the last {out_indices} of {owner}'s {len(names)} stages ({listing})"
            )
        return tuple(range(len(names) - out_indices, len(names)))
    if isinstance(out_indices, str):
        out_indices = (out_indices,)
    if not out_indices:
        raise ValueError(f"out_indices is empty: name at least one of {owner}'s stages ({listing})")
    picked: list[int] = []
    for item in out_indices:
        if isinstance(item, str) and item in names:
            picked.append(names.index(item))
        elif isinstance(item, int) and not isinstance(item, bool) and -len(names) <= item < len(names):
            picked.append(item % len(names))
        else:
            raise ValueError(
                f"out_indices has {item!r}, which is no stage of {owner}: expected an index in "
                f"[-{len(names)}, {len(names) - 1}] or a name ({listing})"
            )
    if len(set(picked)) != len(picked):
        raise ValueError(f"out_indices={tuple(out_indices)!r} names a stage twice ({listing})")
    return tuple(picked)


class FeatureMaps(nn.Module):
    """A spatial backbone's stage maps as a list, as timm's ``features_only=True``:
    ``forward(x)`` returns the maps of the stages ``out_indices`` selects (`stage_indices`), in
    that order. ``feature_info`` describes them. The backbone's own classifier is removed, and the
    layers after the last selected stage too where it offers ``prune_after``; its state dict is
    the backbone's under ``backbone.``."""

    def __init__(self, backbone: nn.Module, out_indices: int | Sequence[int | str] | None = None) -> None:
        super().__init__()
        spec = check_backbone(backbone)
        self.out_indices = stage_indices(spec, out_indices, owner=type(backbone).__name__)
        if callable(getattr(backbone, "reset_classifier", None)) and getattr(backbone, "num_classes", 0):
            backbone.reset_classifier(0)
        last = max(self.out_indices)
        if last < len(spec.stages) - 1 and callable(getattr(backbone, "prune_after", None)):
            backbone.prune_after(spec.stages[last].name)
        self.backbone = backbone
        self._names = [spec.stages[i].name for i in self.out_indices]
        self.feature_info = FeatureInfo.of([spec.stages[i] for i in self.out_indices])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = checked_features(self.backbone, self.backbone.forward_features(x))
        return [features.stages[name] for name in self._names]

    def shard_units(self) -> list[nn.Module]:
        return shard_units(self, self.backbone)
