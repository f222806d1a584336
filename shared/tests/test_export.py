"""`torchgraft.core.export`: every dimension the model allows dynamic, whatever its signature."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torchgraft.core.export import auto_dynamic_shapes, export


class Masked(nn.Module):
    """A sequence model called as ``model(*inputs, scale=...)``, the way composites are."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 3)

    def forward(self, *inputs: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        x, mask = inputs
        return self.proj(x * mask[..., None]).sum(1) * scale


def test_batch_and_length_stay_dynamic_through_varargs():
    torch.manual_seed(0)
    model = Masked()
    x, mask = torch.randn(2, 5, 4), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    dynamic = auto_dynamic_shapes(model, (x, mask), {})
    assert list(dynamic) == ["inputs"] and len(dynamic["inputs"]) == 2
    program = export(model, x[:, :3], mask[:, :3])  # a non-contiguous example is fine
    other_x, other_mask = torch.randn(6, 9, 4), torch.randint(0, 2, (6, 9))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(other_x, other_mask), model(other_x, other_mask))
    assert model.training is False  # exported in eval mode


def test_export_refuses_what_is_no_module():
    with pytest.raises(TypeError, match="export takes an nn.Module; found function"):
        export(lambda x: x, torch.zeros(2))
