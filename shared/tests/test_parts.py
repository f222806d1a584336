"""core.Part and build_model(parts=): one keyword scheme for a composite's parts, each part built in
its own context, the parts' load reports joined, and the old spellings kept with one warning."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_model
from torch import nn

from torchgraft.core import (
    IncompatibleHeadError,
    Part,
    TorchgraftDeprecationWarning,
    UnknownWeightsError,
    Weights,
    WeightsEnum,
    build_model,
    classifier,
    compose,
    fixed_config,
    own_weights,
    register_model,
)
from torchgraft.core.heads import Head

from .conftest import TinyConvNet

HERE = Path(__file__).resolve()
FOLDER = Path(tempfile.gettempdir()) / f"torchgraft-test-parts-{os.getpid()}"


class PartNet_Weights(WeightsEnum):
    # Its file is written by the fixture below before any test builds with it.
    V1 = Weights(
        url=(FOLDER / "parts_v1.safetensors").as_uri(),
        sha256=None,
        meta={"num_params": 794, "license": "MIT", "recipe": "test", "categories": ["a", "b"]},
    )
    DEFAULT = V1


@register_model(domain="user")
def part_net(*, weights: PartNet_Weights | str | None = None, progress: bool = True, **kwargs: Any) -> TinyConvNet:
    """A tiny spatial backbone registered for these tests."""
    weights = PartNet_Weights.verify(weights)
    return build_model(
        TinyConvNet, weights=weights, progress=progress, config=kwargs, fixed=fixed_config(weights), head=("fc.",)
    )


class Pooling(Head):
    """A head without parameters, as a sentence model's pooling."""

    def check(self, spec: Any, backbone_name: str = "backbone") -> None:
        pass

    def forward(self, features: Any) -> torch.Tensor:
        return features.last.mean(dim=(2, 3))


@register_model(domain="user")
def pooled_part_net(*, weights: Weights | None = None, progress: bool = True) -> nn.Module:
    """part_net under a head without parameters, with part_net's weights."""
    return compose(part_net(weights="DEFAULT", progress=progress), Pooling())


@pytest.fixture(autouse=True)
def published_file():
    torch.manual_seed(0)
    FOLDER.mkdir(exist_ok=True)
    path = FOLDER / "parts_v1.safetensors"
    save_model(TinyConvNet(num_classes=2), str(path))
    yield path
    shutil.rmtree(FOLDER, ignore_errors=True)


def test_a_named_part_loads_its_weights_and_the_model_report_joins_them():
    model = classifier("part_net", 3, backbone_weights="DEFAULT")
    report = model.load_report
    assert report.source == "PartNet_Weights.V1" and report.fresh == ["head.fc.bias", "head.fc.weight"]
    assert set(report.sources.values()) == {"PartNet_Weights.V1"} and all(
        k.startswith("backbone.") for k in report.loaded
    )
    same = classifier(Part("part_net", weights="DEFAULT"), 3)
    assert same.load_report.loaded == report.loaded


def test_one_scheme_refuses_what_does_not_fit_naming_the_keywords():
    with pytest.raises(TypeError, match="backbone= is a Part, which holds its own weights and config"):
        classifier(Part("part_net"), 3, backbone_weights="DEFAULT")
    with pytest.raises(
        TypeError, match="backbone_weights and backbone_config apply only when backbone is a model name"
    ):
        classifier(TinyConvNet(), 3, backbone_config={"width": 4})
    with pytest.raises(TypeError, match="backbone= takes a registered model name, a module or a Part; found int"):
        classifier(3, 3)
    with pytest.raises(TypeError, match="backbone_config= takes a mapping of builder arguments; found list"):
        classifier("part_net", 3, backbone_config=["width"])
    with pytest.raises(TypeError, match="a part is a registered model name or an nn.Module"):
        Part(1.5)


def test_loose_backbone_keywords_still_work_with_one_warning_at_the_callers_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = classifier("part_net", 3, width=4)
    deprecations = [w for w in caught if issubclass(w.category, TorchgraftDeprecationWarning)]
    assert len(deprecations) == 1 and Path(deprecations[0].filename) == HERE
    assert "backbone_config={'width': ...}" in str(deprecations[0].message)
    assert model.backbone.feature_spec.width == 8
    with pytest.raises(TypeError, match="pass only backbone_config="):
        classifier("part_net", 3, backbone_config={"width": 4}, width=4)


def test_under_the_models_own_weights_the_parts_are_architectures_only(tmp_path):
    gone = Weights(  # fixes the part's head at two classes, as a published entry would
        url=(tmp_path / "never-written.safetensors").as_uri(),
        sha256=None,
        meta={"num_params": 794, "categories": ["a", "b"]},
    )

    def factory(backbone: nn.Module) -> nn.Module:
        return classifier(backbone, 3)

    whole = factory(part_net(num_classes=2))
    save_model(whole, str(tmp_path / "whole.safetensors"))
    own = Weights(url=(tmp_path / "whole.safetensors").as_uri(), sha256=None, meta={})
    model = build_model(factory, weights=own, parts={"backbone": Part("part_net", weights=gone)})
    assert model.load_report.complete  # the part's file was never asked for: only the model's own was read
    assert torch.equal(model.head.fc.weight, whole.head.fc.weight)


def test_a_packaged_model_with_a_parameter_free_head_is_a_backbone_by_name():
    model = classifier("pooled_part_net", 4)
    assert isinstance(model.backbone, TinyConvNet)
    assert model.load_report.source == "PartNet_Weights.V1"
    assert all(k.startswith("backbone.") for k in model.load_report.loaded)


def test_a_trained_head_is_not_a_backbone():
    with pytest.raises(IncompatibleHeadError, match="has a trained head"):
        Part(classifier(TinyConvNet(), 2)).build()


def test_one_own_weights_check_names_where_a_parts_weights_go():
    assert own_weights("anything", None) is None
    with pytest.raises(UnknownWeightsError, match=r"backbone_weights=, encoder_weights="):
        own_weights("text_task", "DEFAULT")


def test_dual_encoders_and_fusions_take_parts_and_join_their_reports():
    from torchgraft.core import ClassifierHead, dual_encoder, fuse

    pair = dual_encoder(Part("part_net", weights="DEFAULT"), TinyConvNet(), embed_dim=4)
    assert pair.load_report.source == "PartNet_Weights.V1"
    assert all(k.startswith("towers.image.backbone.") for k in pair.load_report.loaded)
    assert pair.preprocessing["image"] is PartNet_Weights.V1 and pair.preprocessing["text"] is None
    fused = fuse(
        {"a": "part_net", "b": Part("part_net", config={"width": 4})},
        ClassifierHead(16 + 8, 2, pooling="none"),
        encoders_weights={"a": "DEFAULT"},
    )
    assert {k.split(".")[1] for k in fused.load_report.loaded} == {"a"}
    assert fused.towers["b"].backbone.feature_spec.width == 8
