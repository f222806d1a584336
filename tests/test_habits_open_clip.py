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


def test_from_open_clip_takes_open_clips_config_and_never_guesses():
    import open_clip

    from torchgraft.multimodal.models import from_open_clip

    theirs, _ = _pair()
    config = {
        "embed_dim": 32,
        "quick_gelu": True,
        "vision_cfg": {"layers": 2, "width": 128, "head_width": 64, "patch_size": 8, "image_size": 32},
        "text_cfg": {"context_length": CONTEXT, "vocab_size": VOCAB, "width": 128, "heads": 2, "layers": 2},
    }
    ours = from_open_clip(theirs.state_dict(), config).eval()
    assert (ours.cfg.vision_heads, ours.cfg.text_heads, ours.cfg.quick_gelu) == (2, 2, True)
    with torch.no_grad():
        torch.testing.assert_close(ours.encode_text(_tokens()), theirs.encode_text(_tokens()), atol=1e-5, rtol=0)
    with pytest.raises(TypeError, match=r"cannot tell QuickGELU from GELU .* quick_gelu=False \(LAION's"):
        from_open_clip(theirs.state_dict())
    assert open_clip.get_model_config("ViT-B-32").get("quick_gelu", False) is False  # why the default was wrong
    state = theirs.state_dict()
    ours = from_open_clip(state, quick_gelu=True)
    with torch.no_grad():
        ours.logit_scale.add_(1.0)  # training ours leaves the caller's model alone
    assert not torch.equal(ours.logit_scale.reshape(()), state["logit_scale"].reshape(()))


def test_an_imported_clip_has_open_clips_preprocessing():
    """``model.transforms()`` of a converted checkpoint is open_clip's eval preprocessing for its
    config (size, mean, std), on a real photo; its text side is CLIP's tokenizer only where the
    vocabulary is CLIP's."""
    import open_clip
    from PIL import Image
    from skimage import data

    from torchgraft.multimodal.models import from_open_clip

    theirs, _ = _pair()
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    config = {
        "embed_dim": 32,
        "quick_gelu": True,
        "vision_cfg": {
            "layers": 2,
            "width": 128,
            "patch_size": 8,
            "image_size": 32,
            "image_mean": mean,
            "image_std": std,
        },
        "text_cfg": {"context_length": CONTEXT, "vocab_size": VOCAB, "width": 128, "heads": 2, "layers": 2},
    }
    prepare = from_open_clip(theirs.state_dict(), config).transforms()
    assert prepare["text"] is None  # a 100-token vocabulary is not CLIP's tokenizer
    photo = Image.fromarray(data.astronaut())
    expected = open_clip.image_transform(32, is_train=False, mean=mean, std=std)(photo)
    found = prepare["image"](photo)
    assert found.shape == expected.shape == (3, 32, 32)
    # torchvision v2 resizes the uint8 tensor, open_clip the PIL image: a few intensity levels apart.
    torch.testing.assert_close(found, expected, atol=4 / 255 / min(std), rtol=0)
    defaults = from_open_clip(theirs.state_dict(), quick_gelu=True).transforms()["image"]
    assert (defaults.mean, defaults.std) == (open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD)
