"""Attaching task heads to backbones.

``compose(backbone, head)`` makes a `Composite` whose state dict is namespaced
``backbone.*`` / ``head.*``: weights published for the backbone alone load into it unchanged and
leave the head fresh, so encoder weights are stored once however many tasks use them. Generic
heads read only the backbone's `torchgraft.core.features.FeatureSpec`, so they work on a
backbone of any domain; a head that cannot use what the backbone produces fails when the model is
built, naming both. (The heads and `Composite` are defined in `torchgraft.core.heads`.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from ..contracts.errors import warn_deprecated
from ..contracts.features import check_backbone
from ..contracts.heads import ClassifierHead, Composite, Head, Pool, compose, poolings_for
from .builders import build_model
from .parts import Part

__all__ = ["ClassifierHead", "Composite", "Head", "Pool", "classifier", "compose", "poolings_for"]


def classifier(
    backbone: nn.Module | str | Part,
    num_classes: int,
    *,
    pooling: str | None = None,
    dropout: float = 0.0,
    backbone_weights: Any = None,
    backbone_config: Mapping[str, Any] | None = None,
    **legacy_config: Any,
) -> Composite:
    """A classifier on any backbone: pooling picked from its ``feature_spec``, then a fresh linear
    layer. ``backbone`` is a module, a registered model name (then built with ``backbone_weights``
    and ``backbone_config``) or a `Part`; like every composite, it removes the backbone's own
    classifier. Its ``load_report`` names what the backbone loaded; the head is fresh."""
    if legacy_config:
        if backbone_config is not None:
            raise TypeError(
                "classifier() got backbone_config= and loose backbone arguments; pass only backbone_config="
            )
        shown = ", ".join(f"{k}=..." for k in legacy_config)
        warn_deprecated(
            f"classifier(backbone, num_classes, {shown}) is deprecated: write "
            f"classifier(backbone, num_classes, backbone_config={{{', '.join(repr(k) + ': ...' for k in legacy_config)}}})"
        )
        backbone_config = legacy_config
    part = Part.of("backbone", backbone, backbone_weights, backbone_config)

    def factory(backbone: nn.Module) -> Composite:
        spec = check_backbone(backbone)
        mode = pooling or poolings_for(spec)[0]
        width = spec.pooled_width if mode == "pooled" and spec.pooled_width else spec.width
        return compose(backbone, ClassifierHead(width, num_classes, pooling=mode, dropout=dropout))

    return build_model(factory, weights=None, parts={"backbone": part})
