"""The parts of a composite model: each a registered model name or a module, with its weights and
builder config when named. Every composite builder takes a part under one keyword scheme,
``<role>=``, ``<role>_weights=`` and ``<role>_config=`` (``backbone=``, ``encoder=``, ``a=``), or a
`Part` holding all three; `torchgraft.core.build_model` (``parts=``) builds each one and joins
their load reports.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torch import nn

from ..contracts.errors import IncompatibleHeadError, TorchgraftDeprecationWarning, UnknownWeightsError
from ..contracts.heads import Composite
from ..io.loading import LoadReport
from ..io.weights import Weights, local_weights
from .registry import get_model, get_model_weights

__all__ = ["BuiltPart", "Part", "own_weights"]


@dataclass(frozen=True)
class Part:
    """One part of a composite: ``model`` is a registered name (built with ``weights`` and
    ``config``) or a module used as it is.

    A packaged model whose head has no parameters (a sentence embedder such as
    ``all_minilm_l6_v2``) gives its backbone: its head only pools, and the composite pools itself.
    """

    model: nn.Module | str
    weights: Any = None
    config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.model, (str, nn.Module)):
            raise TypeError(f"a part is a registered model name or an nn.Module; found {type(self.model).__name__}")
        if not isinstance(self.config, Mapping):
            raise TypeError(f"a part's config is a mapping of builder arguments; found {type(self.config).__name__}")
        if isinstance(self.model, nn.Module) and (self.weights is not None or self.config):
            raise TypeError(
                f"weights and config apply only to a part given by name; found a {type(self.model).__name__} "
                "module (load its weights yourself, or give its registered name)"
            )
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))

    @classmethod
    def of(
        cls,
        role: str,
        model: Any,
        weights: Any = None,
        config: Mapping[str, Any] | None = None,
        *,
        keywords: tuple[str, str, str] | None = None,
    ) -> Part:
        """The part a builder's ``<role>=``, ``<role>_weights=`` and ``<role>_config=`` describe;
        errors name those keywords (or the three ``keywords`` given)."""
        given, weights_kw, config_kw = keywords or (role, f"{role}_weights", f"{role}_config")
        if isinstance(model, Part):
            if weights is not None or config:
                raise TypeError(
                    f"{given}= is a Part, which holds its own weights and config; drop {weights_kw}= and {config_kw}="
                )
            return model
        if not isinstance(model, (str, nn.Module)):
            raise TypeError(f"{given}= takes a registered model name, a module or a Part; found {type(model).__name__}")
        if config is not None and not isinstance(config, Mapping):
            raise TypeError(f"{config_kw}= takes a mapping of builder arguments; found {type(config).__name__}")
        if isinstance(model, nn.Module) and (weights is not None or config):
            raise TypeError(
                f"{weights_kw} and {config_kw} apply only when {given} is a model name; found a "
                f"{type(model).__name__} (load its weights yourself, or pass its registered name)"
            )
        return cls(model, weights, dict(config or {}))

    @property
    def pretrained(self) -> bool:
        """Whether the part is built with published or own weights (a module given: unknown, ``False``)."""
        return isinstance(self.model, str) and self.weights is not None

    def entry(self) -> Any:
        """The weights entry the part is built with (its enum member when named), else ``None``."""
        if not self.pretrained:
            return None
        if isinstance(self.weights, Weights):
            return self.weights
        enum = get_model_weights(self.model)  # type: ignore[arg-type]
        with warnings.catch_warnings():  # building the part warned already, once
            warnings.simplefilter("ignore", TorchgraftDeprecationWarning)
            return enum.verify(self.weights)

    def build(self) -> BuiltPart:
        """The part's module, built by name if need be, with the report of what it loaded."""
        module = self.model
        if isinstance(module, str):
            module = get_model(module, weights=self.weights, **self.config)
        report = getattr(module, "load_report", None)
        if isinstance(module, Composite):
            if any(True for _ in module.head.parameters()):
                raise IncompatibleHeadError(
                    f"{self._name(module)} has a trained head ({type(module.head).__name__}); a part must be a "
                    "backbone: pass its .backbone, or a backbone's name"
                )
            backbone = module.backbone
            report = _rerooted(report, "backbone.") if report is not None else getattr(backbone, "load_report", None)
            module = backbone
        return BuiltPart(module, report, self.entry())

    def _name(self, module: nn.Module) -> str:
        return repr(self.model) if isinstance(self.model, str) else type(module).__name__


@dataclass(frozen=True)
class BuiltPart:
    """A built part: its module, what it loaded (``None``: nothing), and its weights entry."""

    module: nn.Module
    report: LoadReport | None
    entry: Any


def _rerooted(report: LoadReport | None, prefix: str) -> LoadReport | None:
    """A composite's report seen from the part under ``prefix``."""
    if report is None:
        return None
    keys = [k.removeprefix(prefix) for k in report.loaded if k.startswith(prefix)]
    return LoadReport(source=report.source, loaded=keys, weights=report.weights, sha256=report.sha256)


def joined_report(model: nn.Module, built: Mapping[str, BuiltPart]) -> LoadReport:
    """One report for ``model`` from the reports of its built parts, each under the prefix where
    ``model`` holds it; every other tensor is fresh."""
    where = {id(module): name for name, module in model.named_modules() if name}
    reports = {}
    for role, part in built.items():
        if part.report is None:
            continue
        if id(part.module) not in where:
            raise ValueError(f"the built model does not hold its {role} part")
        reports[where[id(part.module)] + "."] = part.report
    return LoadReport.combined(model, reports)


def own_weights(model: str, weights: Any) -> Weights | None:
    """``weights=`` of a model without published weights (a composite, an architecture without
    checkpoints): ``None`` or the user's own `Weights` of the whole model; anything else raises
    `UnknownWeightsError` saying where a part's published weights go."""
    if weights is None or isinstance(weights, Weights):
        return weights
    own = local_weights(weights)  # a path to your own checkpoint
    if own is not None:
        return own
    raise UnknownWeightsError(
        f"{model} has no published weights; weights= takes None or your own Weights of the whole model "
        f"(a part's published weights go in backbone_weights=, encoder_weights=, ...); found {weights!r}"
    )
