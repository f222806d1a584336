"""The packaged all-MiniLM-L6-v2 against sentence-transformers, on real sentences."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import torchgraft.core as tg

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A monkey is playing drums.",
    "The new movie is awesome and I loved every minute of it, from the opening scene to the credits.",
]


@pytest.fixture(scope="module")
def minilm():
    weights = tg.get_model_weights("all_minilm_l6_v2").DEFAULT
    return tg.get_model("all_minilm_l6_v2", weights=weights).eval(), weights


def embed(minilm, texts):
    model, weights = minilm
    with torch.no_grad():
        return model(**weights.transforms()(texts))


def model_dir() -> Path:
    return Path(tg.get_model_weights("all_minilm_l6_v2").DEFAULT.fetch()).parent


def test_embeddings_equal_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_dir()), device="cpu")
    expected = torch.tensor(reference.encode(SENTENCES))
    found = embed(minilm, SENTENCES)
    assert found.shape == (len(SENTENCES), 384)
    torch.testing.assert_close(found, expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(found.norm(dim=-1), torch.ones(len(SENTENCES)), atol=1e-5, rtol=0)


def test_semantic_ranking_is_what_a_person_expects(minilm):
    queries = [
        "A man is eating pasta.",
        "Someone is riding a white horse on a path.",
        "A cheetah chases prey across a field.",
    ]
    corpus = [*SENTENCES[:7], "A cheetah is running behind its prey."]
    q, c = embed(minilm, queries), embed(minilm, corpus)
    best = (q @ c.T).argmax(dim=1).tolist()
    assert [corpus[i] for i in best] == [
        "A man is eating food.",
        "A man is riding a horse.",
        "A cheetah is running behind its prey.",
    ]


@pytest.mark.parametrize(
    "texts",
    [
        ["Ünïcödé àccents — naïve café, Zürich", "日本語のテキストと emoji 🙂"],
        [""],
        ["word " * 400],  # longer than the 256-token maximum
        ["short", "a much longer sentence that needs padding in the batch"],
    ],
)
def test_tokenization_equals_the_reference_tokenizer(minilm, texts):
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(model_dir()))
    expected = reference(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    found = minilm[1].transforms()(texts)
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(found[key], expected[key]), key
    assert found["input_ids"].shape[1] <= 256


def test_bad_text_input_is_refused(minilm):
    with pytest.raises(TypeError, match="expected a string or a non-empty list of strings"):
        minilm[1].transforms()([1, 2])
    with pytest.raises(TypeError, match="non-empty"):
        minilm[1].transforms()([])


def test_encoder_weights_report_in_a_composite(minilm):
    weights = minilm[1]
    with tg.init_empty():
        model = tg.classifier(tg.get_model("minilm_l6_h384"), num_classes=3)
    report = tg.load_weights(model, weights)
    assert report.fresh == ["head.fc.bias", "head.fc.weight"] and not report.unexpected
    assert report.converted["backbone.layers.0.attn.qkv.weight"] == "(computed)"
