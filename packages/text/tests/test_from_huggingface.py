"""``from_huggingface`` on directories written by transformers' own ``save_pretrained``, one per
family: the right torchgraft model, the same logits, the LM head where the checkpoint has one,
the decoding defaults of ``generation_config.json``, and clear refusals."""

from __future__ import annotations

import json

import pytest
import torch

import torchgraft.core as tg
from torchgraft.text.models import GPT2, T5, Bart, TextEncoder, UnsupportedConfigError, from_huggingface

ENCODER = {
    "vocab_size": 99,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
}


def saved(tmp_path, model, **kwargs):
    model.eval().save_pretrained(tmp_path, **kwargs)
    return tmp_path


def ids_and_mask(vocab: int = 99) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(3)
    ids = torch.randint(4, vocab, (2, 6))
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2])
    return ids, mask


@pytest.mark.parametrize("kind", ["bert", "roberta", "xlm-roberta"])
def test_encoders_import_with_their_masked_lm_head_when_they_have_one(kind, tmp_path):
    import transformers

    torch.manual_seed(0)
    config_class = {
        "bert": transformers.BertConfig,
        "roberta": transformers.RobertaConfig,
        "xlm-roberta": transformers.XLMRobertaConfig,
    }[kind]
    config = config_class(**ENCODER, max_position_embeddings=40, pad_token_id=1 if kind != "bert" else 0)
    lm_class = {
        "bert": transformers.BertForMaskedLM,
        "roberta": transformers.RobertaForMaskedLM,
        "xlm-roberta": transformers.XLMRobertaForMaskedLM,
    }[kind]
    reference = lm_class(config).eval()
    model = from_huggingface(saved(tmp_path / "mlm", reference)).eval()
    assert model.load_report.complete and model.head.decoder.weight is model.backbone.embeddings.word.weight
    ids, mask = ids_and_mask()
    with torch.no_grad():
        torch.testing.assert_close(
            model(ids, mask)[mask.bool()], reference(ids, attention_mask=mask).logits[mask.bool()], atol=1e-4, rtol=0
        )
    encoder_only = from_huggingface(saved(tmp_path / "base", getattr(reference, "bert", None) or reference.roberta))
    assert isinstance(encoder_only, TextEncoder) and encoder_only.load_report.complete


def test_a_foreign_task_head_is_named_not_silently_dropped(tmp_path):
    import transformers

    reference = transformers.BertForSequenceClassification(transformers.BertConfig(**ENCODER, num_labels=3))
    with pytest.warns(UserWarning, match=r"task head \(classifier\.\*\) is not imported"):
        model = from_huggingface(saved(tmp_path, reference))
    assert isinstance(model, TextEncoder)


def test_gpt2_imports_with_its_tied_head_and_generation_defaults(tmp_path):
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=99, n_positions=32, n_embd=32, n_layer=2, n_head=4, bos_token_id=1, eos_token_id=2
    )
    reference = transformers.GPT2LMHeadModel(config)
    reference.generation_config.do_sample, reference.generation_config.top_k = True, 7
    model = from_huggingface(saved(tmp_path, reference), dropout=0.0).eval()
    assert isinstance(model, GPT2) and model.lm_head.weight is model.word.weight and model.cfg.dropout == 0.0
    assert model.generation_config.top_k == 7 and model.generation_config.do_sample
    assert model.generation_config.eos_token_id == 2 and model.cfg.eos_token_id == 2
    ids, _ = ids_and_mask()
    with torch.no_grad():
        torch.testing.assert_close(model(ids), reference(ids).logits, atol=1e-4, rtol=0)


@pytest.mark.parametrize("gated", [False, True])
def test_t5_and_its_v1_1_variant_import(gated, tmp_path):
    import transformers

    torch.manual_seed(0)
    config = transformers.T5Config(
        vocab_size=99, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, decoder_start_token_id=0,
        feed_forward_proj="gated-gelu" if gated else "relu", tie_word_embeddings=not gated,
    )  # fmt: skip
    reference = transformers.T5ForConditionalGeneration(config).eval()
    reference.generation_config.max_length = 31
    if gated:
        reference.lm_head.weight = torch.nn.Parameter(torch.randn(99, 32))
    model = from_huggingface(saved(tmp_path, reference)).eval()
    assert isinstance(model, T5) and model.cfg.gated == gated and model.cfg.tie_word_embeddings == (not gated)
    assert model.generation_config.max_new_tokens == 30  # max_length counts the start token
    ids, mask = ids_and_mask()
    decoder_ids = torch.zeros(2, 1, dtype=torch.long)
    with torch.no_grad():
        theirs = reference(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits
        torch.testing.assert_close(model(ids, mask, decoder_ids), theirs, atol=1e-4, rtol=0)


def test_bart_imports_sharded(tmp_path):
    import transformers

    torch.manual_seed(0)
    config = transformers.BartConfig(
        vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=40,
    )  # fmt: skip
    reference = transformers.BartForConditionalGeneration(config).eval()
    directory = saved(tmp_path, reference, max_shard_size="20KB")
    assert (directory / "model.safetensors.index.json").is_file()
    model = from_huggingface(directory).eval()
    assert isinstance(model, Bart) and model.load_report.complete
    ids, mask = ids_and_mask()
    with torch.no_grad():
        torch.testing.assert_close(
            model(ids, mask), reference(input_ids=ids, attention_mask=mask).logits, atol=1e-4, rtol=0
        )


def test_pytorch_model_bin_is_read_with_weights_only(tmp_path):
    import transformers

    config = transformers.GPT2Config(
        vocab_size=99, n_positions=32, n_embd=32, n_layer=1, n_head=4, bos_token_id=1, eos_token_id=2
    )
    reference = transformers.GPT2LMHeadModel(config)
    reference.config.save_pretrained(tmp_path)
    torch.save(reference.state_dict(), tmp_path / "pytorch_model.bin")
    assert from_huggingface(tmp_path).load_report.complete


def test_refusals_name_what_was_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        from_huggingface(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(UnsupportedConfigError, match="model_type 'llama' is not a torchgraft text family"):
        from_huggingface(tmp_path)
    gelu = {
        "model_type": "gpt2",
        "vocab_size": 9,
        "n_positions": 8,
        "n_embd": 8,
        "n_layer": 1,
        "n_head": 2,
        "activation_function": "relu",
    }
    (tmp_path / "config.json").write_text(json.dumps(gelu))
    with pytest.raises(UnsupportedConfigError, match="activation_function='relu'"):
        from_huggingface(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**gelu, "activation_function": "gelu_new"}))
    with pytest.raises(FileNotFoundError, match="none of model.safetensors"):
        from_huggingface(tmp_path)
    from safetensors.torch import save_file

    save_file({"wte.weight": torch.zeros(9, 8)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(tg.UnknownKeywordError, match="dropout"):
        from_huggingface(tmp_path, dropuot=0.0)


# --------------------------------------------------------------------------- configs that disagree
DISAGREEING = [
    ("bert", "num_hidden_layers", 10**6),
    ("bert", "vocab_size", 10**12),
    ("bert", "max_position_embeddings", 10**9),
    ("bert", "intermediate_size", 10**7),
    ("gpt2", "n_layer", 10**6),
    ("gpt2", "n_embd", 10**5),
    ("gpt2", "vocab_size", 10**12),
    ("t5", "num_layers", 10**6),
    ("t5", "num_decoder_layers", 10**6),
    ("t5", "d_ff", 10**8),
    ("bart", "decoder_layers", 10**6),
    ("bart", "encoder_layers", 3),
    ("bart", "vocab_size", 10**12),
]


@pytest.mark.parametrize(("kind", "field", "value"), DISAGREEING)
def test_a_config_that_disagrees_with_its_checkpoint_is_refused_before_anything_is_built(
    kind, field, value, tmp_path, tiny_checkpoint
):
    directory, config = tiny_checkpoint(kind, tmp_path)
    (directory / "config.json").write_text(json.dumps({**config, field: value}))
    import time

    start = time.monotonic()
    with pytest.raises(tg.ConfigMismatchError, match=rf"{value:,}|{value}") as info:
        from_huggingface(directory)
    assert time.monotonic() - start < 30, "checked before building, not after"
    assert "config.json" in str(info.value) and ("checkpoint" in str(info.value) or "must be" in str(info.value))


@pytest.mark.parametrize(("field", "value"), [("num_layers", 10**6), ("vocab_size", 10**12), ("num_heads", 0)])
def test_an_override_that_disagrees_with_the_checkpoint_is_refused_before_anything_is_built(
    field, value, tmp_path, tiny_checkpoint
):
    directory, _ = tiny_checkpoint("bert", tmp_path)
    with pytest.raises(tg.ConfigMismatchError, match=f"{field}"):
        from_huggingface(directory, **{field: value})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON list; expected an object"),
        ('{"model_type": "gpt2"}', "lacks the field 'vocab_size'"),
        ('{"model_type": "gpt2", "vocab_size": NaN}', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_a_malformed_config_file_is_a_typed_error_naming_it(text, match, tmp_path):
    (tmp_path / "config.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(tg.CorruptCheckpointError, match=match):
        from_huggingface(tmp_path)


@pytest.mark.parametrize(
    "field", [("n_head", 0), ("n_embd", -32), ("n_layer", "2"), ("resid_pdrop", 7.0), ("layer_norm_epsilon", -1)]
)
def test_config_values_of_the_wrong_kind_are_named(field, tmp_path, tiny_checkpoint):
    directory, config = tiny_checkpoint("gpt2", tmp_path)
    (directory / "config.json").write_text(json.dumps({**config, field[0]: field[1]}))
    with pytest.raises((tg.ConfigMismatchError, tg.CorruptCheckpointError), match=r"must be|wrong kind"):
        from_huggingface(directory)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "sub/model.safetensors", "..", 7])
def test_a_shard_index_naming_a_file_outside_its_folder_is_refused_unread(name, tmp_path, tiny_checkpoint):
    directory, _ = tiny_checkpoint("gpt2", tmp_path)
    (directory / "model.safetensors").rename(directory / "model-00001.safetensors")
    weight_map = {"transformer.wte.weight": "model-00001.safetensors", "transformer.h.0.attn.c_attn.weight": name}
    (directory / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(tg.CorruptCheckpointError, match="shard"):
        from_huggingface(directory)


def test_a_builder_refuses_sizes_past_this_machines_memory_before_allocating():
    from torchgraft.text.models import bert_base, gpt2

    for build, config in ((bert_base, {"vocab_size": 2**31 - 1}), (gpt2, {"num_layers": 10**6})):
        with pytest.raises(tg.ModelTooLargeError, match=r"GiB of parameters; this machine has"):
            build(**config)


def test_special_tokens_written_as_null_take_the_familys_defaults(tmp_path, tiny_checkpoint):
    """transformers writes ``null`` for a token a checkpoint does not define: that is no error."""
    directory, config = tiny_checkpoint("bert", tmp_path)
    (directory / "config.json").write_text(json.dumps({**config, "pad_token_id": None}))
    assert from_huggingface(directory).cfg.pad_token_id == 0
