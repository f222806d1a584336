"""Fine-tune a sentence classifier with FSDP2: the packaged all-MiniLM-L6-v2 encoder as backbone,
built sharded straight from `meta` with `build_sharded`.

    torchrun --nproc-per-node 2 examples/finetune_fsdp.py [--steps 10] [--seed 0] [--out DIR] [--resume CKPT]

No rank ever holds the whole model: each builds it on `meta`, keeps its shards of the encoder
(read from the memory-mapped checkpoint) and of the fresh head (initialised from a seed, equal at
any world size). Training steps run under FSDP, with every rank seeded (`--seed` plus its rank:
dropout), so two runs with the same arguments print the same losses. `save_sharded` writes a
distributed checkpoint (model and optimizer) that `--resume` continues from, and `export_full`
one safetensors file that loads with `load_weights` anywhere. Rank 0 prints one JSON line: the
losses, and the trained model's logits for `PROBES`, which the exported file reproduces.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

import torchgraft.core as tg
from torchgraft.core import distributed as tgd
from torchgraft.text.models import AllMiniLM_L6_V2_Weights

SENTENCES = [
    ("What a wonderful, sunny morning.", 1),
    ("I love how friendly everyone was.", 1),
    ("The concert was a delight from start to finish.", 1),
    ("This is the best soup I have ever had.", 1),
    ("The train was late and the coffee was cold.", 0),
    ("I hated every minute of that film.", 0),
    ("The room was dirty and the staff were rude.", 0),
    ("What a miserable, rainy commute.", 0),
]
PROBES = ["What a wonderful day.", "What a miserable day."]


def sentiment_classifier(*, weights: tg.Weights | None = None, progress: bool = True) -> nn.Module:
    """all-MiniLM-L6-v2's encoder (its published weights) with a fresh two-class head."""
    encoder = tg.get_model("all_minilm_l6_v2", weights="DEFAULT", progress=progress).backbone
    return tg.classifier(encoder, num_classes=2, pooling="mean")


def train(args: argparse.Namespace) -> dict[str, object]:
    """Builds, trains, checkpoints and exports on this rank; returns what rank 0 prints. Its
    locals (the sharded model, the optimizer) die when it returns, before the group is destroyed."""
    rank, world = dist.get_rank(), dist.get_world_size()
    weights = AllMiniLM_L6_V2_Weights.DEFAULT
    tgd.prefetch(weights)  # one download per cache (a no-op here: packaged)
    model = tgd.build_sharded(sentiment_classifier, seed=args.seed)
    if rank == 0:
        print(
            f"{model.load_report.source}: {len(model.load_report.loaded)} tensors loaded, fresh {model.load_report.fresh}"
        )
    optim = torch.optim.AdamW(model.parameters(), lr=3e-4)
    if args.resume is not None:
        tgd.load_sharded(model, args.resume, optimizer=optim)

    texts, labels = zip(*SENTENCES, strict=True)
    mine = slice(rank, None, world)  # each rank its share of the batch
    batch = weights.transforms()(list(texts[mine]))
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    target = torch.tensor(labels[mine], device=device)
    torch.manual_seed(args.seed + rank)  # dropout: seeded, and different on each rank
    model.train()
    losses = []
    for _ in range(args.steps):
        loss = nn.functional.cross_entropy(model(**batch), target)
        optim.zero_grad()
        loss.backward()
        optim.step()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(round(mean.item() / world, 4))

    probes = {k: v.to(device) for k, v in weights.transforms()(PROBES).items()}
    with torch.no_grad():  # every rank runs the forward: FSDP gathers the shards collectively
        logits = model.eval()(**probes)
    result: dict[str, object] = {"world_size": world, "losses": losses, "probe_logits": logits.tolist()}
    if args.out is not None:
        tgd.save_sharded(model, args.out / "checkpoint", optimizer=optim)
        exported = tgd.export_full(model, args.out / "model.safetensors")
        result["exported"] = {"url": exported.url, "sha256": exported.sha256}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="the fresh head's initialisation; plus the rank: dropout")
    parser.add_argument("--out", type=Path, help="a folder for the distributed checkpoint and the exported file")
    parser.add_argument("--resume", type=Path, help="a distributed checkpoint (DIR/checkpoint) to continue from")
    args = parser.parse_args()

    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if torch.cuda.is_available():
        torch.cuda.set_device(dist.get_rank() % torch.cuda.device_count())
    result = train(args)
    if dist.get_rank() == 0:
        print(json.dumps(result))
    # The model is gone with train()'s locals; torchgraft's exit teardown collects the reference
    # cycles FSDP leaves, so the group's threads end before the interpreter does (docs/distributed.md).
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
