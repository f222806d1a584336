"""What transformers users type first, as they type it (issue 22), against transformers' own fast
tokenizer on the same tokenizer.json: the call keywords, a saved tokenizer folder, a whole
tokenizer output passed to generate, and a Hub id given to from_huggingface."""

from __future__ import annotations

import pytest
import torch

import torchgraft.core as tg
from torchgraft.text.models import AllMiniLM_L6_V2_Weights
from torchgraft.text.transforms import TextTransform

PAIRS = (["What is a cat?", "Where do owls live?"], ["A small domesticated carnivore.", "In forests, " * 20])


@pytest.fixture(scope="module")
def files():
    entry = AllMiniLM_L6_V2_Weights.DEFAULT
    return entry.fetch_asset("tokenizer.json"), entry.fetch_asset("vocab.txt")


@pytest.fixture(scope="module")
def theirs(files):
    from transformers import BertTokenizerFast

    return BertTokenizerFast(tokenizer_file=str(files[0]), vocab_file=str(files[1]))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding": True, "truncation": True, "max_length": 24},
        {"padding": "max_length", "truncation": True, "max_length": 32},
        {"padding": "longest", "truncation": "only_second", "max_length": 20},
    ],
)
def test_the_call_keywords_are_transformers_and_give_its_tensors(files, theirs, kwargs):
    ours = TextTransform(files[0], max_length=256)
    mine = ours(PAIRS[0], text_pair=PAIRS[1], return_tensors="pt", **kwargs)
    expected = theirs(PAIRS[0], text_pair=PAIRS[1], return_tensors="pt", **kwargs)
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(mine[key], expected[key]), key


def test_what_cannot_be_done_says_what_to_write(files):
    ours = TextTransform(files[0], max_length=256)
    with pytest.raises(ValueError, match=r"are longer than max_length=16 tokens and truncation=False"):
        ours(PAIRS[0], text_pair=PAIRS[1], truncation=False, max_length=16)
    with pytest.raises(ValueError, match="torchgraft returns torch tensors; pass 'pt'"):
        ours("a cat", return_tensors="np")
    with pytest.raises(ValueError, match=r"max_length must be in \[2, 256\]"):
        ours("a cat", max_length=512)
    with pytest.raises(ValueError, match="padding=False leaves rows of"):
        ours(["a cat", "a much longer sentence"], padding=False)
    with pytest.raises(ValueError, match=r"is a directory; expected its tokenizer.json: TextTransform.from_pretrained"):
        TextTransform(files[0].parent, max_length=16)


def test_from_pretrained_reads_a_saved_tokenizer_folder_with_its_config(theirs, tmp_path):
    import json

    theirs.save_pretrained(tmp_path / "bert")
    assert TextTransform.from_pretrained(tmp_path / "bert").with_token_types  # BERT's post-processor types pairs
    theirs.padding_side, theirs.model_max_length = "left", 64  # as a decoder's folder says
    theirs.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    config["model_input_names"] = ["input_ids", "attention_mask"]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    ours = TextTransform.from_pretrained(tmp_path)
    assert (ours.max_length, ours.padding_side, ours.with_token_types) == (64, "left", False)
    mine, expected = ours(PAIRS[0]), theirs(PAIRS[0], padding=True, return_tensors="pt")
    assert set(mine) == {"input_ids", "attention_mask"} and torch.equal(mine["input_ids"], expected["input_ids"])
    with pytest.raises(FileNotFoundError, match="no tokenizer.json in"):
        TextTransform.from_pretrained(tmp_path / "empty")


def test_a_whole_tokenizer_output_goes_to_generate(files):
    from torchgraft.text.models import gpt2

    model = gpt2(num_layers=1, hidden_size=32, num_heads=2, vocab_size=30522).eval()
    tok = TextTransform(files[0], max_length=32, padding_side="left")  # token types included, all zeros
    special = {"bos_token_id": 101, "eos_token_id": 102, "pad_token_id": 0}  # this vocabulary's
    out = tg.generate(model, **tok(["a cat", "a small dog"]), max_new_tokens=2, **special)
    assert out.shape == (2, tok(["a cat", "a small dog"])["input_ids"].shape[1] + 2)
    with pytest.raises(ValueError, match="token_type_ids mark a second segment"):
        tg.generate(model, **tok(["a cat"], text_pair=["a dog"]), max_new_tokens=1, **special)


def test_a_hub_id_given_to_from_huggingface_names_the_catalog_entry():
    from torchgraft.text.models import from_huggingface

    with pytest.raises(FileNotFoundError, match=r"names the Hub repository of torchgraft's gpt2: get_model\('gpt2'"):
        from_huggingface("gpt2")
