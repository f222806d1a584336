"""T5 (v1.0 and v1.1) and BART against transformers with identical weights: logits, greedy, beam
search, seeded sampling and the cache on padded batches; BART's sequence-classification features
as ``BartForSequenceClassification`` reads them; and checkpoints in the exact upstream layouts,
served where the Hub would be, through the catalogs, with tokenizers in T5's (Unigram) and
BART's (byte-level BPE) layouts."""

from __future__ import annotations

import pytest
import torch

import torchgraft.core as tg
from torchgraft.core import generate
from torchgraft.core.compose import Pool
from torchgraft.core.hub import HUB
from torchgraft.core.store import UnpinnedDownloadWarning
from torchgraft.core.testing import serve_like_hub
from torchgraft.text.models import bart_base, hf_to_bart, hf_to_t5, t5_small

T5_TINY = {"vocab_size": 120, "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4}
BART_TINY = {"vocab_size": 120, "d_model": 32, "encoder_layers": 2, "decoder_layers": 2, "num_heads": 4, "ffn_dim": 64}


def reference_t5(gated: bool):
    import transformers

    torch.manual_seed(0)
    config = transformers.T5Config(
        **{k: v for k, v in T5_TINY.items()},
        feed_forward_proj="gated-gelu" if gated else "relu",
        tie_word_embeddings=not gated,
        decoder_start_token_id=0,
    )
    reference = transformers.T5ForConditionalGeneration(config).eval()
    if gated:  # v1.1 has a head of its own (transformers ties it unless the checkpoint says otherwise)
        reference.lm_head.weight = torch.nn.Parameter(torch.randn(120, 32) * 0.3)
    ours = t5_small(**T5_TINY, gated=gated, tie_word_embeddings=not gated, scale_decoder_outputs=not gated).eval()
    return reference, ours, hf_to_t5


def reference_bart(_: bool):
    import transformers

    torch.manual_seed(0)
    config = transformers.BartConfig(
        vocab_size=120,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        forced_eos_token_id=None,  # the tiny model has no publisher's defaults; the tests pass them
    )
    reference = transformers.BartForConditionalGeneration(config).eval()
    with torch.no_grad():
        reference.final_logits_bias.normal_()
    return reference, bart_base(**BART_TINY, max_positions=64).eval(), hf_to_bart


FAMILIES = {"t5": (reference_t5, False), "t5-v1.1": (reference_t5, True), "bart": (reference_bart, False)}


@pytest.fixture(scope="module", params=list(FAMILIES))
def pair(request):
    make, gated = FAMILIES[request.param]
    reference, ours, adapter = make(gated)
    report = tg.load_weights(ours, adapter(dict(reference.state_dict())))
    assert report.complete, report
    return request.param, reference, ours


def batch(family: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded inputs ending in EOS, as their tokenizers make them."""
    pad, eos = (0, 1) if family.startswith("t5") else (1, 2)
    torch.manual_seed(1)
    lengths = [7, 5, 3]
    ids = torch.full((3, 7), pad)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, : n - 1] = torch.randint(3, 120, (n - 1,))
        ids[i, n - 1] = eos
        mask[i, :n] = 1
    return ids, mask


def test_logits_equal_transformers(pair):
    family, reference, ours = pair
    ids, mask = batch(family)
    decoder_ids = torch.randint(3, 120, (3, 5))
    decoder_ids[:, 0] = ours.cfg.decoder_start_token_id
    with torch.no_grad():
        theirs = reference(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits
        mine = ours(ids, mask, decoder_ids)
    torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=0)


def test_one_token_decoding_steps_equal_one_full_decode(pair):
    family, _, ours = pair
    ids, mask = batch(family)
    decoder_ids = torch.randint(3, 120, (3, 6))
    with torch.no_grad():
        memory = ours.encode(ids, mask)
        full = ours.decode(decoder_ids, memory, mask)
        cache = ours.new_cache(3, 6)
        steps = [ours.decode(decoder_ids[:, :2], memory, mask, cache=cache)]
        steps += [ours.decode(decoder_ids[:, t : t + 1], memory, mask, cache=cache) for t in range(2, 6)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=0)


def without_padding_after_eos(ids: torch.Tensor, eos: int) -> list[list[int]]:
    """Each row up to its first EOS (transformers fills finished beams with EOS when pad is 0)."""
    rows = []
    for row in ids.tolist():
        rows.append(row[: row.index(eos, 1) + 1] if eos in row[1:] else row)
    return rows


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"num_beams": 4},
        {"num_beams": 4, "length_penalty": -1.0, "early_stopping": True},
        {"num_beams": 4, "length_penalty": 2.0, "no_repeat_ngram_size": 3, "min_new_tokens": 4},
        {"repetition_penalty": 1.4, "no_repeat_ngram_size": 2},
        {"forced_bos_token_id": 5, "forced_eos_token_id": 6},
    ],
    ids=["greedy", "beams", "beams-short", "beams-summary", "penalties", "forced"],
)
def test_generated_tokens_equal_transformers(pair, options):
    family, reference, ours = pair
    ids, mask = batch(family)
    eos = ours.cfg.eos_token_id
    theirs = reference.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10, do_sample=False, **options)
    mine = generate(ours, ids, attention_mask=mask, max_new_tokens=10, **options)
    assert mine.shape == theirs.shape and (mine[:, 0] == ours.cfg.decoder_start_token_id).all()
    assert without_padding_after_eos(mine, eos) == without_padding_after_eos(theirs, eos)


def test_the_same_seeded_sample_as_transformers(pair):
    family, reference, ours = pair
    ids, mask = batch(family)
    kw = {"max_new_tokens": 10, "do_sample": True, "top_k": 20, "top_p": 0.8, "temperature": 0.9}
    torch.manual_seed(3)
    theirs = reference.generate(input_ids=ids, attention_mask=mask, **kw)
    mine = generate(ours, ids, attention_mask=mask, generator=torch.Generator().manual_seed(3), **kw)
    assert torch.equal(mine, theirs)


def test_bart_sequence_features_are_what_bart_for_sequence_classification_reads():
    import transformers

    reference, ours, adapter = reference_bart(False)
    tg.load_weights(ours, adapter(dict(reference.state_dict())))
    ids, mask = batch("bart")
    theirs = transformers.BartForSequenceClassification(reference.config).eval()
    theirs.model.load_state_dict(reference.model.state_dict())
    with torch.no_grad():
        hidden = theirs.model(input_ids=ids, attention_mask=mask).last_hidden_state
        at_eos = hidden[ids.eq(2)].view(3, -1, 32)[:, -1]  # the state at each row's last EOS
        mine = Pool("last")(ours.forward_features(ids, mask))
    torch.testing.assert_close(mine, at_eos, atol=1e-5, rtol=0)
    clf = tg.classifier(ours, num_classes=4)
    assert clf(ids, mask).shape == (3, 4) and ours.lm_head is None


def test_the_encoder_alone_is_a_text_backbone():
    model = t5_small(**T5_TINY).eval()
    clf = tg.classifier(model.encoder, num_classes=2, pooling="mean")
    ids, mask = batch("t5")
    assert clf(ids, mask).shape == (3, 2) and not clf.feature_spec.causal


# --------------------------------------------------------------------------- the published layouts
CORPUS = [
    "summarize: The ferry to the island was late again on Tuesday, and nobody knew why.",
    "translate English to German: The house is small but the garden is large.",
    "Ünïcödé, accents and numbers like 1984 survive tokenization.",
] * 6


def t5_layout_tokenizer(path):
    """A SentencePiece Unigram tokenizer laid out as T5's: <pad> 0, </s> 1, <unk> 2, </s> appended."""
    from tokenizers import SentencePieceUnigramTokenizer, processors

    tokenizer = SentencePieceUnigramTokenizer()
    tokenizer.train_from_iterator(CORPUS, vocab_size=150, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>")
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer.save(str(path))


def bart_layout_tokenizer(path):
    """A byte-level BPE tokenizer laid out as BART's (RoBERTa's): <s> 0, <pad> 1, </s> 2, <s> $A </s>."""
    from tokenizers import ByteLevelBPETokenizer, processors

    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(CORPUS, vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer.save(str(path))


def served(tmp_path_factory, repo: str, model, state: dict, tokenizer) -> object:
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("hub")
    folder = root / repo / "resolve" / "main"
    folder.mkdir(parents=True)
    save_file({k: v.clone() for k, v in state.items()}, str(folder / "model.safetensors"))  # aliases as copies
    tokenizer(folder / "tokenizer.json")
    return root


@pytest.fixture(scope="module")
def t5_hub(tmp_path_factory):
    """A transformers T5-small saved as google-t5/t5-small publishes it (the embedding aliases kept)."""
    import transformers

    torch.manual_seed(0)
    reference = transformers.T5ForConditionalGeneration(transformers.T5Config(decoder_start_token_id=0)).eval()
    state = {k: v for k, v in reference.state_dict().items() if k != "lm_head.weight"}
    return served(tmp_path_factory, "google-t5/t5-small", reference, state, t5_layout_tokenizer), reference


@pytest.fixture(scope="module")
def bart_hub(tmp_path_factory):
    """A transformers BART-base saved as facebook/bart-base publishes it: BartModel keys, no prefix,
    no LM head and no final_logits_bias."""
    import transformers

    torch.manual_seed(0)
    config = transformers.BartConfig(
        d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12, decoder_attention_heads=12,
        encoder_ffn_dim=3072, decoder_ffn_dim=3072, forced_eos_token_id=2,
    )  # fmt: skip
    reference = transformers.BartForConditionalGeneration(config).eval()
    return served(
        tmp_path_factory, "facebook/bart-base", reference, reference.model.state_dict(), bart_layout_tokenizer
    ), reference


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "hub", "repo"),
    [("t5_small", "t5_hub", "google-t5/t5-small"), ("bart_base", "bart_hub", "facebook/bart-base")],
)
def test_from_the_hub_pins_converts_generates_and_decodes(name, hub, repo, request, monkeypatch, tmp_path):
    root, reference = request.getfixturevalue(hub)
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "cache"))
    weights = tg.get_model_weights(name).DEFAULT
    with serve_like_hub(root) as base:
        monkeypatch.setenv("TORCHGRAFT_MIRROR", f"{HUB}={base}/")
        with pytest.warns(UnpinnedDownloadWarning, match=f"{repo}/resolve/main/model.safetensors"):
            model = tg.get_model(name, weights="DEFAULT").eval()
        with pytest.warns(UnpinnedDownloadWarning, match="tokenizer.json"):
            tokenize = weights.transforms()
    assert model.load_report.complete and model.lm_head.weight is model.shared.weight
    assert model.generation_config.decoder_start_token_id == reference.config.decoder_start_token_id

    texts = CORPUS[:3]
    inputs = tokenize(texts)
    assert (inputs["attention_mask"][:, -1] == 0).any()  # right-padded, as encoders are
    assert tokenize.batch_decode(inputs["input_ids"]) == texts  # the special tokens are skipped
    with torch.no_grad():
        decoder_ids = torch.full((3, 1), model.cfg.decoder_start_token_id)
        mine = model(**inputs, decoder_input_ids=decoder_ids)
        theirs = reference(**inputs, decoder_input_ids=decoder_ids).logits
    torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=0)
    out = generate(model, **inputs, max_new_tokens=6, num_beams=2)
    expected = reference.generate(**inputs, max_new_tokens=6, num_beams=2, do_sample=False)
    eos = model.cfg.eos_token_id
    assert without_padding_after_eos(out, eos) == without_padding_after_eos(expected, eos)


def test_compiled_decoding_steps_give_the_eager_tokens():
    torch._dynamo.reset()
    model = bart_base(**BART_TINY, max_positions=64).eval()
    ids, mask = batch("bart")
    eager = generate(model, ids, attention_mask=mask, max_new_tokens=5, num_beams=2)
    assert torch.equal(generate(model, ids, attention_mask=mask, max_new_tokens=5, num_beams=2, compile=True), eager)
