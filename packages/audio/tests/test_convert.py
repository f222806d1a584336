"""Importers: fairseq keys against torchaudio's map, and the Hugging Face config and key map.

The Hugging Face parity tests (outputs equal transformers') live in the cross-package session,
tests/test_audio_from_huggingface.py: transformers needs tokenizers, which this package's isolated
test session must not hold."""

from __future__ import annotations

import argparse
import re

import pytest
import torch

import torchgraft.core as tg
from torchgraft.audio.models import (
    Wav2Vec2Config,
    config_from_hf,
    fairseq_to_torchaudio,
    hf_to_torchaudio,
    read_fairseq_checkpoint,
)

HF_TINY = {
    "hidden_size": 48,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 96,
    "conv_dim": (32, 32, 32),
    "conv_kernel": (10, 3, 2),
    "conv_stride": (5, 2, 2),
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
    "vocab_size": 9,
}


def padded_batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(5)
    lengths = torch.tensor([4000, 2600, 1200])
    waves = torch.randn(3, 4000)
    waves[torch.arange(4000)[None] >= lengths[:, None]] = 0.0
    return waves, lengths


def test_hugging_face_config_and_key_map_details():
    cfg = config_from_hf(
        {**HF_TINY, "model_type": "wav2vec2", "feat_extract_norm": "layer", "do_stable_layer_norm": True}
    )
    assert cfg["extractor_mode"] == "layer_norm" and cfg["encoder_layer_norm_first"] and cfg["aux_num_out"] is None
    assert cfg["extractor_conv_layer_config"] == ((32, 10, 5), (32, 3, 2), (32, 2, 2))
    Wav2Vec2Config(**cfg)  # every field is one Wav2Vec2Config knows
    with pytest.raises(ValueError, match="hidden_act='relu'"):
        config_from_hf({**HF_TINY, "model_type": "wav2vec2", "feat_extract_norm": "group", "hidden_act": "relu"})
    with pytest.raises(ValueError, match="model_type='wavlm'"):
        config_from_hf({**HF_TINY, "model_type": "wavlm", "feat_extract_norm": "group"})
    # checkpoints saved before torch's parametrizations name the weight-norm halves g and v
    old = hf_to_torchaudio(
        {"wav2vec2.encoder.pos_conv_embed.conv.weight_g": torch.ones(1), "wav2vec2.masked_spec_embed": torch.ones(1)}
    )
    assert list(old) == ["encoder.transformer.pos_conv_embed.conv.parametrizations.weight.original0"]


def _fairseq_key(key: str, mode: str) -> str:
    """The fairseq name of one of our keys (fairseq's module structure, written out)."""
    rules = [
        (r"^feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv_layers.\1.0."),
        (
            r"^feature_extractor\.conv_layers\.(\d+)\.layer_norm\.",
            r"feature_extractor.conv_layers.\1.2.1."
            if mode == "layer_norm"
            else r"feature_extractor.conv_layers.\1.2.",
        ),
        (r"^encoder\.feature_projection\.projection\.", "post_extract_proj."),
        (r"^encoder\.feature_projection\.layer_norm\.", "layer_norm."),
        (
            r"^encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original0",
            "encoder.pos_conv.0.weight_g",
        ),
        (
            r"^encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original1",
            "encoder.pos_conv.0.weight_v",
        ),
        (r"^encoder\.transformer\.pos_conv_embed\.conv\.", "encoder.pos_conv.0."),
        (r"^encoder\.transformer\.layer_norm\.", "encoder.layer_norm."),
        (r"^encoder\.transformer\.layers\.(\d+)\.attention\.", r"encoder.layers.\1.self_attn."),
        (r"^encoder\.transformer\.layers\.(\d+)\.layer_norm\.", r"encoder.layers.\1.self_attn_layer_norm."),
        (r"^encoder\.transformer\.layers\.(\d+)\.feed_forward\.intermediate_dense\.", r"encoder.layers.\1.fc1."),
        (r"^encoder\.transformer\.layers\.(\d+)\.feed_forward\.output_dense\.", r"encoder.layers.\1.fc2."),
        (r"^encoder\.transformer\.layers\.(\d+)\.final_layer_norm\.", r"encoder.layers.\1.final_layer_norm."),
        (r"^aux\.", "proj."),
    ]
    for pattern, repl in rules:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    raise AssertionError(f"no fairseq name for {key}")


TINY = {
    "extractor_conv_layer_config": [(32, 10, 5), (32, 3, 2), (32, 2, 2)],
    "encoder_embed_dim": 48,
    "encoder_pos_conv_kernel": 16,
    "encoder_pos_conv_groups": 4,
    "encoder_num_layers": 2,
    "encoder_num_heads": 4,
    "encoder_ff_interm_features": 96,
}


@pytest.mark.parametrize(("mode", "finetuned"), [("group_norm", False), ("layer_norm", True)])
def test_fairseq_checkpoints_map_as_torchaudio_maps_them_and_load_completely(mode, finetuned, tmp_path):
    from torchaudio.models.wav2vec2.utils import import_fairseq

    torch.manual_seed(0)
    source = tg.get_model(
        "wav2vec2_model", **TINY, extractor_mode=mode, extractor_conv_bias=mode == "layer_norm",
        encoder_layer_norm_first=mode == "layer_norm", aux_num_out=5 if finetuned else None,
    ).eval()  # fmt: skip
    prefix = "w2v_encoder.w2v_model." if finetuned else ""
    fairseq = {}
    for key, tensor in source.state_dict().items():
        name = _fairseq_key(key, mode)
        fairseq[("w2v_encoder." if name.startswith("proj.") else prefix) + name] = tensor
    # pre-training-only tensors, which a fine-tuning or feature-extraction model does not use
    fairseq.update(
        {"mask_emb": torch.zeros(48), "quantizer.vars": torch.zeros(1, 8, 4), "final_proj.weight": torch.zeros(4, 48)}
    )

    ours = fairseq_to_torchaudio(fairseq)
    # torchaudio's map takes the fine-tuning module's keys (no w2v_encoder.) and keeps g/v names
    theirs = import_fairseq._convert_state_dict({k.removeprefix("w2v_encoder."): v for k, v in fairseq.items()})
    g_v = {
        "weight_g": "parametrizations.weight.original0",
        "weight_v": "parametrizations.weight.original1",
    }
    theirs = {re.sub(r"(weight_g|weight_v)$", lambda m: g_v[m.group(1)], k): v for k, v in theirs.items()}
    assert ours.keys() == theirs.keys()

    checkpoint = tmp_path / "checkpoint_best.pt"
    torch.save({"args": argparse.Namespace(arch="wav2vec2"), "model": fairseq}, checkpoint)
    copy = tg.get_model(
        "wav2vec2_model", **TINY, extractor_mode=mode, extractor_conv_bias=mode == "layer_norm",
        encoder_layer_norm_first=mode == "layer_norm", aux_num_out=5 if finetuned else None,
    ).eval()  # fmt: skip
    report = tg.load_weights(copy, fairseq_to_torchaudio(read_fairseq_checkpoint(checkpoint)))
    assert report.complete
    waves, lengths = padded_batch()
    with torch.no_grad():
        torch.testing.assert_close(copy(waves, lengths)[0], source(waves, lengths)[0], atol=0, rtol=0)


class NotAllowed:
    pass


def test_fairseq_checkpoints_with_code_in_their_pickle_are_refused(tmp_path):
    path = tmp_path / "new_style.pt"
    torch.save({"cfg": NotAllowed(), "model": {"w": torch.zeros(1)}}, path)
    with pytest.raises(tg.UnsafeCheckpointError, match="extract its weights"):
        read_fairseq_checkpoint(path)
