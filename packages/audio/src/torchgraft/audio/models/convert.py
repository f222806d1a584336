"""Checkpoints of other libraries in ``Wav2Vec2Model``'s (torchaudio's) layout.

- torchaudio's published bundle files: weight-norm keys of the positional convolution renamed to
  ``torch.nn.utils.parametrizations`` names, and the unused fairseq dictionary rows of the CTC
  head dropped (`TorchaudioBundleFile`).
- Hugging Face ``Wav2Vec2Model`` / ``Wav2Vec2ForCTC`` / ``HubertModel`` / ``HubertForCTC``
  (`hf_to_torchaudio`, `config_from_hf`; the model itself: ``wav2vec2.from_huggingface``).
- fairseq wav2vec 2.0 / HuBERT checkpoints, pre-trained or fine-tuned (`fairseq_to_torchaudio`,
  `read_fairseq_checkpoint`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from torchgraft.core import FormatMismatchError, UnsafeCheckpointError

__all__ = [
    "TorchaudioBundleFile",
    "config_from_hf",
    "fairseq_to_torchaudio",
    "hf_labels",
    "hf_to_torchaudio",
    "read_fairseq_checkpoint",
]

_POS_CONV = "encoder.transformer.pos_conv_embed.conv."
# torch.nn.utils.weight_norm (g, v) -> torch.nn.utils.parametrizations.weight_norm (original0, original1)
_WEIGHT_NORM = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}


def _weight_norm_names(key: str) -> str:
    if key.startswith(_POS_CONV):
        leaf = key[len(_POS_CONV) :]
        return _POS_CONV + _WEIGHT_NORM.get(leaf, leaf)
    return key


class TorchaudioBundleFile:
    """Adapter for torchaudio's published ``.pth`` files. ``remove_aux_rows``: CTC output rows that
    come from fairseq's dictionary (``<pad>``, ``</s>``, ``<unk>`` at 1, 2, 3) and were never
    trained; torchaudio drops them the same way."""

    def __init__(self, remove_aux_rows: Sequence[int] = ()) -> None:
        self.remove_aux_rows = tuple(remove_aux_rows)

    def __call__(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        out = {_weight_norm_names(k): v for k, v in state.items()}
        if self.remove_aux_rows and "aux.weight" in out:
            keep = [i for i in range(out["aux.weight"].shape[0]) if i not in self.remove_aux_rows]
            for key in ("aux.weight", "aux.bias"):
                out[key] = out[key][keep]
        return out

    def __repr__(self) -> str:
        return f"TorchaudioBundleFile(remove_aux_rows={self.remove_aux_rows})"


# --------------------------------------------------------------------------- Hugging Face
_HF_DROPPED = re.compile(
    r"^(masked_spec_embed|quantizer\.|project_hid\.|project_q\.|label_embeddings_concat|final_proj\.)"
)


def hf_to_torchaudio(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Maps a Hugging Face wav2vec 2.0 / HuBERT state dict (base model or ``...ForCTC``, with or
    without the ``wav2vec2.``/``hubert.`` prefix) onto ``Wav2Vec2Model``'s; the CTC ``lm_head``
    becomes ``aux``, pre-training-only tensors are dropped."""
    out: dict[str, Tensor] = {}
    for key, tensor in state.items():
        key = re.sub(r"^(wav2vec2|hubert)\.", "", key)
        if _HF_DROPPED.match(key):
            continue
        if key.startswith("lm_head."):
            key = "aux." + key[len("lm_head.") :]
        elif key.startswith("feature_projection."):
            key = "encoder." + key
        elif key.startswith("encoder."):
            key = "encoder.transformer." + key[len("encoder.") :]
        out[_weight_norm_names(key)] = tensor
    return out


def config_from_hf(config: dict[str, Any]) -> dict[str, Any]:
    """``Wav2Vec2Config`` fields from a Hugging Face ``config.json`` (wav2vec2 or hubert)."""
    unsupported = {
        "hidden_act": ("gelu",),
        "feat_extract_activation": ("gelu",),
        "feat_proj_layer_norm": (True,),
        "conv_pos_batch_norm": (False,),
        "layer_norm_eps": (1e-5,),
    }
    for key, allowed in unsupported.items():
        if key in config and config[key] not in allowed:
            raise ValueError(f"config.json has {key}={config[key]!r}; Wav2Vec2Model supports {allowed}")
    model_type = config.get("model_type")
    if model_type not in ("wav2vec2", "hubert"):
        raise ValueError(f"config.json describes model_type={model_type!r}; expected 'wav2vec2' or 'hubert'")
    architectures = config.get("architectures") or []
    ctc = any(a.endswith("ForCTC") for a in architectures)
    return {
        "extractor_mode": {"group": "group_norm", "layer": "layer_norm"}[config["feat_extract_norm"]],
        "extractor_conv_layer_config": tuple(
            zip(config["conv_dim"], config["conv_kernel"], config["conv_stride"], strict=True)
        ),
        "extractor_conv_bias": bool(config.get("conv_bias", False)),
        "encoder_embed_dim": config["hidden_size"],
        "encoder_projection_dropout": config.get("feat_proj_dropout", 0.0),
        "encoder_pos_conv_kernel": config["num_conv_pos_embeddings"],
        "encoder_pos_conv_groups": config["num_conv_pos_embedding_groups"],
        "encoder_num_layers": config["num_hidden_layers"],
        "encoder_num_heads": config["num_attention_heads"],
        "encoder_attention_dropout": config.get("attention_dropout", 0.0),
        "encoder_ff_interm_features": config["intermediate_size"],
        "encoder_ff_interm_dropout": config.get("activation_dropout", 0.0),
        "encoder_dropout": config.get("hidden_dropout", 0.0),
        "encoder_layer_norm_first": bool(config.get("do_stable_layer_norm", False)),
        "encoder_layer_drop": config.get("layerdrop", 0.0),
        "aux_num_out": config["vocab_size"] if ctc else None,
    }


def hf_labels(directory: str | Path) -> tuple[str, ...] | None:
    """The CTC labels of a Hugging Face checkpoint directory (``vocab.json``, ordered by id, with
    ``<pad>`` as the blank), or ``None`` when it has no vocabulary."""
    vocab_file = Path(directory) / "vocab.json"
    if not vocab_file.is_file():
        return None
    vocab = json.loads(vocab_file.read_text(encoding="utf-8"))
    if vocab and all(isinstance(v, dict) for v in vocab.values()):  # multilingual: {lang: vocab}
        raise ValueError(f"{vocab_file} holds one vocabulary per language; pick one before decoding")
    ids = sorted(vocab.values())
    if ids != list(range(len(ids))):
        raise ValueError(f"{vocab_file}: token ids must be 0..{len(ids) - 1}; found gaps or duplicates")
    by_id = {i: token for token, i in vocab.items()}
    return tuple(by_id[i] for i in range(len(ids)))


# --------------------------------------------------------------------------- fairseq
_FAIRSEQ_DROPPED = re.compile(r"^(mask_emb|quantizer\.|project_q\.|final_proj\.|label_embs_concat|target_glu\.)")
_FAIRSEQ_RENAMES = [
    (
        r"^feature_extractor\.conv_layers\.0\.2\.(weight|bias)$",
        r"feature_extractor.conv_layers.0.layer_norm.\1",
    ),  # group norm
    (r"^feature_extractor\.conv_layers\.(\d+)\.0\.", r"feature_extractor.conv_layers.\1.conv."),
    (r"^feature_extractor\.conv_layers\.(\d+)\.2\.1\.", r"feature_extractor.conv_layers.\1.layer_norm."),
    (r"^post_extract_proj\.", "encoder.feature_projection.projection."),
    (r"^layer_norm\.", "encoder.feature_projection.layer_norm."),
    (r"^encoder\.pos_conv\.0\.", _POS_CONV),
    (r"^encoder\.layer_norm\.", "encoder.transformer.layer_norm."),
    (r"^encoder\.layers\.(\d+)\.self_attn\.", r"encoder.transformer.layers.\1.attention."),
    (r"^encoder\.layers\.(\d+)\.self_attn_layer_norm\.", r"encoder.transformer.layers.\1.layer_norm."),
    (r"^encoder\.layers\.(\d+)\.fc1\.", r"encoder.transformer.layers.\1.feed_forward.intermediate_dense."),
    (r"^encoder\.layers\.(\d+)\.fc2\.", r"encoder.transformer.layers.\1.feed_forward.output_dense."),
    (r"^encoder\.layers\.(\d+)\.final_layer_norm\.", r"encoder.transformer.layers.\1.final_layer_norm."),
    (r"^proj\.", "aux."),
]


def fairseq_to_torchaudio(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Maps a fairseq wav2vec 2.0 / HuBERT state dict (the ``"model"`` entry of a checkpoint;
    fine-tuned ones under ``w2v_encoder.``) onto ``Wav2Vec2Model``'s; pre-training-only tensors
    (quantizer, projections, mask embedding, HuBERT label embeddings) are dropped."""
    out: dict[str, Tensor] = {}
    for key, tensor in state.items():
        key = re.sub(r"^(w2v_encoder\.)?(w2v_model\.)?", "", key)
        if _FAIRSEQ_DROPPED.match(key):
            continue
        for pattern, repl in _FAIRSEQ_RENAMES:
            new, n = re.subn(pattern, repl, key)
            if n:
                key = new
                break
        out[_weight_norm_names(key)] = tensor
    return out


def read_fairseq_checkpoint(path: str | Path) -> dict[str, Tensor]:
    """The model state dict of a fairseq checkpoint file, unpickled with ``weights_only=True``.

    fairseq pickles its training configuration next to the weights; old checkpoints use an
    ``argparse.Namespace`` (allowed here: plain data), newer ones omegaconf objects, which a safe
    unpickler cannot construct. For those, extract the weights once where fairseq is installed:
    ``torch.save(torch.load(path)["model"], "model.pt")``, and load that file instead."""
    import argparse

    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler names the class it refused
        raise UnsafeCheckpointError(
            f"{path} cannot be read safely ({str(exc).splitlines()[0]}); extract its weights with fairseq "
            f'(torch.save(torch.load(path)["model"], "model.pt")) and load that file'
        ) from exc
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("model"), dict):
        return checkpoint["model"]
    if isinstance(checkpoint, dict) and all(isinstance(v, Tensor) for v in checkpoint.values()):
        return checkpoint
    raise FormatMismatchError(f"{path}: expected a fairseq checkpoint (a dict with a 'model' state dict)")
