"""Detection and segmentation on any backbone: torchvision parity, training steps, clear errors."""

from __future__ import annotations

import pytest
import torch

import torchgraft.core as tg

FAMILIES = ["resnet18", "mobilenet_v3_small", "efficientnet_b0"]


def test_fasterrcnn_resnet50_fpn_matches_torchvision_layout_and_outputs(tmp_path):
    import hashlib

    from torchvision.models import resnet50
    from torchvision.models.detection import FasterRCNN as TVFasterRCNN
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops import FrozenBatchNorm2d

    torch.manual_seed(0)
    # What torchvision builds for its COCO checkpoint: frozen batch norm, 3 trainable layers.
    ref = TVFasterRCNN(
        _resnet_fpn_extractor(resnet50(norm_layer=FrozenBatchNorm2d), 3), 91, min_size=320, max_size=480
    ).eval()
    path = tmp_path / "coco_layout.pth"
    torch.save(ref.state_dict(), path)  # a checkpoint in the COCO weights' layout
    coco = tg.get_model_weights("fasterrcnn_resnet50_fpn").COCO_V1
    mine = tg.Weights(url=path.as_uri(), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), meta=dict(coco.meta))
    ours = tg.get_model("fasterrcnn_resnet50_fpn", weights=mine, min_size=320, max_size=480).eval()
    assert list(ours.state_dict()) == list(ref.state_dict())
    trainable = {
        n.split(".")[2] for n, p in ours.named_parameters() if p.requires_grad and n.startswith("backbone.body.")
    }
    assert trainable == {"layer2", "layer3", "layer4"}
    images = [torch.rand(3, 300, 400), torch.rand(3, 240, 200)]
    with torch.no_grad():
        expected, found = ref(images), ours(images)
    for e, f in zip(expected, found, strict=True):
        assert torch.equal(e["labels"], f["labels"])
        torch.testing.assert_close(f["boxes"], e["boxes"], atol=1e-4, rtol=0)
        torch.testing.assert_close(f["scores"], e["scores"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["deeplabv3_resnet50", "fcn_resnet50"])
def test_segmentation_matches_torchvision(name):
    import torchvision.models.segmentation as tvs

    torch.manual_seed(0)
    ref = getattr(tvs, name)(weights=None, weights_backbone=None, aux_loss=True).eval()
    ours = tg.get_model(name, aux_loss=True).eval()
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        expected, found = ref(x), ours(x)
    for key in ("out", "aux"):
        torch.testing.assert_close(found[key], expected[key], atol=1e-5, rtol=0)


def _boxes_scene(n: int = 2) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    images, targets = [], []
    for i in range(n):
        image = torch.rand(3, 128, 128) * 0.1
        x1, y1 = 16 + 40 * i, 24
        image[:, y1 : y1 + 56, x1 : x1 + 40] = 0.9
        images.append(image)
        targets.append(
            {
                "boxes": torch.tensor([[x1, y1, x1 + 40, y1 + 56]], dtype=torch.float32),
                "labels": torch.tensor([1 + i % 2]),
            }
        )
    return images, targets


@pytest.mark.parametrize("backbone", FAMILIES)
def test_detection_trains_and_predicts_on_any_backbone(backbone):
    torch.manual_seed(0)
    model = tg.get_model(
        "fasterrcnn",
        backbone=backbone,
        num_classes=3,
        min_size=128,
        max_size=128,
        rpn_batch_size_per_image=64,
        box_batch_size_per_image=64,
    )
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    images, targets = _boxes_scene()
    model.train()
    losses = []
    for _ in range(10):
        loss_dict = model(images, targets)
        assert set(loss_dict) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
        loss = sum(loss_dict.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < sum(losses[:2]) / 2, losses
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2 and set(out[0]) == {"boxes", "labels", "scores"}
    assert out[0]["boxes"].shape[-1] == 4 and out[0]["labels"].dtype == torch.int64
    assert (out[0]["labels"] >= 1).all() and (out[0]["labels"] < 3).all()


@pytest.mark.parametrize("task", ["deeplabv3", "fcn"])
@pytest.mark.parametrize("backbone", FAMILIES)
def test_segmentation_trains_on_any_backbone(task, backbone):
    torch.manual_seed(0)
    model = tg.get_model(task, backbone=backbone, num_classes=3, aux_loss=True)
    x = torch.rand(2, 3, 64, 64)
    target = torch.zeros(2, 64, 64, dtype=torch.int64)
    target[:, 16:48, 16:48] = 1
    target[1, :8] = 2
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    losses = []
    for _ in range(6):
        out = model(x)
        loss = torch.nn.functional.cross_entropy(out["out"], target) + 0.5 * torch.nn.functional.cross_entropy(
            out["aux"], target
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses
    model.eval()
    with torch.no_grad():
        assert model(x)["out"].shape == (2, 3, 64, 64)


def test_backbone_without_spatial_stages_fails_at_build_naming_both():
    with pytest.raises(tg.IncompatibleHeadError, match="VisionTransformer produces sequence features"):
        tg.get_model("fasterrcnn", backbone=tg.get_model("vit_b_16", image_size=64), num_classes=3)
    with pytest.raises(tg.IncompatibleHeadError, match="DeepLabV3 needs a spatial backbone"):
        tg.get_model("deeplabv3", backbone=tg.get_model("vit_b_16", image_size=64), num_classes=3)


def test_bad_detection_inputs_are_refused_clearly():
    model = tg.get_model("fasterrcnn", backbone="resnet18", num_classes=3, min_size=64, max_size=64).train()
    images, targets = _boxes_scene()
    with pytest.raises(TypeError, match="list of"):
        model(torch.stack(images), targets)
    with pytest.raises(ValueError, match="one target dict per image"):
        model(images, targets[:1])
    bad = [{"boxes": torch.tensor([[10.0, 10.0, 5.0, 20.0]]), "labels": torch.tensor([1])}, targets[1]]
    with pytest.raises(ValueError, match=r"target 0: box 0 \[10.0, 10.0, 5.0, 20.0\] has no positive width"):
        model(images, bad)
    with pytest.raises(ValueError, match="float tensors"):
        model.eval()([torch.zeros(3, 32, 32, dtype=torch.uint8)])
