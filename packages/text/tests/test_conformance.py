"""Every registered text model against core's conformance suite (core/testkit/conformance.py), one test
per model and rule: tiny configs, a padded batch."""

from __future__ import annotations

import pytest
import torch

import torchgraft.core as tg
from torchgraft.core.conformance import RULES, Case, check_sharding, pytest_check
from torchgraft.core.registry import get_model_builder

TINY = {
    "vocab_size": 120,
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 4,
    "intermediate_size": 64,
    "max_positions": 66,
}
# Families whose configs name their sizes otherwise (the encoders' and GPT-2's use TINY).
FAMILY_TINY = {
    "t5": {"vocab_size": 120, "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4},
    "bart": {"vocab_size": 120, "d_model": 32, "encoder_layers": 2, "decoder_layers": 2, "num_heads": 4, "ffn_dim": 64},
}
TASKS = {
    "text_classifier": {"num_classes": 3},
    "token_classifier": {"num_classes": 3},
    "question_answering": {},
    "masked_lm": {},
    "sentence_embedder": {},
}


def padded_batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    lengths = [9, 4, 1, 7]
    ids = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(3, 120, (n,))
        mask[i, :n] = 1
    return ids, mask


def case(name: str) -> Case:
    if name == "causal_lm":
        return Case(name, {"backbone": "gpt2", "backbone_config": TINY}, padded_batch())
    if name == "seq2seq":
        decoder = {**TINY, "bos_token_id": 1, "eos_token_id": 2}
        config = {"encoder": "bert_base", "encoder_config": TINY, "decoder": "gpt2", "decoder_config": decoder}
        ids, mask = padded_batch()
        return Case(name, config, (ids, mask), {"decoder_input_ids": ids[:, :5]})
    if name in TASKS:
        return Case(name, {"backbone": "bert_base", "backbone_config": TINY, **TASKS[name]}, padded_batch())
    family = get_model_builder(name).__module__.rpartition(".")[2]
    return Case(name, FAMILY_TINY.get(family, TINY), padded_batch())


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("name", tg.list_models(domain="text"))
def test_conformance(name, rule):
    pytest_check(rule, case(name))


@pytest.mark.multiprocess
def test_every_model_builds_shards_and_loads_at_world_size_2():
    """Each model built on meta, sharded with FSDP2 on two gloo processes and filled from a
    checkpoint equals the unsharded model (one torchrun job for all of them)."""
    assert check_sharding([case(name) for name in tg.list_models(domain="text")]) == {}
