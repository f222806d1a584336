"""Packing: the real tokens of a padded batch as [N, D], and back."""

from __future__ import annotations

import pytest
import torch

from torchgraft.core import Packing


def test_unpad_then_pad_keeps_real_tokens_and_zeros_the_padding():
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]], dtype=torch.bool)
    x = torch.randn(2, 4, 3)
    packing = Packing.of(mask)
    flat = packing.unpad(x)
    assert flat.shape == (4, 3)
    torch.testing.assert_close(flat, x[mask])
    back = packing.pad(flat)
    torch.testing.assert_close(back[mask], x[mask])
    assert back[~mask].abs().max() == 0


def test_packing_is_used_only_when_the_padding_pays_for_it():
    assert Packing.worthwhile(torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]))
    assert not Packing.worthwhile(torch.ones(2, 20, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\[batch, length\]"):
        Packing.of(torch.ones(3, dtype=torch.bool))
