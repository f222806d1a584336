"""The private torch APIs torchgraft uses still exist and behave as relied on, on this torch."""

from __future__ import annotations

import os

import torch

from torchgraft.core import torch_internals as ti


def test_this_torch_is_one_the_internals_were_checked_on():
    version = torch.__version__.split("+")[0]
    assert version in ti.CHECKED_ON, (
        f"torch {version} is not in CHECKED_ON {ti.CHECKED_ON}: check each function of "
        f"torchgraft.core.torch_internals on it, then add it"
    )


def test_each_internal_works(tmp_path):
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    store = dist.FileStore(str(tmp_path / "store"), 1)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        ti.default_store().set("torchgraft/probe", "ok")
        assert ti.default_store().get("torchgraft/probe") == b"ok"
        mesh = init_device_mesh("cpu", (1,))
        shard = distribute_tensor(torch.zeros(6, 4), mesh, [Shard(0)])
        assert ti.local_shape_and_offset(torch.Size([6, 4]), shard.device_mesh, shard.placements) == ((6, 4), (0, 0))
    finally:
        dist.destroy_process_group()
    compiled = torch.compile(lambda x: x + 1, backend="eager")
    assert compiled(torch.ones(1)).item() == 2.0
    ti.reset_compiler()
