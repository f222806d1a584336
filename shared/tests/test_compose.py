from __future__ import annotations

import pytest
import torch
from torch import nn

from torchgraft.core import (
    BackboneContractError,
    ClassifierHead,
    FeatureSpec,
    IncompatibleHeadError,
    StageSpec,
    classifier,
    compose,
    init_empty,
    load_weights,
)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "volumetric", "width": 4}, "kind must be one of"),
        ({"kind": "pooled", "width": 0}, "width must be positive"),
        ({"kind": "sequence", "width": 4, "stages": (StageSpec("a", 4, 2),)}, "only spatial"),
        ({"kind": "spatial", "width": 4, "has_mask": True}, "only sequence"),
        ({"kind": "spatial", "width": 8, "stages": (StageSpec("a", 4, 2),)}, "must agree"),
    ],
)
def test_feature_spec_rejects_inconsistent_declarations(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FeatureSpec(**kwargs)


def test_classifier_on_a_spatial_backbone(conv_net, image):
    model = classifier(conv_net(), num_classes=4)
    assert model(image).shape == (2, 4)
    assert model.head.pool.mode == "mean"
    keys = model.state_dict().keys()
    assert all(k.startswith(("backbone.", "head.")) for k in keys)
    assert "head.fc.weight" in keys and "backbone.stem.0.weight" in keys


def test_masked_mean_ignores_padding(encoder, tokens):
    torch.manual_seed(0)
    model = classifier(encoder(), num_classes=3).eval()
    ids, mask = tokens
    out = model(ids, mask)
    changed = ids.clone()
    changed[1, 4:] = (changed[1, 4:] + 1) % 50  # only padding positions of example 1 change
    torch.testing.assert_close(model(changed, mask)[1], out[1])


@pytest.mark.parametrize("pooling", ["max", "first", "pooled"])
def test_every_sequence_pooling_works(encoder, tokens, pooling):
    model = classifier(encoder(), num_classes=3, pooling=pooling)
    assert model(*tokens).shape == (2, 3)


def test_head_that_does_not_fit_fails_at_build_time_naming_both(conv_net, encoder):
    with pytest.raises(
        IncompatibleHeadError, match=r"pooling='first' cannot read TinyConvNet, whose features are spatial"
    ):
        classifier(conv_net(), num_classes=2, pooling="first")
    with pytest.raises(
        IncompatibleHeadError, match=r"expects 7 input features, but TinyEncoder produces sequence features of width 16"
    ):
        compose(encoder(), ClassifierHead(7, 2, pooling="mean"))


def test_unknown_pooling_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"pooling must be one of .*found 'avg'"):
        ClassifierHead(4, 2, pooling="avg")


def test_module_without_the_contract_is_refused():
    with pytest.raises(BackboneContractError, match="Linear is not a torchgraft backbone: it needs a feature_spec"):
        classifier(nn.Linear(3, 3), num_classes=2)


def test_backbone_only_weights_load_into_a_composite_and_leave_the_head_fresh(conv_net, save_checkpoint, image):
    torch.manual_seed(0)
    pretrained = conv_net()
    path, _ = save_checkpoint(pretrained)
    with init_empty():
        model = classifier(conv_net(), num_classes=5)
    report = load_weights(model, path, strict=True)
    assert report.fresh == ["head.fc.bias", "head.fc.weight"]
    assert not report.unexpected
    assert report.loaded[0].startswith("backbone.") and not report.converted
    torch.testing.assert_close(model.backbone.stem[0].weight, pretrained.stem[0].weight, rtol=0, atol=0)
    assert torch.count_nonzero(model.head.fc.bias) == 0 and model.head.fc.weight.std() > 0
    assert model(image).shape == (2, 5)


def test_freeze_backbone_trains_only_the_head(conv_net, image):
    model = classifier(conv_net(), num_classes=2).freeze_backbone()
    model(image).sum().backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.head.fc.weight.grad is not None
    model.freeze_backbone(False)
    assert all(p.requires_grad for p in model.parameters())


def test_backbone_weights_only_apply_to_named_backbones(conv_net):
    with pytest.raises(TypeError, match="only when backbone is a model name"):
        classifier(conv_net(), num_classes=2, backbone_weights="DEFAULT")
