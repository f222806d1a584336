"""What each rank runs in the distributed tests (``torchrun ... distributed_worker.py SCENARIO``).

Each scenario writes ``<OUT>/<scenario>-<rank>.json`` for the test to read; the test process
serves files and compares. A toy causal LM (tied embeddings, blocks as shard units, a
non-persistent buffer) stands in for the domain models, which the cross tests cover.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

import torchgraft.core as tg
from torchgraft.core import distributed as tgd
from torchgraft.core.builders import build_model, own_weights


class Block(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.tanh(self.fc(self.norm(x)))


class ToyLM(nn.Module):
    def __init__(self, *, vocab_size: int = 37, dim: int = 16, depth: int = 3, max_len: int = 12) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.blocks = nn.ModuleList(Block(dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size, bias=False)
        self.head.weight = self.embed.weight
        self.register_buffer(
            "positions", torch.linspace(0, 1, max_len)[:, None].expand(max_len, dim).clone(), persistent=False
        )
        self.feature_spec = tg.FeatureSpec(kind="sequence", width=dim, has_mask=False)

    def shard_units(self) -> list[nn.Module]:
        return list(self.blocks)

    def forward_features(self, ids: torch.Tensor) -> tg.Features:
        x = self.embed(ids) + self.positions[: ids.shape[1]]
        for block in self.blocks:
            x = block(x)
        return tg.Features(last=self.norm(x))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(ids).last)


def toy_lm(*, weights: tg.Weights | None = None, progress: bool = True, **config: Any) -> ToyLM:
    return build_model(partial(ToyLM), weights=own_weights("toy_lm", weights), progress=progress, config=config)


def toy_classifier(*, weights: tg.Weights | None = None, progress: bool = True, num_classes: int = 3) -> nn.Module:
    return tg.classifier(toy_lm(weights=weights, progress=progress), num_classes, pooling="mean")


def write(name: str, data: dict[str, Any]) -> None:
    (Path(os.environ["TG_TEST_OUT"]) / f"{name}-{dist.get_rank()}.json").write_text(json.dumps(data))


def peak_reset() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def status(key: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(key + ":"))


def full(t: torch.Tensor) -> torch.Tensor:
    return t.full_tensor() if hasattr(t, "full_tensor") else t


# --------------------------------------------------------------------------- scenarios
def scenario_prefetch(args: dict[str, Any]) -> None:
    from torchgraft.core import store

    hashed = []
    original = store.sha256_file
    store.sha256_file = lambda path, **kw: hashed.append(str(path)) or original(path, **kw)
    weights = [tg.Weights(url=u, sha256=d, meta={}) for u, d in args["files"]]
    if args.get("die_after") and dist.get_rank() == 0:
        threading.Timer(args["die_after"], lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
    start = time.monotonic()
    rank = dist.get_rank()
    if rank in args.get("absent_ranks", ()):  # never calls prefetch, and stays alive
        time.sleep(args["linger"])
        write("prefetch", {"absent": True})
        return
    if rank in args.get("bad_name_ranks", ()):  # fails before any exchange (an unknown entry), stays alive
        weights = ["no_such_model.DEFAULT"]
    try:
        paths = tgd.prefetch(*weights, scope=args.get("scope", "auto"), timeout=args.get("timeout", 3600))
    except tg.PrefetchError as exc:
        seconds = time.monotonic() - start
        write("prefetch", {"error": str(exc), "rank": exc.rank, "url": exc.url, "seconds": seconds})
        time.sleep(args.get("linger", 0))
        return
    during = len(hashed)
    again = [w.fetch() for w in weights]  # what loading does next: no request, no re-hash
    write(
        "prefetch",
        {
            "paths": [str(p) for p in paths],
            "again": [str(p) for p in again],
            "hashed_after": len(hashed) - during,
            "seconds": time.monotonic() - start,
        },
    )


def scenario_build(args: dict[str, Any]) -> None:
    weights = tg.Weights(url=Path(args["checkpoint"]).as_uri(), sha256=args["sha256"], meta={})
    ids = torch.tensor(args["ids"])
    lm = tgd.build_sharded(toy_lm, weights=weights)
    tied = lm.embed.weight is lm.head.weight
    with torch.no_grad():
        logits = lm(ids)
    state = {k: full(v).tolist() for k, v in lm.state_dict().items()}
    clf = tgd.build_sharded(toy_classifier, weights=weights, seed=7)
    with torch.no_grad():
        scores = clf(ids)
    head = {k: full(v).tolist() for k, v in clf.state_dict().items() if k.startswith("head.")}
    write(
        "build",
        {
            "tied": tied,
            "sharded": type(lm.embed.weight).__name__,
            "logits": logits.tolist(),
            "state": state,
            "buffer": lm.positions.tolist(),
            "report": {"loaded": lm.load_report.loaded, "fresh": lm.load_report.fresh},
            "clf_report": {"loaded": clf.load_report.loaded, "fresh": clf.load_report.fresh},
            "head": head,
            "scores": scores.tolist(),
        },
    )


def scenario_train(args: dict[str, Any]) -> None:
    weights = tg.Weights(url=Path(args["checkpoint"]).as_uri(), sha256=args["sha256"], meta={})
    ids = torch.tensor(args["ids"])
    lm = tgd.build_sharded(toy_lm, weights=weights)
    optim = torch.optim.AdamW(lm.parameters(), lr=0.05)

    def loss_of(model: nn.Module) -> torch.Tensor:
        logits = model(ids[:, :-1])
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))

    def steps(n: int) -> list[float]:
        losses = []
        for _ in range(n):
            loss = loss_of(lm)
            loss.backward()
            optim.step()
            optim.zero_grad()
            losses.append(loss.item())
        return losses

    losses = steps(3)
    saved = tgd.save_sharded(lm, args["dcp"], optimizer=optim)
    continued = steps(4)  # a run that never stopped; then the checkpoint must bring this state back
    tgd.load_sharded(lm, saved, optimizer=optim)
    resumed = steps(4)
    exported = tgd.export_full(lm, args["export"])
    with torch.no_grad():
        final = lm(ids).tolist()
    write(
        "train",
        {
            "losses": losses,
            "continued": continued,
            "resumed": resumed,
            "exported": [exported.url, exported.sha256],
            "final": final,
        },
    )


def scenario_memory(args: dict[str, Any]) -> None:
    weights = tg.Weights(url=Path(args["checkpoint"]).as_uri(), sha256=args["sha256"], meta={})
    config = args["config"]
    weights.fetch()  # hashed and stamped before the measurement: loading, not hashing, is measured
    peak_reset()
    before = status("VmRSS")
    lm = tgd.build_sharded(toy_lm, weights=weights, **config)
    write("memory", {"growth": status("VmHWM") - before, "params": sum(p.numel() for p in lm.parameters())})


def scenario_teardown(args: dict[str, Any]) -> None:
    """What FSDP leaves behind, without FSDP: a device mesh held in a reference cycle, and
    collectives on tensors Python made. Once this returns nothing refers to the group but the
    cycle, which only a garbage collection frees: at exit, unless torchgraft's teardown collects
    it first, the interpreter's final collection frees the group and its worker thread, releasing
    these tensors, aborts the process (about one run in two without the teardown)."""
    from torch.distributed.device_mesh import init_device_mesh

    class Holder:
        def __init__(self) -> None:
            self.me = self
            self.mesh = init_device_mesh("cpu", (dist.get_world_size(),))

    holder = Holder()
    works = [dist.broadcast(torch.full((4,), float(i)), src=0, async_op=True) for i in range(8)]
    for work in works:
        work.wait()
    write("teardown", {"group": str(holder.mesh.get_group().size())})


def main() -> None:
    scenario, args = sys.argv[1], json.loads(os.environ["TG_TEST_ARGS"])
    rank = int(os.environ["RANK"])
    if "homes" in args:  # ranks on "different nodes": each group of ranks its own cache folder
        os.environ["TORCHGRAFT_HOME"] = args["homes"][rank]
    if rank in args.get("offline_ranks", ()):
        os.environ["TORCHGRAFT_OFFLINE"] = "1"
    if "store_port" in args:  # the store lives outside the ranks, as torchrun's agent hosts it
        store = dist.TCPStore("127.0.0.1", args["store_port"], is_master=False)
        dist.init_process_group("gloo", store=store, rank=rank, world_size=int(os.environ["WORLD_SIZE"]))
    else:
        dist.init_process_group("gloo")
    globals()[f"scenario_{scenario}"](args)
    if args.get("die_after"):
        os._exit(0)  # a rank died: tearing the group down could wait for it
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
