"""Task builders that take any text backbone, by name or module: backbones + tasks builders, never
backbones x tasks. ``backbone_weights`` loads the backbone's published weights (stored once) and
leaves the head fresh (``masked_lm`` takes the pre-trained LM head from the same file where it has
one); ``weights`` takes your own checkpoint of the whole task model. (``encoder=``,
``encoder_weights=`` and ``encoder_config=`` still work, with a deprecation warning.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from torchgraft.core import (
    ClassifierHead,
    Composite,
    Part,
    Weights,
    build_model,
    check_backbone,
    compose,
    own_weights,
    read_checkpoint,
    register_model,
)

from .heads import MaskedLMHead, QuestionAnsweringHead, SentenceEmbeddingHead, TokenClassificationHead

__all__ = [
    "hf_mlm_head",
    "hf_mlm_head_state",
    "masked_lm",
    "question_answering",
    "sentence_embedder",
    "text_classifier",
    "token_classifier",
]


def _task(
    name: str,
    weights: Weights | None,
    progress: bool,
    make_head: Callable[[nn.Module], nn.Module],
    backbone: Part,
) -> Composite:
    weights = own_weights(name, weights)

    def factory(backbone: nn.Module) -> Composite:
        # Built inside build_model: with the task's own weights the trunk too is built on meta, so the
        # head's ties to it (an output layer sharing the word embeddings) are ties between meta tensors.
        check_backbone(backbone)
        return compose(backbone, make_head(backbone))

    return build_model(factory, weights=weights, progress=progress, parts={"backbone": backbone})


@register_model()
def text_classifier(
    *, weights: Weights | None = None, progress: bool = True, backbone: nn.Module | str = "roberta_base", backbone_weights: Any = None,
    num_classes: int = 2, pooling: str | None = None, dropout: float = 0.1, backbone_config: dict[str, Any] | None = None,
) -> Composite:  # fmt: skip
    """Sequence classification (sentiment, NLI, topic): ``[B, num_classes]`` logits from the first
    token of an encoder (BERT's ``[CLS]``), the last real token of a decoder or encoder-decoder
    (as ``GPT2ForSequenceClassification`` and ``BartForSequenceClassification``), or the mean over
    real tokens (``pooling="mean"``).

    Args:
        weights: your own ``Weights`` of the whole task model (backbone and head), or ``None``.
        progress: show a progress bar while downloading.
        backbone: a registered text backbone name (``"roberta_base"``, ``"bert_base"``, ...) or a module
            honouring the backbone contract.
        backbone_weights: the backbone's published weights (a member or a name such as ``"DEFAULT"``)
            when ``backbone`` is a name; stored once, shared by every task.
        backbone_config: builder arguments for a named backbone.
        num_classes: number of labels (2 by default, as transformers' num_labels).
        pooling: ``None`` (``"first"``, or ``"last"`` for a causal backbone), ``"first"``, ``"last"``,
            ``"mean"``, ``"max"`` or ``"pooled"``.
        dropout: dropout before the linear layer.

    Example::

        model = text_classifier(backbone="roberta_base", backbone_weights="DEFAULT", num_classes=3)
        logits = model(**RobertaBase_Weights.DEFAULT.transforms()(["What a film!"]))  # [1, 3]
    """

    def head(b: nn.Module) -> nn.Module:
        mode = pooling or ("last" if b.feature_spec.causal else "first")
        return ClassifierHead(b.feature_spec.width, num_classes, pooling=mode, dropout=dropout)

    return _task(
        "text_classifier", weights, progress, head, Part.of("backbone", backbone, backbone_weights, backbone_config)
    )


@register_model()
def token_classifier(
    *, weights: Weights | None = None, progress: bool = True, backbone: nn.Module | str = "roberta_base", backbone_weights: Any = None,
    num_classes: int = 2, dropout: float = 0.1, backbone_config: dict[str, Any] | None = None,
) -> Composite:  # fmt: skip
    """Token classification (part-of-speech tagging, named entities): ``[B, T, num_classes]`` logits,
    one row per token.

    Args:
        weights: your own ``Weights`` of the whole task model (backbone and head), or ``None``.
        progress: show a progress bar while downloading.
        backbone: a registered text backbone name (``"roberta_base"``, ``"bert_base"``, ...) or a module
            honouring the backbone contract.
        backbone_weights: the backbone's published weights (a member or a name such as ``"DEFAULT"``)
            when ``backbone`` is a name; stored once, shared by every task.
        backbone_config: builder arguments for a named backbone.
        num_classes: number of tags (2 by default, as transformers' num_labels).
        dropout: dropout before the linear layer.

    Example::

        model = token_classifier(backbone="bert_base", backbone_weights="DEFAULT", num_classes=9)
    """
    return _task(
        "token_classifier",
        weights,
        progress,
        lambda b: TokenClassificationHead(b.feature_spec.width, num_classes, dropout=dropout),
        Part.of("backbone", backbone, backbone_weights, backbone_config),
    )


@register_model()
def question_answering(
    *, weights: Weights | None = None, progress: bool = True, backbone: nn.Module | str = "roberta_base", backbone_weights: Any = None,
    backbone_config: dict[str, Any] | None = None,
) -> Composite:  # fmt: skip
    """Extractive question answering (SQuAD-style): ``{"start_logits": [B, T], "end_logits": [B, T]}``,
    the answer span's start and end scores per token.

    Args:
        weights: your own ``Weights`` of the whole task model (backbone and head), or ``None``.
        progress: show a progress bar while downloading.
        backbone: a registered text backbone name (``"roberta_base"``, ``"bert_base"``, ...) or a module
            honouring the backbone contract.
        backbone_weights: the backbone's published weights (a member or a name such as ``"DEFAULT"``)
            when ``backbone`` is a name; stored once, shared by every task.
        backbone_config: builder arguments for a named backbone.

    Example::

        model = question_answering(backbone="roberta_base", backbone_weights="DEFAULT")
    """
    return _task(
        "question_answering",
        weights,
        progress,
        lambda b: QuestionAnsweringHead(b.feature_spec.width),
        Part.of("backbone", backbone, backbone_weights, backbone_config),
    )


@register_model()
def masked_lm(
    *, weights: Weights | None = None, progress: bool = True, backbone: nn.Module | str = "roberta_base", backbone_weights: Any = None,
    backbone_config: dict[str, Any] | None = None, fresh_head: bool = False,
) -> Composite:  # fmt: skip
    """Masked language modelling, the output layer tied to the backbone's input embeddings:
    ``[B, T, vocab]`` logits.

    Published backbone weights that were pre-trained with this head (BERT, RoBERTa, XLM-R) bring it
    along from the same file, so the model fills masks out of the box.

    Args:
        weights: your own ``Weights`` of the whole task model (backbone and head), or ``None``.
        progress: show a progress bar while downloading.
        backbone: a registered text backbone name (``"roberta_base"``, ``"bert_base"``, ...) or a module
            honouring the backbone contract.
        backbone_weights: the backbone's published weights (a member or a name such as ``"DEFAULT"``)
            when ``backbone`` is a name; stored once, shared by every task.
        backbone_config: builder arguments for a named backbone.
        fresh_head: start the head from scratch even where the checkpoint has one.

    Example::

        model = masked_lm(backbone="bert_base", backbone_weights="DEFAULT").eval()
    """

    def head(b: nn.Module) -> nn.Module:
        if not isinstance(getattr(getattr(b, "embeddings", None), "word", None), nn.Embedding):
            raise TypeError(
                f"masked_lm ties its output to the encoder's word embeddings; {type(b).__name__} has none at .embeddings.word"
            )
        return MaskedLMHead(b.feature_spec.width, b.embeddings.word, layer_norm_eps=b.cfg.layer_norm_eps)

    part = Part.of("backbone", backbone, backbone_weights, backbone_config)
    model = _task("masked_lm", weights, progress, head, part)
    if weights is None and not fresh_head and part.pretrained:
        state = hf_mlm_head(part.entry())
        if state is not None:
            with torch.no_grad():
                model.head.load_state_dict({**state, "decoder.weight": model.head.decoder.weight}, strict=True)
    return model


def hf_mlm_head(weights: Weights | Any) -> dict[str, torch.Tensor] | None:
    """The pre-trained masked-LM head stored in a Hugging Face BERT/RoBERTa/XLM-R checkpoint, in
    ``MaskedLMHead``'s layout (its output projection is the tied word embeddings), or ``None``
    when the file holds no such head."""
    return hf_mlm_head_state(read_checkpoint(weights.fetch(), format=weights.format))


def hf_mlm_head_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """`hf_mlm_head` of a state dict already read."""
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
    *, weights: Weights | None = None, progress: bool = True, backbone: nn.Module | str = "roberta_base", backbone_weights: Any = None,
    pooling: str = "mean", normalize: bool = True, backbone_config: dict[str, Any] | None = None,
) -> Composite:  # fmt: skip
    """Sentence embeddings: ``[B, D]``, pooled over real tokens, L2-normalised by default (no
    parameters of its own: the backbone's weights are all it needs; see `all_minilm_l6_v2` for
    a model trained for this).

    Args:
        weights: your own ``Weights`` of the whole task model (backbone and head), or ``None``.
        progress: show a progress bar while downloading.
        backbone: a registered text backbone name (``"roberta_base"``, ``"bert_base"``, ...) or a module
            honouring the backbone contract.
        backbone_weights: the backbone's published weights (a member or a name such as ``"DEFAULT"``)
            when ``backbone`` is a name; stored once, shared by every task.
        backbone_config: builder arguments for a named backbone.
        pooling: ``"mean"`` (default), ``"first"``, ``"max"`` or ``"pooled"``.
        normalize: L2-normalise the embeddings.

    Example::

        model = sentence_embedder(backbone="bert_base", backbone_weights="DEFAULT").eval()
    """
    return _task(
        "sentence_embedder",
        weights,
        progress,
        lambda b: SentenceEmbeddingHead(pooling=pooling, normalize=normalize),
        Part.of("backbone", backbone, backbone_weights, backbone_config),
    )
