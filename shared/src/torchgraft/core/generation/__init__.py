"""Text generation for any model of any package that satisfies `CausalLM` (decoder-only) or
`Seq2SeqLM` (encoder-decoder): greedy decoding, sampling, beam search, on one static `KVCache`.

The names follow transformers' ``GenerationConfig`` (``max_new_tokens``, ``do_sample``, ``top_k``,
``num_beams``, ...) and so do the results: a decoder-only model returns the prompt plus the new
tokens ``[B, T + N]``; an encoder-decoder returns decoder ids that begin with the decoder start
token ``[B, 1 + N]``. Batches of prompts are left-padded; positions come from the attention mask,
so a padded row gives the tokens its prompt gives alone.

The cache is allocated once, at its final size, and written by position: shapes never change
from one step to the next, which is what ``torch.compile`` and CUDA graphs need.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..contracts.errors import ModelTooLargeError, UnknownKeywordError

__all__ = [
    "CausalLM",
    "GenerationConfig",
    "KVCache",
    "Seq2SeqLM",
    "causal_attention_mask",
    "check_request",
    "generate",
    "positions_from_mask",
    "with_publisher_defaults",
]


# --------------------------------------------------------------------------- the cache
class KVCache:
    """Keys and values of every attention layer, preallocated: ``k[layer]`` and ``v[layer]`` are
    ``[B, heads, capacity, head_dim]``, and ``position`` (a 0-d tensor, so compiled code does not
    recompile as it grows) is the next free slot. One buffer per layer, written in place, so a
    compiled step updates it without copying the rest. Encoder-decoders also keep each layer's
    cross-attention keys and values in ``cross``, computed once from the encoder's output."""

    def __init__(
        self,
        num_layers: int,
        batch_size: int,
        num_heads: int,
        capacity: int,
        head_dim: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        if min(num_layers, batch_size, num_heads, capacity, head_dim) <= 0:
            raise ValueError(
                f"a KVCache needs positive sizes; found layers={num_layers}, batch={batch_size}, "
                f"heads={num_heads}, capacity={capacity}, head_dim={head_dim}"
            )
        shape = (batch_size, num_heads, capacity, head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.position = torch.zeros((), dtype=torch.long, device=device)
        self.cross: list[tuple[Tensor, Tensor] | None] = [None] * num_layers

    @property
    def capacity(self) -> int:
        return self.k[0].shape[2]

    @property
    def batch_size(self) -> int:
        return self.k[0].shape[0]

    def reserve(self, length: int) -> Tensor:
        """The cache positions ``[length]`` of the next ``length`` tokens, and advances past them
        (a model calls this once per forward, before its layers)."""
        if not torch.compiler.is_compiling() and int(self.position) + length > self.capacity:
            raise ValueError(
                f"the KVCache holds {self.capacity} positions; {int(self.position)} are used and "
                f"{length} more were asked for: make a larger cache (new_cache(..., max_length=))"
            )
        positions = self.position + torch.arange(length, device=self.position.device)
        self.position += length
        return positions

    def update(self, layer: int, positions: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Writes ``k``/``v`` ``[B, H, T, Dh]`` at ``positions`` ``[T]``; returns the layer's whole
        keys and values ``[B, H, capacity, Dh]`` (unfilled slots are masked by the caller)."""
        keys, values = self.k[layer], self.v[layer]
        keys.index_copy_(2, positions, k.to(keys.dtype))
        values.index_copy_(2, positions, v.to(values.dtype))
        return keys, values

    def reorder(self, index: Tensor) -> None:
        """Keeps rows ``index`` ``[B]`` (beam search). Cross-attention entries are left alone: beams
        of one input share its encoder output, so their rows are equal."""
        self.k = [k.index_select(0, index) for k in self.k]
        self.v = [v.index_select(0, index) for v in self.v]


def positions_from_mask(attention_mask: Tensor) -> Tensor:
    """Position ids ``[B, T]`` counted over the real tokens of a ``[B, T]`` padding mask: a
    left-padded row numbers its first real token 0, as its prompt alone would."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def causal_attention_mask(query_positions: Tensor, key_length: int, key_mask: Tensor | None = None) -> Tensor:
    """Boolean ``[B or 1, 1, T, S]`` (True: may attend): query ``t`` at position
    ``query_positions[t]`` sees keys up to its own position that are real tokens (``key_mask``
    ``[B, S]``, or only its first columns: those seen so far). Each query also sees itself, so a
    padding query never attends to nothing (its softmax would be NaN and poison the real rows
    through the values)."""
    keys = torch.arange(key_length, device=query_positions.device)
    allowed = keys[None, :] <= query_positions[:, None]  # [T, S]
    if key_mask is None:
        return allowed[None, None]
    if key_mask.shape[1] < key_length:  # later columns are future tokens, which causality hides
        key_mask = F.pad(key_mask.bool(), (0, key_length - key_mask.shape[1]), value=True)
    itself = keys[None, :] == query_positions[:, None]
    return ((allowed[None] & key_mask.bool()[:, None, :]) | itself[None])[:, None]  # [B, 1, T, S]


# --------------------------------------------------------------------------- protocols
@runtime_checkable
class CausalLM(Protocol):
    """A decoder-only language model: ``forward(input_ids [B, T], attention_mask [B, S] | None,
    *, position_ids=None, cache=None, logits_to_keep=0) -> logits [B, T, vocab]`` (with a cache, the
    mask covers the cache's positions and the tokens are written at the cache's next positions;
    ``logits_to_keep=n`` computes the last ``n`` positions' logits only), and
    ``new_cache(batch_size, max_length, *, device=None)``. A model that states ``vocab_size`` and
    (with learned positions) ``max_positions``, on itself or its ``cfg``, has every request checked
    against them before a tensor is made (see `check_request`)."""

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, **kwargs: Any) -> Tensor: ...

    def new_cache(self, batch_size: int, max_length: int, **kwargs: Any) -> KVCache: ...


@runtime_checkable
class Seq2SeqLM(Protocol):
    """An encoder-decoder: ``encode(input_ids, attention_mask) -> [B, S, D]``,
    ``decode(decoder_input_ids, encoder_hidden_states, encoder_attention_mask, *, cache=None,
    logits_to_keep=0) -> logits [B, T, vocab]``, and ``new_cache(batch_size, max_length)``."""

    def encode(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor: ...

    def decode(
        self,
        decoder_input_ids: Tensor,
        encoder_hidden_states: Tensor,
        encoder_attention_mask: Tensor | None = None,
        **kwargs: Any,
    ) -> Tensor: ...

    def new_cache(self, batch_size: int, max_length: int, **kwargs: Any) -> KVCache: ...


# --------------------------------------------------------------------------- configuration
#: The fields of `GenerationConfig` that name token ids (each checked against the model's vocabulary).
_TOKEN_FIELDS = (
    "eos_token_id",
    "pad_token_id",
    "bos_token_id",
    "decoder_start_token_id",
    "forced_bos_token_id",
    "forced_eos_token_id",
)


@dataclass(frozen=True)
class GenerationConfig:
    """How to generate; the names and defaults are transformers' (``top_k=50`` applies only
    when sampling). A weights entry carries its publisher's defaults in ``meta["generation"]``.

    ``min_new_tokens`` forbids EOS before that many new tokens; ``early_stopping`` (beam search)
    is ``True`` (stop once ``num_beams`` hypotheses are done), ``False`` (stop when no running beam
    can beat them, by a heuristic) or ``"never"``; ``length_penalty`` divides a finished beam's
    log-probability by its length to that power; ``stop_strings`` end a row whose new text
    contains one (``generate`` needs a ``tokenizer`` to read them)."""

    max_new_tokens: int = 20
    min_new_tokens: int = 0
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    eos_token_id: int | tuple[int, ...] | None = None
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    decoder_start_token_id: int | None = None
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | None = None
    stop_strings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        eos = self.eos_token_id
        if isinstance(eos, Sequence) and not isinstance(eos, str):
            object.__setattr__(self, "eos_token_id", tuple(eos) or None)
        stops = self.stop_strings
        if isinstance(stops, str):
            object.__setattr__(self, "stop_strings", (stops,))
        elif isinstance(stops, (list, tuple)):
            object.__setattr__(self, "stop_strings", tuple(stops))
        problems = [p for p in self._problems() if p]
        if problems:
            raise ValueError("invalid GenerationConfig: " + "; ".join(problems))

    def _problems(self) -> Iterator[str]:
        """What is wrong with the fields, each said with the value found (types first: a NaN, a
        float or a bool where a count belongs is named, never passed to torch)."""

        def count(name: str, low: int) -> str:
            value = getattr(self, name)
            if type(value) is not int or value < low:
                return f"{name} must be an integer >= {low}; found {value!r}"
            return ""

        def number(name: str, ok: Callable[[float], bool], want: str) -> str:
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or not ok(value)
            ):
                return f"{name} must be {want}; found {value!r}"
            return ""

        yield count("max_new_tokens", 1)
        yield count("min_new_tokens", 0)
        counts = type(self.min_new_tokens) is int and type(self.max_new_tokens) is int
        if counts and self.min_new_tokens > self.max_new_tokens:
            yield f"min_new_tokens must be in [0, max_new_tokens]; found {self.min_new_tokens}"
        yield count("top_k", 0)
        yield count("num_beams", 1)
        yield count("no_repeat_ngram_size", 0)
        yield number("temperature", lambda v: v > 0, "a finite number > 0")
        yield number("top_p", lambda v: 0 < v <= 1, "in (0, 1]")
        yield number("repetition_penalty", lambda v: v > 0, "a finite number > 0")
        yield number("length_penalty", lambda v: True, "a finite number")
        if not isinstance(self.do_sample, bool):
            yield f"do_sample must be True or False; found {self.do_sample!r}"
        for name in _TOKEN_FIELDS:
            value = getattr(self, name)
            ids = value if name == "eos_token_id" and isinstance(value, tuple) else (value,)
            if value is not None and not all(type(i) is int and i >= 0 for i in ids):
                yield f"{name} must be a token id (an integer >= 0){' or a list of them' if name == 'eos_token_id' else ''}; found {value!r}"
        if self.early_stopping not in (True, False, "never"):
            yield f"early_stopping must be True, False or 'never'; found {self.early_stopping!r}"
        if self.do_sample is True and type(self.num_beams) is int and self.num_beams > 1:
            yield "beam search with sampling is not supported: set do_sample=False or num_beams=1"
        if not isinstance(self.stop_strings, tuple) or not all(isinstance(s, str) and s for s in self.stop_strings):
            yield f"stop_strings must be non-empty strings; found {self.stop_strings!r}"

    @property
    def eos_ids(self) -> tuple[int, ...]:
        eos = self.eos_token_id
        return () if eos is None else (eos,) if isinstance(eos, int) else tuple(eos)

    def merged(self, values: Mapping[str, Any]) -> GenerationConfig:
        """A copy with ``values`` replaced; an unknown name raises `UnknownKeywordError`."""
        names = [f.name for f in fields(self)]
        unknown = [k for k in values if k not in names]
        if unknown:
            raise UnknownKeywordError("generate() (GenerationConfig fields)", unknown, names)
        return replace(self, **values)


def with_publisher_defaults(base: GenerationConfig, weights: Any) -> GenerationConfig:
    """``base`` under a weights entry's published decoding defaults (``meta["generation"]``): the one
    place they are merged, for a built model's ``generation_config`` and for a command checking a
    request before anything is downloaded."""
    return base.merged(dict(weights.meta.get("generation") or {}))


def config_for(model: nn.Module, config: GenerationConfig | Mapping[str, Any] | None) -> GenerationConfig:
    """``config``, else the model's ``generation_config`` (its special tokens and its weights'
    published defaults), else transformers' defaults."""
    if isinstance(config, GenerationConfig):
        return config
    base = getattr(model, "generation_config", None)
    base = base if isinstance(base, GenerationConfig) else GenerationConfig()
    return base.merged(config) if config else base


# --------------------------------------------------------------------------- logits processing
_NEG = -1.0e9  # a finished beam's score: far below any real log-probability, and never NaN


class _Scores:
    """Turns a step's logits into scores, in transformers' order: repetition penalty, no repeated
    n-grams, min new tokens, forced BOS / EOS, then (sampling only) temperature, top-k, top-p."""

    def __init__(self, cfg: GenerationConfig, prompt_length: int, padding: Tensor | None) -> None:
        self.cfg, self.prompt_length = cfg, prompt_length
        self.padding = padding  # [N] left-padding length per row, or None

    def __call__(self, scores: Tensor, tokens: Tensor) -> Tensor:
        """``scores`` ``[N, V]`` (float32, changed in place) for the next token after ``tokens`` ``[N, cur]``."""
        cfg = self.cfg
        cur, vocab = tokens.shape[1], scores.shape[-1]
        new = cur - self.prompt_length
        real = tokens
        if self.padding is not None:
            columns = torch.arange(cur, device=tokens.device)
            real = tokens.masked_fill(columns[None] < self.padding[:, None], vocab)  # padding -> dummy id V
        if cfg.repetition_penalty != 1.0:
            seen = torch.zeros(scores.shape[0], vocab + 1, dtype=torch.bool, device=scores.device)
            seen.scatter_(1, real, True)
            penalized = torch.where(scores < 0, scores * cfg.repetition_penalty, scores / cfg.repetition_penalty)
            scores = torch.where(seen[:, :vocab], penalized, scores)
        if cfg.no_repeat_ngram_size:
            scores = _ban_repeated_ngrams(scores, real, cfg.no_repeat_ngram_size, vocab)
        eos = list(cfg.eos_ids)
        if eos and new < cfg.min_new_tokens:
            scores[:, eos] = -math.inf
        if cfg.forced_bos_token_id is not None and cur == 1:
            scores = _force(scores, cfg.forced_bos_token_id)
        if cfg.forced_eos_token_id is not None and new == cfg.max_new_tokens - 1:
            scores = _force(scores, cfg.forced_eos_token_id)
        return scores

    def warp(self, scores: Tensor) -> Tensor:
        """Sampling's temperature, top-k and top-p (each token kept by top-p or top-k keeps the
        best one at least)."""
        cfg = self.cfg
        if cfg.temperature != 1.0:
            scores = scores / cfg.temperature
        if cfg.top_k:
            kth = torch.topk(scores, min(cfg.top_k, scores.shape[-1])).values[..., -1:]
            scores = scores.masked_fill(scores < kth, -math.inf)
        if cfg.top_p < 1.0:
            ordered, order = torch.sort(scores, descending=False)
            drop = ordered.softmax(-1).cumsum(-1) <= 1 - cfg.top_p
            drop[..., -1:] = False
            scores = scores.masked_fill(drop.scatter(1, order, drop), -math.inf)
        return scores


def _force(scores: Tensor, token: int) -> Tensor:
    forced = torch.full_like(scores, -math.inf)
    forced[:, token] = 0
    return forced


def _ban_repeated_ngrams(scores: Tensor, tokens: Tensor, n: int, dummy: int) -> Tensor:
    """Bans every token that would complete an n-gram already present in its row."""
    if tokens.shape[1] + 1 < n:
        return scores
    for row, seq in enumerate(tokens.tolist()):
        seq = [t for t in seq if t != dummy]
        if len(seq) + 1 < n:
            continue
        prefix = tuple(seq[len(seq) - n + 1 :])
        banned = {seq[i + n - 1] for i in range(len(seq) - n + 1) if tuple(seq[i : i + n - 1]) == prefix}
        if banned:
            scores[row, list(banned)] = -math.inf
    return scores


# --------------------------------------------------------------------------- stopping and streaming
class _Stops:
    """Rows whose new tokens end in an EOS id or whose new text contains a stop string."""

    def __init__(self, cfg: GenerationConfig, tokenizer: Any, prompt_length: int) -> None:
        if cfg.stop_strings and not callable(getattr(tokenizer, "decode", None)):
            raise ValueError("stop_strings need tokenizer= (an object with decode(ids) -> str) to read the text")
        self.strings, self.tokenizer, self.prompt_length = cfg.stop_strings, tokenizer, prompt_length
        self.eos = torch.tensor(cfg.eos_ids, dtype=torch.long)

    def __call__(self, tokens: Tensor) -> Tensor:
        """``[N]`` bool for ``tokens`` ``[N, cur]`` whose last token was just made."""
        last = tokens[:, -1]
        done = torch.isin(last, self.eos.to(last.device)) if len(self.eos) else torch.zeros_like(last, dtype=torch.bool)
        if self.strings:
            texts = [self.tokenizer.decode(row) for row in tokens[:, self.prompt_length :].tolist()]
            hit = [any(s in text for s in self.strings) for text in texts]
            done = done | torch.tensor(hit, device=last.device)
        return done


def _streamer_calls(streamer: Any) -> tuple[Callable[[Tensor], None], Callable[[], None]]:
    """A plain callable receives each step's tokens ``[B]``; an object with ``put``/``end``
    (transformers' ``TextStreamer`` protocol) receives the prompt first, then each step, then
    ``end()``."""
    if streamer is None:
        return (lambda tokens: None), (lambda: None)
    if callable(getattr(streamer, "put", None)):
        return (lambda tokens: streamer.put(tokens.cpu())), getattr(streamer, "end", lambda: None)
    if callable(streamer):
        return streamer, (lambda: None)
    raise TypeError(f"streamer must be a callable or have put()/end(); found {type(streamer).__name__}")


# --------------------------------------------------------------------------- generate
def generate(
    model: nn.Module,
    input_ids: Tensor,
    *,
    attention_mask: Tensor | None = None,
    config: GenerationConfig | Mapping[str, Any] | None = None,
    streamer: Any = None,
    generator: torch.Generator | None = None,
    tokenizer: Any = None,
    compile: bool = False,
    token_type_ids: Tensor | None = None,
    **overrides: Any,
) -> Tensor:
    """Generates from ``input_ids`` ``[B, T]`` (left-padded, with ``attention_mask``) with a
    `CausalLM` or a `Seq2SeqLM`.

    ``token_type_ids`` is taken so that a tokenizer's whole output can be passed
    (``generate(model, **tokenize(prompts))``, as with transformers); the models that generate take
    none, so it must be all zeros (one segment) and is not used.

    ``config`` (a `GenerationConfig` or a mapping of its fields) defaults to the model's
    ``generation_config``; ``overrides`` replace single fields (``max_new_tokens=64``,
    ``do_sample=True``, ...). ``generator`` seeds sampling. ``streamer`` receives tokens as they are
    made (not with beam search). ``tokenizer`` decodes for ``stop_strings``. ``compile=True`` runs
    the one-token steps through ``torch.compile`` (compiled once per model and batch shape: the cache
    keeps every shape static; the prompt itself runs eagerly).

    Returns a decoder-only model's prompt plus its new tokens ``[B, T + N]``, or an
    encoder-decoder's decoder ids beginning with the start token ``[B, 1 + N]``; rows that finish
    early are filled with ``pad_token_id`` (the EOS id when there is none).
    """
    if token_type_ids is not None and bool(torch.as_tensor(token_type_ids).ne(0).any()):
        raise ValueError(
            "token_type_ids mark a second segment, which the models that generate here do not read: "
            "pass one text per prompt (or leave token_type_ids out)"
        )
    cfg = config_for(model, config).merged(overrides) if overrides else config_for(model, config)
    if not isinstance(input_ids, Tensor) or input_ids.dim() != 2:
        raise ValueError(f"input_ids must be a [batch, tokens] tensor of token ids; found {_shape(input_ids)}")
    if input_ids.shape[0] == 0 or input_ids.shape[1] == 0:
        raise ValueError(
            "the prompt is empty: give at least one token to continue from"
            + (f" (this model's BOS token is id {cfg.bos_token_id})" if cfg.bos_token_id is not None else "")
        )
    if input_ids.dtype.is_floating_point or input_ids.dtype.is_complex or input_ids.dtype == torch.bool:
        raise ValueError(f"input_ids must hold integer token ids; found dtype {input_ids.dtype}")
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask must have input_ids' shape {list(input_ids.shape)}; found {list(attention_mask.shape)}"
        )
    if attention_mask is not None and not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
        raise ValueError("attention_mask must hold only 0 (padding) and 1 (a token)")
    if cfg.num_beams > 1 and streamer is not None:
        raise ValueError("streamer cannot be used with beam search (num_beams > 1): tokens are final only at the end")
    if cfg.num_beams > 1 and cfg.stop_strings:
        raise ValueError("stop_strings are not supported with beam search; use eos_token_id")
    seq2seq = callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None))
    if not seq2seq and not callable(getattr(model, "new_cache", None)):
        raise TypeError(
            f"{type(model).__name__} cannot generate: expected a CausalLM (forward with a cache, new_cache) "
            "or a Seq2SeqLM (encode, decode, new_cache)"
        )
    check_request(model, cfg, input_ids, seq2seq=seq2seq)
    pad = cfg.pad_token_id if cfg.pad_token_id is not None else (cfg.eos_ids[0] if cfg.eos_ids else 0)
    beams = cfg.num_beams
    with torch.inference_mode():
        if seq2seq:
            start = cfg.decoder_start_token_id
            if start is None:
                raise ValueError(f"{type(model).__name__} needs decoder_start_token_id to begin decoding")
            memory = model.encode(input_ids, attention_mask)
            memory_mask = attention_mask
            if beams > 1:
                memory = memory.repeat_interleave(beams, 0)
                memory_mask = memory_mask.repeat_interleave(beams, 0) if memory_mask is not None else None
            prompt = torch.full((memory.shape[0], 1), start, dtype=torch.long, device=input_ids.device)
            padding = None
            cache = model.new_cache(prompt.shape[0], 1 + cfg.max_new_tokens)
            decode = _compiled(model, "decode") if compile else model.decode

            def step(tokens: Tensor) -> Tensor:
                # The first step fills the cross-attention cache: eager, so compiled steps only read it.
                run = decode if int(cache.position) > 0 else model.decode
                return run(tokens, memory, memory_mask, cache=cache, logits_to_keep=1)

        else:
            prompt, padding, full_mask = _left_padded(input_ids, attention_mask, cfg.max_new_tokens, beams)
            cache = model.new_cache(prompt.shape[0], full_mask.shape[1])
            forward = _compiled(model, "forward") if compile else model

            def step(tokens: Tensor) -> Tensor:
                run = forward if tokens.shape[1] == 1 else model  # the prompt's length varies: eager
                return run(tokens, attention_mask=full_mask, cache=cache, logits_to_keep=1)

        scores = _Scores(cfg, prompt.shape[1], padding)
        stops = _Stops(cfg, tokenizer, prompt.shape[1])
        if beams > 1:
            return _beam_search(step, cache, prompt, cfg, scores, pad)
        return _sample_or_greedy(step, prompt, cfg, scores, stops, pad, generator, streamer)


def _model_size(model: nn.Module, name: str) -> int | None:
    """A size a model states about itself (``vocab_size``, ``max_positions``): its attribute, else
    its config's, else ``None``."""
    for owner in (model, getattr(model, "cfg", None)):
        value = getattr(owner, name, None)
        if type(value) is int and value > 0:
            return value
    return None


def check_request(model: nn.Module, cfg: GenerationConfig, input_ids: Tensor, *, seq2seq: bool) -> None:
    """Everything about a generation request that can be known before a tensor is made: token ids
    inside the model's vocabulary, the prompt and the new tokens inside its positions, and the
    cache and scores inside this machine's memory. Raises `ValueError` (or `ModelTooLargeError`)
    saying which input and what it may be."""
    vocab = _model_size(model, "vocab_size")
    if vocab is not None:
        low, high = int(input_ids.min()), int(input_ids.max())
        if low < 0 or high >= vocab:
            bad = low if low < 0 else high
            raise ValueError(f"input_ids holds token id {bad}; this model's vocabulary has ids 0 to {vocab - 1}")
        for name in _TOKEN_FIELDS:
            ids = getattr(cfg, name)
            for i in ids if isinstance(ids, tuple) else () if ids is None else (ids,):
                if i >= vocab:
                    raise ValueError(
                        f"{name}={i} is not a token of this model (its vocabulary has ids 0 to {vocab - 1})"
                    )
    prompt = input_ids.shape[1]
    positions = _model_size(model, "max_positions")
    decoded = 1 + cfg.max_new_tokens if seq2seq else prompt + cfg.max_new_tokens
    if positions is not None:
        if prompt > positions:
            raise ValueError(
                f"the prompt has {prompt} tokens, more than the {positions} positions this model has: shorten it "
                f"(a tokenizer's max_length= truncates)"
            )
        if decoded > positions:
            room = positions - (1 if seq2seq else prompt)
            raise ValueError(
                f"max_new_tokens={cfg.max_new_tokens} does not fit: "
                + ("the decoder start token" if seq2seq else f"the prompt's {prompt} tokens")
                + f" and the new tokens exceed the model's {positions} positions; ask for at most {room}"
            )
    rows = input_ids.shape[0] * cfg.num_beams
    try:
        cache = model.new_cache(rows, decoded, device="meta")
        cache_bytes = sum(t.numel() * t.element_size() for t in (*cache.k, *cache.v))
    except TypeError:  # a model whose new_cache takes no device: estimated from the scores alone
        cache_bytes = 0
    # An upper bound, checked by the fuzz tests: the cache twice (beam search reorders it into a
    # copy), six float32 copies of a step's logits (logits, scores, log-softmax, totals, top-k),
    # and a few int64 token tables of every row (running, candidates, finished).
    length = prompt + decoded
    need = 2 * cache_bytes + 6 * 4 * rows * (vocab or 1) * max(2, 1 + len(cfg.eos_ids)) + 8 * 8 * rows * length
    from ..contracts.preflight import (
        memory_bytes,  # looked up at call time: the fuzz test gives generation a smaller machine
    )

    have = memory_bytes()
    if need > have:
        raise ModelTooLargeError(
            f"generating {input_ids.shape[0]} prompt(s) x num_beams={cfg.num_beams} for {decoded:,} tokens would "
            f"take {need / 2**30:,.1f} GiB; this machine has {have / 2**30:,.1f} GiB: lower "
            f"max_new_tokens or num_beams"
        )


_COMPILED: weakref.WeakKeyDictionary[nn.Module, dict[str, Callable[..., Tensor]]] = weakref.WeakKeyDictionary()


def _compiled(model: nn.Module, method: str) -> Callable[..., Tensor]:
    """``torch.compile`` of ``model.<method>`` with static shapes, made once per model (kept beside
    it, not in it, so the model still copies and pickles)."""
    store = _COMPILED.setdefault(model, {})
    if method not in store:
        store[method] = torch.compile(getattr(model, method), dynamic=False)
    return store[method]


def _shape(x: Any) -> str:
    return f"shape {list(x.shape)}" if isinstance(x, Tensor) else type(x).__name__


def _left_padded(
    input_ids: Tensor, attention_mask: Tensor | None, max_new: int, beams: int
) -> tuple[Tensor, Tensor | None, Tensor]:
    """The prompt (expanded for beams), each row's padding length, and the mask over the whole
    cache: the prompt's, then ones for every token still to come."""
    batch = input_ids.shape[0]
    if attention_mask is None:
        mask = torch.ones_like(input_ids)
        padding = None
    else:
        mask = attention_mask.long()
        if bool((mask.sum(-1) == 0).any()):
            raise ValueError("every prompt needs at least one real token; some rows of attention_mask are all padding")
        if bool((mask[:, -1] == 0).any()):
            raise ValueError(
                "decoder-only generation needs left-padded prompts (padding before the text): "
                "some rows of attention_mask end in padding"
            )
        padding = (mask == 0).sum(-1) if bool((mask == 0).any()) else None
    full = torch.cat([mask, mask.new_ones(batch, max_new)], dim=1)
    if beams > 1:
        input_ids, full = input_ids.repeat_interleave(beams, 0), full.repeat_interleave(beams, 0)
        padding = padding.repeat_interleave(beams, 0) if padding is not None else None
    return input_ids, padding, full


def _sample_or_greedy(
    step: Callable[[Tensor], Tensor],
    prompt: Tensor,
    cfg: GenerationConfig,
    scores: _Scores,
    stops: _Stops,
    pad: int,
    generator: torch.Generator | None,
    streamer: Any,
) -> Tensor:
    put, end = _streamer_calls(streamer)
    rows, start = prompt.shape
    tokens = torch.full((rows, start + cfg.max_new_tokens), pad, dtype=torch.long, device=prompt.device)
    tokens[:, :start] = prompt
    running = torch.ones(rows, dtype=torch.bool, device=prompt.device)
    if streamer is not None and hasattr(streamer, "put"):
        put(prompt)
    logits = step(prompt)[:, -1]
    cur = start
    for made in range(cfg.max_new_tokens):
        next_scores = scores(logits.float().clone(), tokens[:, :cur])
        if cfg.do_sample:
            probs = scores.warp(next_scores).softmax(-1)
            chosen = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        else:
            chosen = next_scores.argmax(-1)
        chosen = torch.where(running, chosen, torch.full_like(chosen, pad))
        tokens[:, cur] = chosen
        cur += 1
        put(chosen)
        running &= ~stops(tokens[:, :cur])
        if made == cfg.max_new_tokens - 1 or not bool(running.any()):
            break
        logits = step(chosen[:, None])[:, -1]
    end()
    return tokens[:, :cur]


def _length_norm(length: int, penalty: float) -> float:
    """``length ** penalty``, as a float that may be infinite (a huge penalty) rather than an error."""
    try:
        return float(length) ** penalty
    except OverflowError:
        return math.inf


def _beam_search(
    step: Callable[[Tensor], Tensor], cache: KVCache, prompt: Tensor, cfg: GenerationConfig, scores: _Scores, pad: int
) -> Tensor:
    """Beam search with transformers' rules: each step keeps the best ``K = max(2, 1 + #eos) *
    beams`` continuations, of which the best ``beams`` that did not just end run on; one that ends
    (EOS, or the length limit) among the best ``beams`` joins the finished hypotheses with its
    score divided by ``new_tokens ** length_penalty``; ``early_stopping`` says when to stop."""
    beams, lp = cfg.num_beams, cfg.length_penalty
    rows, start = prompt.shape
    batch, device = rows // beams, prompt.device
    length = start + cfg.max_new_tokens
    keep = max(2, 1 + len(cfg.eos_ids)) * beams
    best_of_keep = torch.arange(keep, device=device) < beams  # [K]
    eos = torch.tensor(cfg.eos_ids, dtype=torch.long, device=device)

    running = torch.full((batch, beams, length), pad, dtype=torch.long, device=device)
    running[:, :, :start] = prompt.view(batch, beams, start)
    running_scores = torch.zeros(batch, beams, device=device)
    running_scores[:, 1:] = _NEG  # the beams start equal: only the first may extend at step one
    done = running.clone()  # [B, beams, L] finished hypotheses, best first
    done_scores = torch.full((batch, beams), _NEG, device=device)
    done_new = torch.zeros(batch, beams, dtype=torch.long, device=device)  # their new-token counts
    is_done = torch.zeros(batch, beams, dtype=torch.bool, device=device)
    can_improve = torch.ones(batch, 1, dtype=torch.bool, device=device)
    offsets = (torch.arange(batch, device=device) * beams)[:, None]

    logits = step(prompt)[:, -1]
    cur = start
    while True:
        logp = scores(F.log_softmax(logits.float(), dim=-1), running[:, :, :cur].reshape(rows, cur))
        vocab = logp.shape[-1]
        total = (logp.view(batch, beams, vocab) + running_scores[..., None]).view(batch, beams * vocab)
        top_scores, top_index = torch.topk(total, keep)  # [B, K]
        source = top_index // vocab
        candidates = torch.take_along_dim(running, source[..., None], dim=1)  # [B, K, L]
        candidates[:, :, cur] = top_index % vocab
        ends = torch.isin(top_index % vocab, eos) | (cur + 1 >= length)  # [B, K]

        # The best `beams` continuations that did not end run on.
        alive = top_scores + ends.float() * _NEG
        chosen = torch.topk(alive, beams).indices
        running = torch.take_along_dim(candidates, chosen[..., None], dim=1)
        running_scores = torch.take_along_dim(alive, chosen, dim=1)
        parents = torch.take_along_dim(source, chosen, dim=1)

        # Those that ended among the best `beams` may join the finished hypotheses.
        final = top_scores / _length_norm(cur + 1 - start, lp)
        full = is_done.all(-1, keepdim=True) & (cfg.early_stopping is True)
        final = final + (full | ~can_improve).float() * _NEG + (~(ends & best_of_keep)).float() * _NEG
        merged = torch.topk(torch.cat([done_scores, final], 1), beams).indices
        done = torch.take_along_dim(torch.cat([done, candidates], 1), merged[..., None], dim=1)
        done_scores = torch.take_along_dim(torch.cat([done_scores, final], 1), merged, dim=1)
        new_count = torch.full((batch, keep), cur + 1 - start, dtype=torch.long, device=device)
        done_new = torch.take_along_dim(torch.cat([done_new, new_count], 1), merged, dim=1)
        is_done = torch.take_along_dim(torch.cat([is_done, ends & best_of_keep], 1), merged, dim=1)

        cache.reorder((parents + offsets).flatten())
        cur += 1
        hoped = length - start if cfg.early_stopping == "never" and lp > 0 else cur - start
        best_running = running_scores[:, :1] / _length_norm(hoped, lp)
        worst_done = torch.where(is_done, done_scores.min(1, keepdim=True).values, torch.full_like(done_scores, _NEG))
        can_improve = can_improve & (best_running > worst_done).any(-1, keepdim=True)
        all_full = bool(is_done.all()) and cfg.early_stopping is True
        if not bool(can_improve.any()) or all_full or bool(ends.all()):
            break
        logits = step(running[:, :, cur - 1].reshape(rows, 1))[:, -1]
    return done[:, 0, : start + int(done_new[:, 0].max())]
