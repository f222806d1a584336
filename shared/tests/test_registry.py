from __future__ import annotations

import sys
from typing import Any

import pytest
from torch import nn

import torchgraft.core as tg
from torchgraft.core import DuplicateModelError, UnknownModelError, UnknownWeightsError, Weights, WeightsEnum


class RegTiny_Weights(WeightsEnum):
    V1 = Weights(url="https://example.org/regtiny.safetensors", sha256="cd" * 32, meta={})
    DEFAULT = V1


@tg.register_model()
def regtiny_a(*, weights: RegTiny_Weights | str | None = None, progress: bool = True, **config: Any) -> nn.Module:
    return nn.Linear(2, 2, **config)


@tg.register_model(domain="scratch")
def regtiny_b(*, weights: None = None, progress: bool = True, **config: Any) -> nn.Module:
    return nn.Linear(2, 3, **config)


def test_list_models_filters_by_pattern_and_domain():
    assert {"regtiny_a", "regtiny_b"} <= set(tg.list_models())
    assert tg.list_models("regtiny_*") == ["regtiny_a", "regtiny_b"]
    assert tg.list_models("regtiny_*", exclude="*_b") == ["regtiny_a"]
    assert tg.list_models(["regtiny_a", "nothing*"]) == ["regtiny_a"]
    assert "regtiny_b" in tg.list_models(domain="scratch") and "regtiny_a" not in tg.list_models(domain="scratch")
    assert "regtiny_a" in tg.list_models(domain="user")


def test_get_model_builds_with_config():
    model = tg.get_model("regtiny_a", bias=False)
    assert isinstance(model, nn.Linear) and model.bias is None


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError, match="did you mean .*regtiny_a"):
        tg.get_model("regtiny_c")


def test_weights_enum_is_found_from_the_annotation():
    assert tg.get_model_weights("regtiny_a") is RegTiny_Weights
    assert tg.get_weight("RegTiny_Weights.DEFAULT") is RegTiny_Weights.V1
    with pytest.raises(UnknownWeightsError, match="has no published weights"):
        tg.get_model_weights("regtiny_b")
    with pytest.raises(UnknownWeightsError, match="did you mean RegTiny_Weights"):
        tg.get_weight("RegTinyWeights.V1")
    with pytest.raises(UnknownWeightsError, match="bare member name with model="):
        tg.get_weight("V1")


def test_duplicate_names_raise_naming_both_builders():
    def regtiny_a(*, weights=None, progress=True):
        return nn.Identity()

    with pytest.raises(DuplicateModelError, match="already registered by .*regtiny_a"):
        tg.register_model()(regtiny_a)


def test_reregistering_the_same_builder_is_harmless():
    tg.register_model()(regtiny_a)
    assert tg.list_models("regtiny_a") == ["regtiny_a"]


def test_builders_must_take_keyword_only_weights():
    def positional(weights=None):
        return nn.Identity()

    with pytest.raises(TypeError, match="keyword-only weights"):
        tg.register_model("regtiny_positional")(positional)


def test_listing_models_imports_no_domain_dependency():
    import subprocess

    code = (
        "import sys, torchgraft.core as tg; tg.list_models(); "
        "print([m for m in ('torchvision', 'torchaudio', 'tokenizers') if m in sys.modules])"
    )
    assert subprocess.check_output([sys.executable, "-c", code], text=True).strip() == "[]"
