"""What open_clip users type first, as they type it (issue 22), against open_clip with identical
weights: ``model.encode_image``, ``model.encode_text`` (normalised or not) and ``model(image, text)``
returning open_clip's tuple."""

from __future__ import annotations

import pytest
import torch

VOCAB, CONTEXT, EOT = 100, 16, 99


def _pair():
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    from torchgraft.multimodal.models import from_open_clip

    torch.manual_seed(0)
    vision = CLIPVisionCfg(layers=2, width=128, head_width=64, patch_size=8, image_size=32)
    text = CLIPTextCfg(context_length=CONTEXT, vocab_size=VOCAB, width=128, heads=2, layers=2)
    theirs = CLIP(embed_dim=32, vision_cfg=vision, text_cfg=text, quick_gelu=True).eval()
    return theirs, from_open_clip(theirs.state_dict(), quick_gelu=True).eval()


def _tokens(n: int = 2) -> torch.Tensor:
    ids = torch.zeros(n, CONTEXT, dtype=torch.long)
    for i in range(n):
        ids[i, 0], ids[i, 1 : 4 + i] = EOT - 1, torch.arange(1, 4 + i)
        ids[i, 4 + i] = EOT
    return ids


def test_encode_image_encode_text_and_the_tuple_call_are_open_clips():
    theirs, ours = _pair()
    torch.manual_seed(2)
    images, text = torch.rand(2, 3, 32, 32), _tokens()
    with torch.no_grad():
        for normalize in (True, False):
            torch.testing.assert_close(
                ours.encode_image(images, normalize=normalize), theirs.encode_image(images, normalize=normalize),
                atol=1e-5, rtol=0,
            )  # fmt: skip
            torch.testing.assert_close(
                ours.encode_text(text, normalize=normalize), theirs.encode_text(text, normalize=normalize),
                atol=1e-5, rtol=0,
            )  # fmt: skip
        image_features, text_features, scale = ours(images, text)
        expected = theirs(images, text)
    for mine, reference in zip((image_features, text_features, scale), expected, strict=True):
        torch.testing.assert_close(mine.reshape(reference.shape), reference, atol=1e-5, rtol=0)
    with pytest.raises(TypeError, match=r"model\(image, text\), as open_clip"):
        ours(images)
