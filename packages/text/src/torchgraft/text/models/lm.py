"""Generative task builders on any text backbone of the right kind: ``causal_lm`` puts a language-
model head on any decoder, and ``seq2seq`` joins any encoder to any decoder of the same width
with fresh cross-attention (transformers' ``EncoderDecoderModel``). Both generate with
`torchgraft.core.generate`; the weights of each part are the part's own, stored once."""

from __future__ import annotations

import inspect
from typing import Any

from torch import Tensor, nn

from torchgraft.core import (
    Composite,
    IncompatibleHeadError,
    Part,
    Weights,
    build_model,
    check_backbone,
    own_weights,
    register_model,
    shard_units,
)
from torchgraft.core.generation import GenerationConfig, KVCache

from .heads import LMHead

__all__ = ["CausalLMModel", "Seq2Seq", "causal_lm", "seq2seq"]


class CausalLMModel(Composite):
    """A decoder backbone with an `LMHead`: a `CausalLM` for ``generate`` (``forward`` with a
    cache, ``new_cache``), its decoding defaults the backbone's."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__(backbone, head)
        takes_cache = "cache" in inspect.signature(backbone.forward_features).parameters
        if not callable(getattr(backbone, "new_cache", None)) or not takes_cache:
            raise IncompatibleHeadError(
                f"causal_lm needs a decoder-only backbone whose forward_features takes a KV cache (and new_cache); "
                f"{type(backbone).__name__} is not one"
            )
        self.generation_config = getattr(backbone, "generation_config", GenerationConfig())

    @property
    def vocab_size(self) -> int:
        return self.head.decoder.out_features

    def new_cache(self, batch_size: int, max_length: int, **kwargs: Any) -> KVCache:
        return self.backbone.new_cache(batch_size, max_length, **kwargs)

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, *, logits_to_keep: int = 0, **kwargs: Any
    ) -> Tensor:
        """Logits ``[B, T, vocab]`` (the last ``logits_to_keep`` positions only, when set);
        ``kwargs`` (``cache``, ``position_ids``) go to the backbone."""
        features = self.backbone.forward_features(input_ids, attention_mask, **kwargs)
        if logits_to_keep:
            features.last = features.last[:, -logits_to_keep:]
        return self.head(features)


@register_model()
def causal_lm(
    *, weights: Weights | None = None, progress: bool = True, backbone: nn.Module | str = "gpt2", backbone_weights: Any = None,
    backbone_config: dict[str, Any] | None = None, tie: bool = True,
) -> CausalLMModel:  # fmt: skip
    """Causal language modelling on any decoder backbone: ``[B, T, vocab]`` next-token logits, the
    output layer tied to the backbone's input embeddings (``tie=True``, as GPT-2's) or fresh.

    Args:
        weights: your own ``Weights`` of the whole model (backbone and head), or ``None``.
        progress: show a progress bar while downloading.
        backbone: a registered decoder name (``"gpt2"``, ``"distilgpt2"``, ...) or a module with a
            causal feature spec and ``new_cache``.
        backbone_weights: the backbone's published weights when ``backbone`` is a name.
        backbone_config: builder arguments for a named backbone.
        tie: tie the output layer to the input embeddings (nothing fresh); ``False`` for a fresh
            head over the same vocabulary.

    Example::

        model = causal_lm(backbone="distilgpt2", backbone_weights="DEFAULT").eval()
        ids = generate(model, **DistilGPT2_Weights.DEFAULT.transforms()(["Once upon a time"]))
    """
    weights = own_weights("causal_lm", weights)

    def factory(backbone: nn.Module) -> CausalLMModel:  # on meta with the task's own weights: ties kept
        trunk = backbone
        spec = check_backbone(trunk)
        embeddings = getattr(trunk, "input_embeddings", None)
        if not isinstance(embeddings, nn.Embedding):
            raise IncompatibleHeadError(
                f"causal_lm needs the backbone's input_embeddings; {type(trunk).__name__} has none"
            )
        head = (
            LMHead(spec.width, tie_to=embeddings) if tie else LMHead(spec.width, vocab_size=embeddings.num_embeddings)
        )
        return CausalLMModel(trunk, head)

    part = Part.of("backbone", backbone, backbone_weights, backbone_config)
    return build_model(factory, weights=weights, progress=progress, parts={"backbone": part})


class Seq2Seq(nn.Module):
    """An encoder joined to a decoder by cross-attention: a `Seq2SeqLM`. ``forward(input_ids,
    attention_mask, decoder_input_ids)`` gives the decoder's logits; the parts keep their own state
    dicts under ``encoder.`` and ``decoder.``, so each part's published weights load by prefix."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, *, decoder_start_token_id: int | None = None) -> None:
        super().__init__()
        spec = check_backbone(encoder)
        if not callable(getattr(decoder, "add_cross_attention", None)) or not callable(
            getattr(decoder, "new_cache", None)
        ):
            raise IncompatibleHeadError(
                f"seq2seq needs a decoder that can take cross-attention and keep a KV cache; {type(decoder).__name__} cannot"
            )
        if spec.kind != "sequence" or spec.width != decoder.feature_spec.width:
            raise IncompatibleHeadError(
                f"seq2seq joins an encoder and a decoder of the same width; {type(encoder).__name__} gives "
                f"{spec.kind} features of width {spec.width}, {type(decoder).__name__} works at width {decoder.feature_spec.width}"
            )
        start = decoder_start_token_id if decoder_start_token_id is not None else decoder.generation_config.bos_token_id
        if start is None:
            raise ValueError(
                f"{type(decoder).__name__} has no BOS token to start decoding from: pass decoder_start_token_id="
            )
        self.encoder, self.decoder = encoder, decoder
        if not decoder.cfg.cross_attention:
            decoder.add_cross_attention()
        self.generation_config = decoder.generation_config.merged({"decoder_start_token_id": start})

    def shard_units(self) -> list[nn.Module]:
        """The encoder's and the decoder's shard units."""
        return shard_units(self, self.encoder, self.decoder)

    @property
    def vocab_size(self) -> int:
        return self.decoder.vocab_size

    def encode(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
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
        return self.decoder(
            decoder_input_ids,
            cache=cache,
            logits_to_keep=logits_to_keep,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask,
        )

    def new_cache(self, batch_size: int, max_length: int, **kwargs: Any) -> KVCache:
        return self.decoder.new_cache(batch_size, max_length, **kwargs)

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, decoder_input_ids: Tensor | None = None
    ) -> Tensor:
        """Teacher-forced logits ``[B, T, vocab]`` of ``decoder_input_ids`` (in the decoder's
        vocabulary, which may not be the encoder's: so they are never derived from ``input_ids``)."""
        if decoder_input_ids is None:
            raise TypeError("Seq2Seq.forward needs decoder_input_ids (the decoder's own tokens)")
        return self.decode(decoder_input_ids, self.encode(input_ids, attention_mask), attention_mask)


@register_model()
def seq2seq(
    *, weights: Weights | None = None, progress: bool = True, encoder: nn.Module | str = "bert_base", decoder: nn.Module | str = "gpt2",
    encoder_weights: Any = None, decoder_weights: Any = None, encoder_config: dict[str, Any] | None = None,
    decoder_config: dict[str, Any] | None = None, decoder_start_token_id: int | None = None,
) -> Seq2Seq:  # fmt: skip
    """Joins any text encoder to any decoder of the same width (``bert_base`` + ``gpt2``, say) with
    fresh cross-attention in every decoder layer; both parts keep their pre-trained weights, and
    ``load_report.fresh`` names what must be trained.

    Args:
        weights: your own ``Weights`` of the whole joined model, or ``None``.
        progress: show a progress bar while downloading.
        encoder: a registered encoder name or module honouring the backbone contract.
        decoder: a registered decoder name (``"gpt2"``, ...) or a module that can take cross-attention.
        encoder_weights: the encoder's published weights when ``encoder`` is a name.
        decoder_weights: the decoder's published weights when ``decoder`` is a name.
        encoder_config: builder arguments for a named encoder.
        decoder_config: builder arguments for a named decoder.
        decoder_start_token_id: the token decoding starts from (default: the decoder's BOS).

    Raises:
        IncompatibleHeadError: the parts' widths differ, or the decoder cannot take cross-attention.

    Example::

        model = seq2seq(encoder="bert_base", encoder_weights="DEFAULT", decoder="gpt2", decoder_weights="DEFAULT")
        print(model.load_report.fresh[:2])  # ['decoder.layers.0.cross.k.bias', 'decoder.layers.0.cross.k.weight']
    """
    weights = own_weights("seq2seq", weights)
    parts = {
        "encoder": Part.of("encoder", encoder, encoder_weights, encoder_config),
        "decoder": Part.of("decoder", decoder, decoder_weights, decoder_config),
    }

    def factory(encoder: nn.Module, decoder: nn.Module) -> Seq2Seq:  # on meta with the model's own weights
        return Seq2Seq(encoder, decoder, decoder_start_token_id=decoder_start_token_id)

    return build_model(factory, weights=weights, progress=progress, parts=parts)
