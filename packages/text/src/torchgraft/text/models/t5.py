"""The T5 family of encoder-decoders: T5 (small, base, large) and FLAN-T5 (small, base, large, the
T5 v1.1 architecture), with the weights of their published checkpoints.

One class, `T5`, configured by a frozen `T5Config`: pre-norm layers with RMS norms, attention
without score scaling and with a learned relative position bias (buckets, computed in the first
layer of each stack and shared by the rest), and a feed-forward block that is ReLU (v1.0) or gated
GELU (v1.1). T5 v1.0 ties its LM head to the shared embeddings and scales the decoder's output by
``d_model ** -0.5``; v1.1 has its own head and does not scale. It is a `Seq2SeqLM` for
`torchgraft.core.generate`; its ``.encoder`` alone is a text backbone.

Weights:
The files are the upstream ``model.safetensors`` and ``tokenizer.json`` (SentencePiece Unigram) of
each repository, read in the Hugging Face layout and converted on load (`hf_to_t5`). Their
publishers give no sha256: pinned on first download.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
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
from torchgraft.core.preflight import check_fields

from ..transforms import hub_tokenizer
from ._seq2seq import Attention, EncoderDecoder, additive

__all__ = [
    "T5",
    "FlanT5Base_Weights",
    "FlanT5Large_Weights",
    "FlanT5Small_Weights",
    "T5Base_Weights",
    "T5Config",
    "T5Large_Weights",
    "T5Small_Weights",
    "flan_t5_base",
    "flan_t5_large",
    "flan_t5_small",
    "hf_to_t5",
    "t5_base",
    "t5_large",
    "t5_small",
]


@dataclass(frozen=True)
class T5Config:
    vocab_size: int = 32128
    d_model: int = 512
    d_kv: int = 64
    d_ff: int = 2048
    num_layers: int = 6
    num_decoder_layers: int | None = None  # None: as many as the encoder
    num_heads: int = 8
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout: float = 0.1
    layer_norm_eps: float = 1e-6
    #: v1.1: the feed-forward block is ``act(wi_0(x)) * wi_1(x)`` with GELU (tanh form).
    gated: bool = False
    #: v1.0 ties the LM head to the shared embeddings and scales the decoder's output by
    #: ``d_model ** -0.5``; v1.1 does neither.
    tie_word_embeddings: bool = True
    scale_decoder_outputs: bool = True
    pad_token_id: int = 0
    eos_token_id: int = 1
    decoder_start_token_id: int = 0

    def __post_init__(self) -> None:
        check_fields(self, what=type(self).__name__)


def relative_position_bucket(relative: Tensor, *, bidirectional: bool, num_buckets: int, max_distance: int) -> Tensor:
    """T5's bucket of each relative position ``key - query``: exact for small distances, then
    logarithmic up to ``max_distance``; the encoder tells left from right, the decoder sees only
    the past."""
    buckets = torch.zeros_like(relative)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative > 0).long() * num_buckets
        distance = relative.abs()
    else:
        distance = (-relative).clamp(min=0)
    exact = num_buckets // 2
    far = exact + (torch.log(distance.float() / exact) / math.log(max_distance / exact) * (num_buckets - exact)).long()
    return buckets + torch.where(distance < exact, distance, far.clamp(max=num_buckets - 1))


class FeedForward(nn.Module):
    """``wo(relu(wi(x)))`` (v1.0) or ``wo(gelu(wi_0(x)) * wi_1(x))`` (v1.1)."""

    def __init__(self, cfg: T5Config) -> None:
        super().__init__()
        self.gated = cfg.gated
        if cfg.gated:
            self.wi_0 = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
            self.wi_1 = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        else:
            self.wi = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.wo = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = F.gelu(self.wi_0(x), approximate="tanh") * self.wi_1(x) if self.gated else F.relu(self.wi(x))
        return self.wo(self.dropout(h))


class Block(nn.Module):
    """Pre-norm: self-attention, cross-attention (decoder), feed-forward; each ``x + f(norm(x))``."""

    def __init__(self, cfg: T5Config, *, cross: bool) -> None:
        super().__init__()
        attention = partial(Attention, cfg.d_model, cfg.num_heads, cfg.d_kv, bias=False, dropout=cfg.dropout, scale=1.0)
        self.self_norm = nn.RMSNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.attn = attention()
        if cross:
            self.cross_norm = nn.RMSNorm(cfg.d_model, eps=cfg.layer_norm_eps)
            self.cross = attention()
        self.ff_norm = nn.RMSNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.ff = FeedForward(cfg)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(
        self,
        x: Tensor,
        bias: Tensor,
        memory: Tensor | None = None,
        memory_bias: Tensor | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
        slots: Tensor | None = None,
    ) -> Tensor:
        x = x + self.dropout(self.attn(self.self_norm(x), bias, cache=cache, layer=layer, slots=slots))
        if memory is not None:
            x = x + self.dropout(self.cross(self.cross_norm(x), memory_bias, memory=memory, cache=cache, layer=layer))
        return x + self.dropout(self.ff(self.ff_norm(x)))


class Stack(nn.Module):
    """The encoder (bidirectional) or the decoder (causal, with cross-attention); the relative
    position bias is computed once per forward and added in every layer."""

    def __init__(self, cfg: T5Config, embed: nn.Embedding, *, decoder: bool) -> None:
        super().__init__()
        self.is_decoder, self.cfg = decoder, cfg
        self.heads, self.head_dim = cfg.num_heads, cfg.d_kv
        self.embed = embed
        depth = (cfg.num_decoder_layers or cfg.num_layers) if decoder else cfg.num_layers
        self.relative_bias = nn.Embedding(cfg.relative_attention_num_buckets, cfg.num_heads)
        self.layers = nn.ModuleList(Block(cfg, cross=decoder) for _ in range(depth))
        self.norm = nn.RMSNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)
        self.feature_spec = FeatureSpec(kind="sequence", width=cfg.d_model, has_mask=True)

    def position_bias(self, queries: Tensor, keys: Tensor) -> Tensor:
        """``[1, H, T, S]`` for query positions ``[T]`` and key positions ``[S]``."""
        buckets = relative_position_bucket(
            keys[None, :] - queries[:, None],
            bidirectional=not self.is_decoder,
            num_buckets=self.cfg.relative_attention_num_buckets,
            max_distance=self.cfg.relative_attention_max_distance,
        )
        return self.relative_bias(buckets).permute(2, 0, 1)[None]

    def forward(
        self,
        input_ids: Tensor,
        memory: Tensor | None = None,
        memory_mask: Tensor | None = None,
        *,
        attention_mask: Tensor | None = None,
        cache: KVCache | None = None,
    ) -> Tensor:
        """The last states ``[B, T, D]`` (after the final norm)."""
        T = input_ids.shape[1]
        x = self.dropout(self.embed(input_ids))  # [B, T, D]
        slots = cache.reserve(T) if cache is not None else torch.arange(T, device=input_ids.device)
        keys = torch.arange(cache.capacity if cache is not None else T, device=input_ids.device)
        allowed = torch.ones(1, 1, 1, keys.shape[0], dtype=torch.bool, device=x.device)
        if self.is_decoder:
            allowed = (keys[None, :] <= slots[:, None])[None, None]  # [1, 1, T, S]: causal
        if attention_mask is not None:
            allowed = allowed & attention_mask.bool()[:, None, None, :]
        bias = self.position_bias(slots, keys) + additive(allowed, x.dtype)  # [B | 1, H, T, S]
        memory_bias = None
        if memory is not None and memory_mask is not None:
            memory_bias = additive(memory_mask.bool()[:, None, None, :], x.dtype)
        for i, layer in enumerate(self.layers):
            x = layer(x, bias, memory, memory_bias, cache, i, slots)
        return self.dropout(self.norm(x))

    def forward_features(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Features:
        """The encoder as a backbone: ``[B, T, D]`` with the padding mask."""
        last = self(input_ids, attention_mask=attention_mask)
        return Features(last=last, mask=attention_mask.bool() if attention_mask is not None else None)


class T5(EncoderDecoder):
    """T5: ``forward(input_ids, attention_mask, decoder_input_ids) -> logits [B, T, vocab]``."""

    def __init__(self, cfg: T5Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.shared = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.encoder = Stack(cfg, self.shared, decoder=False)
        self.decoder = Stack(cfg, self.shared, decoder=True)
        self.lm_head = None
        self.feature_spec = FeatureSpec(kind="sequence", width=cfg.d_model, has_mask=True, causal=True)
        self.generation_config = GenerationConfig(
            eos_token_id=cfg.eos_token_id,
            pad_token_id=cfg.pad_token_id,
            decoder_start_token_id=cfg.decoder_start_token_id,
        )
        self.reset_parameters()
        self.reset_classifier(cfg.vocab_size)

    def reset_parameters(self) -> None:
        """T5's initialisation (mesh-tensorflow): each projection normal with std scaled by its
        fan-in, embeddings normal(0, 1), norms at one."""
        c = self.cfg
        nn.init.normal_(self.shared.weight, std=1.0)
        for m in self.modules():
            if isinstance(m, Attention):
                nn.init.normal_(m.q.weight, std=(c.d_model * c.d_kv) ** -0.5)
                for p in (m.k, m.v):
                    nn.init.normal_(p.weight, std=c.d_model**-0.5)
                nn.init.normal_(m.o.weight, std=(c.num_heads * c.d_kv) ** -0.5)
            elif isinstance(m, FeedForward):
                for p in (m.wi_0, m.wi_1) if m.gated else (m.wi,):
                    nn.init.normal_(p.weight, std=c.d_model**-0.5)
                nn.init.normal_(m.wo.weight, std=c.d_ff**-0.5)
            elif isinstance(m, Stack):
                nn.init.normal_(m.relative_bias.weight, std=c.d_model**-0.5)
            elif isinstance(m, nn.RMSNorm):
                m.reset_parameters()

    def _logits(self, states: Tensor) -> Tensor:
        if self.cfg.scale_decoder_outputs:
            states = states * self.cfg.d_model**-0.5  # v1.0 rescales before the tied projection
        return super()._logits(states)


# --------------------------------------------------------------------------- Hugging Face layout
_SUBLAYERS = {
    "encoder": {
        "0.SelfAttention": "attn",
        "0.layer_norm": "self_norm",
        "1.DenseReluDense": "ff",
        "1.layer_norm": "ff_norm",
    },
    "decoder": {
        "0.SelfAttention": "attn",
        "0.layer_norm": "self_norm",
        "1.EncDecAttention": "cross",
        "1.layer_norm": "cross_norm",
        "2.DenseReluDense": "ff",
        "2.layer_norm": "ff_norm",
    },
}
_BLOCK = re.compile(r"^(encoder|decoder)\.block\.(\d+)\.layer\.(\d\.[A-Za-z_]+)\.(.+)$")
_BIAS = re.compile(r"^(encoder|decoder)\.block\.0\.layer\.0\.SelfAttention\.relative_attention_bias\.weight$")


def hf_to_t5(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Maps a Hugging Face T5 state dict (``T5ForConditionalGeneration``, v1.0 or v1.1) onto `T5`'s:
    renames blocks and sublayers, moves each stack's relative position bias to the stack, and drops
    the embedding aliases and an LM head that is the tied embedding."""
    out: dict[str, Tensor] = {}
    for key, tensor in state.items():
        if key in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight"):
            continue  # aliases of shared.weight
        if key == "lm_head.weight":
            if "shared.weight" not in state or not torch.equal(tensor, state["shared.weight"]):
                out[key] = tensor
            continue
        if m := _BIAS.match(key):
            out[f"{m.group(1)}.relative_bias.weight"] = tensor
        elif m := _BLOCK.match(key):
            stack, index, sublayer, rest = m.groups()
            name = _SUBLAYERS[stack].get(sublayer)
            out[f"{stack}.layers.{index}.{name}.{rest}" if name else key] = tensor
        else:
            out[key.replace("final_layer_norm", "norm")] = tensor
    return out


# --------------------------------------------------------------------------- architectures
_V1_1 = {"gated": True, "tie_word_embeddings": False, "scale_decoder_outputs": False}
VARIANTS: dict[str, T5Config] = {
    "t5_small": T5Config(),
    "t5_base": T5Config(d_model=768, d_ff=3072, num_layers=12, num_heads=12),
    "t5_large": T5Config(d_model=1024, d_ff=4096, num_layers=24, num_heads=16),
    "flan_t5_small": T5Config(d_ff=1024, num_layers=8, num_heads=6, **_V1_1),
    "flan_t5_base": T5Config(d_model=768, d_ff=2048, num_layers=12, num_heads=12, **_V1_1),
    "flan_t5_large": T5Config(d_model=1024, d_ff=2816, num_layers=24, num_heads=16, **_V1_1),
}


#: The family: ``T5`` over one ``T5Config`` per variant; your own checkpoints in the Hugging Face layout.
FAMILY = Family(T5, T5Config, VARIANTS, adapter=hf_to_t5)


# --------------------------------------------------------------------------- weights
_T5_PAPER = "https://arxiv.org/abs/1910.10683"
_FLAN_PAPER = "https://arxiv.org/abs/2210.11416"
_GENERATION = {"decoder_start_token_id": 0, "eos_token_id": 1, "pad_token_id": 0}  # generation_config.json
#: The input prefixes T5 was trained with (task_specific_params of its config.json).
TASK_PREFIXES = {
    "summarization": "summarize: ",
    "translation_en_to_de": "translate English to German: ",
    "translation_en_to_fr": "translate English to French: ",
    "translation_en_to_ro": "translate English to Romanian: ",
}


#: A T5 repository: the encoder-decoder with its LM head, ``model.safetensors`` plus ``tokenizer.json``.
T5_HUB = HubFamily(
    adapter=hf_to_t5,
    assets={"tokenizer.json": "tokenizer.json"},
    transforms=hub_tokenizer(max_length=512, with_token_types=False),
    meta={
        "license": "Apache-2.0",
        "recipe": _T5_PAPER,
        "max_length": 512,
        "generation": _GENERATION,
        "training_data": "C4 (unsupervised) plus the supervised multi-task mixture (GLUE, SuperGLUE, SQuAD, CNN/DM, WMT)",
        "task_prefixes": TASK_PREFIXES,
    },
)
#: Flan-T5: T5 v1.1 instruction-tuned, in the same layout.
FLAN_T5_HUB = replace(
    T5_HUB,
    meta={
        "license": "Apache-2.0",
        "recipe": _FLAN_PAPER,
        "max_length": 512,
        "generation": _GENERATION,
        "training_data": "T5 v1.1 (LM-adapted), instruction-tuned on the Flan 2022 collection (1,836 tasks)",
    },
)
_GLUE = "GLUE test (paper, Table 14)"


class T5Small_Weights(WeightsEnum):
    C4 = hub_weights(
        "google-t5/t5-small", T5_HUB, num_params=60506624, approx_size_mb=242, metrics={_GLUE: {"average": 77.4}}
    )
    DEFAULT = C4


class T5Base_Weights(WeightsEnum):
    C4 = hub_weights(
        "google-t5/t5-base", T5_HUB, num_params=222903552, approx_size_mb=892, metrics={_GLUE: {"average": 82.7}}
    )
    DEFAULT = C4


class T5Large_Weights(WeightsEnum):
    C4 = hub_weights(
        "google-t5/t5-large", T5_HUB, num_params=737668096, approx_size_mb=2950, metrics={_GLUE: {"average": 86.4}}
    )
    DEFAULT = C4


class FlanT5Small_Weights(WeightsEnum):
    FLAN = hub_weights("google/flan-t5-small", FLAN_T5_HUB, num_params=76961152, approx_size_mb=308)
    DEFAULT = FLAN


class FlanT5Base_Weights(WeightsEnum):
    FLAN = hub_weights("google/flan-t5-base", FLAN_T5_HUB, num_params=247577856, approx_size_mb=990)
    DEFAULT = FLAN


class FlanT5Large_Weights(WeightsEnum):
    FLAN = hub_weights("google/flan-t5-large", FLAN_T5_HUB, num_params=783150080, approx_size_mb=3130)
    DEFAULT = FLAN


# --------------------------------------------------------------------------- builders
@register_model()
def t5_small(*, weights: T5Small_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> T5:
    """T5-small from [Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer](https://arxiv.org/abs/1910.10683):
    6 + 6 layers, width 512, 60.5 M parameters (the LM head is the tied embedding).

    Args:
        weights: `T5Small_Weights` (``C4`` = ``DEFAULT``): Google's checkpoint, pre-trained on C4 and
            the supervised task mixture (prefix inputs with ``meta["task_prefixes"]``), with its
            SentencePiece tokenizer; its name, your own ``Weights`` of a Hugging Face-layout
            checkpoint, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `T5Config` fields (``dropout``, ...).

    Example::

        weights = T5Small_Weights.DEFAULT
        model = t5_small(weights=weights).eval()
        tokenize = weights.transforms()
        ids = generate(model, **tokenize(["translate English to German: The house is small."]), num_beams=4)
        print(tokenize.decode(ids[0]))
    """
    return FAMILY.build("t5_small", T5Small_Weights.verify(weights), progress, kwargs)


@register_model()
def t5_base(*, weights: T5Base_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> T5:
    """T5-base from [Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer](https://arxiv.org/abs/1910.10683):
    12 + 12 layers, width 768, 222.9 M parameters.

    Args:
        weights: `T5Base_Weights` (``C4`` = ``DEFAULT``), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `T5Config` fields (``dropout``, ...).

    Example::

        weights = T5Base_Weights.DEFAULT
        model = t5_base(weights=weights).eval()
        ids = generate(model, **weights.transforms()(["summarize: " + article]), num_beams=4, max_new_tokens=60)
    """
    return FAMILY.build("t5_base", T5Base_Weights.verify(weights), progress, kwargs)


@register_model()
def t5_large(*, weights: T5Large_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> T5:
    """T5-large from [Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer](https://arxiv.org/abs/1910.10683):
    24 + 24 layers, width 1024, 737.7 M parameters.

    Args:
        weights: `T5Large_Weights` (``C4`` = ``DEFAULT``), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `T5Config` fields (``dropout``, ...).

    Example::

        weights = T5Large_Weights.DEFAULT
        model = t5_large(weights=weights).eval()
        ids = generate(model, **weights.transforms()(["summarize: " + article]), num_beams=4, max_new_tokens=60)
    """
    return FAMILY.build("t5_large", T5Large_Weights.verify(weights), progress, kwargs)


@register_model()
def flan_t5_small(*, weights: FlanT5Small_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> T5:
    """FLAN-T5-small from [Scaling Instruction-Finetuned Language Models](https://arxiv.org/abs/2210.11416): the T5 v1.1
    architecture (gated-GELU feed-forward, its own LM head), 8 + 8 layers, width 512, 77.0 M parameters.

    Args:
        weights: `FlanT5Small_Weights` (``FLAN`` = ``DEFAULT``): instruction-tuned, it follows plain
            instructions; its name, your own ``Weights`` (a T5 v1.1 checkpoint of this size too), or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `T5Config` fields (``dropout``, ...).

    Example::

        weights = FlanT5Small_Weights.DEFAULT
        model = flan_t5_small(weights=weights).eval()
        tokenize = weights.transforms()
        ids = generate(model, **tokenize(["Answer the question: what is the capital of France?"]))
        print(tokenize.decode(ids[0]))
    """
    return FAMILY.build("flan_t5_small", FlanT5Small_Weights.verify(weights), progress, kwargs)


@register_model()
def flan_t5_base(*, weights: FlanT5Base_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> T5:
    """FLAN-T5-base from [Scaling Instruction-Finetuned Language Models](https://arxiv.org/abs/2210.11416): T5 v1.1
    architecture, 12 + 12 layers, width 768, 247.6 M parameters.

    Args:
        weights: `FlanT5Base_Weights` (``FLAN`` = ``DEFAULT``), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `T5Config` fields (``dropout``, ...).

    Example::

        weights = FlanT5Base_Weights.DEFAULT
        model = flan_t5_base(weights=weights).eval()
        ids = generate(model, **weights.transforms()(["Translate to German: How old are you?"]))
    """
    return FAMILY.build("flan_t5_base", FlanT5Base_Weights.verify(weights), progress, kwargs)


@register_model()
def flan_t5_large(*, weights: FlanT5Large_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> T5:
    """FLAN-T5-large from [Scaling Instruction-Finetuned Language Models](https://arxiv.org/abs/2210.11416): T5 v1.1
    architecture, 24 + 24 layers, width 1024, 783.2 M parameters.

    Args:
        weights: `FlanT5Large_Weights` (``FLAN`` = ``DEFAULT``), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `T5Config` fields (``dropout``, ...).

    Example::

        weights = FlanT5Large_Weights.DEFAULT
        model = flan_t5_large(weights=weights).eval()
        ids = generate(model, **weights.transforms()(["Translate to German: How old are you?"]))
    """
    return FAMILY.build("flan_t5_large", FlanT5Large_Weights.verify(weights), progress, kwargs)
