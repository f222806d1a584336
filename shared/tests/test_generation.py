"""Generation in core, with a toy decoder written against core alone: the cache gives the full
forward's results, padded rows give their prompt's tokens, every option does what it says, and
bad input fails before any work. (Parity with transformers is in torchgraft-text's tests.)"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from torchgraft.core import (
    ClassifierHead,
    Features,
    FeatureSpec,
    GenerationConfig,
    KVCache,
    UnknownKeywordError,
    Weights,
    build_model,
    classifier,
    generate,
)
from torchgraft.core.compose import Pool, poolings_for
from torchgraft.core.generation import CausalLM, causal_attention_mask, positions_from_mask

VOCAB = 23


class ToyDecoder(nn.Module):
    """One causal attention layer over token + position embeddings, on core's KVCache."""

    def __init__(self, dim: int = 16, heads: int = 2, max_positions: int = 64) -> None:
        super().__init__()
        self.heads = heads
        self.word = nn.Embedding(VOCAB, dim)
        self.position = nn.Embedding(max_positions, dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, VOCAB)
        self.feature_spec = FeatureSpec(kind="sequence", width=dim, has_mask=True, causal=True)
        self.generation_config = GenerationConfig(eos_token_id=1, pad_token_id=0)
        self.vocab_size, self.max_positions = VOCAB, max_positions  # what generate checks requests against

    def new_cache(self, batch_size: int, max_length: int, *, device=None) -> KVCache:
        return KVCache(1, batch_size, self.heads, max_length, self.word.embedding_dim // self.heads, device=device)

    def forward_features(self, input_ids, attention_mask=None, *, cache=None):
        B, T = input_ids.shape
        mask = attention_mask.bool() if attention_mask is not None else None
        slots = cache.reserve(T) if cache is not None else torch.arange(T)
        keys = cache.capacity if cache is not None else T
        positions = positions_from_mask(mask)[:, slots] if mask is not None else slots[None]
        x = self.word(input_ids) + self.position(positions)
        q, k, v = self.qkv(x).view(B, T, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        if cache is not None:
            k, v = cache.update(0, slots, k, v)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_attention_mask(slots, keys, mask))
        return Features(
            last=x + attn.transpose(1, 2).reshape(B, T, -1), mask=mask[:, slots] if mask is not None else None
        )

    def forward(self, input_ids, attention_mask=None, *, cache=None, logits_to_keep=0):
        x = self.forward_features(input_ids, attention_mask, cache=cache).last
        return self.out(x[:, -logits_to_keep:] if logits_to_keep else x)


@pytest.fixture
def model() -> ToyDecoder:
    torch.manual_seed(0)
    return ToyDecoder().eval()


def left_padded() -> tuple[torch.Tensor, torch.Tensor]:
    lengths = [5, 2, 4]
    ids = torch.zeros(3, 5, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, 5 - n :] = torch.arange(2 + i, 2 + i + n) % (VOCAB - 2) + 2
        mask[i, 5 - n :] = 1
    return ids, mask


def naive_greedy(model: ToyDecoder, ids: torch.Tensor, steps: int) -> torch.Tensor:
    """No cache: the whole sequence again at every step."""
    with torch.no_grad():
        for _ in range(steps):
            ids = torch.cat([ids, model(ids)[:, -1].argmax(-1, keepdim=True)], 1)
    return ids


def test_the_toy_satisfies_the_protocol(model):
    assert isinstance(model, CausalLM)


def test_greedy_with_the_cache_equals_recomputing_everything(model):
    ids = torch.tensor([[4, 9, 2, 7]])
    out = generate(model, ids, max_new_tokens=12, eos_token_id=None)
    assert torch.equal(out, naive_greedy(model, ids, 12))


def test_prefill_then_single_steps_equal_one_full_forward(model):
    ids, mask = left_padded()
    cache = model.new_cache(3, 8)
    with torch.no_grad():
        full = model(ids, mask)
        parts = [model(ids[:, :3], mask, cache=cache)] + [model(ids[:, t : t + 1], mask, cache=cache) for t in (3, 4)]
    real = mask.bool()
    torch.testing.assert_close(torch.cat(parts, 1)[real], full[real])
    assert int(cache.position) == 5


@pytest.mark.parametrize("options", [{}, {"num_beams": 3}, {"do_sample": True, "top_k": 5}])
def test_each_left_padded_row_gives_what_its_prompt_gives_alone(model, options):
    ids, mask = left_padded()
    out = generate(
        model,
        ids,
        attention_mask=mask,
        max_new_tokens=6,
        eos_token_id=None,
        generator=torch.Generator().manual_seed(1),
        **options,
    )
    for row in range(3):
        prompt = ids[row : row + 1, mask[row].bool()]
        alone = generate(
            model, prompt, max_new_tokens=6, eos_token_id=None, generator=torch.Generator().manual_seed(1), **options
        )
        if options.get("do_sample"):  # one seeded stream feeds the whole batch: compare shapes and the prompt
            assert alone.shape[1] == prompt.shape[1] + 6
            continue
        assert torch.equal(out[row, 5 - prompt.shape[1] :], alone[0])


def test_eos_ends_a_row_and_pads_it_and_all_rows_ending_stops_early(model):
    ids = torch.tensor([[4, 9, 2, 7], [3, 3, 5, 6]])
    free = generate(model, ids, max_new_tokens=10, eos_token_id=None)
    eos = int(free[0, 5])  # the second token row 0 makes
    out = generate(model, ids, max_new_tokens=10, eos_token_id=eos, pad_token_id=0)
    first = [int((row[4:] == eos).nonzero()[0]) + 4 if (row[4:] == eos).any() else None for row in out]
    assert first[0] == 5
    assert (out[0, 6:] == 0).all()
    assert out.shape[1] <= 14


def test_several_eos_ids_and_min_new_tokens(model):
    ids = torch.tensor([[4, 9, 2, 7]])
    free = generate(model, ids, max_new_tokens=8, eos_token_id=None)[0, 4:].tolist()
    eos = (free[0], free[1])
    assert generate(model, ids, max_new_tokens=8, eos_token_id=eos).shape[1] == 5
    held = generate(model, ids, max_new_tokens=8, eos_token_id=eos, min_new_tokens=4)[0, 4:]
    assert held.shape[0] >= 4 and not any(t in eos for t in held[:4].tolist())


def test_sampling_is_reproducible_under_a_seeded_generator(model):
    ids = torch.tensor([[4, 9, 2, 7]])

    def sample(seed: int, **kw) -> torch.Tensor:
        return generate(
            model,
            ids,
            do_sample=True,
            max_new_tokens=16,
            eos_token_id=None,
            generator=torch.Generator().manual_seed(seed),
            **kw,
        )

    assert torch.equal(sample(3), sample(3))
    assert not torch.equal(sample(3), sample(4))
    greedy = generate(model, ids, max_new_tokens=16, eos_token_id=None)
    assert torch.equal(sample(5, top_k=1), greedy)
    assert torch.equal(sample(6, top_p=1e-6), greedy)


def test_repetition_penalty_and_no_repeat_ngrams(model):
    ids = torch.tensor([[4, 9, 2, 7]])
    plain = generate(model, ids, max_new_tokens=20, eos_token_id=None)
    assert len(set(plain[0, 4:].tolist())) < 20  # the toy repeats itself
    banned = generate(model, ids, max_new_tokens=20, eos_token_id=None, no_repeat_ngram_size=2)[0].tolist()
    bigrams = list(itertools.pairwise(banned))
    assert len(bigrams) == len(set(bigrams))
    penalized = generate(model, ids, max_new_tokens=20, eos_token_id=None, repetition_penalty=50.0)[0, 4:].tolist()
    assert len(set(penalized)) > len(set(plain[0, 4:].tolist()))


def test_forced_tokens(model):
    ids = torch.tensor([[4]])
    out = generate(model, ids, max_new_tokens=5, forced_bos_token_id=7, forced_eos_token_id=1, eos_token_id=1)
    assert out[0].tolist()[1] == 7 and out[0].tolist()[-1] == 1 and out.shape[1] <= 6


def test_a_streamer_receives_every_token_as_it_is_made(model):
    ids = torch.tensor([[4, 9, 2, 7]])
    seen: list[list[int]] = []
    out = generate(model, ids, max_new_tokens=5, eos_token_id=None, streamer=lambda t: seen.append(t.tolist()))
    assert [s[0] for s in seen] == out[0, 4:].tolist()

    class Protocol:  # transformers' TextStreamer protocol
        def __init__(self) -> None:
            self.parts: list[list[int]] = []
            self.ended = False

        def put(self, tokens: torch.Tensor) -> None:
            self.parts.append(tokens.flatten().tolist())

        def end(self) -> None:
            self.ended = True

    streamer = Protocol()
    generate(model, ids, max_new_tokens=5, eos_token_id=None, streamer=streamer)
    assert (
        streamer.parts[0] == [4, 9, 2, 7]
        and [t for part in streamer.parts[1:] for t in part] == out[0, 4:].tolist()
        and streamer.ended
    )


def test_stop_strings_end_a_row_once_its_text_contains_one(model):
    class Letters:
        def decode(self, ids):
            return "".join(chr(ord("a") + i) for i in ids)

    ids = torch.tensor([[4, 9, 2, 7]])
    free = generate(model, ids, max_new_tokens=10, eos_token_id=None)[0, 4:].tolist()
    stop = Letters().decode(free[2:4])
    out = generate(model, ids, max_new_tokens=10, eos_token_id=None, stop_strings=stop, tokenizer=Letters())
    assert stop in Letters().decode(out[0, 4:].tolist()) and out.shape[1] <= 4 + 4
    with pytest.raises(ValueError, match="stop_strings need tokenizer"):
        generate(model, ids, stop_strings=["x"])


def test_beam_search_with_one_beam_is_greedy_and_returns_the_prompt(model):
    ids, mask = left_padded()
    greedy = generate(model, ids, attention_mask=mask, max_new_tokens=7, eos_token_id=None)
    beams = generate(model, ids, attention_mask=mask, max_new_tokens=7, eos_token_id=None, num_beams=4)
    assert beams.shape == greedy.shape and torch.equal(beams[:, :5], ids)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens must be an integer >= 1; found 0"),
        ({"max_new_tokens": 2.5}, "max_new_tokens must be an integer >= 1; found 2.5"),
        ({"max_new_tokens": True}, "max_new_tokens must be an integer >= 1; found True"),
        ({"temperature": 0.0}, "temperature must be a finite number > 0"),
        ({"temperature": float("nan")}, "temperature must be a finite number > 0; found nan"),
        ({"temperature": float("inf"), "do_sample": True}, "temperature must be a finite number > 0; found inf"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
        ({"top_p": float("nan")}, r"top_p must be in \(0, 1\]; found nan"),
        ({"top_k": -1}, "top_k must be an integer >= 0"),
        ({"num_beams": 2, "do_sample": True}, "beam search with sampling"),
        ({"num_beams": 0}, "num_beams must be an integer >= 1"),
        ({"early_stopping": "sometimes"}, "early_stopping must be"),
        ({"min_new_tokens": 30, "max_new_tokens": 5}, "min_new_tokens must be"),
        ({"repetition_penalty": 0.0}, "repetition_penalty must be a finite number > 0"),
        ({"repetition_penalty": float("nan")}, "repetition_penalty must be a finite number > 0; found nan"),
        ({"length_penalty": float("-inf"), "num_beams": 2}, "length_penalty must be a finite number"),
        ({"no_repeat_ngram_size": -2}, "no_repeat_ngram_size must be an integer >= 0"),
        ({"forced_eos_token_id": -5}, r"forced_eos_token_id must be a token id \(an integer >= 0\); found -5"),
        ({"eos_token_id": [3, -1]}, "eos_token_id must be a token id"),
        ({"pad_token_id": 1.5}, "pad_token_id must be a token id"),
        ({"do_sample": "yes"}, "do_sample must be True or False"),
    ],
)
def test_invalid_settings_say_what_was_expected(model, overrides, message):
    with pytest.raises(ValueError, match=message):
        generate(model, torch.tensor([[4]]), **overrides)


def test_a_mistyped_setting_gets_a_suggestion(model):
    with pytest.raises(UnknownKeywordError, match="max_new_tokens"):
        generate(model, torch.tensor([[4]]), max_new_token=5)


def test_bad_inputs_fail_before_any_work(model):
    ids, mask = left_padded()
    with pytest.raises(ValueError, match="left-padded"):
        generate(model, ids, attention_mask=mask.flip(1))
    with pytest.raises(ValueError, match="at least one real token"):
        generate(model, ids, attention_mask=mask * torch.tensor([[1], [1], [0]]))
    with pytest.raises(ValueError, match=r"\[batch, tokens\]"):
        generate(model, torch.tensor([4, 9]))
    with pytest.raises(ValueError, match="shape"):
        generate(model, ids, attention_mask=mask[:, 1:])
    with pytest.raises(ValueError, match="streamer cannot be used with beam search"):
        generate(model, ids, attention_mask=mask, num_beams=2, streamer=print)
    with pytest.raises(TypeError, match="cannot generate"):
        generate(nn.Linear(2, 2), ids)


def test_the_cache_refuses_to_overflow_and_reorders_rows():
    cache = KVCache(2, 3, 1, 4, 2)
    slots = cache.reserve(3)
    assert slots.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="holds 4 positions; 3 are used and 2 more"):
        cache.reserve(2)
    cache.update(1, slots, torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 3, 2), torch.zeros(3, 1, 3, 2))
    cache.reorder(torch.tensor([2, 2, 0]))
    assert cache.k[1][:, 0, 0, 0].tolist() == [2.0, 2.0, 0.0]
    with pytest.raises(ValueError, match="positive sizes"):
        KVCache(0, 1, 1, 1, 1)


def test_a_padding_query_never_attends_to_nothing():
    mask = causal_attention_mask(torch.arange(4), 4, torch.tensor([[0, 0, 1, 1]]))
    assert mask.shape == (1, 1, 4, 4) and mask.any(-1).all()
    assert mask[0, 0, 3].tolist() == [False, False, True, True]


def test_the_last_pooling_takes_the_rightmost_real_token_whatever_the_padding():
    x = torch.arange(2 * 4 * 1, dtype=torch.float).view(2, 4, 1)
    left = Features(last=x, mask=torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1]]).bool())
    right = Features(last=x, mask=torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]]).bool())
    assert Pool("last")(left).flatten().tolist() == [3.0, 7.0]
    assert Pool("last")(right).flatten().tolist() == [2.0, 4.0]
    assert Pool("last")(Features(last=x)).flatten().tolist() == [3.0, 7.0]


def test_a_causal_backbone_pools_its_last_token_by_default(model):
    assert poolings_for(model.feature_spec) == ("last", "mean", "max")
    clf = classifier(model, num_classes=3)
    assert isinstance(clf.head, ClassifierHead) and clf.head.pool.mode == "last"
    with pytest.raises(ValueError, match="only sequence backbones can be causal"):
        FeatureSpec(kind="spatial", width=4, causal=True)


def test_weights_carry_their_generation_defaults(model, save_checkpoint):
    path, digest = save_checkpoint(model)
    weights = Weights(url=path.as_uri(), sha256=digest, meta={"generation": {"max_new_tokens": 7, "num_beams": 2}})
    built = build_model(ToyDecoder, weights=weights, config={})
    assert built.generation_config == GenerationConfig(eos_token_id=1, pad_token_id=0, max_new_tokens=7, num_beams=2)
    assert generate(built.eval(), torch.tensor([[4]]), eos_token_id=None).shape == (1, 8)


def test_compiled_steps_give_the_eager_tokens(model):
    torch._dynamo.reset()
    ids, mask = left_padded()
    eager = generate(model, ids, attention_mask=mask, max_new_tokens=6, eos_token_id=None)
    assert torch.equal(
        generate(model, ids, attention_mask=mask, max_new_tokens=6, eos_token_id=None, compile=True), eager
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("eos_token_id", 10**6),
        ("pad_token_id", 10**6),
        ("bos_token_id", 10**6),
        ("forced_eos_token_id", 10**6),
        ("forced_bos_token_id", 10**6),
        ("eos_token_id", (1, 10**6)),
    ],
)
def test_token_ids_outside_the_vocabulary_are_named_before_any_tensor(model, field, value):
    with pytest.raises(
        ValueError, match=rf"{field}=1000000 is not a token of this model \(its vocabulary has ids 0 to \d+\)"
    ):
        generate(model, torch.tensor([[4]]), **{field: value})


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (torch.tensor([[4, 10**6]]), "input_ids holds token id 1000000; this model's vocabulary has ids 0 to"),
        (torch.tensor([[4, -3]]), "input_ids holds token id -3"),
        (torch.zeros(1, 0, dtype=torch.long), "the prompt is empty: give at least one token"),
        (torch.zeros(0, 3, dtype=torch.long), "the prompt is empty"),
        (torch.tensor([[0.5, 1.0]]), "input_ids must hold integer token ids; found dtype torch.float32"),
        (torch.tensor([4, 5]), r"input_ids must be a \[batch, tokens\] tensor"),
    ],
)
def test_prompts_the_model_cannot_read_are_named(model, ids, message):
    with pytest.raises(ValueError, match=message):
        generate(model, ids)


def test_a_mask_that_is_not_zeros_and_ones_is_refused(model):
    with pytest.raises(ValueError, match="attention_mask must hold only 0"):
        generate(model, torch.tensor([[4, 5]]), attention_mask=torch.tensor([[2, 1]]))


def test_requests_past_the_models_positions_or_this_machines_memory_are_refused_before_any_tensor(model):
    import torchgraft.core as tg

    with pytest.raises(ValueError, match=r"max_new_tokens=1000000000 does not fit: .*ask for at most 62"):
        generate(model, torch.tensor([[4, 5]]), max_new_tokens=10**9)
    with pytest.raises(ValueError, match="the prompt has 65 tokens, more than the 64 positions"):
        generate(model, torch.full((1, 65), 4))
    with pytest.raises(tg.ModelTooLargeError, match="num_beams=100000000 .* GiB; this machine has"):
        generate(model, torch.tensor([[4, 5]]), num_beams=10**8, max_new_tokens=4)
