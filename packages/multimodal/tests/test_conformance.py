"""Every registered multimodal model against core's conformance suite (core/testkit/conformance.py), one
test per model and rule, on a tiny CLIP shape."""

from __future__ import annotations

import pytest
import torch

import torchgraft.core as tg
from torchgraft.core.conformance import RULES, Case, check_sharding, pytest_check


def case(name: str, config: dict) -> Case:
    torch.manual_seed(0)
    tokens = torch.randint(1, 98, (3, 16))
    tokens[:, 10] = 99  # the end-of-text token, the highest id
    return Case(name, config, ({"image": torch.rand(2, 3, 32, 32), "text": tokens},))


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("name", tg.list_models(domain="multimodal"))
def test_conformance(name, rule, tiny_clip):
    pytest_check(rule, case(name, tiny_clip))


@pytest.mark.multiprocess
def test_every_model_builds_shards_and_loads_at_world_size_2(tiny_clip):
    """Each model built on meta, sharded with FSDP2 on two gloo processes and filled from a
    checkpoint equals the unsharded model (one torchrun job for all of them)."""
    assert check_sharding([case(name, tiny_clip) for name in tg.list_models(domain="multimodal")]) == {}
