"""The GPT-2 family of decoders: GPT-2 (124M, medium, large, xl) and DistilGPT-2, with the weights
of their published checkpoints.

One class, `GPT2`, configured by a frozen `GPT2Config`: pre-norm causal transformer layers,
learned positions, and a language-model head tied to the token embeddings. It is a `CausalLM`
(``forward(input_ids, attention_mask, cache=...) -> logits``, ``new_cache``), so
`torchgraft.core.generate` decodes with it, and a backbone: its features are a causal sequence
``[B, T, D]`` summarised by the last real token, so ``classifier("gpt2", num_classes=3)`` is
transformers' ``GPT2ForSequenceClassification``. Its own classifier is the LM head
(``classifier_name = "lm_head"``), removed when it becomes a backbone.

Positions are counted over real tokens (from the attention mask), so a left-padded prompt gives
what it gives alone.

Weights:
The files are the upstream ``model.safetensors`` and ``tokenizer.json`` of each repository, read
in the Hugging Face layout and converted on load (`hf_to_gpt2`): the ``Conv1D`` weights, stored
``[in, out]``, become transposed views (no copy), the causal-mask buffers are dropped, and the LM
head is the tied embedding. Their publishers give no sha256: pinned on first download.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
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
from torchgraft.core.generation import GenerationConfig, KVCache, causal_attention_mask, positions_from_mask
from torchgraft.core.hub import HubFamily, hub_weights
from torchgraft.core.packing import padding_matters
from torchgraft.core.preflight import check_fields

from ..transforms import hub_tokenizer
from ._seq2seq import Attention

__all__ = [
    "GPT2",
    "GPT2Config",
    "DistilGPT2_Weights",
    "GPT2_Weights",
    "GPT2Large_Weights",
    "GPT2Medium_Weights",
    "GPT2XL_Weights",
    "distilgpt2",
    "gpt2",
    "gpt2_large",
    "gpt2_medium",
    "gpt2_xl",
    "hf_to_gpt2",
]


@dataclass(frozen=True)
class GPT2Config:
    vocab_size: int = 50257
    max_positions: int = 1024
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    layer_norm_eps: float = 1e-5
    dropout: float = 0.1
    bos_token_id: int = 50256
    eos_token_id: int = 50256
    tie_word_embeddings: bool = True
    #: Cross-attention over an encoder's states in every layer (a decoder joined by ``seq2seq``).
    cross_attention: bool = False

    def __post_init__(self) -> None:
        check_fields(self, what=type(self).__name__)
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.num_heads, self.dropout = cfg.num_heads, cfg.dropout
        self.qkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.out = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(
        self, x: Tensor, attn_mask: Tensor | None, cache: KVCache | None, layer: int, slots: Tensor | None
    ) -> Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)  # [B, H, T, Dh]
        if cache is not None:
            k, v = cache.update(layer, slots, k, v)  # [B, H, capacity, Dh]
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=attn_mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=attn_mask is None and cache is None,
        )
        return self.out(out.transpose(1, 2).reshape(B, T, D))


class DecoderLayer(nn.Module):
    """Pre-norm layer: ``x + attn(norm1(x))``, (joined to an encoder) ``x + cross(cross_norm(x),
    memory)``, then ``h + mlp(norm2(h))`` (GELU, tanh form)."""

    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.attn = CausalSelfAttention(cfg)
        if cfg.cross_attention:
            self.add_cross_attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.fc1 = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.fc2 = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.dropout = nn.Dropout(cfg.dropout)

    def add_cross_attention(self, cfg: GPT2Config) -> None:
        head_dim = cfg.hidden_size // cfg.num_heads
        self.cross_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.cross = Attention(cfg.hidden_size, cfg.num_heads, head_dim, bias=True, dropout=cfg.dropout)
        for proj in (self.cross.q, self.cross.k, self.cross.v, self.cross.o):
            nn.init.normal_(proj.weight, std=0.02)
            nn.init.zeros_(proj.bias)

    def forward(
        self,
        x: Tensor,
        attn_mask: Tensor | None,
        cache: KVCache | None,
        layer: int,
        slots: Tensor | None,
        memory: Tensor | None = None,
        memory_mask: Tensor | None = None,
    ) -> Tensor:
        x = x + self.dropout(self.attn(self.norm1(x), attn_mask, cache, layer, slots))
        if memory is not None:
            x = x + self.dropout(self.cross(self.cross_norm(x), memory_mask, memory=memory, cache=cache, layer=layer))
        return x + self.dropout(self.fc2(F.gelu(self.fc1(self.norm2(x)), approximate="tanh")))


class GPT2(nn.Module):
    """GPT-2: ``forward(input_ids, attention_mask=None) -> logits [B, T, vocab]``."""

    classifier_name = "lm_head"

    def __init__(self, cfg: GPT2Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.word = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.position = nn.Embedding(cfg.max_positions, cfg.hidden_size)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.lm_head: nn.Linear | None = None
        self.feature_spec = FeatureSpec(kind="sequence", width=cfg.hidden_size, has_mask=True, causal=True)
        self.generation_config = GenerationConfig(eos_token_id=cfg.eos_token_id, bos_token_id=cfg.bos_token_id)
        self.reset_parameters()
        self.reset_classifier(cfg.vocab_size)

    @property
    def vocab_size(self) -> int:
        return self.cfg.vocab_size

    @property
    def input_embeddings(self) -> nn.Embedding:
        return self.word

    @property
    def num_classes(self) -> int:
        return 0 if self.lm_head is None else self.lm_head.out_features

    def add_cross_attention(self) -> list[str]:
        """Gives every layer a fresh cross-attention over an encoder's states (how ``seq2seq``
        joins this decoder to an encoder); returns the new parameters' names."""
        if self.cfg.cross_attention:
            raise ValueError("this GPT2 already has cross-attention")
        self.cfg = replace(self.cfg, cross_attention=True)
        before = {name for name, _ in self.named_parameters()}
        for layer in self.layers:
            layer.add_cross_attention(self.cfg)
        return sorted(name for name, _ in self.named_parameters() if name not in before)

    def reset_parameters(self) -> None:
        """GPT-2's initialisation: normal(0, 0.02), output projections scaled by 1/sqrt(2 * layers)."""
        for name, m in self.named_modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                std = 0.02 / (2 * self.cfg.num_layers) ** 0.5 if name.endswith(("attn.out", "fc2")) else 0.02
                nn.init.normal_(m.weight, std=std)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                m.reset_parameters()

    def reset_classifier(self, num_classes: int) -> None:
        """The LM head over ``num_classes`` outputs (tied to the token embeddings when that is the
        vocabulary and the config ties), or none for ``0``: ``forward`` then returns hidden states."""
        if num_classes == 0:
            self.lm_head = None
            return
        self.lm_head = nn.Linear(self.cfg.hidden_size, num_classes, bias=False)
        if num_classes == self.cfg.vocab_size and self.cfg.tie_word_embeddings:
            self.lm_head.weight = self.word.weight
        else:
            nn.init.normal_(self.lm_head.weight, std=0.02)

    def new_cache(
        self, batch_size: int, max_length: int, *, dtype: torch.dtype | None = None, device: Any = None
    ) -> KVCache:
        """A static cache for ``batch_size`` rows of up to ``max_length`` tokens."""
        if max_length > self.cfg.max_positions:
            raise ValueError(f"max_length {max_length} exceeds the model's {self.cfg.max_positions} positions")
        ref = self.word.weight
        return KVCache(
            self.cfg.num_layers,
            batch_size,
            self.cfg.num_heads,
            max_length,
            self.cfg.hidden_size // self.cfg.num_heads,
            dtype=dtype or ref.dtype,
            device=device or ref.device,
        )

    def shard_units(self) -> list[nn.Module]:
        """The decoder layers, sharded one by one (the tied embedding stays with the root)."""
        return list(self.layers)

    def forward_features(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        *,
        position_ids: Tensor | None = None,
        cache: KVCache | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
    ) -> Features:
        """Hidden states of the last layer (after the final norm). With a ``cache``, the tokens
        take its next positions and ``attention_mask`` covers the cache (``[B, capacity]``, or the
        tokens seen so far). A decoder with cross-attention reads ``encoder_hidden_states``
        ``[B, S, D]`` (real where ``encoder_attention_mask`` ``[B, S]`` says)."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [batch, tokens]; found shape {list(input_ids.shape)}")
        if self.cfg.cross_attention != (encoder_hidden_states is not None):
            raise ValueError(
                "this GPT2 has cross-attention: pass encoder_hidden_states"
                if self.cfg.cross_attention
                else "encoder_hidden_states given, but this GPT2 has no cross-attention (see add_cross_attention)"
            )
        memory_mask = encoder_attention_mask.bool()[:, None, None, :] if encoder_attention_mask is not None else None
        T = input_ids.shape[1]
        mask = attention_mask.bool() if attention_mask is not None else None
        if cache is None:
            slots = None
            keys = torch.arange(T, device=input_ids.device)
            attn_mask = causal_attention_mask(keys, T, mask) if padding_matters(mask) else None
            positions = positions_from_mask(mask) if mask is not None else keys[None]
            token_mask = mask
        else:
            slots = cache.reserve(T)  # [T]
            attn_mask = causal_attention_mask(slots, cache.capacity, mask)
            positions = positions_from_mask(mask)[:, slots] if mask is not None else slots[None]
            token_mask = mask[:, slots] if mask is not None else None
        if position_ids is not None:
            positions = position_ids
        if not torch.compiler.is_compiling() and int(positions.max()) >= self.cfg.max_positions:
            raise ValueError(f"position {int(positions.max())} exceeds the model's {self.cfg.max_positions} positions")
        x = self.dropout(self.word(input_ids) + self.position(positions))  # [B, T, D]
        for i, layer in enumerate(self.layers):
            x = layer(x, attn_mask, cache, i, slots, encoder_hidden_states, memory_mask)
        return Features(last=self.norm(x), mask=token_mask)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        *,
        position_ids: Tensor | None = None,
        cache: KVCache | None = None,
        logits_to_keep: int = 0,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
    ) -> Tensor:
        """Logits ``[B, T, vocab]`` (the last ``logits_to_keep`` positions only, when set); hidden
        states ``[B, T, D]`` once the LM head is removed."""
        x = self.forward_features(
            input_ids,
            attention_mask,
            position_ids=position_ids,
            cache=cache,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask,
        ).last
        if self.lm_head is None:
            return x
        return self.lm_head(x[:, -logits_to_keep:] if logits_to_keep else x)


# --------------------------------------------------------------------------- Hugging Face layout
_HF_RENAMES = [
    (r"^wte\.", "word."),
    (r"^wpe\.", "position."),
    (r"^ln_f\.", "norm."),
    (r"^h\.(\d+)\.ln_1\.", r"layers.\1.norm1."),
    (r"^h\.(\d+)\.ln_2\.", r"layers.\1.norm2."),
    (r"^h\.(\d+)\.attn\.c_attn\.", r"layers.\1.attn.qkv."),
    (r"^h\.(\d+)\.attn\.c_proj\.", r"layers.\1.attn.out."),
    (r"^h\.(\d+)\.mlp\.c_fc\.", r"layers.\1.fc1."),
    (r"^h\.(\d+)\.mlp\.c_proj\.", r"layers.\1.fc2."),
    (r"^h\.(\d+)\.ln_cross_attn\.", r"layers.\1.cross_norm."),
    (r"^h\.(\d+)\.crossattention\.q_attn\.", r"layers.\1.cross.q."),
    (r"^h\.(\d+)\.crossattention\.c_proj\.", r"layers.\1.cross.o."),
]
_CONV1D = re.compile(
    r"^h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj|crossattention\.q_attn|crossattention\.c_proj|crossattention\.c_attn)\.weight$"
)
_DROPPED = re.compile(r"^h\.\d+\.(attn|crossattention)\.(bias|masked_bias)$")
_CROSS_KV = re.compile(r"^h\.(\d+)\.crossattention\.c_attn\.(weight|bias)$")


def hf_to_gpt2(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Maps a Hugging Face GPT-2 state dict (``GPT2Model`` or ``GPT2LMHeadModel``, with or without
    the ``transformer.`` prefix) onto `GPT2`'s: renames, turns ``Conv1D`` weights ``[in, out]``
    into ``nn.Linear``'s ``[out, in]`` (transposed views: nothing is copied), drops the causal-mask
    buffers, splits cross-attention's key/value projection (``add_cross_attention`` decoders), and
    keeps ``lm_head.weight`` only where it is not the tied embedding."""
    prefixed = any(k.startswith("transformer.") for k in state)
    out: dict[str, Tensor] = {}
    for key, tensor in state.items():
        if key == "lm_head.weight":
            word = state.get("transformer.wte.weight" if prefixed else "wte.weight")
            if word is None or not torch.equal(tensor, word):
                out["lm_head.weight"] = tensor
            continue
        if prefixed:
            if not key.startswith("transformer."):
                out[key] = tensor  # left for the strict load to report
                continue
            key = key.removeprefix("transformer.")
        if _DROPPED.match(key):
            continue
        if _CONV1D.match(key):
            tensor = tensor.t()
        if m := _CROSS_KV.match(key):  # keys and values of the encoder's states, in one projection
            k, v = tensor.chunk(2, dim=0)
            out[f"layers.{m.group(1)}.cross.k.{m.group(2)}"] = k
            out[f"layers.{m.group(1)}.cross.v.{m.group(2)}"] = v
            continue
        for pattern, repl in _HF_RENAMES:
            new, n = re.subn(pattern, repl, key)
            if n:
                out[new] = tensor
                break
        else:
            out[key] = tensor
    return out


# --------------------------------------------------------------------------- architectures
_SMALL = GPT2Config()
VARIANTS: dict[str, GPT2Config] = {
    "gpt2": _SMALL,
    "gpt2_medium": replace(_SMALL, hidden_size=1024, num_layers=24, num_heads=16, intermediate_size=4096),
    "gpt2_large": replace(_SMALL, hidden_size=1280, num_layers=36, num_heads=20, intermediate_size=5120),
    "gpt2_xl": replace(_SMALL, hidden_size=1600, num_layers=48, num_heads=25, intermediate_size=6400),
    "distilgpt2": replace(_SMALL, num_layers=6),
}


#: The family: ``GPT2`` over one ``GPT2Config`` per variant; your own checkpoints in the Hugging Face layout.
FAMILY = Family(GPT2, GPT2Config, VARIANTS, adapter=hf_to_gpt2)


# --------------------------------------------------------------------------- weights
_PAPER = "https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf"
_GENERATION = {"bos_token_id": 50256, "eos_token_id": 50256}  # the repositories' generation_config.json


def _zero_shot(lambada_ppl: float, lambada_acc: float, wikitext2: float, ptb: float, wikitext103: float) -> dict:
    """The paper's zero-shot results (Table 3), as each model card quotes them."""
    return {
        "LAMBADA (zero-shot)": {"perplexity": lambada_ppl, "accuracy": lambada_acc},
        "WikiText-2 (zero-shot)": {"perplexity": wikitext2},
        "PTB (zero-shot)": {"perplexity": ptb},
        "WikiText-103 (zero-shot)": {"perplexity": wikitext103},
    }


#: A GPT-2 repository: the decoder with its (tied) LM head, ``model.safetensors`` plus ``tokenizer.json``.
GPT2_HUB = HubFamily(
    adapter=hf_to_gpt2,
    assets={"tokenizer.json": "tokenizer.json"},
    transforms=hub_tokenizer(max_length=1024, with_token_types=False, padding_side="left", pad_token="<|endoftext|>"),
    meta={
        "license": "MIT",
        "recipe": _PAPER,
        "max_length": 1024,
        "generation": _GENERATION,
        "training_data": "WebText (40 GB of text from outbound Reddit links)",
    },
)


class GPT2_Weights(WeightsEnum):
    WEBTEXT = hub_weights(
        "openai-community/gpt2",
        GPT2_HUB,
        num_params=124439808,
        approx_size_mb=548,
        metrics=_zero_shot(35.13, 45.99, 29.41, 65.85, 37.50),
    )
    DEFAULT = WEBTEXT


class GPT2Medium_Weights(WeightsEnum):
    WEBTEXT = hub_weights(
        "openai-community/gpt2-medium",
        GPT2_HUB,
        num_params=354823168,
        approx_size_mb=1520,
        metrics=_zero_shot(15.60, 55.48, 22.76, 47.33, 26.37),
    )
    DEFAULT = WEBTEXT


class GPT2Large_Weights(WeightsEnum):
    WEBTEXT = hub_weights(
        "openai-community/gpt2-large",
        GPT2_HUB,
        num_params=774030080,
        approx_size_mb=3250,
        metrics=_zero_shot(10.87, 60.12, 19.93, 40.31, 22.05),
    )
    DEFAULT = WEBTEXT


class GPT2XL_Weights(WeightsEnum):
    WEBTEXT = hub_weights(
        "openai-community/gpt2-xl",
        GPT2_HUB,
        num_params=1557611200,
        approx_size_mb=6430,
        metrics=_zero_shot(8.63, 63.24, 18.34, 35.76, 17.48),
    )
    DEFAULT = WEBTEXT


class DistilGPT2_Weights(WeightsEnum):
    OPENWEBTEXT = hub_weights(
        "distilbert/distilgpt2",
        GPT2_HUB,
        num_params=81912576,
        approx_size_mb=353,
        license="Apache-2.0",
        recipe="https://arxiv.org/abs/1910.01108",
        training_data="OpenWebTextCorpus, distilled from GPT-2 (124M)",
    )
    DEFAULT = OPENWEBTEXT


# --------------------------------------------------------------------------- builders
@register_model()
def gpt2(*, weights: GPT2_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> GPT2:
    """GPT-2 (124M) from [Language Models are Unsupervised Multitask Learners](https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf):
    12 layers, width 768, 1,024 positions, 124.4 M parameters (the LM head is the tied embedding).

    Args:
        weights: `GPT2_Weights` (``WEBTEXT`` = ``DEFAULT``): OpenAI's checkpoint with its byte-level
            BPE tokenizer, its name, your own ``Weights`` of a Hugging Face-layout checkpoint, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `GPT2Config` fields (``dropout``, ``max_positions``, ...).

    Example::

        weights = GPT2_Weights.DEFAULT
        model = gpt2(weights=weights).eval()
        tokenize = weights.transforms()
        ids = generate(model, **tokenize(["The meaning of life is"]), max_new_tokens=20)
        print(tokenize.decode(ids[0]))
    """
    return FAMILY.build("gpt2", GPT2_Weights.verify(weights), progress, kwargs)


@register_model()
def gpt2_medium(*, weights: GPT2Medium_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> GPT2:
    """GPT-2 medium (355M) from [Language Models are Unsupervised Multitask Learners](https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf):
    24 layers, width 1024, 354.8 M parameters.

    Args:
        weights: `GPT2Medium_Weights` (``WEBTEXT`` = ``DEFAULT``), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `GPT2Config` fields (``dropout``, ``max_positions``, ...).

    Example::

        weights = GPT2Medium_Weights.DEFAULT
        model = gpt2_medium(weights=weights).eval()
        ids = generate(model, **weights.transforms()(["The meaning of life is"]), max_new_tokens=20)
    """
    return FAMILY.build("gpt2_medium", GPT2Medium_Weights.verify(weights), progress, kwargs)


@register_model()
def gpt2_large(*, weights: GPT2Large_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> GPT2:
    """GPT-2 large (774M) from [Language Models are Unsupervised Multitask Learners](https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf):
    36 layers, width 1280, 774.0 M parameters.

    Args:
        weights: `GPT2Large_Weights` (``WEBTEXT`` = ``DEFAULT``), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `GPT2Config` fields (``dropout``, ``max_positions``, ...).

    Example::

        weights = GPT2Large_Weights.DEFAULT
        model = gpt2_large(weights=weights).eval()
        ids = generate(model, **weights.transforms()(["The meaning of life is"]), max_new_tokens=20)
    """
    return FAMILY.build("gpt2_large", GPT2Large_Weights.verify(weights), progress, kwargs)


@register_model()
def gpt2_xl(*, weights: GPT2XL_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> GPT2:
    """GPT-2 XL (1.5B) from [Language Models are Unsupervised Multitask Learners](https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf):
    48 layers, width 1600, 1,557.6 M parameters.

    Args:
        weights: `GPT2XL_Weights` (``WEBTEXT`` = ``DEFAULT``), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `GPT2Config` fields (``dropout``, ``max_positions``, ...).

    Example::

        weights = GPT2XL_Weights.DEFAULT
        model = gpt2_xl(weights=weights).eval()
        ids = generate(model, **weights.transforms()(["The meaning of life is"]), max_new_tokens=20)
    """
    return FAMILY.build("gpt2_xl", GPT2XL_Weights.verify(weights), progress, kwargs)


@register_model()
def distilgpt2(*, weights: DistilGPT2_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> GPT2:
    """DistilGPT-2 from [DistilBERT, a distilled version of BERT](https://arxiv.org/abs/1910.01108):
    GPT-2 (124M) distilled into 6 layers, 81.9 M parameters.

    Args:
        weights: `DistilGPT2_Weights` (``OPENWEBTEXT`` = ``DEFAULT``), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while downloading.
        **kwargs: `GPT2Config` fields (``dropout``, ``max_positions``, ...).

    Example::

        weights = DistilGPT2_Weights.DEFAULT
        model = distilgpt2(weights=weights).eval()
        ids = generate(model, **weights.transforms()(["The meaning of life is"]), max_new_tokens=20)
    """
    return FAMILY.build("distilgpt2", DistilGPT2_Weights.verify(weights), progress, kwargs)
