"""timm's forms on core's backbone contract: `FeatureMaps` (``features_only``), `FeatureInfo`,
`ClassifierBackbone` (``forward_head``), ``in_chans`` through a backbone's ``input_conv``, and the
keywords other libraries spell differently."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torchgraft.core import (
    BackboneContractError,
    ClassifierBackbone,
    FeatureMaps,
    Features,
    FeatureSpec,
    StageSpec,
    UnknownKeywordError,
    load_weights,
)
from torchgraft.core.layers import adapt_input_channels


class Net(ClassifierBackbone, nn.Module):
    classifier_name = "fc"
    input_conv = "stem"

    def __init__(self, in_chans: int = 3, num_classes: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_chans, 8, 3, stride=2, padding=1)
        self.stage2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.feature_spec = FeatureSpec("spatial", 16, stages=(StageSpec("stem", 8, 2), StageSpec("stage2", 16, 4)))
        self.fc = nn.Linear(16, num_classes) if num_classes else nn.Identity()

    @property
    def num_classes(self) -> int:
        return self.fc.out_features if isinstance(self.fc, nn.Linear) else 0

    def reset_classifier(self, num_classes: int) -> None:
        self.fc = nn.Linear(16, num_classes) if num_classes else nn.Identity()

    def prune_after(self, stage: str) -> None:
        assert stage == "stem"
        self.reset_classifier(0)
        self.stage2, self.pruned = None, ("stage2.",)
        self.feature_spec = FeatureSpec("spatial", 8, stages=self.feature_spec.stages[:1])

    def forward_features(self, x: torch.Tensor) -> Features:
        s1 = self.stem(x).relu()
        if self.stage2 is None:
            return Features(last=s1, stages={"stem": s1})
        s2 = self.stage2(s1).relu()
        return Features(last=s2, stages={"stem": s1, "stage2": s2})

    def pool_features(self, features: Features) -> torch.Tensor:
        return features.last.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def test_forward_head_get_classifier_num_features_and_feature_info():
    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(2, 3, 8, 8)
    features = net.forward_features(x)
    torch.testing.assert_close(net.forward_head(features.last), net(x))
    assert net.forward_head(features, pre_logits=True).shape == (2, net.num_features) == (2, 16)
    assert net.get_classifier() is net.fc
    assert net.feature_info == [
        {"num_chs": 8, "reduction": 2, "module": "stem"},
        {"num_chs": 16, "reduction": 4, "module": "stage2"},
    ]
    assert net.feature_info.channels(1) == 16 and net.feature_info.reduction([0, 1]) == [2, 4]


def test_feature_maps_select_stages_as_timm_reads_out_indices():
    torch.manual_seed(0)
    net = Net()
    x = torch.randn(1, 3, 8, 8)
    stages = net.forward_features(x).stages
    for out_indices, names in (
        ((0, 1), ["stem", "stage2"]),
        (1, ["stage2"]),
        ((-1,), ["stage2"]),
        (("stem",), ["stem"]),
    ):
        maps = FeatureMaps(Net(), out_indices)
        report = load_weights(maps, net.state_dict())
        assert report.complete and "backbone.fc.weight" in report.discarded
        assert maps.feature_info.module_name() == names
        for found, name in zip(maps(x), names, strict=True):
            torch.testing.assert_close(found, stages[name])
    assert not [n for n, _ in FeatureMaps(Net()).named_parameters() if n.startswith("backbone.fc")]
    stem_only = FeatureMaps(Net(), (0,))  # pruned after its last map: stage2 is neither held nor run
    assert sorted(stem_only.state_dict()) == ["backbone.stem.bias", "backbone.stem.weight"]
    report = load_weights(stem_only, net.state_dict())
    assert report.complete and report.discarded == [
        "backbone.fc.bias",
        "backbone.fc.weight",
        "backbone.stage2.bias",
        "backbone.stage2.weight",
    ]
    torch.testing.assert_close(stem_only(x)[0], stages["stem"])
    with pytest.raises(
        ValueError, match=r"out_indices has 2, which is no stage of Net: .*\[-2, 1\].*0: stem, 1: stage2"
    ):
        FeatureMaps(Net(), (0, 2))
    with pytest.raises(ValueError, match="out_indices is empty: name at least one of Net's stages"):
        FeatureMaps(Net(), ())
    assert FeatureMaps(Net(), "stage2").feature_info.module_name() == ["stage2"]
    with pytest.raises(ValueError, match="names a stage twice"):
        FeatureMaps(Net(), (1, -1))
    with pytest.raises(ValueError, match="asks for the last 3 of Net's 2 stages"):
        FeatureMaps(Net(), 3)
    sequence = nn.Linear(2, 2)
    sequence.feature_spec, sequence.forward_features = FeatureSpec("sequence", 2), lambda x: Features(last=x)
    with pytest.raises(BackboneContractError, match="Linear has no stages to return"):
        FeatureMaps(sequence)


def test_a_three_channel_checkpoint_loads_into_another_number_of_input_channels():
    torch.manual_seed(0)
    colour = Net().eval()
    gray = Net(in_chans=1).eval()
    report = load_weights(gray, colour.state_dict())
    assert report.adapted == {"stem.weight": "3 -> 1 input channels"} and report.complete
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(gray(x), colour(x.expand(-1, 3, -1, -1)))
    many = Net(in_chans=5)
    load_weights(many, colour.state_dict())
    w = colour.stem.weight
    torch.testing.assert_close(many.stem.weight, torch.cat([w, w[:, :2]], 1) * 3 / 5)
    with pytest.raises(ValueError, match="expected convolution filters"):
        adapt_input_channels(torch.zeros(3, 3), 1)


def test_keywords_other_libraries_spell_differently_are_answered_with_ours():
    with pytest.raises(UnknownKeywordError, match=r"'drop_rate' \(timm's name; write dropout=\)"):
        raise UnknownKeywordError("tiny", ["drop_rate"], ["dropout", "num_classes"])
    with pytest.raises(UnknownKeywordError, match=r"'num_labels' \(transformers' name; write num_classes=\)"):
        raise UnknownKeywordError("tiny", ["num_labels"], ["dropout", "num_classes"])
    with pytest.raises(UnknownKeywordError, match=r"'drop_path_rate'; it takes"):  # no such idea here: no hint
        raise UnknownKeywordError("tiny", ["drop_path_rate"], ["dropout", "num_classes"])
