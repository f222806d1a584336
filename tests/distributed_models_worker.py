"""Each rank of tests/test_distributed_models.py: real architectures built sharded from files the
test wrote, their build's memory measured, their outputs gathered."""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

import torchgraft.core as tg
from torchgraft.core import distributed as tgd


def _status(key: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(key + ":"))


def main() -> None:
    spec = json.loads(os.environ["TG_TEST_ARGS"])
    out = Path(os.environ["TG_TEST_OUT"])
    dist.init_process_group("gloo")
    results = {}
    tgd.build_sharded("resnet18", num_classes=2)  # warm-up: imports and first-use setup are not a build's memory
    for entry in spec["models"]:
        weights = tg.Weights(url=Path(entry["file"]).as_uri(), sha256=entry["sha256"], meta={})
        weights.fetch()  # hashed and stamped first: the build is measured, not the first hash
        gc.collect()
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # the resident-set peak restarts here
        before = _status("VmRSS")
        model = tgd.build_sharded(entry["name"], weights=weights, **entry["config"]).eval()
        growth = _status("VmHWM") - before
        inputs = torch.load(entry["inputs"], weights_only=True)
        with torch.no_grad():
            output = model(*inputs)
        tied = None
        if entry["name"] == "causal_lm":
            tied = model.head.decoder.weight is model.backbone.input_embeddings.weight
        results[entry["name"]] = {
            "growth": growth,
            "output": output.tolist(),
            "tied": tied,
            "sharded": type(next(model.parameters())).__name__,
            "fresh": model.load_report.fresh,
        }
        del model
    (out / f"models-{dist.get_rank()}.json").write_text(json.dumps(results))
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
