"""CLIP exported tower by tower (issue 23): an image program to index offline, a text program to
embed queries online, each equal to the model's own ``encode`` on other batch sizes."""

from __future__ import annotations

import pytest
import torch

import torchgraft.core as tg


def _tokens(n: int, length: int = 16) -> torch.Tensor:
    tokens = torch.randint(1, 98, (n, length), generator=torch.Generator().manual_seed(n))
    tokens[:, length // 2] = 99  # the end-of-text token
    return tokens


def test_each_tower_is_its_own_program_equal_to_encode(tiny_clip):
    torch.manual_seed(0)
    model = tg.get_model("clip_vit_b32", **tiny_clip).eval()
    programs = tg.export_towers(model, {"image": torch.rand(2, 3, 32, 32), "text": _tokens(3)})
    assert sorted(programs) == ["image", "text"]
    images, text = torch.rand(5, 3, 32, 32), _tokens(4)
    with torch.no_grad():
        torch.testing.assert_close(programs["image"].module()(images), model.encode("image", images), atol=1e-5, rtol=0)
        torch.testing.assert_close(programs["text"].module()(text), model.encode("text", text), atol=1e-5, rtol=0)
    # Saved and loaded as files, as an indexing job and a query service would.
    from pathlib import Path
    from tempfile import TemporaryDirectory

    with TemporaryDirectory() as folder:
        path = Path(folder, "image.pt2")
        torch.export.save(programs["image"], path)
        loaded = torch.export.load(path)
    with torch.no_grad():
        torch.testing.assert_close(loaded.module()(images), model.encode("image", images), atol=1e-5, rtol=0)


def test_export_towers_says_what_it_takes(tiny_clip):
    model = tg.get_model("clip_vit_b32", **tiny_clip)
    with pytest.raises(KeyError, match=r"expected examples for the towers \['image', 'text'\]; found \['audio'\]"):
        tg.export_towers(model, {"audio": torch.zeros(2, 10)})
    with pytest.raises(TypeError, match="takes a model with towers"):
        tg.export_towers(torch.nn.Linear(2, 2), {"image": torch.zeros(2, 2)})
