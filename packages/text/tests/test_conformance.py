"""Every registered text model against core's conformance suite (core/conformance.py), one test
per model and rule: tiny configs, a padded batch."""

from __future__ import annotations

import pytest
import torch

import torchgraft.core as tg
from torchgraft.core.conformance import RULES, Case, pytest_check

TINY = {
    "vocab_size": 120,
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 4,
    "intermediate_size": 64,
    "max_positions": 66,
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
    config = {"backbone": "bert_base", "backbone_config": TINY, **TASKS[name]} if name in TASKS else dict(TINY)
    return Case(name, config, padded_batch())


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("name", tg.list_models(domain="text"))
def test_conformance(name, rule):
    pytest_check(rule, case(name))
