"""Every registered audio model against core's conformance suite (core/testkit/conformance.py), one test
per model and rule: tiny wav2vec2/HuBERT shapes without dropout (layer drop would skip layers, and
their gradients, at random), CREPE as published."""

from __future__ import annotations

import pytest
import torch

import torchgraft.core as tg
from torchgraft.core.conformance import RULES, Case, check_sharding, pytest_check

TINY = {
    "extractor_conv_layer_config": [(32, 10, 5), (32, 3, 2), (32, 2, 2)],
    "encoder_embed_dim": 48,
    "encoder_pos_conv_kernel": 16,
    "encoder_pos_conv_groups": 4,
    "encoder_num_layers": 2,
    "encoder_num_heads": 4,
    "encoder_ff_interm_features": 96,
    "encoder_projection_dropout": 0.0,
    "encoder_attention_dropout": 0.0,
    "encoder_ff_interm_dropout": 0.0,
    "encoder_dropout": 0.0,
    "encoder_layer_drop": 0.0,
}


def case(name: str) -> Case:
    torch.manual_seed(3)
    if name.startswith("crepe"):
        return Case(name, {}, (torch.randn(3, 1024),))
    return Case(name, TINY, (torch.randn(3, 4000), torch.tensor([4000, 3000, 1500])))


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("name", tg.list_models(domain="audio"))
def test_conformance(name, rule):
    pytest_check(rule, case(name))


@pytest.mark.multiprocess
def test_every_model_builds_shards_and_loads_at_world_size_2():
    """Each model built on meta, sharded with FSDP2 on two gloo processes and filled from a
    checkpoint equals the unsharded model (one torchrun job for all of them)."""
    assert check_sharding([case(name) for name in tg.list_models(domain="audio")]) == {}
