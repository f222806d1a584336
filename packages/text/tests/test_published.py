"""The published-encoder catalog, end to end against a local server that behaves like the Hub.

The upstream files cannot be downloaded here, so the BERT test builds a checkpoint in the exact
upstream layout (``bert.`` prefix, TensorFlow-era ``LayerNorm.gamma/beta`` names, pooler and
pre-training heads) with transformers, serves it where ``google-bert/bert-base-uncased`` would be,
and checks the whole path: pin on first download, conversion, parity, cache, offline, tasks.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import torch

import torchgraft.core as tg
from torchgraft.core.hub import HUB
from torchgraft.core.store import UnpinnedDownloadWarning
from torchgraft.core.testing import serve_like_hub
from torchgraft.text.models import BertBase_Weights, masked_lm, text_classifier

PUBLISHED = {
    name: tg.get_model_weights(name)
    for name in tg.list_models(domain="text")
    if name.startswith(("bert", "roberta", "xlm"))
}

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Ünïcödé, accents and CJK 東京 survive tokenization.",
    "Short.",
]


def test_every_published_entry_is_an_encoder_with_its_tokenizer():
    for name, enum in PUBLISHED.items():
        assert enum.default() is not None, name
        for member in enum:
            w = member.value
            repo = w.meta["source"].removeprefix(HUB)
            assert w.url == f"{HUB}{repo}/resolve/main/model.safetensors" and w.format == "safetensors"
            assert w.role == "backbone" and not w.pinned and w.adapter is not None
            assert w.assets["tokenizer.json"].url == f"{HUB}{repo}/resolve/main/tokenizer.json"
            assert w.transforms.with_token_types == name.startswith("bert"), member
            assert w.meta["license"] in ("Apache-2.0", "MIT") and w.meta["recipe"].startswith("https://arxiv.org/")


@pytest.fixture(scope="module")
def bert_hub(tmp_path_factory):
    """A transformers BERT-base, saved as google-bert/bert-base-uncased publishes it."""
    import transformers
    from safetensors.torch import save_file

    torch.manual_seed(0)
    reference = transformers.BertForPreTraining(transformers.BertConfig()).eval()
    state = {
        k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v.contiguous()
        for k, v in reference.state_dict().items()
        if not k.startswith("cls.predictions.decoder.")  # tied to other tensors, stored once upstream
    }
    assert any(k.endswith("LayerNorm.gamma") for k in state) and "bert.pooler.dense.weight" in state
    root = tmp_path_factory.mktemp("hub")
    repo = root / "google-bert" / "bert-base-uncased" / "resolve" / "main"
    repo.mkdir(parents=True)
    save_file(state, str(repo / "model.safetensors"))
    # all-MiniLM-L6-v2 ships bert-base-uncased's WordPiece vocabulary and tokenizer
    minilm = tg.get_model_weights("all_minilm_l6_v2").DEFAULT
    shutil.copy(minilm.fetch_asset("tokenizer.json"), repo / "tokenizer.json")
    return root, reference


def requests(root: Path, name: str) -> int:
    log = root / ".requests"
    return (
        sum(line.startswith("/_blobs/") and line.endswith(name) for line in log.read_text().split())
        if log.exists()
        else 0
    )


@pytest.mark.slow
def test_bert_base_from_the_hub_pins_converts_and_matches_transformers(bert_hub, monkeypatch, tmp_path):
    root, pretraining = bert_hub
    reference = pretraining.bert
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "cache"))
    with serve_like_hub(root) as base:
        monkeypatch.setenv("TORCHGRAFT_MIRROR", f"{HUB}={base}/")
        with pytest.warns(UnpinnedDownloadWarning, match="bert-base-uncased/resolve/main/model.safetensors"):
            model = tg.get_model("bert_base", weights="DEFAULT").eval()
        with pytest.warns(UnpinnedDownloadWarning, match="tokenizer.json"):
            transform = BertBase_Weights.DEFAULT.transforms()
        batch = transform(SENTENCES)
        assert batch["attention_mask"].sum(1).tolist() != [batch["input_ids"].shape[1]] * 3  # padded
        with torch.no_grad():
            ours = model(**batch)
            theirs = reference(**batch).last_hidden_state
        mask = batch["attention_mask"].bool()
        torch.testing.assert_close(ours[mask], theirs[mask], atol=1e-4, rtol=0)

        # the encoder weights are stored once: a task on the same encoder fetches nothing again
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            classifier = text_classifier(backbone="bert_base", backbone_weights="DEFAULT", num_classes=3)
            with tg.init_empty():
                fresh = text_classifier(backbone="bert_base", num_classes=3)
            report = tg.load_weights(fresh, BertBase_Weights.UNCASED)
        assert requests(root, "model.safetensors") == 1
        assert report.fresh == ["head.fc.bias", "head.fc.weight"] and not report.unexpected
        torch.testing.assert_close(classifier.backbone.layers[3].fc1.weight, model.layers[3].fc1.weight)

    # offline, with no server at all: the pin and the cache are enough
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")
    again = tg.get_model("bert_base", weights="DEFAULT").eval()
    with torch.no_grad():
        torch.testing.assert_close(again(**batch), ours)

    # masked LM: the pre-trained head comes from the same file and predicts as transformers' does
    mlm = masked_lm(backbone="bert_base", backbone_weights="DEFAULT").eval()
    fresh_mlm = masked_lm(backbone="bert_base", backbone_weights="DEFAULT", fresh_head=True).eval()
    with torch.no_grad():
        logits = mlm(**batch)
        expected = pretraining(**batch).prediction_logits
        torch.testing.assert_close(logits[mask], expected[mask], atol=1e-3, rtol=0)
        assert not torch.allclose(fresh_mlm(**batch)[mask], expected[mask], atol=1e-1)
    assert mlm.head.decoder.weight is mlm.backbone.embeddings.word.weight


def test_require_pinned_refuses_the_published_encoders_before_any_request(bert_hub, monkeypatch, tmp_path):
    root, _ = bert_hub
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCHGRAFT_REQUIRE_PINNED", "1")
    before = requests(root, "model.safetensors")
    with serve_like_hub(root) as base:
        monkeypatch.setenv("TORCHGRAFT_MIRROR", f"{HUB}={base}/")
        with pytest.raises(tg.UnpinnedError, match="bert-base-uncased"):
            tg.get_model("bert_base", weights="DEFAULT")
    assert requests(root, "model.safetensors") == before


def test_tokenizer_files_without_padding_settings_pad_with_their_own_pad_token(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    from torchgraft.text.transforms import TextTransform

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's order: <pad> is id 1
    tokenizer.train_from_iterator(SENTENCES * 4, trainers.BpeTrainer(vocab_size=300, special_tokens=specials))
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    assert tokenizer.padding is None
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    batch = TextTransform(tmp_path / "tokenizer.json", 64, with_token_types=False)(["a", "a much longer sentence"])
    pads = batch["input_ids"][batch["attention_mask"] == 0]
    assert pads.numel() > 0 and pads.eq(1).all()
