"""``torchgraft classify`` (the vision package's CLI plugin)."""

from __future__ import annotations

import json

from torchgraft.core.cli import main


def test_classify_json_names_what_a_person_sees(photos, capsys):
    code = main(["classify", str(photos["cat"]), str(photos["coffee"]), "--top", "3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["model"] == "efficientnet_lite0" and out["weights"] == "EfficientNet_Lite0_Weights.IMAGENET1K_TF_V1"
    cat, coffee = out["results"]
    assert cat["file"] == str(photos["cat"]) and len(cat["top"]) == 3
    assert cat["top"][0]["label"] in {"tiger cat", "tabby", "Egyptian cat"}
    assert coffee["top"][0] == {"index": 967, "label": "espresso", "probability": coffee["top"][0]["probability"]}
    probabilities = [t["probability"] for t in cat["top"]]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1


def test_classify_text_output(photos, capsys):
    assert main(["classify", str(photos["coffee"]), "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "espresso" in out and "%" in out


def test_classify_errors_are_one_line_and_non_zero(photos, capsys):
    assert main(["classify", "/no/such.jpg"]) == 1
    assert "no image file at /no/such.jpg" in capsys.readouterr().err
    assert main(["classify", str(photos["cat"]), "--weights", "IMAGENET1K_V9"]) == 1
    assert "did you mean" in capsys.readouterr().err
    assert main(["classify", str(photos["cat"]), "--top", "0"]) == 1


def test_every_weights_name_form_works_in_classify_and_info(photos, capsys):
    forms = [
        "IMAGENET1K_TF_V1",
        "default",
        "efficientnet_lite0.IMAGENET1K_TF_V1",
        "EfficientNet_Lite0_Weights.IMAGENET1K_TF_V1",
        "EfficientNet_Lite0_Weights.DEFAULT",
    ]
    for form in forms:
        assert main(["classify", str(photos["coffee"]), "--top", "1", "--weights", form, "--json"]) == 0, form
        out = json.loads(capsys.readouterr().out)
        assert out["weights"] == "EfficientNet_Lite0_Weights.IMAGENET1K_TF_V1", form
        assert out["results"][0]["top"][0]["label"] == "espresso"
    for target in ("efficientnet_lite0.IMAGENET1K_TF_V1", "EfficientNet_Lite0_Weights.IMAGENET1K_TF_V1"):
        assert main(["info", target, "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        assert info["model"] == "efficientnet_lite0"
        assert [w["name"] for w in info["weights"]] == ["EfficientNet_Lite0_Weights.IMAGENET1K_TF_V1"]
    assert main(["classify", str(photos["cat"]), "--model", "resnet50", "--weights", "efficientnet_lite0.DEFAULT"]) == 2
    assert "belongs to efficientnet_lite0, not to --model resnet50" in capsys.readouterr().err
