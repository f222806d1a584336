"""build_sharded on real architectures at their published sizes (BERT-base, GPT-2 with its tied
LM head, ResNet-50), two gloo processes: outputs equal the one-process model with the same
weights, and each rank's build grows its resident memory by less than three quarters of the weight
bytes (its half, plus what is in flight)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

import torchgraft.core as tg
from torchgraft.core.testing import torchrun

WORKER = Path(__file__).with_name("distributed_models_worker.py")
MODELS = {
    "bert_base": ({}, lambda: (torch.randint(0, 30522, (2, 16)), torch.ones(2, 16, dtype=torch.long))),
    "causal_lm": ({"backbone": "gpt2"}, lambda: (torch.randint(0, 50257, (2, 16)),)),
    "resnet50": ({}, lambda: (torch.rand(2, 3, 96, 96),)),
}


@pytest.mark.slow
@pytest.mark.multiprocess
def test_real_architectures_built_sharded_equal_one_process_in_less_memory(tmp_path):
    from safetensors.torch import save_model

    models, expected = [], {}
    for name, (config, make_inputs) in MODELS.items():
        torch.manual_seed(0)
        model = tg.get_model(name, **config).eval()
        path = tmp_path / f"{name}.safetensors"
        save_model(model, str(path))
        inputs = make_inputs()
        torch.save(inputs, tmp_path / f"{name}.inputs.pt")
        weights = tg.Weights(url=path.as_uri(), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), meta={})
        with torch.no_grad():
            expected[name] = tg.get_model(name, weights=weights, **config).eval()(*inputs)
        models.append(
            {
                "name": name,
                "config": config,
                "file": str(path),
                "sha256": weights.sha256,
                "inputs": str(tmp_path / f"{name}.inputs.pt"),
            }
        )
        del model
    env = {"TG_TEST_OUT": str(tmp_path), "TG_TEST_ARGS": json.dumps({"models": models})}
    torchrun(str(WORKER), nproc=2, env=env, timeout=600)
    for rank in range(2):
        results = json.loads((tmp_path / f"models-{rank}.json").read_text())
        for name, r in results.items():
            file_bytes = Path(tmp_path / f"{name}.safetensors").stat().st_size
            assert r["sharded"] == "DTensor" and r["fresh"] == []
            torch.testing.assert_close(torch.tensor(r["output"]), expected[name], atol=2e-4, rtol=1e-4)
            assert r["growth"] < 0.75 * file_bytes, (
                f"{name}: rank {rank} grew {r['growth']:,} bytes for a {file_bytes:,}-byte file"
            )
            print(f"{name}: rank {rank} build grew {r['growth'] / file_bytes:.2f}x the weight file")
        assert results["causal_lm"]["tied"] is True
