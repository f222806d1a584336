"""``from_huggingface(directory)``: any text checkpoint saved by transformers (``config.json`` plus
``model.safetensors``, a sharded ``model.safetensors.index.json``, or ``pytorch_model.bin`` read
with ``weights_only=True``) as the torchgraft model of its family, chosen by ``model_type``.

Each family's ``config.json`` is translated field by field; a setting the family does not
implement (another activation, pre-norm BART, ...) is refused by name rather than built wrong.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from torchgraft.core import CheckpointError, UnknownKeywordError, init_empty, load_weights, read_checkpoint
from torchgraft.core.generation import GenerationConfig
from torchgraft.core.preflight import check_config, config_fields, read_json, shard_files

__all__ = ["UnsupportedConfigError", "from_huggingface"]


class UnsupportedConfigError(CheckpointError):
    """The checkpoint's ``config.json`` asks for something its torchgraft family does not build."""


def _require(hf: dict[str, Any], key: str, allowed: tuple[Any, ...], default: Any) -> None:
    value = hf.get(key, default)
    if value not in allowed:
        raise UnsupportedConfigError(
            f"config.json has {key}={value!r}; torchgraft's {hf.get('model_type')} supports {', '.join(map(repr, allowed))}"
        )


def _token(hf: dict[str, Any], key: str, default: int) -> Any:
    """A special token id of ``config.json``: the family's default when it is missing or ``null``
    (transformers writes ``null`` for tokens a checkpoint does not define)."""
    value = hf.get(key)
    return default if value is None else value


Adapter = Callable[[dict[str, Tensor]], dict[str, Tensor]]


def _encoder(hf: dict[str, Any], state: Callable[[], dict[str, Tensor]]) -> tuple[type[nn.Module], Any, Adapter]:
    from .bert import EncoderConfig, TextEncoder, hf_to_torchgraft

    _require(hf, "hidden_act", ("gelu",), "gelu")
    _require(hf, "position_embedding_type", ("absolute",), "absolute")
    cfg = EncoderConfig(
        vocab_size=hf["vocab_size"],
        hidden_size=hf["hidden_size"],
        num_layers=hf["num_hidden_layers"],
        num_heads=hf["num_attention_heads"],
        intermediate_size=hf["intermediate_size"],
        max_positions=hf["max_position_embeddings"],
        type_vocab_size=hf.get("type_vocab_size", 2),
        layer_norm_eps=hf.get("layer_norm_eps", 1e-12),
        pad_token_id=_token(hf, "pad_token_id", 0),
        roberta_positions=hf["model_type"] in ("roberta", "xlm-roberta"),
        dropout=hf.get("hidden_dropout_prob", 0.1),
    )
    return TextEncoder, cfg, hf_to_torchgraft


def _gpt2(hf: dict[str, Any], state: Callable[[], dict[str, Tensor]]) -> tuple[type[nn.Module], Any, Adapter]:
    from .gpt import GPT2, GPT2Config, hf_to_gpt2

    _require(hf, "activation_function", ("gelu_new",), "gelu_new")
    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        _require(hf, flag, (False,), False)
    _require(hf, "scale_attn_weights", (True,), True)
    cfg = GPT2Config(
        vocab_size=hf["vocab_size"],
        max_positions=hf["n_positions"],
        hidden_size=hf["n_embd"],
        num_layers=hf["n_layer"],
        num_heads=hf["n_head"],
        intermediate_size=hf.get("n_inner") or 4 * hf["n_embd"],
        layer_norm_eps=hf.get("layer_norm_epsilon", 1e-5),
        dropout=hf.get("resid_pdrop", 0.1),
        bos_token_id=_token(hf, "bos_token_id", 50256),
        eos_token_id=_token(hf, "eos_token_id", 50256),
        tie_word_embeddings=hf.get("tie_word_embeddings", True),
        cross_attention=hf.get("add_cross_attention", False),
    )
    return GPT2, cfg, hf_to_gpt2


def _tied(state: dict[str, Tensor], embedding: str) -> bool:
    """Whether the checkpoint's LM head is its embedding (absent, or equal)."""
    head, shared = state.get("lm_head.weight"), state.get(embedding)
    return head is None or shared is None or head.data_ptr() == shared.data_ptr() or torch.equal(head, shared)


def _t5(hf: dict[str, Any], state: Callable[[], dict[str, Tensor]]) -> tuple[type[nn.Module], Any, Adapter]:
    from .t5 import T5, T5Config, hf_to_t5

    _require(hf, "feed_forward_proj", ("relu", "gated-gelu"), "relu")
    cfg = T5Config(
        vocab_size=hf["vocab_size"],
        d_model=hf["d_model"],
        d_kv=hf["d_kv"],
        d_ff=hf["d_ff"],
        num_layers=hf["num_layers"],
        num_decoder_layers=hf.get("num_decoder_layers"),
        num_heads=hf["num_heads"],
        relative_attention_num_buckets=hf.get("relative_attention_num_buckets", 32),
        relative_attention_max_distance=hf.get("relative_attention_max_distance", 128),
        dropout=hf.get("dropout_rate", 0.1),
        layer_norm_eps=hf.get("layer_norm_epsilon", 1e-6),
        gated=hf.get("feed_forward_proj", "relu") == "gated-gelu",
        # transformers 5 writes tie_word_embeddings=true for every T5 and records v1.1 as
        # scale_decoder_outputs=false; earlier configs write tie_word_embeddings=false. The file decides.
        tie_word_embeddings=_tied(state(), "shared.weight"),
        scale_decoder_outputs=hf.get("scale_decoder_outputs", hf.get("tie_word_embeddings", True)),
        pad_token_id=_token(hf, "pad_token_id", 0),
        eos_token_id=_token(hf, "eos_token_id", 1),
        decoder_start_token_id=_token(hf, "decoder_start_token_id", 0),
    )
    return T5, cfg, hf_to_t5


def _bart(hf: dict[str, Any], state: Callable[[], dict[str, Tensor]]) -> tuple[type[nn.Module], Any, Adapter]:
    from .bart import Bart, BartConfig, hf_to_bart

    _require(hf, "activation_function", ("gelu",), "gelu")
    for flag in ("normalize_before", "add_final_layer_norm", "normalize_embedding"):
        _require(hf, flag, (False,) if flag != "normalize_embedding" else (True,), flag == "normalize_embedding")
    for ours, (enc, dec) in {"num_heads": ("encoder_attention_heads", "decoder_attention_heads"),
                             "ffn_dim": ("encoder_ffn_dim", "decoder_ffn_dim")}.items():  # fmt: skip
        if hf[enc] != hf[dec]:
            raise UnsupportedConfigError(
                f"config.json has {enc}={hf[enc]} but {dec}={hf[dec]}; BART's {ours} is one value"
            )
    cfg = BartConfig(
        vocab_size=hf["vocab_size"],
        d_model=hf["d_model"],
        encoder_layers=hf["encoder_layers"],
        decoder_layers=hf["decoder_layers"],
        num_heads=hf["encoder_attention_heads"],
        ffn_dim=hf["encoder_ffn_dim"],
        max_positions=hf["max_position_embeddings"],
        dropout=hf.get("dropout", 0.1),
        attention_dropout=hf.get("attention_dropout", 0.0),
        activation_dropout=hf.get("activation_dropout", 0.0),
        scale_embedding=hf.get("scale_embedding", False),
        tie_word_embeddings=hf.get("tie_word_embeddings", True),
        pad_token_id=_token(hf, "pad_token_id", 1),
        bos_token_id=_token(hf, "bos_token_id", 0),
        eos_token_id=_token(hf, "eos_token_id", 2),
        decoder_start_token_id=_token(hf, "decoder_start_token_id", 2),
    )
    return Bart, cfg, hf_to_bart


#: model_type -> (config.json, the checkpoint read on demand) -> (model class, its config, adapter).
FAMILIES: dict[
    str, Callable[[dict[str, Any], Callable[[], dict[str, Tensor]]], tuple[type[nn.Module], Any, Adapter]]
] = {
    "bert": _encoder,
    "roberta": _encoder,
    "xlm-roberta": _encoder,
    "gpt2": _gpt2,
    "t5": _t5,
    "bart": _bart,
}
#: Task heads of other libraries' task classes that the encoder families do not import.
_FOREIGN_HEADS = ("classifier.", "qa_outputs.", "score.")


def _read_state(directory: Path) -> dict[str, Tensor]:
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        state: dict[str, Tensor] = {}
        for shard in shard_files(index):
            state.update(read_checkpoint(shard, format="safetensors"))
        return state
    for name, fmt in (("model.safetensors", "safetensors"), ("pytorch_model.bin", "pth")):
        if (directory / name).is_file():
            return read_checkpoint(directory / name, format=fmt)
    raise FileNotFoundError(
        f"{directory} has none of model.safetensors, model.safetensors.index.json or pytorch_model.bin"
    )


def _generation_defaults(directory: Path, model: nn.Module, seq2seq: bool) -> None:
    """The directory's ``generation_config.json`` on the model's ``generation_config``: fields of
    the same name, and (encoder-decoders) ``max_length`` / ``min_length`` as new-token counts."""
    path = directory / "generation_config.json"
    if not path.is_file() or not hasattr(model, "generation_config"):
        return
    saved = read_json(path)
    known = set(GenerationConfig.__dataclass_fields__)
    values = {k: v for k, v in saved.items() if k in known and v is not None}
    if seq2seq:  # they count the decoder start token
        for length, new in (("max_length", "max_new_tokens"), ("min_length", "min_new_tokens")):
            if saved.get(length) and new not in values:
                values[new] = max(saved[length] - 1, 0)
        values.setdefault("max_new_tokens", max(values.get("min_new_tokens", 0), 20))
    model.generation_config = model.generation_config.merged(values)


def _catalog_entry_for(repo: str) -> str | None:
    """``get_model("gpt2", weights="DEFAULT")``-like advice for a Hub id a catalog entry publishes
    (``openai-community/gpt2``, or its short alias ``gpt2``), else ``None``."""
    import torchgraft.core as tg
    from torchgraft.core.hub import HUB

    for name in tg.list_models(domain="text", pretrained=True):
        for member in tg.get_model_weights(name).members():
            source = str(member.value.meta.get("source", ""))
            if source.startswith(HUB) and (source == HUB + repo or source.endswith("/" + repo)):
                return f"torchgraft's {name}: get_model({name!r}, weights={member.name!r})"
    return None


def from_huggingface(directory: str | Path, **config: Any) -> nn.Module:
    """The model a transformers checkpoint directory holds, dispatched on ``config.json``'s
    ``model_type``: ``bert``, ``roberta``, ``xlm-roberta`` (a `TextEncoder`, or `masked_lm` on it
    when the checkpoint has its pre-training head), ``gpt2`` (`GPT2` with its LM head), ``t5``
    (`T5`), ``bart`` (`Bart`). ``generation_config.json``'s decoding defaults become the model's
    ``generation_config``. ``config`` overrides the translated config fields (``dropout=0.0``, ...).
    The tokenizer is the directory's ``tokenizer.json``: ``TextTransform(directory / "tokenizer.json", max_length)``.
    """
    from dataclasses import fields, replace

    from .tasks import hf_mlm_head_state, masked_lm

    directory = Path(directory)
    config_file = directory / "config.json"
    if not directory.exists():
        hint = _catalog_entry_for(str(directory))
        if hint:
            raise FileNotFoundError(
                f"{str(directory)!r} is not a folder: from_huggingface reads one written by save_pretrained. It names "
                f"the Hub repository of {hint}, which downloads and verifies it"
            )
    if not config_file.is_file():
        raise FileNotFoundError(f"{directory} has no config.json; expected a transformers checkpoint directory")
    hf = read_json(config_file)
    kind = hf.get("model_type")
    if not isinstance(kind, str) or kind not in FAMILIES:
        raise UnsupportedConfigError(
            f"{config_file}: model_type {kind!r} is not a torchgraft text family; expected one of {', '.join(FAMILIES)}"
        )
    state = functools.cache(lambda: _read_state(directory))  # memory-mapped, read once
    with config_fields(config_file):
        cls, cfg, adapter = FAMILIES[kind](hf, state)
    names = [f.name for f in fields(cfg)]
    unknown = [k for k in config if k not in names]
    if unknown:
        raise UnknownKeywordError(f"from_huggingface ({type(cfg).__name__} fields)", unknown, names)
    foreign = sorted({k.split(".")[0] for k in state() if k.startswith(_FOREIGN_HEADS)})
    if foreign:
        warnings.warn(
            f"{directory}: the checkpoint's task head ({', '.join(f'{k}.*' for k in foreign)}) is not imported; "
            f"the model is its {kind} backbone, for a torchgraft task head",
            UserWarning,
            stacklevel=2,
        )
    converted = adapter(state())
    cfg = replace(cfg, **config)
    check_config(cls, cfg, converted, what=str(config_file))  # before anything is built at its size
    head = hf_mlm_head_state(state()) if kind in ("bert", "roberta", "xlm-roberta") else None
    with init_empty():
        model = cls(cfg)
        if head is not None:  # the pre-training head comes along: a masked LM
            model = masked_lm(backbone=model)
            converted = {
                **{f"backbone.{k}": v for k, v in converted.items()},
                **{f"head.{k}": v for k, v in head.items()},
            }
    model.load_report = load_weights(model, converted)
    with config_fields(directory / "generation_config.json"):
        _generation_defaults(directory, model, seq2seq=kind in ("t5", "bart"))
    return model
