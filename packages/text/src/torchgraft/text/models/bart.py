"""The BART family of encoder-decoders: BART base and large, and large-cnn (news summarisation),
with the weights of their published checkpoints.

One class, `Bart`, configured by a frozen `BartConfig`: post-norm layers, learned positions offset
by two (fairseq's padding convention), a norm after the embeddings, and an LM head tied to the
shared embeddings plus a fixed per-token bias (``final_logits_bias``). It is a `Seq2SeqLM` for
`torchgraft.core.generate` and a backbone (the decoder's states over the input shifted right, read
at the last real token, as transformers' ``BartForSequenceClassification`` reads them); its
``.encoder`` alone is a text backbone.

Weights:
The files are the upstream ``model.safetensors`` and ``tokenizer.json`` (byte-level BPE) of each
repository, read in the Hugging Face layout (``BartModel`` or ``BartForConditionalGeneration``) and
converted on load (`hf_to_bart`). Their publishers give no sha256: pinned on first download.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from torchgraft.core import (
    Features,
    FeatureSpec,
    WeightsEnum,
    register_model,
)
from torchgraft.core.family import Family
from torchgraft.core.generation import GenerationConfig, KVCache
from torchgraft.core.hub import HubFamily, hub_weights
from torchgraft.core.packing import padding_matters
from torchgraft.core.preflight import check_fields

from ..transforms import hub_tokenizer
from ._seq2seq import Attention, EncoderDecoder

__all__ = [
    "Bart",
    "BartBase_Weights",
    "BartConfig",
    "BartLarge_Weights",
    "BartLargeCnn_Weights",
    "bart_base",
    "bart_large",
    "bart_large_cnn",
    "hf_to_bart",
]

#: fairseq numbered positions after the padding index: position p has embedding row p + 2.
POSITION_OFFSET = 2


@dataclass(frozen=True)
class BartConfig:
    vocab_size: int = 50265
    d_model: int = 768
    encoder_layers: int = 6
    decoder_layers: int = 6
    num_heads: int = 12
    ffn_dim: int = 3072
    max_positions: int = 1024
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    scale_embedding: bool = False
    tie_word_embeddings: bool = True
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    decoder_start_token_id: int = 2

    def __post_init__(self) -> None:
        check_fields(self, what=type(self).__name__)
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by num_heads {self.num_heads}")


class Layer(nn.Module):
    """Post-norm: ``norm1(x + attn(x))``, (decoder) ``norm_cross(x + cross(x, memory))``,
    ``norm2(x + fc2(gelu(fc1(x))))``."""

    def __init__(self, cfg: BartConfig, *, cross: bool) -> None:
        super().__init__()
        head_dim = cfg.d_model // cfg.num_heads
        attention = partial(Attention, cfg.d_model, cfg.num_heads, head_dim, bias=True, dropout=cfg.attention_dropout)
        self.attn = attention()
        self.norm1 = nn.LayerNorm(cfg.d_model)
        if cross:
            self.cross = attention()
            self.norm_cross = nn.LayerNorm(cfg.d_model)
        self.fc1 = nn.Linear(cfg.d_model, cfg.ffn_dim)
        self.fc2 = nn.Linear(cfg.ffn_dim, cfg.d_model)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)
        self.activation_dropout = nn.Dropout(cfg.activation_dropout)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None,
        memory: Tensor | None = None,
        memory_mask: Tensor | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
        slots: Tensor | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        x = self.norm1(x + self.dropout(self.attn(x, mask, cache=cache, layer=layer, slots=slots, is_causal=is_causal)))
        if memory is not None:
            x = self.norm_cross(x + self.dropout(self.cross(x, memory_mask, memory=memory, cache=cache, layer=layer)))
        return self.norm2(x + self.dropout(self.fc2(self.activation_dropout(F.gelu(self.fc1(x))))))


class Stack(nn.Module):
    """The encoder (bidirectional) or the decoder (causal, with cross-attention)."""

    def __init__(self, cfg: BartConfig, embed: nn.Embedding, *, decoder: bool) -> None:
        super().__init__()
        self.is_decoder, self.cfg = decoder, cfg
        self.heads, self.head_dim = cfg.num_heads, cfg.d_model // cfg.num_heads
        self.embed = embed
        self.scale = cfg.d_model**0.5 if cfg.scale_embedding else 1.0
        self.positions = nn.Embedding(cfg.max_positions + POSITION_OFFSET, cfg.d_model)
        self.embed_norm = nn.LayerNorm(cfg.d_model)
        self.layers = nn.ModuleList(
            Layer(cfg, cross=decoder) for _ in range(cfg.decoder_layers if decoder else cfg.encoder_layers)
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.feature_spec = FeatureSpec(kind="sequence", width=cfg.d_model, has_mask=True)

    def forward(
        self,
        input_ids: Tensor,
        memory: Tensor | None = None,
        memory_mask: Tensor | None = None,
        *,
        attention_mask: Tensor | None = None,
        cache: KVCache | None = None,
    ) -> Tensor:
        """The last states ``[B, T, D]``."""
        T = input_ids.shape[1]
        slots = cache.reserve(T) if cache is not None else torch.arange(T, device=input_ids.device)
        if not torch.compiler.is_compiling() and int(slots[-1]) >= self.cfg.max_positions:
            raise ValueError(f"position {int(slots[-1])} exceeds the model's {self.cfg.max_positions} positions")
        x = self.embed(input_ids) * self.scale + self.positions(slots + POSITION_OFFSET)  # [B, T, D]
        x = self.dropout(self.embed_norm(x))
        mask, causal = None, False
        if self.is_decoder and cache is not None:
            keys = torch.arange(cache.capacity, device=x.device)
            mask = (keys[None, :] <= slots[:, None])[None, None]  # [1, 1, T, capacity]
        elif self.is_decoder:
            causal = True
        elif padding_matters(attention_mask):
            mask = attention_mask.bool()[:, None, None, :]  # [B, 1, 1, S]
        memory_mask = memory_mask.bool()[:, None, None, :] if memory_mask is not None else None
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, memory, memory_mask, cache, i, slots, causal)
        return x

    def forward_features(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Features:
        """The encoder as a backbone: ``[B, T, D]`` with the padding mask."""
        last = self(input_ids, attention_mask=attention_mask)
        return Features(last=last, mask=attention_mask.bool() if attention_mask is not None else None)


class BiasedLMHead(nn.Module):
    """``x @ weight.T + final_logits_bias``: BART's output layer (the bias is a fixed buffer, as
    in the checkpoints)."""

    def __init__(self, dim: int, vocab: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(vocab, dim))
        self.register_buffer("final_logits_bias", torch.zeros(1, vocab))
        self.reset_parameters()

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=0.02)
        nn.init.zeros_(self.final_logits_bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight) + self.final_logits_bias


class Bart(EncoderDecoder):
    """BART: ``forward(input_ids, attention_mask, decoder_input_ids) -> logits [B, T, vocab]``."""

    def __init__(self, cfg: BartConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.shared = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=cfg.pad_token_id)
        self.encoder = Stack(cfg, self.shared, decoder=False)
        self.decoder = Stack(cfg, self.shared, decoder=True)
        self.lm_head = None
        self.feature_spec = FeatureSpec(kind="sequence", width=cfg.d_model, has_mask=True, causal=True)
        self.generation_config = GenerationConfig(
            eos_token_id=cfg.eos_token_id,
            pad_token_id=cfg.pad_token_id,
            bos_token_id=cfg.bos_token_id,
            decoder_start_token_id=cfg.decoder_start_token_id,
        )
        self.reset_parameters()
        self.reset_classifier(cfg.vocab_size)

    def reset_parameters(self) -> None:
        """BART's initialisation: normal(0, 0.02) weights, zero biases, the padding row zero."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Embedding) and m.padding_idx is not None:
                    with torch.no_grad():
                        m.weight[m.padding_idx].zero_()
            elif isinstance(m, nn.LayerNorm):
                m.reset_parameters()

    def _new_head(self, num_classes: int) -> nn.Module:  # type: ignore[override]
        return BiasedLMHead(self.cfg.d_model, num_classes)


# --------------------------------------------------------------------------- Hugging Face layout
_RENAMES = [
    (r"^(encoder|decoder)\.embed_positions\.", r"\1.positions."),
    (r"^(encoder|decoder)\.layernorm_embedding\.", r"\1.embed_norm."),
    (r"^(encoder|decoder)\.layers\.(\d+)\.self_attn\.(q|k|v)_proj\.", r"\1.layers.\2.attn.\3."),
    (r"^(encoder|decoder)\.layers\.(\d+)\.self_attn\.out_proj\.", r"\1.layers.\2.attn.o."),
    (r"^(encoder|decoder)\.layers\.(\d+)\.self_attn_layer_norm\.", r"\1.layers.\2.norm1."),
    (r"^decoder\.layers\.(\d+)\.encoder_attn\.(q|k|v)_proj\.", r"decoder.layers.\1.cross.\2."),
    (r"^decoder\.layers\.(\d+)\.encoder_attn\.out_proj\.", r"decoder.layers.\1.cross.o."),
    (r"^decoder\.layers\.(\d+)\.encoder_attn_layer_norm\.", r"decoder.layers.\1.norm_cross."),
    (r"^(encoder|decoder)\.layers\.(\d+)\.final_layer_norm\.", r"\1.layers.\2.norm2."),
]


def hf_to_bart(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Maps a Hugging Face BART state dict (``BartModel``, or ``BartForConditionalGeneration``
    with its ``model.`` prefix) onto `Bart`'s: renames, drops the embedding aliases and an LM head
    that is the tied embedding, and supplies a zero ``final_logits_bias`` where a ``BartModel``
    checkpoint has none."""
    out: dict[str, Tensor] = {}
    shared = state.get("model.shared.weight", state.get("shared.weight"))
    for key, tensor in state.items():
        key = key.removeprefix("model.")
        if key in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight"):
            continue  # aliases of shared.weight
        if key == "lm_head.weight":
            if shared is None or not torch.equal(tensor, shared):
                out[key] = tensor
            continue
        if key == "final_logits_bias":
            out["lm_head.final_logits_bias"] = tensor
            continue
        for pattern, repl in _RENAMES:
            new, n = re.subn(pattern, repl, key)
            if n:
                out[new] = tensor
                break
        else:
            out[key] = tensor
    if "lm_head.final_logits_bias" not in out and shared is not None:
        out["lm_head.final_logits_bias"] = shared.new_zeros(1, shared.shape[0])
    return out


# --------------------------------------------------------------------------- architectures
_LARGE = {"d_model": 1024, "encoder_layers": 12, "decoder_layers": 12, "num_heads": 16, "ffn_dim": 4096}
VARIANTS: dict[str, BartConfig] = {
    "bart_base": BartConfig(),
    "bart_large": BartConfig(**_LARGE),
    "bart_large_cnn": BartConfig(**_LARGE, vocab_size=50264),
}


#: The family: ``Bart`` over one ``BartConfig`` per variant; your own checkpoints in the Hugging Face layout.
FAMILY = Family(Bart, BartConfig, VARIANTS, adapter=hf_to_bart)


# --------------------------------------------------------------------------- weights
_PAPER = "https://arxiv.org/abs/1910.13461"
_SPECIAL = {
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 1,
    "decoder_start_token_id": 2,
    "forced_eos_token_id": 2,
}
#: facebook/bart-large-cnn's generation_config.json, with its lengths counted in new tokens
#: (max_length 142 and min_length 56 include the decoder start token).
_CNN_GENERATION = {
    **_SPECIAL,
    "forced_bos_token_id": 0,
    "num_beams": 4,
    "length_penalty": 2.0,
    "early_stopping": True,
    "no_repeat_ngram_size": 3,
    "max_new_tokens": 141,
    "min_new_tokens": 55,
}


#: A BART repository: the encoder-decoder with its LM head, ``model.safetensors`` plus ``tokenizer.json``.
BART_HUB = HubFamily(
    adapter=hf_to_bart,
    assets={"tokenizer.json": "tokenizer.json"},
    transforms=hub_tokenizer(max_length=1024, with_token_types=False),
    meta={"recipe": _PAPER, "max_length": 1024},
)


_PRETRAINING = (
    "BookCorpus, Wikipedia, CC-News, OpenWebText, Stories (160 GB), denoising (text infilling, sentence permutation)"
)


class BartBase_Weights(WeightsEnum):
    DENOISING = hub_weights(
        "facebook/bart-base",
        BART_HUB,
        num_params=139420416,
        approx_size_mb=558,
        license="Apache-2.0",
        generation=_SPECIAL,
        training_data=_PRETRAINING,
    )
    DEFAULT = DENOISING


class BartLarge_Weights(WeightsEnum):
    DENOISING = hub_weights(
        "facebook/bart-large",
        BART_HUB,
        num_params=406291456,
        approx_size_mb=1630,
        license="Apache-2.0",
        generation=_SPECIAL,
        training_data=_PRETRAINING,
        metrics={"SQuAD 1.1 dev (fine-tuned, paper)": {"EM": 88.8, "F1": 94.6}},
    )
    DEFAULT = DENOISING


class BartLargeCnn_Weights(WeightsEnum):
    CNN_DAILYMAIL = hub_weights(
        "facebook/bart-large-cnn",
        BART_HUB,
        num_params=406290432,
        approx_size_mb=1630,
        license="MIT",
        generation=_CNN_GENERATION,
        training_data="bart-large fine-tuned on CNN/DailyMail summarisation",
        metrics={"CNN/DailyMail test (paper)": {"ROUGE-1": 44.16, "ROUGE-2": 21.28, "ROUGE-L": 40.90}},
    )
    DEFAULT = CNN_DAILYMAIL


# --------------------------------------------------------------------------- builders
@register_model()
def bart_base(*, weights: BartBase_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> Bart:
    """BART-base from [BART: Denoising Sequence-to-Sequence Pre-training for Natural Language Generation, Translation, and Comprehension](https://arxiv.org/abs/1910.13461):
    6 + 6 layers, width 768, 139.4 M parameters (the LM head is the tied embedding).

    Args:
        weights: `BartBase_Weights` (``DENOISING`` = ``DEFAULT``): the pre-trained denoiser with its
            byte-level BPE tokenizer (fine-tune it for a task); its name, your own ``Weights`` of a
            Hugging Face-layout checkpoint, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `BartConfig` fields (``dropout``, ``max_positions``, ...).

    Example::

        weights = BartBase_Weights.DEFAULT
        model = bart_base(weights=weights).eval()
        tokenize = weights.transforms()
        ids = generate(model, **tokenize(["UN Chief Says There Is <mask> in Syria"]), num_beams=4)
        print(tokenize.decode(ids[0]))
    """
    return FAMILY.build("bart_base", BartBase_Weights.verify(weights), progress, kwargs)


@register_model()
def bart_large(*, weights: BartLarge_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> Bart:
    """BART-large from [BART: Denoising Sequence-to-Sequence Pre-training for Natural Language Generation, Translation, and Comprehension](https://arxiv.org/abs/1910.13461):
    12 + 12 layers, width 1024, 406.3 M parameters.

    Args:
        weights: `BartLarge_Weights` (``DENOISING`` = ``DEFAULT``), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `BartConfig` fields (``dropout``, ``max_positions``, ...).

    Example::

        weights = BartLarge_Weights.DEFAULT
        model = bart_large(weights=weights).eval()
        ids = generate(model, **weights.transforms()(["UN Chief Says There Is <mask> in Syria"]), num_beams=4)
    """
    return FAMILY.build("bart_large", BartLarge_Weights.verify(weights), progress, kwargs)


@register_model()
def bart_large_cnn(*, weights: BartLargeCnn_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> Bart:
    """BART-large fine-tuned for news summarisation on CNN/DailyMail, from [BART: Denoising Sequence-to-Sequence Pre-training for Natural Language Generation, Translation, and Comprehension](https://arxiv.org/abs/1910.13461):
    12 + 12 layers, width 1024, a 50,264-token vocabulary, 406.3 M parameters.

    Args:
        weights: `BartLargeCnn_Weights` (``CNN_DAILYMAIL`` = ``DEFAULT``), whose generation defaults
            are the publisher's (4 beams, length penalty 2.0, no repeated trigrams, 55 to 141 new
            tokens); its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `BartConfig` fields (``dropout``, ``max_positions``, ...).

    Example::

        weights = BartLargeCnn_Weights.DEFAULT
        model = bart_large_cnn(weights=weights).eval()
        tokenize = weights.transforms()
        summary = tokenize.decode(generate(model, **tokenize([article]))[0])
    """
    return FAMILY.build("bart_large_cnn", BartLargeCnn_Weights.verify(weights), progress, kwargs)
