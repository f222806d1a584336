"""Every registered backbone of every installed domain as a tower: in a `dual_encoder` and in
`fuse`, each gives ``[B, D]`` and the joined model survives a state-dict round trip. Each domain's
backbones are paired with a partner of the next domain (image+text, text+audio, audio+image), so
every pair of domains is covered. The tiny configs and inputs are each package's own conformance
cases (``packages/<domain>/tests/test_conformance.py``, read from the repository)."""

from __future__ import annotations

import importlib.util
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch

import torchgraft.core as tg
from torchgraft.core import ClassifierHead
from torchgraft.core.conformance import Case
from torchgraft.core.registry import get_model_builder

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = ("vision", "text", "audio")
PARTNER = {"vision": ("text", "bert_base"), "text": ("audio", "wav2vec2_base"), "audio": ("vision", "resnet18")}
BATCH = 2  # fused inputs must agree on the batch: every case gives at least two rows


@cache
def cases(domain: str) -> Any:
    """The domain's ``case(name) -> Case`` from its own conformance test module."""
    path = ROOT / "packages" / domain / "tests" / "test_conformance.py"
    spec = importlib.util.spec_from_file_location(f"_conformance_{domain}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.case


def is_backbone(domain: str, name: str) -> bool:
    with tg.init_empty():
        model = get_model_builder(name)(weights=None, **cases(domain)(name).config)
    return callable(getattr(model, "forward_features", None)) and isinstance(
        getattr(model, "feature_spec", None), tg.FeatureSpec
    )


BACKBONES = [
    (domain, name) for domain in DOMAINS for name in tg.list_models(domain=domain) if is_backbone(domain, name)
]


def rows(value: Any) -> Any:
    return value[:BATCH] if isinstance(value, torch.Tensor) else value


def tower(domain: str, name: str) -> tuple[torch.nn.Module, Any]:
    """The tiny model and its inputs (first ``BATCH`` rows: a tuple, or keyword inputs)."""
    case: Case = cases(domain)(name)
    model = case.build()
    inputs: Any = tuple(rows(x) for x in case.inputs)
    if case.kwargs:
        inputs = {
            **dict(zip(("input_ids", "attention_mask"), inputs, strict=False)),
            **{k: rows(v) for k, v in case.kwargs.items()},
        }
    return model, inputs


def outputs_after_round_trip(make: Any, call: Any) -> tuple[Any, Any]:
    from safetensors.torch import save_model

    torch.manual_seed(0)
    model = make().eval()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "joined.safetensors"
        save_model(model, str(path))
        torch.manual_seed(1)
        twin = make().eval()
        report = tg.load_weights(twin, path)
    assert report.complete, report
    with torch.no_grad():
        return call(model), call(twin)


@pytest.mark.parametrize(("domain", "name"), BACKBONES, ids=[f"{d}:{n}" for d, n in BACKBONES])
def test_every_backbone_is_a_tower_of_a_dual_encoder_and_of_a_fusion(domain, name):
    other_domain, other = PARTNER[domain]

    def dual() -> tg.DualEncoder:
        (a, _), (b, _) = tower(domain, name), tower(other_domain, other)
        return tg.dual_encoder(a, b, embed_dim=16, names=(domain, other_domain))

    _, a_inputs = tower(domain, name)
    _, b_inputs = tower(other_domain, other)
    inputs = {domain: a_inputs, other_domain: b_inputs}
    mine, twin = outputs_after_round_trip(dual, lambda m: m(inputs))
    assert mine[domain].shape == (BATCH, 16) and mine["logits"].shape == (BATCH, BATCH)
    torch.testing.assert_close(mine["logits"], twin["logits"])

    def fused() -> tg.Fusion:
        (a, _), (b, _) = tower(domain, name), tower(other_domain, other)
        return tg.fuse({domain: a, other_domain: b}, ClassifierHead(32, 3, pooling="none"), embed_dim=16)

    mine, twin = outputs_after_round_trip(fused, lambda m: m(inputs))
    assert mine.shape == (BATCH, 3)
    torch.testing.assert_close(mine, twin)


def test_every_pair_of_domains_is_covered():
    pairs = {frozenset((d, PARTNER[d][0])) for d, _ in BACKBONES}
    assert pairs == {frozenset(p) for p in (("vision", "text"), ("text", "audio"), ("audio", "vision"))}


def test_an_audio_and_text_classifier_trains_and_names_a_missing_input():
    (speech, speech_inputs), (text, text_inputs) = tower("audio", "wav2vec2_base"), tower("text", "bert_base")
    torch.manual_seed(0)
    model = tg.fuse({"audio": speech, "text": text}, ClassifierHead(16, 2, pooling="none"), fusion="sum", embed_dim=16)
    inputs, target = {"audio": speech_inputs, "text": text_inputs}, torch.tensor([0, 1])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        loss = torch.nn.functional.cross_entropy(model(inputs), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    with pytest.raises(tg.MissingInputError, match="input 'text' is missing"):
        model({"audio": speech_inputs})
