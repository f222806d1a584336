"""Sharded builds at world size 2 on CPU (gloo): torchgraft's build_sharded against the usual path.

usual:      every rank builds the full model (random init), loads the full state dict from the
            safetensors file, load_state_dict, then fully_shard(each unit), fully_shard(root)
torchgraft: build_sharded(name, weights=Weights(file)): meta build, shard, each rank fills its
            shards from the memory-mapped file

Both shard the same units. Time is the slowest rank's wall time for the build (median of
--repeat torchrun jobs, each job measuring each method once, in alternating order); peak is the
largest per-rank growth of peak RSS (VmHWM reset after imports and a warm-up build) over the
weight file's bytes. Targets: time <= 0.5x, per-rank peak <= 0.6x the usual path's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import markdown_table

MODELS = {"bert_base": {}, "gpt2": {}, "resnet50": {}}

WORKER = r"""
import gc, json, os, sys, time
import torch, torch.distributed as dist
import torchgraft.core as tg
from torchgraft.core import distributed as tgd
from torch.distributed.fsdp import fully_shard
from safetensors.torch import load_file

def hwm():
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
def rss():
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmRSS:"))
def reset():
    gc.collect(); open("/proc/self/clear_refs", "w").write("5")

name, path, sha, order = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
dist.init_process_group("gloo")
torch.set_num_threads(1)
weights = tg.Weights(url="file://" + path, sha256=sha, meta={})
weights.fetch()
tgd.build_sharded("resnet18", num_classes=2)  # warm-up: imports, mesh, first collectives

def usual():
    model = tg.get_model(name)
    model.load_state_dict(load_file(path), strict=False)
    for unit in tg.shard_units(model):
        fully_shard(unit)
    fully_shard(model)
    return model

def torchgraft():
    return tgd.build_sharded(name, weights=weights)

out = {}
for method in order:
    reset(); base = rss()
    dist.barrier(); t0 = time.perf_counter()
    model = {"usual": usual, "torchgraft": torchgraft}[method]()
    seconds = time.perf_counter() - t0
    out[method] = {"seconds": seconds, "peak": hwm() - base}
    del model
    dist.barrier()
gathered = [None] * dist.get_world_size()
dist.all_gather_object(gathered, out)
if dist.get_rank() == 0:
    print(json.dumps(gathered))
dist.destroy_process_group()
"""


def job(script: Path, name: str, path: Path, sha: str, order: str) -> list[dict]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.check_output([*cmd, name, str(path), sha, order], text=True, env=env, stderr=subprocess.DEVNULL)
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    args = parser.parse_args()
    import torch
    from safetensors.torch import save_model

    import torchgraft.core as tg

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "worker.py")
        script.write_text(WORKER)
        for name in args.models:
            torch.manual_seed(0)
            path = Path(tmp, f"{name}.safetensors")
            save_model(tg.get_model(name, **MODELS[name]), str(path))
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            size = path.stat().st_size
            times: dict[str, list[float]] = {"usual": [], "torchgraft": []}
            peaks: dict[str, list[float]] = {"usual": [], "torchgraft": []}
            for r in range(args.repeat):
                order = "usual,torchgraft" if r % 2 == 0 else "torchgraft,usual"
                ranks = job(script, name, path, sha, order)
                for method in times:
                    times[method].append(max(rank[method]["seconds"] for rank in ranks))
                    peaks[method].append(max(rank[method]["peak"] for rank in ranks))
            t = {m: statistics.median(v) for m, v in times.items()}
            p = {m: statistics.median(v) for m, v in peaks.items()}
            rows.append(
                [
                    f"{name} ({size / 2**20:.0f} MB)",
                    f"{t['usual']:.3f}",
                    f"{t['torchgraft']:.3f}",
                    f"{t['torchgraft'] / t['usual']:.2f}x",
                    f"{p['usual'] / size:.2f}x",
                    f"{p['torchgraft'] / size:.2f}x",
                    f"{p['torchgraft'] / p['usual']:.2f}x",
                ]
            )
            print(f"{name}: done", file=sys.stderr)
    print("\n**build a sharded model at world size 2, CPU/gloo (targets: time <= 0.5x, per-rank peak <= 0.6x)**\n")
    header = [
        "model",
        "usual s",
        "build_sharded s",
        "time ratio",
        "usual peak / file",
        "build_sharded peak / file",
        "peak ratio",
    ]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
