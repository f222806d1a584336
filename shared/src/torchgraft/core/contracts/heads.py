"""Task heads and the `Composite` that attaches one to a backbone.

``compose(backbone, head)`` makes a `Composite` whose state dict is namespaced
``backbone.*`` / ``head.*``: weights published for the backbone alone load into it unchanged and
leave the head fresh, so encoder weights are stored once however many tasks use them. Generic
heads read only the backbone's `torchgraft.core.features.FeatureSpec`, so they work on a
backbone of any domain; a head that cannot use what the backbone produces fails when the model is
built, naming both.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .errors import IncompatibleHeadError
from .features import Features, FeatureSpec, check_backbone, checked_features, shard_units

__all__ = ["ClassifierHead", "Composite", "Head", "Pool", "compose", "poolings_for"]

#: Which pooling turns each kind of feature into one vector per example (the first is the default).
_POOLINGS = {
    "spatial": ("mean", "max"),
    "sequence": ("mean", "max", "first"),
    "causal": ("last", "mean", "max"),  # a decoder's first token has seen nothing else
    "pooled": ("none",),
}


def poolings_for(spec: FeatureSpec) -> tuple[str, ...]:
    """Every pooling a generic head accepts for a backbone with this spec, the default first."""
    extra = ("pooled",) if spec.pooled_width is not None else ()
    return _POOLINGS["causal" if spec.causal else spec.kind] + extra


class Head(nn.Module):
    """Base class of task heads: ``forward(features: Features) -> Tensor``.

    ``check(spec)`` runs when the head is composed with a backbone and raises
    `IncompatibleHeadError` if it cannot consume that backbone's features.
    """

    def check(self, spec: FeatureSpec, backbone_name: str = "backbone") -> None:  # pragma: no cover
        raise NotImplementedError

    def forward(self, features: Features) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


class Pool(nn.Module):
    """Reduces `Features` to one ``[B, D]`` vector per example.

    ``mean``/``max`` over space (``[B, C, H, W]``) or over real tokens only (``[B, T, D]`` with its
    padding mask); ``first`` takes the first token (a CLS token); ``last`` the last real token,
    wherever the padding is (a decoder's summary); ``pooled`` takes the backbone's own pooled
    output; ``none`` passes ``[B, D]`` features through.
    """

    MODES = ("mean", "max", "first", "last", "pooled", "none")

    def __init__(self, mode: str) -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"pooling must be one of {self.MODES}; found {mode!r}")
        self.mode = mode

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"

    def forward(self, features: Features) -> torch.Tensor:
        x, mode = features.last, self.mode
        if mode == "none":
            return x
        if mode == "pooled":
            if features.pooled is None:
                raise ValueError("pooling='pooled' needs Features.pooled, but the backbone returned None")
            return features.pooled
        if x.dim() == 4:  # [B, C, H, W]
            return x.mean(dim=(2, 3)) if mode == "mean" else x.amax(dim=(2, 3))
        # [B, T, D]
        if mode == "first":
            return x[:, 0]
        mask = features.mask
        if mode == "last":
            if mask is None:
                return x[:, -1]
            last = x.shape[1] - 1 - mask.int().flip(1).argmax(1)  # [B]: rightmost real token
            return x[torch.arange(x.shape[0], device=x.device), last]
        if mask is None:
            return x.mean(dim=1) if mode == "mean" else x.amax(dim=1)
        valid = mask.to(dtype=torch.bool).unsqueeze(-1)  # [B, T, 1]
        if mode == "mean":
            total = (x * valid).sum(dim=1)
            return total / valid.sum(dim=1).clamp(min=1).to(x.dtype)
        return x.masked_fill(~valid, torch.finfo(x.dtype).min).amax(dim=1)


class ClassifierHead(Head):
    """Pooling, dropout and one linear layer: ``Features -> [B, num_classes]`` logits."""

    def __init__(self, in_features: int, num_classes: int, *, pooling: str, dropout: float = 0.0) -> None:
        super().__init__()
        if num_classes <= 0:
            raise ValueError(f"num_classes must be positive; found {num_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); found {dropout}")
        self.pool = Pool(pooling)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(self.fc.weight, std=0.02)
        nn.init.zeros_(self.fc.bias)

    def check(self, spec: FeatureSpec, backbone_name: str = "backbone") -> None:
        allowed = poolings_for(spec)
        if self.pool.mode not in allowed:
            raise IncompatibleHeadError(
                f"{type(self).__name__} with pooling={self.pool.mode!r} cannot read {backbone_name}, "
                f"whose features are {spec.kind}: expected pooling in {allowed}"
            )
        width = spec.pooled_width if self.pool.mode == "pooled" else spec.width
        if width != self.fc.in_features:
            raise IncompatibleHeadError(
                f"{type(self).__name__} expects {self.fc.in_features} input features, but "
                f"{backbone_name} produces {spec.kind} features of width {width}"
            )

    def forward(self, features: Features) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(features)))


class Composite(nn.Module):
    """A backbone with a task head; ``forward(*inputs)`` is ``head(backbone.forward_features(*inputs))``.
    A backbone with a classifier of its own (an ImageNet ``fc``) has it removed
    (``reset_classifier(0)``), so the composite holds no dead parameters."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        spec = check_backbone(backbone)
        check = getattr(head, "check", None)
        if not isinstance(head, nn.Module) or not callable(check):
            raise TypeError(
                f"a head must be an nn.Module with check(spec) and forward(features); found {type(head).__name__}"
            )
        check(spec, type(backbone).__name__)
        if callable(getattr(backbone, "reset_classifier", None)) and getattr(backbone, "num_classes", 0):
            backbone.reset_classifier(0)  # its own output would be dead weight beside the head
        self.backbone = backbone
        self.head = head

    @property
    def feature_spec(self) -> FeatureSpec:
        return self.backbone.feature_spec  # type: ignore[return-value]

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.head(checked_features(self.backbone, self.backbone.forward_features(*args, **kwargs)))

    def shard_units(self) -> list[nn.Module]:
        """The backbone's shard units (see `torchgraft.core.distributed.build_sharded`)."""
        return shard_units(self, self.backbone)

    def freeze_backbone(self, frozen: bool = True) -> Composite:
        """Stops (or restarts) gradient flow into the backbone's parameters; returns ``self``."""
        for param in self.backbone.parameters():
            param.requires_grad_(not frozen)
        return self


def compose(backbone: nn.Module, head: nn.Module) -> Composite:
    """Attaches ``head`` to ``backbone``; fails now, not at the first forward, if they do not fit."""
    return Composite(backbone, head)
