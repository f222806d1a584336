"""What torchvision users type first, as they type it (issue 22): each works here, or the error names
exactly what to write instead."""

from __future__ import annotations

import pytest

import torchgraft.core as tg
import torchgraft.text.models
import torchgraft.vision.models


def test_list_models_takes_a_models_module_as_torchvision_does():
    assert tg.list_models(module=torchgraft.vision.models) == tg.list_models(domain="vision")
    assert tg.list_models(module="torchgraft.text.models") == tg.list_models(domain="text")
    assert tg.list_models("resnet*", module=torchgraft.vision.models)[:2] == ["resnet101", "resnet152"]
    with pytest.raises(TypeError, match="module= takes a module or its name; found int"):
        tg.list_models(module=3)


def test_get_model_weights_takes_the_builder_itself():
    from torchgraft.vision.models import ResNet50_Weights, resnet50

    assert tg.get_model_weights(resnet50) is ResNet50_Weights
    assert tg.get_model_weights("resnet50") is ResNet50_Weights
    with pytest.raises(tg.UnknownModelError, match="is not a registered builder"):
        tg.get_model_weights(print)


def test_a_text_classifier_by_name_alone_has_two_labels_as_transformers_default():
    for name in ("text_classifier", "token_classifier"):
        model = tg.get_model(name, backbone="bert_base", backbone_config={"num_layers": 1})
        assert model.head.fc.out_features == 2
