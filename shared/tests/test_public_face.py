"""The public face every builder shares: legacy keywords, one name per idea, name forms, renames,
missing distributions, picklable weights, checkpoint-fixed config and headless backbones."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import pickle
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import torchgraft.core as tg
from torchgraft.core import (
    ConfigConflictError,
    TorchgraftDeprecationWarning,
    UnknownKeywordError,
    UnknownModelError,
    UnknownWeightsError,
    Weights,
    WeightsEnum,
    WeightsMismatchError,
    _providers,
    build_model,
    fixed_config,
    load_weights,
)
from torchgraft.core.loading import init_empty


class FaceNet(nn.Module):
    """A spatial backbone with its own classifier and a setting a checkpoint can fix."""

    classifier_name = "fc"

    def __init__(self, *, num_classes: int = 3, same_padding: bool = False, width: int = 4) -> None:
        super().__init__()
        self.same_padding = same_padding
        self.conv = nn.Conv2d(3, width, 3, padding=1 if same_padding else 0)
        self.feature_spec = tg.FeatureSpec(kind="spatial", width=width, stages=(tg.StageSpec("conv", width, 1),))
        self.reset_classifier(num_classes)

    @property
    def num_classes(self) -> int:
        return self.fc.out_features if isinstance(self.fc, nn.Linear) else 0

    def reset_classifier(self, num_classes: int) -> None:
        self.fc = nn.Linear(self.feature_spec.width, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> tg.Features:
        y = self.conv(x)
        return tg.Features(last=y, stages={"conv": y})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean(dim=(2, 3)))


def _published(model: FaceNet, name: str) -> Weights:
    """Saves ``model`` where a published file would be and returns its entry."""
    from safetensors.torch import save_model

    path = _FILES / name
    save_model(model, str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Weights(url=path.as_uri(), sha256=digest, meta={"categories": ["a", "b", "c"]})


# Module level, as a package defines them (so members pickle by reference).
_FILES = Path(tempfile.mkdtemp(prefix="tg_face_"))
torch.manual_seed(0)
_V2 = _published(FaceNet(same_padding=True), "v2.safetensors")


class Face_Weights(WeightsEnum):
    V1 = _published(FaceNet(), "v1.safetensors")
    V2 = dataclasses.replace(_V2, meta={**_V2.meta, "config": {"same_padding": True}})
    DEFAULT = V2


@tg.register_model()
def face_a(*, weights: Face_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> FaceNet:
    weights = Face_Weights.verify(weights)
    return build_model(
        FaceNet, weights=weights, progress=progress, config=kwargs, fixed=fixed_config(weights), head=("fc.",)
    )


@tg.register_model()
def face_task(
    *, weights: Weights | None = None, progress: bool = True, backbone: str = "face_a",
    backbone_weights: Any = None, backbone_config: dict[str, Any] | None = None, num_classes: int = 2,
) -> nn.Module:  # fmt: skip
    return tg.classifier(backbone, num_classes, backbone_weights=backbone_weights, **(backbone_config or {}))


@tg.register_model()
def face_b(*, weights: Weights | None = None, progress: bool = True) -> FaceNet:
    return FaceNet()


@pytest.fixture
def face() -> type[Face_Weights]:
    return Face_Weights


def _one_deprecation(record: list[warnings.WarningMessage]) -> warnings.WarningMessage:
    found = [w for w in record if issubclass(w.category, TorchgraftDeprecationWarning)]
    assert len(found) == 1, [str(w.message) for w in found]
    return found[0]


def test_pretrained_true_means_the_first_published_weights_with_one_warning_at_the_callers_line(face):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = tg.get_model("face_a", pretrained=True)
    warning = _one_deprecation(record)
    assert warning.filename == __file__  # the user's own line, not torchgraft's
    assert "face_a(weights=Face_Weights.V1)" in str(warning.message) and tg.registry.LEGACY_REMOVED_IN in str(
        warning.message
    )
    assert model.load_report.weights == "Face_Weights.V1"  # not DEFAULT (V2)
    assert model.same_padding is False


def test_pretrained_false_is_none_and_conflicts_are_type_errors(face):
    with pytest.warns(TorchgraftDeprecationWarning, match=r"face_a\(weights=None\)"):
        model = tg.get_model("face_a", pretrained=False)
    assert not hasattr(model, "load_report")
    with pytest.raises(TypeError, match="pretrained=True and weights="):
        tg.get_model("face_a", pretrained=True, weights="V1")


def test_pretrained_true_without_weights_names_what_exists(face):
    with pytest.raises(UnknownWeightsError, match="face_b has no published weights.*face_a"):
        tg.get_model("face_b", pretrained=True)


def test_pretrained_backbone_and_renamed_keywords_map_to_backbone_weights(face):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = tg.get_model("face_task", pretrained_backbone=True)
    assert "backbone_weights=Face_Weights.V1" in str(_one_deprecation(record).message)
    assert model.backbone.load_report.weights == "Face_Weights.V1"
    for old in ("weights_backbone", "encoder_weights"):
        with pytest.warns(TorchgraftDeprecationWarning, match=f"{old}=.*backbone_weights="):
            model = tg.get_model("face_task", **{old: "V1"})
        assert model.backbone.load_report.weights == "Face_Weights.V1"
    with pytest.warns(TorchgraftDeprecationWarning, match="encoder=.*backbone="):
        tg.get_model("face_task", encoder="face_a")
    with pytest.raises(TypeError, match="both encoder= and backbone="):
        tg.get_model("face_task", encoder="face_a", backbone="face_a")


def test_mistyped_keywords_get_a_suggestion(face):
    with pytest.raises(UnknownKeywordError, match=r"'num_clases' \(did you mean 'num_classes'\?\)"):
        tg.get_model("face_task", num_clases=3)  # a builder with named keywords only
    with pytest.raises(UnknownKeywordError, match=r"'num_clases' \(did you mean 'num_classes'\?\)"):
        tg.get_model("face_a", num_clases=3)  # through **kwargs, checked against the model class
    with pytest.raises(TypeError, match="keyword arguments only"):
        tg.registry.get_model_builder("face_a")("V1")


def test_every_weights_name_form_resolves_to_the_same_member(face):
    forms = ["face_a.V2", "Face_Weights.V2", "Face_Weights.default", "face_a.DEFAULT", "Default"]
    for form in forms:
        assert tg.get_weight(form, model="face_a") is face.V2, form
    assert tg.get_weight("V1", model="face_a") is face.V1
    for form in ["face_a.V1", "Face_Weights.V1", "V1"]:
        assert tg.get_model("face_a", weights=form).load_report.weights == "Face_Weights.V1"
    with pytest.raises(UnknownWeightsError, match="did you mean Face_Weights.V1"):
        tg.get_weight("face_a.V11")
    with pytest.raises(WeightsMismatchError, match="names face_b, but this model takes Face_Weights"):
        tg.get_model("face_a", weights="face_b.V1")


def test_renamed_models_and_weights_resolve_with_a_warning_and_are_not_listed(face):
    tg.register_deprecations(
        models={"face_old": "face_a"}, weights={"Face_Weights.OLD_V1": "V1"}, removed_in="torchgraft 0.4"
    )
    with pytest.warns(TorchgraftDeprecationWarning, match="'face_old' was renamed 'face_a'.*0.4"):
        model = tg.get_model("face_old")
    assert isinstance(model, FaceNet)
    assert "face_old" not in tg.list_models() and "face_a" in tg.list_models()
    with pytest.warns(TorchgraftDeprecationWarning, match="Face_Weights.OLD_V1 was renamed Face_Weights.V1"):
        assert tg.get_weight("face_a.OLD_V1") is face.V1
    with pytest.raises(UnknownWeightsError, match="no member 'V9'"):
        tg.register_deprecations(weights={"Face_Weights.X": "V9"}, removed_in="torchgraft 0.4")


def test_a_model_of_a_missing_distribution_names_what_to_install(monkeypatch):
    monkeypatch.setitem(_providers.PROVIDERS, "torchgraft-fictional", frozenset({"fictional_net"}))
    with pytest.raises(UnknownModelError, match="provided by torchgraft-fictional.*pip install torchgraft-fictional"):
        tg.get_model("fictional_net")
    with pytest.raises(UnknownModelError, match="not installed: .*torchgraft-fictional"):
        tg.get_model("unheard_of_net")


def test_weights_members_and_entries_pickle_and_copy(face):
    member = face.V2
    assert pickle.loads(pickle.dumps(member)) is member
    assert copy.copy(member) is member and copy.deepcopy(member) is member
    entry = pickle.loads(pickle.dumps(member.value))
    assert entry == member.value and dict(entry.meta) == dict(member.meta)
    with pytest.raises(TypeError):
        entry.meta["x"] = 1  # still read-only after the round trip
    assert copy.deepcopy(member.value) is member.value


def test_load_weights_refuses_a_model_built_against_the_checkpoints_config(face):
    with init_empty():
        wrong = FaceNet()
    with pytest.raises(
        ConfigConflictError, match="fixes same_padding=True, but the model was built with same_padding=False"
    ):
        load_weights(wrong, face.V2)
    assert wrong.conv.weight.device.type == "meta"  # untouched
    with init_empty():
        right = FaceNet(same_padding=True)
    assert load_weights(right, face.V2).weights == "Face_Weights.V2"

    class Opaque(nn.Module):  # the same tensors, but no way to tell its padding
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4, 3)

    with pytest.raises(ConfigConflictError, match="Opaque exposes no same_padding"):
        load_weights(Opaque(), face.V2)


def test_classifier_drops_the_backbones_head_and_full_checkpoints_still_load(face):
    model = tg.classifier("face_a", 5, backbone_weights="V2")
    assert isinstance(model.backbone.fc, nn.Identity)
    assert not [n for n, p in model.named_parameters() if n.startswith("backbone.fc")]
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())  # no dead parameters
    with init_empty():
        again = tg.classifier(FaceNet(same_padding=True), 5)
    report = load_weights(again, face.V2)
    assert report.discarded == ["backbone.fc.bias", "backbone.fc.weight"] and report.fresh == [
        "head.fc.bias",
        "head.fc.weight",
    ]
    torch.testing.assert_close(again.backbone.conv.weight, model.backbone.conv.weight)


def test_compose_drops_the_backbones_head_too(face):
    backbone = FaceNet()
    model = tg.compose(backbone, tg.ClassifierHead(4, 2, pooling="mean"))
    assert backbone.num_classes == 0 and not [
        n for n, _ in model.named_parameters() if ".fc." in f".{n}" and n.startswith("backbone")
    ]


def test_num_classes_zero_builds_a_headless_backbone_even_with_full_weights(face):
    model = tg.get_model("face_a", weights="V1", num_classes=0)
    assert model.num_classes == 0 and isinstance(model.fc, nn.Identity)
    assert model.load_report.discarded == ["fc.bias", "fc.weight"]
    model.reset_classifier(7)
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, 7)
