"""Generative task builders: ``causal_lm`` on a decoder gives the decoder's own logits and
tokens; ``seq2seq`` joins an encoder and a decoder with fresh cross-attention, reported as fresh,
and equals transformers' ``EncoderDecoderModel`` (BERT + GPT-2) with identical weights."""

from __future__ import annotations

import pytest
import torch

import torchgraft.core as tg
from torchgraft.core import UnknownWeightsError, generate
from torchgraft.text.models import (
    GPT2,
    bert_base,
    causal_lm,
    gpt2,
    hf_to_gpt2,
    hf_to_torchgraft,
    seq2seq,
    text_classifier,
)

GPT_TINY = {
    "vocab_size": 120,
    "max_positions": 64,
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 4,
    "intermediate_size": 64,
    "bos_token_id": 1,
    "eos_token_id": 2,
}
BERT_TINY = {
    "vocab_size": 99,
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 4,
    "intermediate_size": 64,
    "max_positions": 40,
}


def tiny_gpt2() -> GPT2:
    torch.manual_seed(0)
    return gpt2(**GPT_TINY).eval()


def test_a_causal_lm_head_on_a_decoder_gives_its_own_logits_and_tokens():
    decoder = tiny_gpt2()
    ids = torch.randint(3, 120, (2, 6))
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1] * 6])
    with torch.no_grad():
        expected = decoder(ids, attention_mask=mask)
    expected_tokens = generate(decoder, ids, attention_mask=mask, max_new_tokens=5)
    model = causal_lm(backbone=decoder).eval()  # the decoder's own head is removed, the new one tied
    assert decoder.lm_head is None and model.head.decoder.weight is decoder.word.weight
    with torch.no_grad():
        torch.testing.assert_close(model(ids, attention_mask=mask), expected)
    assert torch.equal(generate(model, ids, attention_mask=mask, max_new_tokens=5), expected_tokens)
    fresh = causal_lm(backbone="gpt2", backbone_config=GPT_TINY, tie=False)
    assert fresh.head.decoder.weight is not fresh.backbone.word.weight


def test_causal_lm_refuses_what_is_not_a_decoder():
    with pytest.raises(tg.IncompatibleHeadError, match="needs a causal"):
        causal_lm(backbone="bert_base", backbone_config=BERT_TINY)
    with pytest.raises(tg.IncompatibleHeadError, match="decoder-only"):
        causal_lm(
            backbone="t5_small",
            backbone_config={"vocab_size": 50, "d_model": 16, "d_kv": 4, "d_ff": 32, "num_layers": 1, "num_heads": 4},
        )


def test_sequence_classification_on_a_decoder_reads_the_last_token():
    model = text_classifier(backbone="gpt2", backbone_config=GPT_TINY, num_classes=3)
    assert model.head.pool.mode == "last"
    assert text_classifier(backbone="bert_base", backbone_config=BERT_TINY, num_classes=3).head.pool.mode == "first"


@pytest.fixture
def parts(tmp_path):
    """A BERT and a GPT-2 built from checkpoints on disk (so each has its own load report)."""
    from safetensors.torch import save_model

    files = {}
    for name, model in (("bert", bert_base(**BERT_TINY)), ("gpt2", tiny_gpt2())):
        path = tmp_path / f"{name}.safetensors"
        save_model(model, str(path))
        files[name] = tg.Weights(url=path.as_uri(), sha256=None, meta={}, adapter=lambda s: s)
    return bert_base(weights=files["bert"], **BERT_TINY), gpt2(weights=files["gpt2"], **GPT_TINY)


def test_seq2seq_reports_the_fresh_cross_attention_and_generates(parts):
    encoder, decoder = parts
    model = seq2seq(encoder=encoder, decoder=decoder).eval()
    report = model.load_report
    cross = [k for k in model.state_dict() if ".cross" in k]
    assert report.fresh == sorted(cross) and len(cross) == 2 * 10  # q, k, v, o (+ biases) and the norm
    assert "encoder.layers.0.fc1.weight" in report.loaded and "decoder.layers.1.fc2.weight" in report.loaded
    ids = torch.randint(3, 99, (2, 5))
    mask = torch.tensor([[1] * 5, [1, 1, 1, 0, 0]])
    out = generate(model, ids, attention_mask=mask, max_new_tokens=6, eos_token_id=None)
    assert out.shape == (2, 7) and (out[:, 0] == decoder.cfg.bos_token_id).all()
    with torch.no_grad():  # the cached steps equal one teacher-forced pass
        torch.testing.assert_close(model(ids, mask, out[:, :-1]).argmax(-1), out[:, 1:])


def test_seq2seq_refuses_parts_that_do_not_fit(parts):
    encoder, _ = parts
    with pytest.raises(tg.IncompatibleHeadError, match="same width"):
        seq2seq(encoder=encoder, decoder="gpt2", decoder_config={**GPT_TINY, "hidden_size": 48})
    with pytest.raises(tg.IncompatibleHeadError, match="cannot"):
        seq2seq(encoder=encoder, decoder=bert_base(**BERT_TINY))
    with pytest.raises(TypeError, match="decoder_input_ids"):
        seq2seq(encoder="bert_base", encoder_config=BERT_TINY, decoder="gpt2", decoder_config=GPT_TINY)(
            torch.ones(1, 3, dtype=torch.long)
        )


def test_seq2seq_equals_transformers_encoder_decoder_model():
    import transformers

    torch.manual_seed(0)
    bert_config = transformers.BertConfig(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=40,
    )
    bert = transformers.BertModel(bert_config, add_pooling_layer=False)
    decoder_config = transformers.GPT2Config(
        vocab_size=120,
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_inner=64,
        add_cross_attention=True,
        is_decoder=True,
    )
    reference = transformers.EncoderDecoderModel(
        encoder=bert, decoder=transformers.GPT2LMHeadModel(decoder_config)
    ).eval()
    encoder = bert_base(**BERT_TINY)
    decoder = gpt2(**GPT_TINY, cross_attention=True)
    assert tg.load_weights(encoder, hf_to_torchgraft(dict(reference.encoder.state_dict()))).complete
    assert tg.load_weights(decoder, hf_to_gpt2(dict(reference.decoder.state_dict()))).complete
    model = seq2seq(encoder=encoder, decoder=decoder, decoder_start_token_id=5).eval()
    ids = torch.randint(3, 99, (2, 5))
    mask = torch.tensor([[1] * 5, [1, 1, 1, 0, 0]])
    decoder_ids = torch.randint(3, 120, (2, 4))
    with torch.no_grad():
        theirs = reference(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits
        torch.testing.assert_close(model(ids, mask, decoder_ids), theirs, atol=1e-4, rtol=0)


def test_weights_of_the_whole_task_model_are_your_own():
    with pytest.raises(
        UnknownWeightsError, match=r"weights= takes None or your own Weights of the whole model .* backbone_weights="
    ):
        causal_lm(weights="DEFAULT")
    with pytest.raises(TypeError, match="decoder_weights and decoder_config apply only when decoder is a model name"):
        seq2seq(decoder=tiny_gpt2(), decoder_weights="DEFAULT")


def test_the_joined_report_names_each_tensors_checkpoint(parts):
    encoder, decoder = parts
    report = seq2seq(encoder=encoder, decoder=decoder).load_report
    assert report.sources["encoder.layers.0.fc1.weight"] == encoder.load_report.source
    assert report.sources["decoder.word.weight"] == decoder.load_report.source
    assert not any(".cross" in k for k in report.sources)
