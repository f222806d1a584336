"""Same state-dict layout and the same outputs as torchvision, with identical weights."""

from __future__ import annotations

import pytest
import torch
import torchvision.models as tvm

import torchgraft.core as tg
from torchgraft.core import Weights, init_empty

TORCHVISION_TWINS = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "wide_resnet50_2",
    *[f"efficientnet_b{i}" for i in range(8)],
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "vit_b_16",
]


@pytest.mark.parametrize("name", TORCHVISION_TWINS)
def test_state_dict_layout_equals_torchvision(name):
    with torch.device("meta"):
        ref = getattr(tvm, name)()
    with init_empty():
        ours = tg.get_model(name)
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    assert list(our_sd) == list(ref_sd)
    mismatched = [k for k in ref_sd if ref_sd[k].shape != our_sd[k].shape]
    assert not mismatched


@pytest.mark.parametrize(
    "name", ["resnet18", "resnet50", "resnext50_32x4d", "efficientnet_b0", "efficientnet_b1", "efficientnet_b5"]
)
def test_outputs_equal_torchvision_with_identical_weights(name):
    torch.manual_seed(0)
    ref = getattr(tvm, name)().eval()
    ours = tg.get_model(name).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=0)


def test_a_torchvision_checkpoint_loads_without_conversion(tmp_path):
    import hashlib

    torch.manual_seed(0)
    ref = tvm.resnet18(num_classes=10).eval()
    path = tmp_path / "tv_resnet18.pth"
    torch.save(ref.state_dict(), path)
    mine = Weights(
        url=path.as_uri(),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        meta={"categories": [str(i) for i in range(10)]},
    )
    model = tg.get_model("resnet18", weights=mine).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), atol=0, rtol=0)


def test_preprocessing_equals_torchvision_preset(photos):
    from PIL import Image
    from torchvision.transforms.v2.functional import pil_to_tensor

    ours = tg.get_model_weights("resnet50").IMAGENET1K_V2.transforms()
    ref = tvm.ResNet50_Weights.IMAGENET1K_V2.transforms()
    image = pil_to_tensor(Image.open(photos["cat"]).convert("RGB"))
    # transforms v2 resizes uint8 natively and v1 (torchvision's preset) through float: pixels may
    # differ by one intensity level, i.e. 1/255/std after normalisation.
    one_level = 1.0 / 255 / min(tvm.ResNet50_Weights.IMAGENET1K_V2.transforms().std) + 1e-6
    assert (ours(image) - ref(image)).abs().max() <= one_level


@pytest.mark.parametrize("name", [*TORCHVISION_TWINS, "fasterrcnn_resnet50_fpn", "deeplabv3_resnet50", "fcn_resnet50"])
def test_weights_catalog_equals_torchvisions_metadata(name):
    """The same files, with the metadata torchvision publishes for them (its ``_ops`` is our
    ``gflops``, its ``_file_size`` our ``approx_size_mb``)."""
    theirs = {w.url: w for w in tvm.get_model_weights(name)}
    for member in tg.get_model_weights(name):
        ours = member.value
        assert ours.url in theirs, f"{member}: {ours.url} is not one of torchvision's files"
        ref = theirs[ours.url].meta
        assert ours.num_params == ref["num_params"] and list(ours.meta["categories"]) == ref["categories"], member
        assert ours.meta["gflops"] == ref["_ops"] and ours.meta["approx_size_mb"] == ref["_file_size"], member
        assert tuple(ours.meta.get("min_size", ref["min_size"])) == tuple(ref["min_size"]), member
        assert ours.sha256 in ours.url.rsplit("/", 1)[1], member  # the prefix torchvision itself checks


def test_loading_into_a_model_built_against_the_checkpoints_config_is_refused():
    from torchgraft.vision.models import EfficientNet_Lite0_Weights, efficientnet_lite0

    with init_empty():
        plain = efficientnet_lite0()  # tf_padding=False: every tensor fits, the features would be wrong
    with pytest.raises(
        tg.ConfigConflictError, match="fixes tf_padding=True, but the model was built with tf_padding=False"
    ):
        tg.load_weights(plain, EfficientNet_Lite0_Weights.DEFAULT)
    with init_empty():
        right = efficientnet_lite0(tf_padding=True)
    assert (
        tg.load_weights(right, EfficientNet_Lite0_Weights.DEFAULT).weights
        == "EfficientNet_Lite0_Weights.IMAGENET1K_TF_V1"
    )
