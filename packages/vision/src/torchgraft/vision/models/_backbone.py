"""The spatial-backbone side of the core contract, shared by the vision models.

A model with a ``features`` ``nn.Sequential`` declares which of its layers end a stage (the last
layer at each stride); ``forward_features`` runs ``features`` once and keeps those maps. Its first
layer is the stem convolution (``features.0.0``, adapted for ``in_chans``), and its classifier
reads the spatial mean of the last map (``forward_head``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from torchgraft.core import ClassifierBackbone, Features, FeatureSpec, StageSpec

__all__ = ["SequentialBackbone", "depth_drop", "stage_spec"]


def stage_spec(ends: Sequence[tuple[int, int, int]], *, width: int) -> tuple[FeatureSpec, dict[int, str]]:
    """``ends``: ``(layer index, channels, stride)`` of each stage's last layer, in order.
    Returns the spec (stages named ``stage1``, ``stage2``, ...) and ``{layer index: name}``."""
    stages = tuple(StageSpec(f"stage{i + 1}", channels, stride) for i, (_, channels, stride) in enumerate(ends))
    return FeatureSpec(kind="spatial", width=width, stages=stages), {
        index: f"stage{i + 1}" for i, (index, _, _) in enumerate(ends)
    }


def depth_drop(prob: float, index: int, total: int) -> dict[str, float]:
    """Block ``index`` of ``total``'s stochastic depth, rising linearly from 0 (torchvision's
    rule), as the ``drop_path=`` keyword; none when ``prob`` is 0, so a caller's block class
    without that keyword still builds."""
    return {"drop_path": prob * index / total} if prob else {}


class SequentialBackbone(ClassifierBackbone, nn.Module):
    """Mixin for models whose trunk is ``self.features``; they set ``feature_spec`` and
    ``_stage_at`` (``{layer index: stage name}``) in ``__init__``."""

    features: nn.Sequential
    feature_spec: FeatureSpec
    _stage_at: dict[int, str]
    input_conv = "features.0.0"

    def prune_after(self, stage: str) -> None:
        """Removes the classifier and the layers of ``features`` after ``stage``: ``forward_features``
        and ``feature_spec`` end there, and a full checkpoint's keys of the removed layers are
        discarded on load (``pruned``). What ``features_only=True`` builds."""
        spec = self.feature_spec.up_to(stage)
        end = next(index for index, name in self._stage_at.items() if name == stage)
        self.reset_classifier(0)  # type: ignore[attr-defined]
        self.pruned = (*getattr(self, "pruned", ()), *(f"features.{i}." for i in range(end + 1, len(self.features))))
        self.features = self.features[: end + 1]  # keeps the layers' names, so their keys
        self._stage_at = {index: name for index, name in self._stage_at.items() if index <= end}
        self.feature_spec = spec

    def pool_features(self, features: Features) -> torch.Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(features.last, 1), 1)  # [B, C]

    def shard_units(self) -> list[nn.Module]:
        """The blocks of ``features`` (EfficientNet: its stages), sharded one by one."""
        return list(self.features)

    def forward_features(self, x: torch.Tensor) -> Features:
        stages = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            name = self._stage_at.get(index)
            if name is not None:
                stages[name] = x
        return Features(last=x, stages=stages)


def strides_of(layers: Sequence[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """From ``(channels, stride)`` per layer of ``features``, the ``(index, channels, cumulative
    stride)`` of the last layer at each cumulative stride."""
    ends: dict[int, tuple[int, int, int]] = {}
    total = 1
    for index, (channels, stride) in enumerate(layers):
        total *= stride
        ends[total] = (index, channels, total)
    return [ends[s] for s in sorted(ends)]
