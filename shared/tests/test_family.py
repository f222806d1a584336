"""The family template: a variant's config under the caller's fields, weights loaded, a user's own
checkpoint read through the family's adapter, and errors that name what was expected."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from torchgraft.core import ConfigConflictError, UnknownKeywordError, Weights
from torchgraft.core.family import Family, configured


@dataclass(frozen=True)
class TinyConfig:
    width: int = 4
    num_classes: int = 3


class Tiny(nn.Module):
    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.body = nn.Linear(2, cfg.width)
        self.fc = nn.Linear(cfg.width, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


FAMILY = Family(Tiny, TinyConfig, {"tiny": TinyConfig(), "tiny_wide": TinyConfig(width=8)}, head=("fc.",))


def test_a_variant_is_its_config_under_the_callers_fields():
    assert FAMILY.build("tiny_wide", None, False, {}).body.out_features == 8
    model = FAMILY.build("tiny", None, False, {"num_classes": 5})
    assert (model.cfg.width, model.cfg.num_classes) == (4, 5)
    with pytest.raises(UnknownKeywordError, match=r"Tiny \(TinyConfig fields\).*'widht'.*did you mean 'width'"):
        FAMILY.build("tiny", None, False, {"widht": 2})
    with pytest.raises(
        KeyError, match=r"'huge' is not a variant of this family; expected one of \['tiny', 'tiny_wide'\]"
    ):
        FAMILY.build("huge", None, False, {})


def _checkpoint(tmp_path, state, *, role="full", categories=None):
    path = tmp_path / "tiny.safetensors"
    save_file(state, str(path))
    meta = {"num_params": sum(t.numel() for t in state.values()), **({"categories": categories} if categories else {})}
    return Weights(url=path.as_uri(), sha256=None, meta=meta, role=role)


def test_a_users_own_checkpoint_is_read_through_the_adapter(tmp_path):
    torch.manual_seed(0)
    source = Tiny(TinyConfig())
    theirs = {f"model.{k}": v for k, v in source.state_dict().items()}  # the publisher's layout
    adapted = Family(Tiny, TinyConfig, {"tiny": TinyConfig()}, adapter=lambda s: {k[6:]: v for k, v in s.items()})
    model = adapted.build("tiny", _checkpoint(tmp_path, theirs), False, {})
    assert torch.equal(model.fc.weight, source.fc.weight) and model.load_report.complete


def test_categories_fix_the_head_and_backbone_weights_leave_it_fresh(tmp_path):
    torch.manual_seed(0)
    state = Tiny(TinyConfig(num_classes=2)).state_dict()
    published = _checkpoint(tmp_path, state, categories=["a", "b"])
    assert FAMILY.build("tiny", published, False, {}).fc.out_features == 2
    with pytest.raises(ConfigConflictError, match="num_classes=7 conflicts"):
        FAMILY.build("tiny", published, False, {"num_classes": 7})
    backbone = _checkpoint(tmp_path, state, role="backbone", categories=["a", "b"])
    model = FAMILY.build("tiny", backbone, False, {"num_classes": 7})
    assert model.fc.out_features == 7 and model.load_report.fresh == ["fc.bias", "fc.weight"]


def test_a_family_is_checked_when_it_is_written():
    with pytest.raises(TypeError, match="every variant is a TinyConfig"):
        Family(Tiny, TinyConfig, {"tiny": {"width": 4}})
    with pytest.raises(TypeError, match="a family's config is a dataclass type"):
        Family(Tiny, dict, {"tiny": {}})
    with pytest.raises(ValueError, match="at least one variant"):
        Family(Tiny, TinyConfig, {})
    with pytest.raises(TypeError):
        FAMILY.variants["other"] = TinyConfig()  # type: ignore[index]


def test_configured_names_the_class_of_a_from_config_constructor():
    class Named(nn.Module):
        @classmethod
        def from_config(cls, cfg: TinyConfig) -> Named:
            return cls()

    with pytest.raises(UnknownKeywordError, match=r"Named \(TinyConfig fields\)"):
        configured(Named.from_config, TinyConfig(), depth=2)
