"""The classifier part of the backbone contract, in timm's forms.

A backbone with a classifier of its own (``classifier_name``, ``num_classes``,
``reset_classifier``; see `torchgraft.core.features`) implements one method,

* ``pool_features(features) -> [B, num_features]``: the vector its classifier reads,

and `ClassifierBackbone` gives it what timm's models have:

* ``forward_head(x, pre_logits=False)``: ``x`` is what ``forward_features`` returned (or its
  ``last`` tensor); the logits, or with ``pre_logits=True`` the pooled vector;
* ``get_classifier()``: the module named by ``classifier_name``;
* ``num_features``: the pooled vector's width;
* ``feature_info``: the stages as a `FeatureInfo`.

``forward(x)`` equals ``forward_head(forward_features(x))``; the conformance suite checks it.
"""

from __future__ import annotations

import torch
from torch import nn

from .features import FeatureInfo, Features, FeatureSpec

__all__ = ["ClassifierBackbone"]


class ClassifierBackbone:
    """Mixin of backbones that carry their own classifier (before ``nn.Module`` in the bases)."""

    classifier_name: str
    feature_spec: FeatureSpec

    def pool_features(self, features: Features) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward_head(self, x: Features | torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        """The logits for ``forward_features``' output (`Features`, or its ``last`` tensor as timm
        passes it); ``pre_logits=True``: the pooled ``[B, num_features]`` vector the classifier
        reads (after its dropout, where there is one of its own)."""
        pooled = self.pool_features(x if isinstance(x, Features) else Features(last=x))
        return pooled if pre_logits else self.get_classifier()(pooled)

    def get_classifier(self) -> nn.Module:
        """The classifier (``nn.Identity`` once ``reset_classifier(0)`` removed it)."""
        return getattr(self, self.classifier_name)

    @property
    def num_features(self) -> int:
        """The width of ``forward_head(..., pre_logits=True)``."""
        spec = self.feature_spec
        return spec.pooled_width if spec.pooled_width is not None else spec.width

    @property
    def feature_info(self) -> FeatureInfo:
        """The stages (``num_chs``, ``reduction``, ``module``), empty for a backbone without."""
        return FeatureInfo.of(self.feature_spec.stages)
