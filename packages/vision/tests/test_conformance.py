"""Every registered vision model passes the core conformance kit."""

from __future__ import annotations

import pytest
import torch

import torchgraft.core as tg
from torchgraft.core.testing import check_model

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


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n for n in tg.list_models(domain="vision")]
)
def test_conformance(name):
    torch.manual_seed(0)
    images = torch.rand(2, 3, 64, 64)
    inputs = (list(images),) if name in DETECTORS else (images,)
    check_model(name, config={"num_classes": 7, **CONFIG.get(name, {})}, inputs=inputs)
