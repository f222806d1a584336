"""Every registered vision model against core's conformance suite: torchvision's weights-schema
rules and timm's model rules (core/testkit/conformance.py), one test per model and rule."""

from __future__ import annotations

import pytest
import torch

import torchgraft.core as tg
from torchgraft.core.conformance import RULES, Case, check_sharding, pytest_check

BIG = {
    "efficientnet_b6",
    "efficientnet_b7",
    "resnet152",
    "wide_resnet50_2",
    "resnet101",
    "vit_b_16",
    "fasterrcnn_resnet50_fpn",
    "deeplabv3_resnet50",
    "fcn_resnet50",
}
DETECTORS = {"fasterrcnn", "fasterrcnn_resnet50_fpn"}
CONFIG = {
    "vit_b_16": {"image_size": 64},
    "fasterrcnn": {"backbone": "resnet18", "min_size": 64, "max_size": 64},
    "fasterrcnn_resnet50_fpn": {"min_size": 64, "max_size": 64},
    "deeplabv3": {"backbone": "resnet18"},
    "fcn": {"backbone": "resnet18"},
}
EXEMPT = {
    name: {
        "forward_backward": "a detector's training forward takes targets; test_dense trains it on any backbone",
        "exportable": "NMS keeps a data-dependent number of boxes (torchvision's batched_nms guards on it); "
        "the fixed-size padded detection outputs that export needs are issue 23's next step",
    }
    for name in DETECTORS
}


def case(name: str) -> Case:
    torch.manual_seed(0)
    images = torch.rand(2, 3, 64, 64)
    inputs = (list(images),) if name in DETECTORS else (images,)
    return Case(name, {"num_classes": 7, **CONFIG.get(name, {})}, inputs, exempt=EXEMPT.get(name, {}))


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n for n in tg.list_models(domain="vision")]
)
def test_conformance(name, rule):
    pytest_check(rule, case(name))


@pytest.mark.multiprocess
def test_every_model_builds_shards_and_loads_at_world_size_2():
    """Each model built on meta, sharded with FSDP2 on two gloo processes and filled from a
    checkpoint equals the unsharded model (one torchrun job for all of them)."""
    assert check_sharding([case(name) for name in tg.list_models(domain="vision")]) == {}
