"""Task heads for text encoders (they work on any sequence backbone through core's contract)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from torchgraft.core import Features, FeatureSpec, Head, IncompatibleHeadError, Pool

__all__ = ["LMHead", "MaskedLMHead", "QuestionAnsweringHead", "SentenceEmbeddingHead", "TokenClassificationHead"]


class SentenceEmbeddingHead(Head):
    """Pools token features into one vector per text (mean over real tokens by default) and
    optionally L2-normalises it; no parameters, so an encoder's weights are all it needs."""

    def __init__(self, *, pooling: str = "mean", normalize: bool = True) -> None:
        super().__init__()
        self.pool = Pool(pooling)
        self.normalize = normalize

    def check(self, spec: FeatureSpec, backbone_name: str = "backbone") -> None:
        if spec.kind != "sequence" or (self.pool.mode == "pooled" and spec.pooled_width is None):
            raise IncompatibleHeadError(
                f"{type(self).__name__}(pooling={self.pool.mode!r}) needs a sequence backbone; {backbone_name} produces {spec.kind} features"
            )

    def forward(self, features: Features) -> torch.Tensor:
        pooled = self.pool(features)  # [B, D]
        return F.normalize(pooled, p=2, dim=-1) if self.normalize else pooled


def _require_sequence(head: Head, spec: FeatureSpec, backbone_name: str) -> None:
    if spec.kind != "sequence":
        raise IncompatibleHeadError(
            f"{type(head).__name__} needs a sequence backbone; {backbone_name} produces {spec.kind} features"
        )


class TokenClassificationHead(Head):
    """One label per token (tagging, NER): ``[B, T, D] -> [B, T, num_classes]``."""

    def __init__(self, in_features: int, num_classes: int, *, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.fc.weight, std=0.02)
        nn.init.zeros_(self.fc.bias)

    def check(self, spec: FeatureSpec, backbone_name: str = "backbone") -> None:
        _require_sequence(self, spec, backbone_name)
        if spec.width != self.fc.in_features:
            raise IncompatibleHeadError(
                f"{type(self).__name__} expects width {self.fc.in_features}; {backbone_name} produces {spec.width}"
            )

    def forward(self, features: Features) -> torch.Tensor:
        return self.fc(self.dropout(features.last))


class QuestionAnsweringHead(Head):
    """Extractive QA: start and end logits per token, ``-inf``-like on padding so a span never
    starts or ends there."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.qa_outputs = nn.Linear(in_features, 2)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.qa_outputs.weight, std=0.02)
        nn.init.zeros_(self.qa_outputs.bias)

    def check(self, spec: FeatureSpec, backbone_name: str = "backbone") -> None:
        _require_sequence(self, spec, backbone_name)

    def forward(self, features: Features) -> dict[str, torch.Tensor]:
        logits = self.qa_outputs(features.last)  # [B, T, 2]
        if features.mask is not None:
            logits = logits.masked_fill(~features.mask.unsqueeze(-1), torch.finfo(logits.dtype).min)
        start, end = logits.unbind(-1)
        return {"start_logits": start, "end_logits": end}


class MaskedLMHead(Head):
    """Masked language modelling: dense -> GELU -> LayerNorm -> vocabulary logits, the output
    projection tied to the encoder's input embeddings (``tie_to``)."""

    def __init__(self, hidden_size: int, embeddings: nn.Embedding, *, layer_norm_eps: float = 1e-12) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.decoder = nn.Linear(hidden_size, embeddings.num_embeddings, bias=False)
        self.decoder.weight = embeddings.weight  # tied: stored once, trained together
        self.bias = nn.Parameter(torch.zeros(embeddings.num_embeddings))

    def reset_parameters(self) -> None:
        nn.init.normal_(self.dense.weight, std=0.02)
        nn.init.zeros_(self.dense.bias)
        self.norm.reset_parameters()
        nn.init.zeros_(self.bias)

    def check(self, spec: FeatureSpec, backbone_name: str = "backbone") -> None:
        _require_sequence(self, spec, backbone_name)

    def forward(self, features: Features) -> torch.Tensor:
        x = self.norm(F.gelu(self.dense(features.last)))
        return self.decoder(x) + self.bias  # [B, T, vocab]


class LMHead(Head):
    """Next-token logits on a causal backbone: ``[B, T, D] -> [B, T, vocab]``, one linear layer
    tied to the backbone's input embeddings (``tie_to``) or fresh (``vocab_size``)."""

    def __init__(self, in_features: int, *, tie_to: nn.Embedding | None = None, vocab_size: int | None = None) -> None:
        super().__init__()
        if (tie_to is None) == (vocab_size is None):
            raise ValueError("LMHead takes tie_to (the input embeddings) or vocab_size (a fresh head), not both")
        size = tie_to.num_embeddings if tie_to is not None else vocab_size
        self.decoder = nn.Linear(in_features, size, bias=False)
        if tie_to is not None:
            self.decoder.weight = tie_to.weight  # tied: stored once, trained together
        else:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.decoder.weight, std=0.02)

    def check(self, spec: FeatureSpec, backbone_name: str = "backbone") -> None:
        if spec.kind != "sequence" or not spec.causal:
            raise IncompatibleHeadError(
                f"{type(self).__name__} needs a causal (decoder) backbone; {backbone_name} produces "
                f"{'bidirectional ' if spec.kind == 'sequence' else ''}{spec.kind} features"
            )
        if spec.width != self.decoder.in_features:
            raise IncompatibleHeadError(
                f"{type(self).__name__} expects width {self.decoder.in_features}; {backbone_name} produces {spec.width}"
            )

    def forward(self, features: Features) -> torch.Tensor:
        return self.decoder(features.last)
