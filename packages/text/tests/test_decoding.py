"""Answer spans from QA logits and word labels from token predictions, on the real BERT tokenizer of
all-MiniLM-L6-v2, with hand-checked cases."""

from __future__ import annotations

import pytest
import torch

from torchgraft.text.decoding import Answer, decode_answers, word_labels
from torchgraft.text.models import AllMiniLM_L6_V2_Weights
from torchgraft.text.transforms import TextTransform

QUESTION = "Where do the cats sleep?"
CONTEXT = "Three cats sleep on the sofa in the afternoon."
# [CLS] where do the cats sleep ? [SEP] three cats sleep on the sofa in the afternoon . [SEP]
#   0     1    2  3   4     5    6   7     8    9    10  11  12  13  14  15    16     17  18


@pytest.fixture(scope="module")
def transform():
    return AllMiniLM_L6_V2_Weights.DEFAULT.transforms()


def logits_peaking(length: int, start: dict[int, float], end: dict[int, float]) -> tuple[torch.Tensor, torch.Tensor]:
    s, e = torch.zeros(1, length), torch.zeros(1, length)
    for i, v in start.items():
        s[0, i] = v
    for i, v in end.items():
        e[0, i] = v
    return s, e


def test_the_best_span_is_read_back_from_the_context(transform):
    batch = transform([QUESTION], [CONTEXT], truncation="only_second", return_offsets=True)
    start, end = logits_peaking(19, {11: 5.0}, {13: 5.0})  # "on the sofa"
    [[best]] = decode_answers(start, end, batch, [CONTEXT])
    assert best.text == "on the sofa" and CONTEXT[best.start : best.end] == "on the sofa"
    assert 0.5 < best.score < 1


def test_spans_stay_in_the_context_ordered_and_short(transform):
    batch = transform([QUESTION], [CONTEXT], truncation="only_second", return_offsets=True)
    # The question's "cats" scores highest, but an answer comes from the context only.
    start, end = logits_peaking(19, {4: 9.0, 9: 4.0}, {4: 9.0, 9: 4.0})
    assert decode_answers(start, end, batch, [CONTEXT])[0][0].text == "cats"
    assert decode_answers(start, end, batch, [CONTEXT])[0][0].start == CONTEXT.index("cats")
    # An end before its start is no span: the best valid one starts at 8 ("three").
    start, end = logits_peaking(19, {13: 6.0, 8: 2.0}, {11: 6.0, 16: 3.0})
    answers = decode_answers(start, end, batch, [CONTEXT], top_k=3)[0]
    assert answers[0].text == "sofa in the afternoon"  # (13, 16) beats (8, 11)
    assert all(a.start <= a.end for a in answers) and answers == sorted(answers, key=lambda a: -a.score)
    # max_answer_length: "three ... afternoon" is 9 tokens, so 3 tokens keeps it out.
    start, end = logits_peaking(19, {8: 8.0}, {16: 8.0})
    assert decode_answers(start, end, batch, [CONTEXT])[0][0].text == "Three cats sleep on the sofa in the afternoon"
    short = decode_answers(start, end, batch, [CONTEXT], max_answer_length=3)[0][0]
    assert len(short.text.split()) <= 3


def test_a_null_answer_wins_when_the_first_token_is_most_likely(transform):
    batch = transform([QUESTION], [CONTEXT], truncation="only_second", return_offsets=True)
    start, end = logits_peaking(19, {0: 8.0, 11: 1.0}, {0: 8.0, 13: 1.0})
    [answers] = decode_answers(start, end, batch, [CONTEXT], null_answers=True, top_k=2)
    assert answers[0] == Answer("", 0, 0, answers[0].score) and answers[1].text == "on the sofa"
    assert decode_answers(start, end, batch, [CONTEXT])[0][0].text == "on the sofa"  # without null answers


def test_long_contexts_are_read_window_by_window():
    from torchgraft.text.transforms import TextTransform

    transform = TextTransform(AllMiniLM_L6_V2_Weights.DEFAULT.fetch_asset("tokenizer.json"), 40)
    filler = " ".join(["The weather was mild and the harbour was quiet."] * 6)
    context = f"{filler} The cats sleep on the blue sofa."
    batch = transform(
        [QUESTION], [context], truncation="only_second", stride=8, return_overflowing=True, return_offsets=True
    )
    assert len(batch["input_ids"]) > 1 and batch["overflow_to_sample"].tolist() == [0] * len(batch["input_ids"])
    start, end = torch.zeros(batch["input_ids"].shape), torch.zeros(batch["input_ids"].shape)
    last = len(batch["input_ids"]) - 1  # the answer is in the last window only
    tokens = batch["offsets"][last].tolist()
    first = next(i for i, (a, b) in enumerate(tokens) if batch["sequence_ids"][last][i] == 1 and context[a:b] == "blue")
    start[last, first], end[last, first + 1] = 7.0, 7.0
    [[best]] = decode_answers(start, end, batch, [context])
    assert best.text == "blue sofa" and best.start == context.index("blue sofa")


def test_bad_inputs_are_refused(transform):
    batch = transform([QUESTION], [CONTEXT], truncation="only_second", return_offsets=True)
    start, end = logits_peaking(19, {}, {})
    with pytest.raises(KeyError, match="return_offsets=True"):
        decode_answers(start, end, {"input_ids": batch["input_ids"]}, [CONTEXT])
    with pytest.raises(ValueError, match="shaped like the batch"):
        decode_answers(start[:, :5], end, batch, [CONTEXT])
    with pytest.raises(ValueError, match="the batch has 2 questions but 1 contexts"):
        decode_answers(start, end, {**batch, "overflow_to_sample": torch.tensor([1])}, [CONTEXT])


def test_word_labels_take_each_words_first_token(transform):
    words = [["Ana", "Lopez", "wrote", "unbelievably"], ["Hi"]]
    batch = transform(words, is_split_into_words=True, return_word_ids=True)
    ids = batch["word_ids"]
    predictions = torch.full(ids.shape, 9)
    for row in range(len(words)):
        for t, w in enumerate(ids[row].tolist()):
            if w >= 0:
                predictions[row, t] = w if t == ids[row].tolist().index(w) else 7  # later sub-tokens say 7
    assert word_labels(predictions, ids) == [[0, 1, 2, 3], [0]]
    logits = torch.nn.functional.one_hot(predictions, 10).float()
    assert word_labels(logits, ids) == [[0, 1, 2, 3], [0]]
    with pytest.raises(ValueError, match="shaped like word_ids"):
        word_labels(predictions[:, :2], ids)


LONG_CONTEXT = " ".join(
    f"On day {i} the ferry left at {8 + i % 5} o'clock and the cats slept on the {['sofa', 'rug', 'bed'][i % 3]}."
    for i in range(12)
)


@pytest.mark.parametrize("top_k", [1, 3])
@pytest.mark.parametrize("null_answers", [False, True])
def test_spans_equal_transformers_question_answering_rules_on_the_same_logits(transform, top_k, null_answers):
    """transformers' QA span decoding (``select_starts_ends``, which its question-answering
    pipelines share) on each window of the same random logits, merged over windows as its pipeline
    merges them: the same answers and scores."""
    from transformers.pipelines.document_question_answering import select_starts_ends

    questions = [QUESTION, "When did the ferry leave?"]
    contexts = [CONTEXT, LONG_CONTEXT]
    windows = TextTransform(transform.tokenizer_file, 64)  # the long context takes several windows
    batch = windows(
        questions, contexts, truncation="only_second", return_offsets=True, return_overflowing=True, stride=8
    )
    assert batch["overflow_to_sample"].tolist().count(1) > 1  # the long context spans several windows
    torch.manual_seed(4)
    start, end = (
        torch.randn_like(batch["input_ids"], dtype=torch.float) * 3,
        torch.randn_like(batch["input_ids"], dtype=torch.float) * 3,
    )
    mine = decode_answers(start, end, batch, contexts, top_k=top_k, null_answers=null_answers, max_answer_length=15)

    expected: list[list[tuple[str, float]]] = [[] for _ in contexts]
    nulls = [1e6] * len(contexts)
    for row, sample in enumerate(batch["overflow_to_sample"].tolist()):
        p_mask = (batch["sequence_ids"][row] != 1).long().numpy()
        p_mask[0] = 0  # the pipeline keeps the [CLS] index for the null answer
        starts, ends, scores, nulls[sample] = select_starts_ends(
            start[row : row + 1].numpy(), end[row : row + 1].numpy(), p_mask, batch["attention_mask"][row].numpy(),
            min_null_score=nulls[sample], top_k=top_k, handle_impossible_answer=null_answers, max_answer_len=15,
        )  # fmt: skip
        offsets = batch["offsets"][row]
        for s, e, score in zip(starts, ends, scores, strict=True):
            expected[sample].append((contexts[sample][int(offsets[s][0]) : int(offsets[e][1])], float(score)))
    for sample, answers in enumerate(mine):
        theirs = sorted(expected[sample] + ([("", nulls[sample])] if null_answers else []), key=lambda a: -a[1])[:top_k]
        assert [a.text for a in answers] == [t for t, _ in theirs]
        assert [a.score for a in answers] == pytest.approx([s for _, s in theirs], rel=1e-5)
