"""Task builders that take any text encoder, by name or module: backbones + tasks builders, never
backbones x tasks. ``encoder_weights`` loads the encoder's published weights (stored once) and
leaves the head fresh (``masked_lm`` takes the pre-trained LM head from the same file where it has
one); ``weights`` takes your own checkpoint of the whole task model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from torchgraft.core import (
    ClassifierHead,
    Composite,
    Weights,
    build_model,
    check_backbone,
    compose,
    get_model,
    get_model_weights,
    read_checkpoint,
    register_model,
)

from ..heads import MaskedLMHead, QuestionAnsweringHead, SentenceEmbeddingHead, TokenClassificationHead

__all__ = ["hf_mlm_head", "masked_lm", "question_answering", "sentence_embedder", "text_classifier", "token_classifier"]


def _encoder(encoder: nn.Module | str, encoder_weights: Any, encoder_config: dict[str, Any]) -> nn.Module:
    if isinstance(encoder, str):
        return get_model(encoder, weights=encoder_weights, **encoder_config)
    if encoder_weights is not None or encoder_config:
        raise TypeError("encoder_weights and encoder_config apply only when encoder is a model name")
    return encoder


def _task(
    weights: Weights | None,
    progress: bool,
    make_head: Callable[[nn.Module], nn.Module],
    encoder: nn.Module | str,
    encoder_weights: Any,
    encoder_config: dict[str, Any] | None,
) -> Composite:
    if weights is not None and not isinstance(weights, Weights):
        raise TypeError(f"weights takes your own Weights of the whole task model; found {type(weights).__name__}")
    backbone = _encoder(encoder, encoder_weights, dict(encoder_config or {}))
    check_backbone(backbone)
    return build_model(lambda: compose(backbone, make_head(backbone)), weights=weights, progress=progress)


@register_model()
def text_classifier(
    *, weights: Weights | None = None, progress: bool = True, encoder: nn.Module | str = "roberta_base", encoder_weights: Any = None,
    num_classes: int, pooling: str = "first", dropout: float = 0.1, encoder_config: dict[str, Any] | None = None,
) -> Composite:  # fmt: skip
    """Sequence classification: ``[B, num_classes]`` from the first token (or ``pooling="mean"``)."""

    def head(b: nn.Module) -> nn.Module:
        return ClassifierHead(b.feature_spec.width, num_classes, pooling=pooling, dropout=dropout)

    return _task(weights, progress, head, encoder, encoder_weights, encoder_config)


@register_model()
def token_classifier(
    *, weights: Weights | None = None, progress: bool = True, encoder: nn.Module | str = "roberta_base", encoder_weights: Any = None,
    num_classes: int, dropout: float = 0.1, encoder_config: dict[str, Any] | None = None,
) -> Composite:  # fmt: skip
    """Token classification (tagging, NER): ``[B, T, num_classes]``."""
    return _task(
        weights,
        progress,
        lambda b: TokenClassificationHead(b.feature_spec.width, num_classes, dropout=dropout),
        encoder,
        encoder_weights,
        encoder_config,
    )


@register_model()
def question_answering(
    *, weights: Weights | None = None, progress: bool = True, encoder: nn.Module | str = "roberta_base", encoder_weights: Any = None,
    encoder_config: dict[str, Any] | None = None,
) -> Composite:  # fmt: skip
    """Extractive QA: ``{"start_logits": [B, T], "end_logits": [B, T]}``."""
    return _task(
        weights,
        progress,
        lambda b: QuestionAnsweringHead(b.feature_spec.width),
        encoder,
        encoder_weights,
        encoder_config,
    )


@register_model()
def masked_lm(
    *, weights: Weights | None = None, progress: bool = True, encoder: nn.Module | str = "roberta_base", encoder_weights: Any = None,
    encoder_config: dict[str, Any] | None = None, fresh_head: bool = False,
) -> Composite:  # fmt: skip
    """Masked language modelling, the output layer tied to the encoder's input embeddings: ``[B, T, vocab]``.

    Published encoder weights that were pre-trained with this head (BERT, RoBERTa, XLM-R) bring it
    along from the same file, so the model fills masks out of the box; ``fresh_head=True`` starts
    the head from scratch instead."""

    def head(b: nn.Module) -> nn.Module:
        if not isinstance(getattr(getattr(b, "embeddings", None), "word", None), nn.Embedding):
            raise TypeError(
                f"masked_lm ties its output to the encoder's word embeddings; {type(b).__name__} has none at .embeddings.word"
            )
        return MaskedLMHead(b.feature_spec.width, b.embeddings.word, layer_norm_eps=b.cfg.layer_norm_eps)

    model = _task(weights, progress, head, encoder, encoder_weights, encoder_config)
    if weights is None and not fresh_head and isinstance(encoder, str) and encoder_weights is not None:
        chosen = (
            encoder_weights
            if isinstance(encoder_weights, Weights)
            else get_model_weights(encoder).verify(encoder_weights)
        )
        state = hf_mlm_head(chosen)
        if state is not None:
            with torch.no_grad():
                model.head.load_state_dict({**state, "decoder.weight": model.head.decoder.weight}, strict=True)
    return model


def hf_mlm_head(weights: Weights | Any) -> dict[str, torch.Tensor] | None:
    """The pre-trained masked-LM head stored in a Hugging Face BERT/RoBERTa/XLM-R checkpoint, in
    ``MaskedLMHead``'s layout (its output projection is the tied word embeddings), or ``None``
    when the file holds no such head."""
    state = read_checkpoint(weights.fetch(), format=weights.format)
    prefixes = {
        "cls.predictions.transform.dense.": "dense.",
        "cls.predictions.transform.LayerNorm.": "norm.",
        "lm_head.dense.": "dense.",
        "lm_head.layer_norm.": "norm.",
    }
    head: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        for prefix, ours in prefixes.items():
            if key.startswith(prefix):
                leaf = {"gamma": "weight", "beta": "bias"}.get(key[len(prefix) :], key[len(prefix) :])
                head[ours + leaf] = tensor
    bias = state.get("cls.predictions.bias", state.get("lm_head.bias"))
    if bias is None or len(head) != 4:
        return None
    return {**head, "bias": bias}


@register_model()
def sentence_embedder(
    *, weights: Weights | None = None, progress: bool = True, encoder: nn.Module | str = "roberta_base", encoder_weights: Any = None,
    pooling: str = "mean", normalize: bool = True, encoder_config: dict[str, Any] | None = None,
) -> Composite:  # fmt: skip
    """Sentence embeddings: ``[B, D]``, pooled over real tokens, L2-normalised by default."""
    return _task(
        weights,
        progress,
        lambda b: SentenceEmbeddingHead(pooling=pooling, normalize=normalize),
        encoder,
        encoder_weights,
        encoder_config,
    )
