"""The distributed examples, run as their docstrings say: torchrun with two gloo processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import torchgraft.core as tg

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def torchrun(script: str, *args: str) -> dict:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(EXAMPLES / script)]
    done = subprocess.run(
        [*cmd, *args], capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_finetune_ddp_lowers_the_loss_on_two_processes(tmp_path):
    result = torchrun("finetune_ddp.py", "--steps", "8", "--out", str(tmp_path / "model.safetensors"))
    losses = result["losses"]
    assert result["world_size"] == 2 and len(losses) == 8
    assert sum(losses[-3:]) / 3 < 0.6 * sum(losses[:3]) / 3, losses
    assert (tmp_path / "model.safetensors").stat().st_size > 10_000_000


@pytest.mark.slow
def test_finetune_fsdp_lowers_the_loss_checkpoints_and_exports(tmp_path):
    result = torchrun("finetune_fsdp.py", "--steps", "6", "--out", str(tmp_path))
    losses = result["losses"]
    assert losses[-1] < 0.5 * losses[0], losses
    assert (tmp_path / "checkpoint" / ".metadata").is_file()
    exported = tg.Weights(url=result["exported"]["url"], sha256=result["exported"]["sha256"], meta={"num_params": 1})
    sys.path.insert(0, str(EXAMPLES))
    try:
        from finetune_fsdp import sentiment_classifier
    finally:
        sys.path.pop(0)
    model = sentiment_classifier()
    report = tg.load_weights(model, exported)  # the exported file is the whole trained classifier
    assert report.complete, report
    from torchgraft.text.models import AllMiniLM_L6_V2_Weights

    batch = AllMiniLM_L6_V2_Weights.DEFAULT.transforms()(["What a wonderful day.", "What a miserable day."])
    with torch.no_grad():
        assert model.eval()(**batch).argmax(-1).tolist() == [1, 0]
