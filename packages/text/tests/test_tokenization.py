"""Sentence pairs, pre-split words, segment-aware truncation and overflowing windows: the tokens
equal transformers' fast tokenizers on the same tokenizer files, for a BERT tokenizer (the real
all-MiniLM-L6-v2 file) and tokenizers in RoBERTa's (byte-level BPE) and XLM-R's (Unigram) layouts."""

from __future__ import annotations

import pytest
import torch

from torchgraft.text.models import AllMiniLM_L6_V2_Weights
from torchgraft.text.transforms import TextTransform

QUESTIONS = ["Where do the cats sleep?", "Who wrote the letter to the editor of the local paper?", "Why?"]
CONTEXTS = [
    "In the old house by the harbour, three cats sleep on the sofa every afternoon while the rain falls.",
    "The letter, signed by forty residents, was written by Ana Lopez, a retired teacher.",
    "Because the ferry was late again, and nobody knew when the next one would leave the island.",
]
CORPUS = QUESTIONS + CONTEXTS + ["Ünïcödé text, accents and numbers like 1984 survive tokenization."] * 3


def _roberta_like(path):
    from tokenizers import ByteLevelBPETokenizer, processors

    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(CORPUS, vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer.save(str(path))
    return path


def _xlmr_like(path):
    from tokenizers import SentencePieceUnigramTokenizer, processors

    tokenizer = SentencePieceUnigramTokenizer()
    tokenizer.train_from_iterator(
        CORPUS, vocab_size=200, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>"
    )
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer.save(str(path))
    return path


@pytest.fixture(params=["bert", "roberta", "xlmr"])
def files(request, tmp_path):
    """``(tokenizer.json, transformers' fast tokenizer on the same file, with_token_types)``."""
    from transformers import PreTrainedTokenizerFast

    if request.param == "bert":
        path = AllMiniLM_L6_V2_Weights.DEFAULT.fetch_asset("tokenizer.json")
        special = {"pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "unk_token": "[UNK]"}
        special["model_input_names"] = ["input_ids", "token_type_ids", "attention_mask"]
    else:
        path = (_roberta_like if request.param == "roberta" else _xlmr_like)(tmp_path / "tokenizer.json")
        special = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    return path, PreTrainedTokenizerFast(tokenizer_file=str(path), **special), request.param == "bert"


def _longest(reference, texts) -> int:
    return max(len(reference(t, add_special_tokens=False)["input_ids"]) for t in texts)


@pytest.mark.parametrize("truncation", ["longest_first", "only_second", "only_first"])
def test_sentence_pairs_equal_transformers(files, truncation):
    path, reference, types = files
    # Long enough for the text that must stay whole, short enough that the other is cut.
    keep = {"only_second": QUESTIONS, "only_first": CONTEXTS, "longest_first": QUESTIONS}[truncation]
    max_length = _longest(reference, keep) + 4 + 6
    ours = TextTransform(path, max_length, with_token_types=types)(QUESTIONS, CONTEXTS, truncation=truncation)
    theirs = reference(
        QUESTIONS, CONTEXTS, truncation=truncation, max_length=max_length, padding="longest", return_tensors="pt"
    )
    assert torch.equal(ours["input_ids"], theirs["input_ids"])
    assert torch.equal(ours["attention_mask"], theirs["attention_mask"])
    if types:
        assert torch.equal(ours["token_type_ids"], theirs["token_type_ids"])
        assert ours["token_type_ids"][0].max() == 1  # the second text is segment 1


def test_overflowing_windows_with_a_stride_equal_transformers(files):
    path, reference, types = files
    max_length = _longest(reference, QUESTIONS) + 4 + 10
    ours = TextTransform(path, max_length, with_token_types=types)(
        QUESTIONS, CONTEXTS, truncation="only_second", stride=4, return_overflowing=True, return_offsets=True
    )
    theirs = reference(
        QUESTIONS, CONTEXTS, truncation="only_second", max_length=max_length, stride=4, padding="longest",
        return_overflowing_tokens=True, return_offsets_mapping=True, return_tensors="pt",
    )  # fmt: skip
    assert len(ours["input_ids"]) > len(QUESTIONS)  # long contexts made several windows
    assert torch.equal(ours["input_ids"], theirs["input_ids"])
    assert torch.equal(ours["overflow_to_sample"], theirs["overflow_to_sample_mapping"])
    assert torch.equal(ours["offsets"], theirs["offset_mapping"])
    for row in range(len(ours["input_ids"])):
        expected = [-1 if s is None else s for s in theirs.sequence_ids(row)]
        assert ours["sequence_ids"][row].tolist() == expected


def test_pre_split_words_give_word_ids_equal_transformers(files):
    path, reference, types = files
    words = [["Ana", "Lopez", "wrote", "the", "letter", "."], ["Three", "cats", "sleep"]]
    ours = TextTransform(path, 32, with_token_types=types)(words, is_split_into_words=True, return_word_ids=True)
    theirs = reference(words, is_split_into_words=True, padding="longest", return_tensors="pt")
    assert torch.equal(ours["input_ids"], theirs["input_ids"])
    for row in range(len(words)):
        assert ours["word_ids"][row].tolist() == [-1 if w is None else w for w in theirs.word_ids(row)]
    # every word has at least one token, and labels align through word_ids
    assert set(ours["word_ids"][0].tolist()) - {-1} == set(range(len(words[0])))


def test_bad_pair_inputs_are_refused_clearly(files):
    path, _, types = files
    transform = TextTransform(path, 16, with_token_types=types)
    with pytest.raises(ValueError, match="one text pair per text; found 3 texts and 2 pairs"):
        transform(QUESTIONS, CONTEXTS[:2])
    with pytest.raises(ValueError, match="truncation must be one of"):
        transform(QUESTIONS, CONTEXTS, truncation="only_third")
    with pytest.raises(ValueError, match="needs text_pairs"):
        transform(QUESTIONS, truncation="only_second")
    with pytest.raises(ValueError, match="stride must be in"):
        transform(QUESTIONS, CONTEXTS, stride=16)
    with pytest.raises(TypeError, match="a list of words"):
        transform("not split", is_split_into_words=True)
    long_question = " ".join(["question"] * 40)
    with pytest.raises(ValueError, match="cannot tokenize within max_length=16 .truncation='only_second'"):
        transform([long_question], [CONTEXTS[0]], truncation="only_second")
    with pytest.raises(ValueError, match="cannot tokenize within max_length=16"):  # a stride longer than the room left
        transform([QUESTIONS[1]], [CONTEXTS[1]], truncation="only_second", stride=12, return_overflowing=True)
