"""Every private torch API torchgraft uses, one function each, so a torch release that moves one
breaks one place (and its test, ``shared/tests/test_torch_internals.py``), not a module.

`CHECKED_ON` lists the torch versions each was checked on; the test fails on a torch release
outside it, so a new release is looked at before it is trusted.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["CHECKED_ON", "default_store", "local_shape_and_offset", "reset_compiler"]

#: torch releases on which every function here was checked (``torch.__version__`` without its local part).
CHECKED_ON = ("2.14.1",)


def default_store() -> Any:
    """The key-value store of the default process group (``distributed_c10d._get_default_store``;
    public alternatives need the store passed around from ``init_process_group``)."""
    from torch.distributed import distributed_c10d

    return distributed_c10d._get_default_store()


def local_shape_and_offset(
    global_shape: torch.Size, mesh: Any, placements: Any
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shape and global offset of this rank's part of a DTensor of ``global_shape``
    (``torch.distributed.tensor._utils.compute_local_shape_and_global_offset``)."""
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    shape, offset = compute_local_shape_and_global_offset(global_shape, mesh, placements)
    return tuple(shape), tuple(offset)


def reset_compiler() -> None:
    """Forgets every graph ``torch.compile`` traced (``torch._dynamo.reset``)."""
    torch._dynamo.reset()
