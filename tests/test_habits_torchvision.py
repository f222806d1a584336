"""What torchvision users type first, as they type it (issue 22): each works here, or the error names
exactly what to write instead."""

from __future__ import annotations

import pytest

import torchgraft.core as tg
import torchgraft.text.models
import torchgraft.vision.models


def test_list_models_takes_a_models_module_as_torchvision_does():
    assert tg.list_models(module=torchgraft.vision.models) == tg.list_models(domain="vision")
    assert tg.list_models(module="torchgraft.text.models") == tg.list_models(domain="text")
    assert tg.list_models("resnet*", module=torchgraft.vision.models)[:2] == ["resnet101", "resnet152"]
    with pytest.raises(TypeError, match="module= takes a module or its name; found int"):
        tg.list_models(module=3)


def test_get_model_weights_takes_the_builder_itself():
    from torchgraft.vision.models import ResNet50_Weights, resnet50

    assert tg.get_model_weights(resnet50) is ResNet50_Weights
    assert tg.get_model_weights("resnet50") is ResNet50_Weights
    with pytest.raises(tg.UnknownModelError, match="is not a registered builder"):
        tg.get_model_weights(print)


def test_a_text_classifier_by_name_alone_has_two_labels_as_transformers_default():
    for name in ("text_classifier", "token_classifier"):
        model = tg.get_model(name, backbone="bert_base", backbone_config={"num_layers": 1})
        assert model.head.fc.out_features == 2


def test_your_own_checkpoint_by_path_loads_with_its_report(tmp_path, monkeypatch):
    from safetensors.torch import save_model

    from torchgraft.vision.models import resnet18

    monkeypatch.chdir(tmp_path)
    trained = resnet18(num_classes=3)
    save_model(trained, "clf.safetensors")
    model = tg.get_model("resnet18", weights="clf.safetensors", num_classes=3)
    assert model.load_report.complete and model.load_report.source.endswith("/clf.safetensors")
    with pytest.raises(tg.WeightsSourceError, match="no checkpoint file at .*missing.safetensors"):
        tg.get_model("resnet18", weights="missing.safetensors")


def test_weights_as_the_store_docs_write_them_and_a_bare_path():
    from pathlib import Path

    entry = tg.Weights(url="https://example.org/model.safetensors", sha256="ab" * 32)  # no meta needed
    assert entry.num_params is None and entry.format == "safetensors"
    checkpoint = Path(__file__)  # any existing file: a path becomes its file:// URL
    local = tg.Weights(url=str(checkpoint), format="pth")
    assert local.url == checkpoint.resolve().as_uri()
    with pytest.raises(ValueError, match="or be the path of an existing file; found 'nowhere.safetensors'"):
        tg.Weights(url="nowhere.safetensors")


def test_transforms_take_float_tensors_in_0_1_and_batches_as_torchvisions_do():
    import torch
    import torchvision

    from torchgraft.vision.models import ResNet18_Weights

    ours, theirs = ResNet18_Weights.DEFAULT.transforms(), torchvision.models.ResNet18_Weights.DEFAULT.transforms()
    torch.manual_seed(0)
    image = torch.rand(3, 300, 400)
    torch.testing.assert_close(ours(image), theirs(image), atol=1e-6, rtol=0)
    batch = torch.stack([image, image.flip(-1)])
    torch.testing.assert_close(ours(batch), theirs(batch), atol=1e-6, rtol=0)
    assert ours(batch).shape == (2, 3, 224, 224)
    gray = torch.rand(2, 1, 64, 64)  # one channel is repeated to three, batched or not
    assert ours(gray).shape == (2, 3, 224, 224)
    with pytest.raises(ValueError, match=r"read in \[0, 1\].*found values in \[0.*, 25\d\]: divide by 255"):
        ours(image * 255)


def test_a_torchvision_weights_member_passed_by_mistake_loads_the_same_file_or_is_named():
    import torchvision

    from torchgraft.vision.models import EfficientNet_Lite0_Weights, ResNet50_Weights, resnet50

    theirs = torchvision.models.ResNet50_Weights.DEFAULT
    assert ResNet50_Weights.verify(theirs) is ResNet50_Weights.IMAGENET1K_V2  # the same file, resnet50-11ad3fa6.pth
    with tg.architecture_only():  # nothing fetched: the entry the build would load
        model = resnet50(weights=theirs)
    assert model.fc.out_features == 1000
    with pytest.raises(tg.WeightsMismatchError, match="is torchvision's weights member, not torchgraft's"):
        EfficientNet_Lite0_Weights.verify(theirs)
