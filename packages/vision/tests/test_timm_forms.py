"""timm's model forms on torchgraft-vision's backbones (issue 22): ``forward_head``,
``features_only``, ``in_chans`` and the regularisation keywords, each equal to timm's with identical
weights or answered with the name to write."""

from __future__ import annotations

import pytest

import torchgraft.core as tg


def _twins():
    """torchgraft's and timm's ResNet-18 holding the same random weights (timm keeps torchvision's
    key names for ResNet)."""
    import timm
    import torch

    from torchgraft.vision.models import resnet18

    torch.manual_seed(0)
    ours = resnet18().eval()
    theirs = timm.create_model("resnet18", pretrained=False).eval()
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def test_forward_head_pre_logits_get_classifier_num_features_and_feature_info_as_timm():
    import torch

    ours, theirs = _twins()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        features = ours.forward_features(x)
        torch.testing.assert_close(ours.forward_head(features), theirs(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ours.forward_head(features.last), ours(x))  # the tensor, as timm passes it
        pooled = ours.forward_head(features, pre_logits=True)
        torch.testing.assert_close(
            pooled, theirs.forward_head(theirs.forward_features(x), pre_logits=True), rtol=1e-5, atol=1e-5
        )
    assert ours.num_features == theirs.num_features == pooled.shape[1] == 512
    assert ours.get_classifier() is ours.fc
    assert [(f["num_chs"], f["reduction"]) for f in ours.feature_info] == [
        (f["num_chs"], f["reduction"]) for f in theirs.feature_info
    ]
    assert ours.feature_info.module_name() == ["stem", "layer1", "layer2", "layer3", "layer4"]


def test_features_only_with_out_indices_returns_the_maps_timm_returns():
    import timm
    import torch

    import torchgraft.vision.models as tvm

    ours, _ = _twins()
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    for out_indices in ((1, 3), (-2, -1), 2, (0, 1, 2, 3, 4)):
        theirs = timm.create_model("resnet18", features_only=True, out_indices=out_indices).eval()
        theirs.load_state_dict({k: v for k, v in ours.state_dict().items() if k in theirs.state_dict()})
        maps = tg.get_model("resnet18", features_only=True, out_indices=out_indices).eval()
        report = tg.load_weights(maps, ours.state_dict())  # a backbone's checkpoint, as for a composite
        assert not report.fresh and "backbone.fc.weight" in report.discarded
        # Like timm, it holds no layer after the last map it returns.
        assert sorted(maps.state_dict()) == sorted(f"backbone.{k}" for k in theirs.state_dict())
        assert maps.feature_info.channels() == theirs.feature_info.channels()
        assert maps.feature_info.reduction() == theirs.feature_info.reduction()
        with torch.inference_mode():
            for a, b in zip(maps(x), theirs(x), strict=True):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    named = tvm.resnet18(features_only=True, out_indices=("layer2", "layer4"))
    assert named.feature_info.module_name() == ["layer2", "layer4"]


def test_features_only_loads_published_weights_and_refuses_what_it_cannot_be():
    import torch

    maps = tg.get_model("efficientnet_lite0.IMAGENET1K_TF_V1", features_only=True, out_indices=(1, 2, 3))
    assert maps.load_report.weights == "EfficientNet_Lite0_Weights.IMAGENET1K_TF_V1"
    # The classifier and the layers after stride 16 are removed before the file is read: their
    # keys are discarded, and everything the maps need loads.
    assert maps.load_report.complete and "classifier.1.weight" in maps.load_report.discarded
    assert {k.split(".")[1] for k in maps.load_report.discarded if k.startswith("features.")} == {"6", "7", "8"}
    assert len(maps.backbone.features) == 6
    assert maps.feature_info.reduction() == [4, 8, 16]
    with torch.inference_mode():
        assert [tuple(m.shape[1:]) for m in maps(torch.zeros(1, 3, 224, 224))] == [
            (24, 56, 56),
            (40, 28, 28),
            (112, 14, 14),
        ]
    with pytest.raises(TypeError, match=r"write resnet18\(features_only=True, out_indices=\(1, 2\)\)"):
        tg.get_model("resnet18", out_indices=(1, 2))
    with pytest.raises(TypeError, match="returns stage maps, with no classifier: drop num_classes=10"):
        tg.get_model("resnet18", features_only=True, num_classes=10)
    with pytest.raises(ValueError, match=r"out_indices has 5, which is no stage of ResNet: .*0: stem, 1: layer1"):
        tg.get_model("resnet18", features_only=True, out_indices=(1, 5))
    with pytest.raises(tg.BackboneContractError, match="VisionTransformer has no stages to return"):
        tg.get_model("vit_b_16", features_only=True)


def test_in_chans_adapts_published_filters_to_a_grayscale_photo():
    """Real weights, real grayscale photo: the 1-channel model computes what the colour model
    computes on the photo's channels repeated (its filters summed, as timm's in_chans)."""
    import torch
    from skimage import data

    from torchgraft.vision.models import EfficientNet_Lite0_Weights, efficientnet_lite0

    weights = EfficientNet_Lite0_Weights.DEFAULT
    colour = efficientnet_lite0(weights=weights).eval()
    gray = efficientnet_lite0(weights=weights, in_chans=1).eval()
    assert gray.load_report.adapted == {"features.0.0.weight": "3 -> 1 input channels"}
    assert gray.load_report.complete
    photo = torch.from_numpy(data.camera())[None].expand(3, -1, -1)  # [3, H, W] uint8, the same in each channel
    batch = weights.transforms()(photo)[None]  # the entry's mean and std are equal over channels
    with torch.inference_mode():
        expected, found = colour(batch), gray(batch[:, :1])
    torch.testing.assert_close(found, expected, rtol=1e-4, atol=1e-4)
    assert found.argmax() == expected.argmax()


def test_in_chans_matches_timms_rule_for_multispectral_input():
    import torch
    from timm.models import adapt_input_conv

    from torchgraft.core.layers import adapt_input_channels

    weight = torch.randn(8, 3, 3, 3, generator=torch.Generator().manual_seed(3))
    for in_chans in (1, 2, 4, 7):
        torch.testing.assert_close(adapt_input_channels(weight, in_chans), adapt_input_conv(in_chans, weight))
    model = tg.get_model("efficientnet_lite0", weights="DEFAULT", in_chans=4)
    assert model.features[0][0].weight.shape[1] == 4
    assert model.load_report.adapted == {"features.0.0.weight": "3 -> 4 input channels"}


def test_timms_regularisation_keywords_name_ours():
    import torch

    from torchgraft.vision.models import resnet18

    with pytest.raises(tg.UnknownKeywordError, match=r"'drop_rate' \(timm's name; write dropout=\)"):
        resnet18(drop_rate=0.2)
    with pytest.raises(tg.UnknownKeywordError, match=r"'drop_path_rate' \(timm's name; write stochastic_depth_prob=\)"):
        tg.get_model("mobilenet_v3_small", drop_path_rate=0.1)
    torch.manual_seed(0)
    plain = resnet18()
    torch.manual_seed(0)
    regular = resnet18(dropout=0.2, stochastic_depth_prob=0.2)
    assert plain.state_dict().keys() == regular.state_dict().keys()
    x = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(regular.eval()(x), plain.eval()(x))  # identity in evaluation
        regular.train()
        torch.manual_seed(1)
        first = regular(x)
        torch.manual_seed(2)
        assert not torch.allclose(first, regular(x))  # random in training
    depths = [block.drop_path.p for layer in (regular.layer1, regular.layer4) for block in layer]
    assert depths[0] == 0.0 and depths == sorted(depths) and depths[-1] == pytest.approx(0.2 * 7 / 8)
