"""CLIP against open_clip with identical weights: a random tiny CLIP built by open_clip (no
download; open_clip is a test-only reference), ported through the adapter, gives the same image
and text embeddings and logits, with QuickGELU and with GELU; the zero-shot head equals open_clip's
``build_zero_shot_classifier``; architectures are read from a checkpoint file's shapes."""

from __future__ import annotations

import pytest
import torch

import torchgraft.core as tg
from torchgraft.core.testing import count_params
from torchgraft.multimodal.models import ARCHITECTURES, from_open_clip, open_clip_to_torchgraft

VOCAB, CONTEXT, EOT = 100, 16, 99


def reference(quick_gelu: bool):
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(0)
    vision = CLIPVisionCfg(layers=2, width=128, head_width=64, patch_size=8, image_size=32)
    text = CLIPTextCfg(context_length=CONTEXT, vocab_size=VOCAB, width=128, heads=2, layers=2)
    return CLIP(embed_dim=32, vision_cfg=vision, text_cfg=text, quick_gelu=quick_gelu).eval()


def tokens(n: int = 3) -> torch.Tensor:
    """CLIP-style ids: start token, text, the end-of-text token (the highest id), zeros."""
    torch.manual_seed(1)
    ids = torch.zeros(n, CONTEXT, dtype=torch.long)
    for i, length in enumerate(range(5, 5 + 3 * n, 3)):
        ids[i, 0] = EOT - 1
        ids[i, 1 : length - 1] = torch.randint(1, EOT - 1, (length - 2,))
        ids[i, length - 1] = EOT
    return ids


@pytest.mark.parametrize("quick_gelu", [True, False])
def test_embeddings_and_logits_equal_open_clip(quick_gelu):
    theirs = reference(quick_gelu)
    mine = from_open_clip(theirs.state_dict(), quick_gelu=quick_gelu).eval()
    assert mine.load_report.complete and mine.logit_scale.shape == (1,)
    images, text = torch.rand(2, 3, 32, 32), tokens()
    with torch.no_grad():
        image_features, text_features, scale = theirs(images, text)
        out = mine({"image": images, "text": text})
    torch.testing.assert_close(out["image"], image_features, atol=1e-5, rtol=0)
    torch.testing.assert_close(out["text"], text_features, atol=1e-5, rtol=0)
    torch.testing.assert_close(out["logits"], scale * image_features @ text_features.T, atol=1e-4, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(
            mine.encode("image", images), theirs.encode_image(images, normalize=True), atol=1e-5, rtol=0
        )


def test_the_zero_shot_head_equals_open_clips():
    from open_clip.zero_shot_classifier import build_zero_shot_classifier

    theirs = reference(True)
    mine = from_open_clip(theirs.state_dict(), quick_gelu=True).eval()
    words = {w: i for i, w in enumerate(["a", "photo", "of", "the", "cat", "dog", "small", "big"], start=2)}

    def tokenize(texts):
        ids = torch.zeros(len(texts), CONTEXT, dtype=torch.long)
        for row, text in enumerate(texts):
            seq = [EOT - 1, *(words[w] for w in text.split()), EOT]
            ids[row, : len(seq)] = torch.tensor(seq)
        return ids

    classes, templates = ["cat", "dog"], ["a photo of the {}", "a small {}", "a big {}"]  # open_clip takes one kind
    expected = build_zero_shot_classifier(theirs, tokenize, classes, templates, device="cpu")  # [D, C]
    head = tg.zero_shot_classifier(mine, classes, templates, tokenize=tokenize)
    torch.testing.assert_close(head.weight, expected.T, atol=1e-5, rtol=0)
    images = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        logits = tg.compose(mine.towers["image"], head)(images)
        expected_logits = mine.logit_scale.exp() * theirs.encode_image(images, normalize=True) @ expected
    torch.testing.assert_close(logits, expected_logits, atol=1e-4, rtol=0)


def test_an_architecture_is_read_from_a_checkpoint_files_shapes(tmp_path):
    from safetensors.torch import save_file

    theirs = reference(True)
    path = tmp_path / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in theirs.state_dict().items()}, str(path))
    mine = from_open_clip(path, quick_gelu=True)
    assert (mine.cfg.image_size, mine.cfg.patch_size, mine.cfg.vision_layers, mine.cfg.text_width) == (32, 8, 2, 128)
    assert mine.load_report.complete
    with pytest.raises(tg.CorruptCheckpointError, match="not an open_clip CLIP checkpoint"):
        from_open_clip({"weight": torch.zeros(1)})


def test_the_published_architectures_have_open_clips_parameter_counts():
    import open_clip

    for name, config in (("clip_vit_b32", "ViT-B-32"), ("clip_vit_b16", "ViT-B-16")):
        with tg.init_empty():
            mine = tg.get_model(name)
        theirs = open_clip.create_model(config, pretrained=None)
        assert count_params(mine) == sum(p.numel() for p in theirs.parameters())
        assert set(open_clip_to_torchgraft(theirs.state_dict())) == set(mine.state_dict())
    assert ARCHITECTURES["clip_vit_l14"].embed_dim == 768


@pytest.fixture(scope="module")
def clip_tokenizer_file(tmp_path_factory):
    """CLIP's BPE in the tokenizers format the catalog's tokenizer.json has, made from open_clip's
    own vocabulary by transformers' CLIP tokenizer (both test-only references)."""
    import open_clip
    import transformers

    simple = open_clip.tokenizer.SimpleTokenizer()
    vocab = dict(simple.encoder)
    vocab["<|startoftext|>"] = vocab.pop(simple.decoder[simple.sot_token_id])
    vocab["<|endoftext|>"] = vocab.pop(simple.decoder[simple.eot_token_id])
    merges = [tuple(pair) for pair in sorted(simple.bpe_ranks, key=simple.bpe_ranks.get)]
    folder = tmp_path_factory.mktemp("clip-tokenizer")
    transformers.CLIPTokenizer(vocab=vocab, merges=merges).save_pretrained(folder)
    return folder / "tokenizer.json"


TEXTS = ["Hello, World!", "a photo of a Cat.", "Ünïcödé café naïve — 1984   spaces", "it's 3 o'clock", ""]


def test_clips_tokenizer_through_tokenizers_gives_open_clips_ids(clip_tokenizer_file):
    import open_clip

    from torchgraft.text.transforms import TextTransform

    # the TextTransform the catalog's CLIPTransforms builds from its tokenizer asset
    text = TextTransform(clip_tokenizer_file, 77, with_token_types=False, pad_token="<|endoftext|>")
    batch, expected = text(TEXTS), open_clip.tokenize(TEXTS)
    for row, mask, theirs in zip(batch["input_ids"], batch["attention_mask"], expected, strict=True):
        n = int(mask.sum())
        assert row[:n].tolist() == theirs[: int((theirs != 0).sum())].tolist()


def test_text_embeddings_from_strings_equal_open_clips(clip_tokenizer_file):
    import open_clip
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    from torchgraft.text.transforms import TextTransform

    torch.manual_seed(0)
    vision = CLIPVisionCfg(layers=1, width=64, head_width=64, patch_size=8, image_size=32)
    theirs = CLIP(embed_dim=32, vision_cfg=vision, text_cfg=CLIPTextCfg(width=128, heads=2, layers=2)).eval()
    mine = from_open_clip(theirs.state_dict(), quick_gelu=False).eval()
    text = TextTransform(clip_tokenizer_file, 77, with_token_types=False, pad_token="<|endoftext|>")
    with torch.no_grad():  # padded with the end-of-text token here, with zeros there: the same embeddings
        torch.testing.assert_close(
            mine.encode("text", text(TEXTS)),
            theirs.encode_text(open_clip.tokenize(TEXTS), normalize=True),
            atol=1e-5,
            rtol=0,
        )


@pytest.fixture(scope="module")
def clip_hub(tmp_path_factory, clip_tokenizer_file):
    """A random open_clip ViT-B-32 (GELU, as LAION's) saved as laion/CLIP-ViT-B-32-laion2B-s34B-b79K
    publishes it, and CLIP's tokenizer where the catalog's asset is."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(0)
    theirs = open_clip.create_model("ViT-B-32", pretrained=None).eval()
    root = tmp_path_factory.mktemp("hub")
    folder = root / "laion" / "CLIP-ViT-B-32-laion2B-s34B-b79K" / "resolve" / "main"
    folder.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in theirs.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    tokenizer = root / "openai" / "clip-vit-base-patch32" / "resolve" / "main"
    tokenizer.mkdir(parents=True)
    (tokenizer / "tokenizer.json").write_bytes(clip_tokenizer_file.read_bytes())
    return root, theirs


@pytest.fixture
def served_clip(clip_hub, tmp_path, monkeypatch):
    from torchgraft.core.hub import HUB
    from torchgraft.core.testing import serve_like_hub

    root, theirs = clip_hub
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "cache"))
    with serve_like_hub(root) as base:
        monkeypatch.setenv("TORCHGRAFT_MIRROR", f"{HUB}={base}/")
        yield theirs


@pytest.mark.slow
def test_a_catalog_entry_loads_from_where_the_hub_would_serve_it(served_clip):
    """The catalog's DEFAULT pins the served file, builds the right activation, and equals open_clip."""
    import open_clip

    from torchgraft.core.store import UnpinnedDownloadWarning
    from torchgraft.multimodal.models import CLIP_ViT_B_32_Weights

    theirs = served_clip
    with pytest.warns(UnpinnedDownloadWarning, match="open_clip_model.safetensors"):
        mine = tg.get_model("clip_vit_b32", weights="DEFAULT").eval()
    with pytest.warns(UnpinnedDownloadWarning, match="tokenizer.json"):
        prepare = mine.transforms()
    assert set(prepare) == {"image", "text"} and prepare["image"].interpolation == "bicubic"
    assert mine.load_report.weights == "CLIP_ViT_B_32_Weights.LAION2B_S34B_B79K" and mine.load_report.complete
    assert mine.cfg.quick_gelu is False and CLIP_ViT_B_32_Weights.OPENAI.meta["config"] == {"quick_gelu": True}
    images = torch.rand(2, 3, 224, 224)
    text = open_clip.tokenize(TEXTS[:2])
    with torch.no_grad():
        image_features, text_features, scale = theirs(images, text)
        out = mine({"image": images, "text": text})
        from_strings = mine.encode("text", prepare["text"](TEXTS))  # the entry's own text preprocessing
    torch.testing.assert_close(out["image"], image_features, atol=1e-5, rtol=0)
    torch.testing.assert_close(out["text"], text_features, atol=1e-5, rtol=0)
    torch.testing.assert_close(out["logits"], scale * image_features @ text_features.T, atol=1e-4, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(
            from_strings, theirs.encode_text(open_clip.tokenize(TEXTS), normalize=True), atol=1e-5, rtol=0
        )
    with pytest.raises(tg.ConfigConflictError, match="quick_gelu"):
        tg.load_weights(tg.get_model("clip_vit_b32", quick_gelu=True), CLIP_ViT_B_32_Weights.LAION2B_S34B_B79K)


@pytest.mark.slow
def test_zero_shot_command_gives_open_clips_probabilities(served_clip, capsys):
    import json
    import warnings
    from pathlib import Path

    import open_clip
    from open_clip.zero_shot_classifier import build_zero_shot_classifier

    from torchgraft.core.cli import main
    from torchgraft.multimodal.models import CLIP_ViT_B_32_Weights

    theirs = served_clip
    images = [
        str(Path(__file__).resolve().parents[3] / "examples" / "images" / name) for name in ("cat.jpg", "coffee.jpg")
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pins of first downloads
        assert main(["zero-shot", *images, "--labels", "a cat, a cup of coffee ,a plane", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "clip_vit_b32" and out["weights"] == "CLIP_ViT_B_32_Weights.LAION2B_S34B_B79K"
    templates = CLIP_ViT_B_32_Weights.DEFAULT.meta["prompt_templates"]
    labels = ["a cat", "a cup of coffee", "a plane"]
    weights = build_zero_shot_classifier(theirs, open_clip.tokenize, labels, templates, device="cpu")  # [D, 3]
    prepare = CLIP_ViT_B_32_Weights.DEFAULT.transforms()
    for result, path in zip(out["results"], images, strict=True):
        assert result["file"] == path and len(result["top"]) == 3
        with torch.no_grad():
            probs = (
                theirs.logit_scale.exp() * theirs.encode_image(prepare["image"](path)[None], normalize=True) @ weights
            ).softmax(-1)[0]
        got = {t["label"]: t["probability"] for t in result["top"]}
        assert [got[label] for label in labels] == pytest.approx(probs.tolist(), abs=1e-4)
        assert [t["probability"] for t in result["top"]] == sorted(got.values(), reverse=True)


def test_zero_shot_refuses_before_any_download(capsys, monkeypatch, tmp_path):
    from torchgraft.core.cli import main

    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")
    assert main(["zero-shot", "nope.jpg", "--labels", "a cat,a dog"]) == 1
    assert "no image file at nope.jpg" in capsys.readouterr().err
    assert main(["zero-shot", __file__, "--labels", "a cat"]) == 1
    assert "at least two comma-separated class names" in capsys.readouterr().err
    assert main(["zero-shot", __file__, "--labels", ",".join(f"class {i}" for i in range(10_000))]) == 1
    assert "names 10,000 classes; the command takes at most 1,000" in capsys.readouterr().err
    assert main(["zero-shot", __file__, "--labels", "a cat,a dog,a cat"]) == 1
    assert "'a cat' more than once" in capsys.readouterr().err
    assert main(["zero-shot", __file__, "--labels", "a,b", "--model", "efficientnet_lite0"]) == 1
    assert "not a zero-shot image-text model" in capsys.readouterr().err
    # A file that is not an image is refused from its bytes, not after the model (offline here).
    assert main(["zero-shot", __file__, "--labels", "a cat,a dog"]) == 1
    err = capsys.readouterr().err
    assert "is not an image Pillow can decode" in err and "OFFLINE" not in err, err
    assert not list((tmp_path / "cache").rglob("*.safetensors"))


def hf_reference(act: str):
    import transformers

    torch.manual_seed(0)
    text = {"vocab_size": VOCAB, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
            "max_position_embeddings": CONTEXT, "hidden_act": act, "eos_token_id": EOT, "bos_token_id": EOT - 1, "pad_token_id": 0}  # fmt: skip
    vision = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": 32,
              "patch_size": 8, "hidden_act": act}  # fmt: skip
    return transformers.CLIPModel(
        transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=32)
    ).eval()


@pytest.mark.parametrize("act", ["quick_gelu", "gelu"])
def test_a_transformers_clip_directory_imports_with_equal_outputs(act, tmp_path):
    from torchgraft.multimodal.models import from_huggingface

    theirs = hf_reference(act)
    theirs.save_pretrained(tmp_path)
    mine = from_huggingface(tmp_path).eval()
    assert mine.load_report.complete and mine.cfg.quick_gelu == (act == "quick_gelu")
    images, text = torch.rand(2, 3, 32, 32), tokens()
    with torch.no_grad():
        out = mine({"image": images, "text": text})
        expected = theirs(input_ids=text, pixel_values=images)
    torch.testing.assert_close(out["image"], expected.image_embeds, atol=1e-5, rtol=0)
    torch.testing.assert_close(out["text"], expected.text_embeds, atol=1e-5, rtol=0)
    torch.testing.assert_close(out["logits"], expected.logits_per_image, atol=1e-4, rtol=0)


def test_dual_encoder_over_ported_towers_equals_vision_text_dual_encoder_model():
    """transformers' VisionTextDualEncoderModel over a CLIP vision and a CLIP text model, with its
    projections and scale copied into core's dual_encoder over the same towers, ported."""
    import transformers

    from torchgraft.multimodal.models import CLIPConfig, build_clip, huggingface_to_torchgraft

    reference_clip = hf_reference("gelu")
    reference = transformers.VisionTextDualEncoderModel(
        vision_model=reference_clip.vision_model, text_model=reference_clip.text_model
    ).eval()
    state = {k: v for k, v in reference_clip.state_dict().items() if not k.endswith("_projection.weight")}
    state |= {
        "visual_projection.weight": reference.visual_projection.weight,
        "text_projection.weight": reference.text_projection.weight,
    }
    state["logit_scale"] = reference.logit_scale
    ported = huggingface_to_torchgraft(state)
    mine = build_clip(CLIPConfig(
        embed_dim=reference.projection_dim, image_size=32, patch_size=8, vision_width=64, vision_layers=2, vision_heads=2,
        context_length=CONTEXT, vocab_size=VOCAB, text_width=64, text_heads=2, text_layers=2, vision_mlp_ratio=2.0,
        text_mlp_ratio=2.0,
    )).eval()  # fmt: skip
    assert tg.load_weights(mine, ported).complete
    images, text = torch.rand(3, 3, 32, 32), tokens(2)
    with torch.no_grad():
        expected = reference(input_ids=text, pixel_values=images)
        out = mine({"image": images, "text": text})
    torch.testing.assert_close(out["logits"], expected.logits_per_image, atol=1e-4, rtol=0)


@pytest.mark.parametrize("prefix", ["visual.transformer.resblocks.", "transformer.resblocks."])
def test_one_stray_block_key_is_refused_before_anything_is_built(prefix):
    """One key naming block 100000 once made a config of 100001 blocks (half an hour, 33 GB)."""
    import time

    state = dict(reference(True).state_dict())
    state[f"{prefix}100000.ln_1.weight"] = torch.zeros(128)
    start = time.monotonic()
    with pytest.raises(tg.CorruptCheckpointError, match=rf"{prefix}1 and then jump to {prefix}100000"):
        from_open_clip(state, quick_gelu=True)
    assert time.monotonic() - start < 30


@pytest.mark.parametrize(
    ("tower", "field", "value"),
    [
        ("vision_config", "num_hidden_layers", 10**6),
        ("text_config", "vocab_size", 10**12),
        ("text_config", "num_hidden_layers", 3),
    ],
)
def test_a_transformers_config_that_disagrees_with_its_checkpoint_is_refused_first(tower, field, value, tmp_path):
    import json

    from torchgraft.multimodal.models import from_huggingface

    hf_reference("quick_gelu").save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config[tower][field] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(tg.ConfigMismatchError, match=rf"config.json: .*({value:,}|{value})"):
        from_huggingface(tmp_path)
    config[tower] = "not an object"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(tg.CorruptCheckpointError, match="config.json has a field of the wrong kind"):
        from_huggingface(tmp_path)
