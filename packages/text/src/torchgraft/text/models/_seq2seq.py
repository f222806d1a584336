"""What the encoder-decoder families (T5, BART) share: attention with separate query/key/value
projections (their checkpoints' layout) that caches cross-attention, and `EncoderDecoder`, the
base that makes an encoder-decoder a `Seq2SeqLM` for ``generate`` and a backbone (the decoder's
states over the input shifted right, as transformers' ``*ForSequenceClassification`` read them).

A family module supplies ``encoder`` / ``decoder`` stacks and ``_logits(states)``; everything
else, the protocol and the classifier contract, lives here once.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from torchgraft.core import Features
from torchgraft.core.generation import KVCache

__all__ = ["Attention", "EncoderDecoder", "additive", "shift_right"]


def shift_right(input_ids: Tensor, start: int, pad: int) -> Tensor:
    """Decoder inputs ``[B, T]`` for teacher forcing: ``start`` then the tokens but the last
    (label padding ``-100`` becomes ``pad``)."""
    shifted = input_ids.new_full(input_ids.shape, start)
    shifted[:, 1:] = input_ids[:, :-1]
    return shifted.masked_fill(shifted == -100, pad)


def additive(allowed: Tensor, dtype: torch.dtype) -> Tensor:
    """A boolean attention mask (True: may attend) as an additive one: 0 or the dtype's minimum
    (finite, so a row that sees nothing stays finite too)."""
    zero = torch.zeros((), dtype=dtype, device=allowed.device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)


class Attention(nn.Module):
    """Multi-head attention with ``q``, ``k``, ``v``, ``o`` projections. ``scale=None`` is
    ``1/sqrt(head_dim)``; T5 passes ``1.0`` (its scaling is folded into the weights)."""

    def __init__(
        self, dim: int, heads: int, head_dim: int, *, bias: bool, dropout: float, scale: float | None = None
    ) -> None:
        super().__init__()
        self.heads, self.head_dim, self.dropout, self.scale = heads, head_dim, dropout, scale
        inner = heads * head_dim
        self.q = nn.Linear(dim, inner, bias=bias)
        self.k = nn.Linear(dim, inner, bias=bias)
        self.v = nn.Linear(dim, inner, bias=bias)
        self.o = nn.Linear(inner, dim, bias=bias)

    def _split(self, x: Tensor) -> Tensor:
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)  # [B, H, T, Dh]

    def forward(
        self,
        x: Tensor,
        attn_mask: Tensor | None,
        *,
        memory: Tensor | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
        slots: Tensor | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        """Self-attention over ``x`` ``[B, T, D]`` (written into ``cache`` at ``slots``), or
        cross-attention over ``memory`` ``[B, S, D]`` (its keys and values kept in
        ``cache.cross[layer]`` after the first step)."""
        q = self._split(self.q(x))
        if memory is None:
            k, v = self._split(self.k(x)), self._split(self.v(x))
            if cache is not None:
                k, v = cache.update(layer, slots, k, v)  # [B, H, capacity, Dh]
        else:
            kept = cache.cross[layer] if cache is not None else None
            if kept is None:
                kept = self._split(self.k(memory)), self._split(self.v(memory))
                if cache is not None:
                    cache.cross[layer] = kept
            k, v = kept
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=attn_mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=is_causal and attn_mask is None,
            scale=self.scale,
        )
        return self.o(out.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1))


class EncoderDecoder(nn.Module):
    """An encoder-decoder language model. ``forward(input_ids, attention_mask, decoder_input_ids)``
    gives logits ``[B, T, vocab]`` (the decoder reads ``input_ids`` shifted right when no decoder
    ids are given); ``encode`` / ``decode`` / ``new_cache`` make it a `Seq2SeqLM`. As a backbone its
    features are the decoder's states over the shifted input, a causal sequence summarised by the
    last real token (transformers' ``BartForSequenceClassification`` reads the same state). Its own
    classifier is the LM head (``classifier_name = "lm_head"``)."""

    classifier_name = "lm_head"
    cfg: Any
    encoder: nn.Module
    decoder: nn.Module
    lm_head: nn.Linear | None

    def shard_units(self) -> list[nn.Module]:
        """The encoder's and the decoder's layers, sharded one by one (shared embeddings stay with the root)."""
        return [*self.encoder.layers, *self.decoder.layers]

    @property
    def vocab_size(self) -> int:
        return self.cfg.vocab_size

    @property
    def input_embeddings(self) -> nn.Embedding:
        return self.encoder.embed

    @property
    def num_classes(self) -> int:
        return 0 if self.lm_head is None else self.lm_head.out_features

    def _logits(self, states: Tensor) -> Tensor:
        assert self.lm_head is not None
        return self.lm_head(states)

    def encode(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """The encoder's last states ``[B, S, D]``."""
        return self.encoder.forward_features(input_ids, attention_mask).last

    def decode(
        self,
        decoder_input_ids: Tensor,
        encoder_hidden_states: Tensor,
        encoder_attention_mask: Tensor | None = None,
        *,
        cache: KVCache | None = None,
        logits_to_keep: int = 0,
    ) -> Tensor:
        """Logits ``[B, T, vocab]`` for ``decoder_input_ids`` ``[B, T]`` (the last
        ``logits_to_keep`` positions only, when set); with a ``cache``, the tokens take its next
        positions. Decoder states ``[B, T, D]`` once the LM head is removed."""
        states = self.decoder(decoder_input_ids, encoder_hidden_states, encoder_attention_mask, cache=cache)
        if self.lm_head is None:
            return states
        return self._logits(states[:, -logits_to_keep:] if logits_to_keep else states)

    def new_cache(
        self, batch_size: int, max_length: int, *, dtype: torch.dtype | None = None, device: Any = None
    ) -> KVCache:
        """A static cache for ``batch_size`` decoder rows of up to ``max_length`` tokens."""
        ref = self.encoder.embed.weight
        return KVCache(
            len(self.decoder.layers),
            batch_size,
            self.decoder.heads,
            max_length,
            self.decoder.head_dim,
            dtype=dtype or ref.dtype,
            device=device or ref.device,
        )

    def _decoder_inputs(self, input_ids: Tensor, decoder_input_ids: Tensor | None) -> Tensor:
        if decoder_input_ids is not None:
            return decoder_input_ids
        return shift_right(input_ids, self.cfg.decoder_start_token_id, self.cfg.pad_token_id)

    def forward_features(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, decoder_input_ids: Tensor | None = None
    ) -> Features:
        """The decoder's last states ``[B, T, D]`` over ``input_ids`` shifted right (or
        ``decoder_input_ids``), with ``attention_mask`` marking the real positions."""
        memory = self.encode(input_ids, attention_mask)
        states = self.decoder(self._decoder_inputs(input_ids, decoder_input_ids), memory, attention_mask)
        mask = attention_mask.bool() if attention_mask is not None and decoder_input_ids is None else None
        return Features(last=states, mask=mask)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        decoder_input_ids: Tensor | None = None,
        *,
        logits_to_keep: int = 0,
    ) -> Tensor:
        """Logits ``[B, T, vocab]`` of the decoder (teacher-forced on ``decoder_input_ids``, or on
        ``input_ids`` shifted right)."""
        memory = self.encode(input_ids, attention_mask)
        return self.decode(
            self._decoder_inputs(input_ids, decoder_input_ids), memory, attention_mask, logits_to_keep=logits_to_keep
        )

    def reset_classifier(self, num_classes: int) -> None:
        """The LM head over ``num_classes`` outputs (tied to the shared embeddings when that is the
        vocabulary and the config ties), or none for ``0``: ``forward`` then returns decoder states."""
        if num_classes == 0:
            self.lm_head = None
            return
        head = self._new_head(num_classes)
        if num_classes == self.cfg.vocab_size and self.cfg.tie_word_embeddings:
            head.weight = self.encoder.embed.weight
        self.lm_head = head

    def _new_head(self, num_classes: int) -> nn.Linear:
        head = nn.Linear(self.cfg.d_model, num_classes, bias=False)
        nn.init.normal_(head.weight, std=self.cfg.d_model**-0.5)
        return head
