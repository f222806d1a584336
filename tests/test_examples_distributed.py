"""The distributed examples, run as their docstrings say: torchrun with two gloo processes. Every
rank is seeded, so each run is the same run; the tests assert what the examples promise (the loss
falls, runs repeat, a checkpoint resumes to the same state, the exported file is the trained
model), not what six steps on eight sentences happen to generalise to."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

import torchgraft.core as tg
from torchgraft.core.testing import torchrun

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]


def run_example(script: str, *args: str) -> dict:
    """The JSON line rank 0 prints last."""
    ranks = torchrun(str(EXAMPLES / script), *args, nproc=2, timeout=600)
    return json.loads(ranks.stdout[0].strip().splitlines()[-1])


def test_finetune_ddp_lowers_the_loss_on_two_processes_and_repeats_exactly(tmp_path):
    result = run_example("finetune_ddp.py", "--steps", "8", "--out", str(tmp_path / "model.safetensors"))
    losses = result["losses"]
    assert result["world_size"] == 2 and len(losses) == 8
    assert sum(losses[-3:]) / 3 < 0.6 * sum(losses[:3]) / 3, losses
    assert (tmp_path / "model.safetensors").stat().st_size > 10_000_000
    again = run_example("finetune_ddp.py", "--steps", "8")
    assert again["losses"] == losses  # seeded crops, head, data order and dropout


def _fsdp_example():
    sys.path.insert(0, str(EXAMPLES))
    try:
        import finetune_fsdp
    finally:
        sys.path.pop(0)
    return finetune_fsdp


def test_finetune_fsdp_lowers_the_loss_repeats_resumes_and_exports(tmp_path):
    first = run_example("finetune_fsdp.py", "--steps", "6", "--out", str(tmp_path / "a"))
    losses = first["losses"]
    assert len(losses) == 6 and losses[-1] < 0.5 * losses[0], losses
    assert (tmp_path / "a" / "checkpoint" / ".metadata").is_file()

    again = run_example("finetune_fsdp.py", "--steps", "6", "--out", str(tmp_path / "b"))
    assert again["losses"] == losses and again["exported"]["sha256"] == first["exported"]["sha256"]

    resumed = run_example(
        "finetune_fsdp.py", "--steps", "0", "--resume", str(tmp_path / "a" / "checkpoint"), "--out", str(tmp_path / "c")
    )
    assert resumed["exported"]["sha256"] == first["exported"]["sha256"]  # the same state, bit for bit
    assert resumed["probe_logits"] == first["probe_logits"]

    exported = tg.Weights(url=first["exported"]["url"], sha256=first["exported"]["sha256"], meta={})
    example = _fsdp_example()
    model = example.sentiment_classifier()
    report = tg.load_weights(model, exported)  # the exported file is the whole trained classifier
    assert report.complete, report
    from torchgraft.text.models import AllMiniLM_L6_V2_Weights

    with torch.no_grad():
        logits = model.eval()(**AllMiniLM_L6_V2_Weights.DEFAULT.transforms()(example.PROBES))
    torch.testing.assert_close(logits, torch.tensor(first["probe_logits"]), atol=1e-5, rtol=1e-5)
