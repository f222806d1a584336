"""Hugging Face wav2vec 2.0 / HuBERT checkpoints imported by torchgraft-audio, against transformers.

Here rather than in packages/audio/tests: transformers needs tokenizers, and the isolated audio
session proves torchgraft-audio works without any other domain's libraries installed.
"""

from __future__ import annotations

import json

import pytest
import torch
import transformers

from torchgraft.audio.models import Wav2Vec2Model, from_huggingface, hf_labels

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
VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "A": 5, "B": 6, "C": 7, "'": 8}


def padded_batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(5)
    lengths = torch.tensor([4000, 2600, 1200])
    waves = torch.randn(3, 4000)
    waves[torch.arange(4000)[None] >= lengths[:, None]] = 0.0
    return waves, lengths


CASES = {
    # (transformers class, config class, extra config): post-LN base, pre-LN "large", HuBERT
    "wav2vec2_group_norm": ("Wav2Vec2Model", "Wav2Vec2Config", {"feat_extract_norm": "group"}),
    "wav2vec2_stable_layer_norm_ctc": (
        "Wav2Vec2ForCTC",
        "Wav2Vec2Config",
        {"feat_extract_norm": "layer", "do_stable_layer_norm": True, "conv_bias": True},
    ),
    "hubert": ("HubertModel", "HubertConfig", {"feat_extract_norm": "group"}),
    "hubert_ctc_stable": (
        "HubertForCTC",
        "HubertConfig",
        {"feat_extract_norm": "layer", "do_stable_layer_norm": True, "conv_bias": True},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_hugging_face_checkpoints_match_transformers_with_padding(case, tmp_path):
    cls, config_cls, extra = CASES[case]
    torch.manual_seed(0)
    reference = getattr(transformers, cls)(getattr(transformers, config_cls)(**HF_TINY, **extra)).eval()
    reference.save_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text(json.dumps(VOCAB))

    ours = from_huggingface(tmp_path).eval()
    assert isinstance(ours, Wav2Vec2Model) and (ours.aux is not None) == cls.endswith("ForCTC")
    waves, lengths = padded_batch()
    mask = (torch.arange(waves.shape[1])[None] < lengths[:, None]).long()
    with torch.no_grad():
        out = reference(waves, attention_mask=mask)
        expected = out.logits if cls.endswith("ForCTC") else out.last_hidden_state
        found, frames = ours(waves, lengths)
    real = torch.arange(found.shape[1])[None] < frames[:, None]
    assert found.shape == expected.shape
    torch.testing.assert_close(found[real], expected[real], atol=1e-4, rtol=0)
    assert hf_labels(tmp_path) == tuple(VOCAB)


@pytest.mark.parametrize(
    ("field", "value"), [("num_hidden_layers", 10**6), ("hidden_size", 10**7), ("vocab_size", 10**12)]
)
def test_a_config_that_disagrees_with_its_checkpoint_is_refused_before_anything_is_built(field, value, tmp_path):
    import torchgraft.core as tg

    reference = transformers.Wav2Vec2ForCTC(transformers.Wav2Vec2Config(**HF_TINY))
    reference.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, field: value}))
    with pytest.raises(tg.ConfigMismatchError, match=rf"config.json: .*({value:,}|{value})"):
        from_huggingface(tmp_path)
    with pytest.raises(tg.UnknownKeywordError, match="dropout"):
        from_huggingface(tmp_path, dropuot=0.0)
