"""The family template every model family of every domain is written on.

A family module reads top to bottom: its frozen config dataclass, its blocks, its model class,
one `Family` (the model, its config, its table of ``VARIANTS``, the adapter that reads checkpoints
in its publisher's layout), its weights enums, then one hand-written builder per variant whose body
is one line on the template::

    VARIANTS = {"tiny_net": TinyConfig(width=8), "tiny_net_wide": TinyConfig(width=32)}
    FAMILY = Family(TinyNet, TinyConfig, VARIANTS, head=("fc.",))

    @register_model()
    def tiny_net(*, weights: TinyNet_Weights | str | None = None, progress: bool = True,
                 **kwargs: Any) -> TinyNet:
        \"\"\"...\"\"\"
        return FAMILY.build("tiny_net", TinyNet_Weights.verify(weights), progress, kwargs)

docs/adding-a-family.md walks a new family from an empty module to a registered, conformant model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from functools import partial
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from torch import nn

from ..contracts.errors import UnknownKeywordError
from ..contracts.features import FeatureMaps
from ..io.loading import load_weights
from ..io.weights import StateDictAdapter, Weights, WeightsEnum
from .builders import BuildMode, DeferredLoad, build_model, current_mode, fixed_config

__all__ = ["Family", "configured"]

C = TypeVar("C")
M = TypeVar("M", bound=nn.Module)


def configured(model: Callable[[C], M], base: C, **config: Any) -> M:
    """``model(replace(base, **config))``: a variant's config with the caller's fields over it; a
    key that is no field of the config raises `UnknownKeywordError` with the closest field."""
    names = sorted(f.name for f in fields(base))  # type: ignore[arg-type]
    unknown = sorted(set(config) - set(names))
    if unknown:
        owner = getattr(model, "__self__", None)  # ResNet.from_config: name the class
        what = owner.__name__ if isinstance(owner, type) else getattr(model, "__name__", type(model).__name__)
        raise UnknownKeywordError(f"{what} ({type(base).__name__} fields)", unknown, names)
    return model(replace(base, **config))  # type: ignore[type-var]


@dataclass(frozen=True)
class Family(Generic[C, M]):
    """One model family: ``model`` builds the network from one ``config`` (the model class, or a
    classmethod such as ``ResNet.from_config`` where the class keeps another constructor), and
    ``variants`` maps each registered name to its config.

    ``adapter`` reads a user's own checkpoint saved in the publisher's layout (a catalog entry
    brings its own); ``head`` names the state-dict prefixes of the classifier, built fresh at the
    caller's size over backbone-role weights; ``categories`` is the config field the weights'
    categories fix (``num_classes``).
    """

    model: Callable[[C], M]
    config: type[C]
    variants: Mapping[str, C]
    adapter: StateDictAdapter | None = None
    head: tuple[str, ...] = ()
    categories: str = "num_classes"

    def __post_init__(self) -> None:
        if not (isinstance(self.config, type) and is_dataclass(self.config)):
            raise TypeError(f"a family's config is a dataclass type; found {self.config!r}")
        wrong = {name: type(cfg).__name__ for name, cfg in self.variants.items() if not isinstance(cfg, self.config)}
        if wrong:
            raise TypeError(f"every variant is a {self.config.__name__}; found {wrong}")
        if not self.variants:
            raise ValueError("a family needs at least one variant")
        object.__setattr__(self, "variants", MappingProxyType(dict(self.variants)))

    def build(
        self,
        variant: str,
        weights: Weights | WeightsEnum | None,
        progress: bool,
        config: Mapping[str, Any],
    ) -> M:
        """A builder's body: the variant's config with the caller's fields over it, built with
        ``weights`` loaded (a user's own `Weights` read through the family's ``adapter``).

        ``features_only=True`` (timm's keyword, with ``out_indices=``) returns the model's stage
        maps as a `FeatureMaps` instead: its classifier, and the layers after the last stage it
        returns, are removed on ``meta`` before the weights are read, so they are never fetched
        into memory, held or run."""
        if variant not in self.variants:
            raise KeyError(f"{variant!r} is not a variant of this family; expected one of {sorted(self.variants)}")
        if isinstance(weights, Weights) and weights.adapter is None and self.adapter is not None:
            weights = replace(weights, adapter=self.adapter)
        config = dict(config)
        features_only, out_indices = config.pop("features_only", False), config.pop("out_indices", None)
        if out_indices is not None and not features_only:
            raise TypeError(
                f"out_indices= selects the stage maps features_only=True returns: write "
                f"{variant}(features_only=True, out_indices={out_indices!r})"
            )
        if features_only:
            if config.get(self.categories):
                raise TypeError(
                    f"features_only=True returns stage maps, with no classifier: drop {self.categories}="
                    f"{config[self.categories]!r}"
                )
            if any(f.name == self.categories for f in fields(self.config)):  # type: ignore[arg-type]
                config[self.categories] = 0
            if weights is not None and current_mode().kind == "load":
                loads: list[DeferredLoad] = []
                model = self._build(variant, weights, progress, config, mode=BuildMode("defer", loads))
                maps = FeatureMaps(model, out_indices)  # pruned on meta, before anything is read
                (load,) = loads
                maps.load_report = load_weights(load.model, load.weights, **load.options)
                return maps  # type: ignore[return-value]
            # No weights, or the caller's mode builds the architecture alone or defers its load.
            return FeatureMaps(self._build(variant, weights, progress, config), out_indices)  # type: ignore[return-value]
        return self._build(variant, weights, progress, config)

    def _build(
        self,
        variant: str,
        weights: Weights | WeightsEnum | None,
        progress: bool,
        config: Mapping[str, Any],
        mode: BuildMode | None = None,
    ) -> M:
        return build_model(
            partial(configured, self.model, self.variants[variant]),
            weights=weights,
            progress=progress,
            config=config,
            fixed=fixed_config(weights, self.categories),
            head=self.head,
            mode=mode,
        )
