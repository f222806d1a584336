"""A dual encoder from two distributions released on their own, on real weights: the packaged
EfficientNet-Lite0 (torchgraft-vision) and all-MiniLM-L6-v2 (torchgraft-text), towers frozen,
fresh projections trained on a handful of photos with captions, then tested on photos it has
never seen (scikit-image's samples)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import torchgraft.core as tg

ROOT = Path(__file__).resolve().parents[1]
TRAIN = {  # photo -> captions written for it
    "cat": ["a cat", "a photo of a cat", "a kitten resting"],
    "coffee": ["a cup of coffee", "coffee in a cup", "an espresso"],
    "china": ["a temple with a tiled roof", "a chinese pagoda", "an old building"],
    "flower": ["a flower", "a close-up of a flower", "petals of a blossom"],
}
UNSEEN = {  # scikit-image photo -> the caption it should find among all of them
    "chelsea": "a tabby cat lying down",
    "coffee": "a hot drink in a mug",
}
DISTRACTORS = ["a pagoda in china", "a pink flower in bloom"]


def training_photos() -> dict[str, object]:
    from PIL import Image
    from sklearn.datasets import load_sample_image

    return {
        "cat": Image.open(ROOT / "examples" / "images" / "cat.jpg"),
        "coffee": Image.open(ROOT / "examples" / "images" / "coffee.jpg"),
        "china": Image.fromarray(load_sample_image("china.jpg")),
        "flower": Image.fromarray(load_sample_image("flower.jpg")),
    }


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return tg.dual_encoder(
        "efficientnet_lite0",
        "all_minilm_l6_v2",
        a_weights="DEFAULT",
        b_weights="DEFAULT",
        embed_dim=64,
        freeze=("image", "text"),
    )


@pytest.mark.slow
def test_two_packages_towers_learn_a_shared_space_that_generalises(model):
    from PIL import Image
    from skimage import data

    report = model.load_report
    assert report.fresh == ["logit_scale", "towers.image.proj.weight", "towers.text.proj.weight"]
    assert {
        report.sources["towers.image.backbone.features.0.0.weight"],
        report.sources["towers.text.backbone.layers.0.fc1.weight"],
    } == {
        "EfficientNet_Lite0_Weights.IMAGENET1K_TF_V1",
        "AllMiniLM_L6_V2_Weights.SENTENCE_PAIRS_1B_V2",
    }
    transforms = model.transforms()
    photos = transforms["image"](list(training_photos().values()))  # [4, 3, 224, 224]
    frozen = {k: v.clone() for k, v in model.state_dict().items() if ".backbone." in k}
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    model.train()
    losses = []
    for _ in range(40):
        picks = torch.randint(0, 3, (len(TRAIN),), generator=generator).tolist()
        captions = [TRAIN[name][i] for name, i in zip(TRAIN, picks, strict=True)]
        flipped = torch.where(torch.rand(len(TRAIN), 1, 1, 1, generator=generator) < 0.5, photos.flip(-1), photos)
        out = model({"image": flipped, "text": transforms["text"](captions)})
        loss = tg.contrastive_loss(out["image"], out["text"], out["logit_scale"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] / 2, losses
    assert all(torch.equal(frozen[k], v) for k, v in model.state_dict().items() if k in frozen)  # byte-identical

    # each tower reloads by its prefix from its own published entry, completely
    vision_weights = tg.get_model_weights("efficientnet_lite0").DEFAULT
    again = tg.load_weights(model, vision_weights, prefix="towers.image.backbone.", strict=False)
    assert again.complete and not again.unexpected and again.weights == "EfficientNet_Lite0_Weights.IMAGENET1K_TF_V1"

    # photos it has never seen find their captions among all four
    model.eval()
    captions = [*UNSEEN.values(), *DISTRACTORS]
    unseen = [Image.fromarray(getattr(data, name)()) for name in UNSEEN]
    with torch.no_grad():
        out = model({"image": transforms["image"](unseen), "text": transforms["text"](captions)})
    assert out["logits"].argmax(-1).tolist() == [0, 1], out["logits"].softmax(-1)
