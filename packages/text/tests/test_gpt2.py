"""GPT-2 against transformers with identical weights: logits, greedy, beam search, seeded
sampling and the cache on a left-padded batch; sequence classification as
``GPT2ForSequenceClassification``; and a checkpoint in the exact upstream layout, served where the
Hub would be, through the catalog, with a byte-level BPE tokenizer in GPT-2's layout."""

from __future__ import annotations

import pytest
import torch

import torchgraft.core as tg
from torchgraft.core import generate
from torchgraft.core.hub import HUB
from torchgraft.core.store import UnpinnedDownloadWarning
from torchgraft.core.testing import serve_like_hub
from torchgraft.text.models import GPT2_Weights, gpt2, hf_to_gpt2
from torchgraft.text.transforms import TextTransform

TINY = {"vocab_size": 120, "max_positions": 64, "hidden_size": 32, "num_layers": 2, "num_heads": 4}
TINY_HF = {"vocab_size": 120, "n_positions": 64, "n_embd": 32, "n_layer": 2, "n_head": 4}
PAD = 3  # not 0: transformers fills finished beams with `pad_token_id or eos`, so pad 0 would read as "no pad"
PROMPTS = [
    "The harbour was quiet that morning, and",
    "Ünïcödé and accents: déjà vu",
    "Short",
    "A much longer prompt about cats, ferries and the weather on the island, which",
]


@pytest.fixture(scope="module")
def pair():
    """A random transformers GPT2LMHeadModel and ours with its weights."""
    import transformers

    torch.manual_seed(0)
    reference = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(**TINY_HF, bos_token_id=1, eos_token_id=2, pad_token_id=PAD)
    ).eval()
    ours = gpt2(**TINY, intermediate_size=128, bos_token_id=1, eos_token_id=2).eval()
    report = tg.load_weights(ours, hf_to_gpt2(dict(reference.state_dict())))
    assert report.complete and ours.lm_head.weight is ours.word.weight
    return reference, ours


def left_padded() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    lengths = [7, 3, 1, 5]
    ids = torch.full((4, 7), PAD)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, 7 - n :] = torch.randint(4, 120, (n,))
        mask[i, 7 - n :] = 1
    return ids, mask


def test_logits_equal_transformers_on_a_left_padded_batch(pair):
    reference, ours = pair
    ids, mask = left_padded()
    with torch.no_grad():
        theirs = reference(ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)).logits
        mine = ours(ids, attention_mask=mask)
    real = mask.bool()
    torch.testing.assert_close(mine[real], theirs[real], atol=1e-4, rtol=0)


def test_prefill_plus_one_token_steps_equals_one_full_forward(pair):
    _, ours = pair
    ids, mask = left_padded()
    cache = ours.new_cache(4, 9)
    with torch.no_grad():
        full = ours(ids, attention_mask=mask)
        steps = [ours(ids[:, :4], attention_mask=mask, cache=cache)]
        steps += [ours(ids[:, t : t + 1], attention_mask=mask, cache=cache) for t in range(4, 7)]
    real = mask.bool()
    torch.testing.assert_close(torch.cat(steps, 1)[real], full[real], atol=1e-5, rtol=0)


def eos_that_are_reached(model, options) -> list[int]:
    """Per row, the first token it makes that it had not made before ``min_new_tokens``: as EOS
    ids, rows really finish early (each path up to its EOS is unchanged)."""
    ids, mask = left_padded()
    made = generate(model, ids, attention_mask=mask, max_new_tokens=12, eos_token_id=None, pad_token_id=PAD, **options)
    eos = []
    for row in made[:, 7:].tolist():
        start = options.get("min_new_tokens", 0) + 1
        eos += [next((t for at, t in enumerate(row) if at >= start and t not in row[:at]), row[-1])]
    return sorted(set(eos) - {PAD})


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"repetition_penalty": 1.3, "min_new_tokens": 4},
        {"no_repeat_ngram_size": 2},
        {"num_beams": 4, "length_penalty": 1.0},
        {"num_beams": 4, "early_stopping": True, "length_penalty": 2.0},
        {"num_beams": 4, "early_stopping": "never", "length_penalty": -1.0},
        {"num_beams": 4, "length_penalty": 0.0},
    ],
    ids=["greedy", "penalty", "ngrams", "beams", "beams-early", "beams-never", "beams-nolp"],
)
def test_generated_tokens_equal_transformers(pair, options):
    reference, ours = pair
    ids, mask = left_padded()
    eos = eos_that_are_reached(ours, options)
    kw = {"max_new_tokens": 12, "eos_token_id": eos, "pad_token_id": PAD, **options}
    theirs = reference.generate(ids, attention_mask=mask, do_sample=False, **kw)
    mine = generate(ours, ids, attention_mask=mask, **kw)
    if "num_beams" not in options or options["length_penalty"] < 0:  # short hypotheses win: some really end
        assert torch.isin(theirs[:, 7:], torch.tensor(eos)).any()
    assert torch.equal(mine, theirs)


def test_the_same_seeded_top_k_top_p_sample_as_transformers(pair):
    reference, ours = pair
    ids, mask = left_padded()
    kw = {"max_new_tokens": 16, "do_sample": True, "top_k": 30, "top_p": 0.9, "temperature": 0.7, "pad_token_id": PAD}
    torch.manual_seed(7)
    theirs = reference.generate(ids, attention_mask=mask, **kw)
    mine = generate(ours, ids, attention_mask=mask, generator=torch.Generator().manual_seed(7), **kw)
    assert torch.equal(mine, theirs)


def test_sequence_classification_equals_gpt2_for_sequence_classification(pair):
    import transformers

    reference, ours = pair
    torch.manual_seed(2)
    theirs = transformers.GPT2ForSequenceClassification(
        transformers.GPT2Config(**TINY_HF, num_labels=3, pad_token_id=PAD)
    ).eval()
    theirs.transformer.load_state_dict(reference.transformer.state_dict())
    clf = tg.classifier(ours, num_classes=3).eval()
    assert clf.head.pool.mode == "last" and ours.lm_head is None  # the LM head is gone
    with torch.no_grad():
        clf.head.fc.weight.copy_(theirs.score.weight)
        clf.head.fc.bias.zero_()
        right = torch.randint(4, 120, (3, 6))
        mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4])
        right[mask == 0] = PAD
        torch.testing.assert_close(
            clf(right, attention_mask=mask), theirs(right, attention_mask=mask).logits, atol=1e-5, rtol=0
        )
    ours.reset_classifier(TINY["vocab_size"])  # the module-scoped model gets its tied head back
    assert ours.lm_head.weight is ours.word.weight


def test_a_registered_decoder_is_a_backbone_by_name():
    clf = tg.classifier("gpt2", num_classes=3, **TINY)
    assert clf.feature_spec.causal and clf.head.pool.mode == "last"
    assert not [k for k in clf.state_dict() if "lm_head" in k]


# --------------------------------------------------------------------------- the published layout (conftest.py serves it)
@pytest.mark.slow
def test_gpt2_from_the_hub_pins_converts_generates_and_decodes(gpt2_hub, monkeypatch, tmp_path):
    from transformers import PreTrainedTokenizerFast

    root, reference = gpt2_hub
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "cache"))
    with serve_like_hub(root) as base:
        monkeypatch.setenv("TORCHGRAFT_MIRROR", f"{HUB}={base}/")
        with pytest.warns(UnpinnedDownloadWarning, match="openai-community/gpt2/resolve/main/model.safetensors"):
            model = tg.get_model("gpt2", weights="DEFAULT").eval()
        with pytest.warns(UnpinnedDownloadWarning, match="tokenizer.json"):
            tokenize = GPT2_Weights.DEFAULT.transforms()
    assert model.load_report.weights == "GPT2_Weights.WEBTEXT" and model.load_report.complete
    assert model.generation_config.eos_token_id == 50256 and model.lm_head.weight is model.word.weight

    theirs_tok = PreTrainedTokenizerFast(tokenizer_file=str(tokenize.tokenizer_file), padding_side="left")
    theirs_tok.pad_token = "<|endoftext|>"
    batch = tokenize(PROMPTS)
    expected = theirs_tok(PROMPTS, padding=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], expected["input_ids"]) and "token_type_ids" not in batch
    assert torch.equal(batch["attention_mask"], expected["attention_mask"])
    assert (batch["attention_mask"][:, 0] == 0).any() and (batch["attention_mask"][:, -1] == 1).all()  # left padding
    assert tokenize.batch_decode(batch["input_ids"]) == PROMPTS  # padding is a special token: skipped

    mask = batch["attention_mask"]
    with torch.no_grad():
        mine = model(**batch)
        theirs = reference(**batch, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)).logits
    torch.testing.assert_close(mine[mask.bool()], theirs[mask.bool()], atol=1e-4, rtol=0)
    out = generate(model, **batch, max_new_tokens=8)
    assert torch.equal(out, reference.generate(**batch, max_new_tokens=8, do_sample=False, pad_token_id=50256))
    assert all(isinstance(t, str) for t in tokenize.batch_decode(out[:, batch["input_ids"].shape[1] :]))


def test_left_padding_settings_are_checked(tmp_path, gpt2_layout_tokenizer):
    path = gpt2_layout_tokenizer(tmp_path / "tokenizer.json")
    with pytest.raises(ValueError, match="padding_side must be one of"):
        TextTransform(path, 32, padding_side="middle")
    with pytest.raises(ValueError, match="no <pad> token"):
        TextTransform(path, 32, pad_token="<pad>")(["a"])
    with pytest.raises(ValueError, match="no padding settings"):
        TextTransform(path, 32)(["a"])  # GPT-2's file names no pad token: the entry says which to use
    transform = TextTransform(path, 32, with_token_types=False, padding_side="left", pad_token="<|endoftext|>")
    assert transform.pad_token_id == 0
    with pytest.raises(ValueError, match="one row of ids"):
        transform.decode(torch.zeros(2, 3, dtype=torch.long))
