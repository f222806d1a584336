"""Cross-domain composition in core, on toy backbones of two kinds (spatial and sequence) and no
domain package: embeddings pooled as classifier() pools, dual encoders with frozen towers that
reload by prefix, CLIP's and SigLIP's losses (across ranks too), zero-shot heads, and fusion
with every missing-input policy."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from torchgraft.core import (
    ClassifierHead,
    IncompatibleHeadError,
    MissingInputError,
    TorchgraftDeprecationWarning,
    Weights,
    build_model,
    classifier,
    compose,
    contrastive_loss,
    dual_encoder,
    fuse,
    load_weights,
    zero_shot_classifier,
)
from torchgraft.core.compose import Composite, Head
from torchgraft.core.towers import Embedder


@pytest.fixture
def batch(image, tokens):
    return {"image": image, "text": tokens}


def test_an_embedder_pools_as_classifier_pools_and_normalises(conv_net, encoder, image, tokens):
    torch.manual_seed(0)
    net = conv_net()
    emb = Embedder(net, proj=None, normalize=False)
    feats = net.forward_features(image).last
    torch.testing.assert_close(emb(image), feats.mean(dim=(2, 3)))
    text = Embedder(encoder(), embed_dim=8)
    out = text(*tokens)
    assert out.shape == (2, 8) and torch.allclose(out.norm(dim=-1), torch.ones(2))
    assert text.proj.bias is None  # CLIP's projections have no bias
    changed = tokens[0].clone()
    changed[1, 4:] = (changed[1, 4:] + 1) % 50  # only padding changes: the masked mean ignores it
    torch.testing.assert_close(text(changed, tokens[1]), out)
    assert Embedder(encoder(), embed_dim=8, proj="mlp")(*tokens).shape == (2, 8)
    assert classifier(text, num_classes=3)(*tokens).shape == (2, 3)  # an embedder is a backbone too


def test_an_embedder_refuses_what_it_cannot_do(conv_net, encoder):
    with pytest.raises(IncompatibleHeadError, match=r"Embedder\(pooling='first'\) cannot read TinyConvNet"):
        Embedder(conv_net(), pooling="first")
    with pytest.raises(ValueError, match="proj must be one of"):
        Embedder(conv_net(), embed_dim=4, proj="conv")
    with pytest.raises(ValueError, match="keeps the backbone's width 16"):
        Embedder(conv_net(), embed_dim=4, proj=None)
    trained = classifier(encoder(), num_classes=3)
    with pytest.raises(IncompatibleHeadError, match="pass its .backbone"):
        Embedder(trained)

    class Mean(Head):
        def check(self, spec, backbone_name="backbone"):
            pass

        def forward(self, features):
            return features.last.mean(1)

    sentence_model = Composite(encoder(), Mean())
    assert Embedder(sentence_model).backbone is sentence_model.backbone


def saved_weights(tmp_path, model: nn.Module, name: str) -> Weights:
    from safetensors.torch import save_model

    path = tmp_path / f"{name}.safetensors"
    save_model(model, str(path))
    return Weights(url=path.as_uri(), sha256=None, meta={})


@pytest.fixture
def towers(tmp_path, conv_net, encoder):
    """An image and a text backbone built from checkpoints on disk (each with its load report)."""
    torch.manual_seed(0)
    image_weights, text_weights = (
        saved_weights(tmp_path, conv_net(), "image"),
        saved_weights(tmp_path, encoder(), "text"),
    )
    image = build_model(conv_net, weights=image_weights)
    text = build_model(encoder, weights=text_weights)
    return image, text, image_weights, text_weights


def test_a_dual_encoder_embeds_two_domains_into_one_space(towers, batch):
    image, text, image_weights, _ = towers
    model = dual_encoder(image, text, embed_dim=8)
    out = model({"image": batch["image"], "text": batch["text"]})
    assert out["image"].shape == out["text"].shape == (2, 8) and out["logits"].shape == (2, 2)
    torch.testing.assert_close(out["logits"], out["logit_scale"] * out["image"] @ out["text"].T)
    assert math.isclose(float(out["logit_scale"].detach()), 1 / 0.07, rel_tol=1e-6)
    assert all(p.dim() > 0 for p in model.parameters())  # FSDP2 shards every parameter
    keys = model.state_dict().keys()
    assert "towers.image.backbone.stem.0.weight" in keys and "towers.text.proj.weight" in keys
    torch.testing.assert_close(model.encode("text", batch["text"]), out["text"])
    report = model.load_report
    assert report.fresh == ["logit_scale", "towers.image.proj.weight", "towers.text.proj.weight"]
    assert report.sources["towers.image.backbone.stem.0.weight"] == image_weights.url
    # each tower's own checkpoint loads by its prefix, completely
    again = load_weights(model, image_weights.fetch(), prefix="towers.image.backbone.", strict=False)
    assert not again.unexpected and sorted(again.loaded) == sorted(
        k for k in keys if k.startswith("towers.image.backbone.")
    )


def test_frozen_towers_stay_byte_identical_while_the_rest_trains(towers, batch):
    image, text, _, _ = towers
    model = dual_encoder(image, text, embed_dim=8, freeze=("image", "text"), logit_bias=-10.0).train()
    assert not model.towers["image"].backbone.training and model.towers["image"].proj.training
    frozen = {k: v.clone() for k, v in model.state_dict().items() if ".backbone." in k}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert {id(p) for p in trainable} == {id(p) for n, p in model.named_parameters() if ".backbone." not in n}
    optimizer = torch.optim.SGD(trainable, lr=0.5)
    start = None
    for _ in range(20):
        out = model(batch)
        loss = contrastive_loss(out["image"], out["text"], out["logit_scale"], out["logit_bias"])
        start = float(loss.detach()) if start is None else start
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < start / 2
    assert all(torch.equal(frozen[k], v) for k, v in model.state_dict().items() if k in frozen)
    with pytest.raises(ValueError, match="freeze names towers"):
        dual_encoder(image, text, embed_dim=8, freeze=("audio",))


def test_clip_and_siglip_losses_are_the_published_formulas():
    torch.manual_seed(0)
    a, b = F.normalize(torch.randn(4, 6), dim=-1), F.normalize(torch.randn(4, 6), dim=-1)
    scale = torch.tensor([10.0])
    logits = scale * a @ b.T
    labels = torch.arange(4)
    clip = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    torch.testing.assert_close(contrastive_loss(a, b, scale), clip)
    bias = torch.tensor([-2.0])
    signs = 2 * torch.eye(4) - 1
    siglip = -F.logsigmoid(signs * (logits + bias)).sum() / 4
    torch.testing.assert_close(contrastive_loss(a, b, scale, bias), siglip)
    assert contrastive_loss(a, a, scale) < contrastive_loss(a, b, scale)  # aligned pairs cost less
    torch.testing.assert_close(contrastive_loss(a, b, scale, gather=True), clip)  # no process group: local
    with pytest.raises(ValueError, match="paired embeddings of one shape"):
        contrastive_loss(a, b[:3], scale)


WORKER = """
import json, sys
import torch, torch.distributed as dist, torch.nn.functional as F
from torchgraft.core import contrastive_loss

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
a, b = torch.randn(8, 6, requires_grad=True), torch.randn(8, 6, requires_grad=True)
rows = slice(rank * 4, rank * 4 + 4)
loss = contrastive_loss(F.normalize(a[rows], dim=-1), F.normalize(b[rows], dim=-1), torch.tensor([5.0]), gather=True)
loss.backward()
with open(f"{sys.argv[1]}/rank{rank}.json", "w") as fh:
    json.dump({"loss": float(loss.detach()), "grad": a.grad.tolist()}, fh)
dist.destroy_process_group()
"""


@pytest.mark.multiprocess
def test_the_gathered_loss_scores_every_rank_against_the_global_batch(tmp_path):
    """Two gloo ranks under torchrun, half the batch each: their mean loss is the single-process
    loss of the whole batch, and each rank's rows get the whole loss's gradient."""
    import json

    from torchgraft.core.testing import torchrun

    (tmp_path / "worker.py").write_text(WORKER)
    torchrun(str(tmp_path / "worker.py"), str(tmp_path), nproc=2)
    got = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    torch.manual_seed(0)
    a, b = torch.randn(8, 6, requires_grad=True), torch.randn(8, 6, requires_grad=True)
    whole = contrastive_loss(F.normalize(a, dim=-1), F.normalize(b, dim=-1), torch.tensor([5.0]))
    whole.backward()
    assert math.isclose((got[0]["loss"] + got[1]["loss"]) / 2, float(whole.detach()), rel_tol=1e-5)
    for rank, result in enumerate(got):  # every rank's loss reaches these rows: world size times the gradient
        rows = slice(rank * 4, rank * 4 + 4)
        torch.testing.assert_close(torch.tensor(result["grad"])[rows], 2 * a.grad[rows], atol=1e-6, rtol=1e-4)


def test_a_zero_shot_head_averages_each_class_prompts(towers, image):
    image_net, text_net, _, _ = towers
    model = dual_encoder(image_net, text_net, embed_dim=8)
    vocabulary = {w: i for i, w in enumerate(["a", "photo", "of", "cat", "dog", "small", "big"], start=1)}

    def tokenize(texts):  # right-padded with 0
        rows = [[vocabulary[w] for w in t.split()] for t in texts]
        ids = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        return {"input_ids": ids, "attention_mask": (ids != 0).long()}

    templates = ["a photo of {}", "a small {}", lambda c: f"a big {c}"]
    head = zero_shot_classifier(model, ["cat", "dog"], templates, tokenize=tokenize)
    with torch.no_grad():
        cat = F.normalize(model.encode("text", tokenize(["a photo of cat", "a small cat", "a big cat"])), dim=-1).mean(
            0
        )
    torch.testing.assert_close(head.weight[0], F.normalize(cat, dim=0))
    zero_shot = compose(model.towers["image"], head)
    logits = zero_shot(image)
    assert logits.shape == (2, 2) and not list(head.parameters())
    with torch.no_grad():
        expected = model.logit_scale.exp() * model.encode("image", image) @ head.weight.T
    torch.testing.assert_close(logits, expected)
    with pytest.raises(ValueError, match="no preprocessing of its own: pass tokenize="):
        zero_shot_classifier(model, ["cat"], ["a {}"])


@pytest.mark.parametrize("fusion", ["concat", "sum", "attention", "module"])
def test_fusion_of_two_domains_trains_under_one_head(conv_net, encoder, batch, fusion):
    class Gate(nn.Module):
        out_features = 8

        def forward(self, embedded):
            return embedded["image"] * torch.sigmoid(embedded["text"])

    width = 16 if fusion == "concat" else 8
    model = fuse(
        {"image": conv_net(), "text": encoder()},
        ClassifierHead(width, 3, pooling="none"),
        fusion=Gate() if fusion == "module" else fusion,
        embed_dim=8,
    )
    logits = model(batch)
    assert logits.shape == (2, 3)
    logits.square().mean().backward()
    # every parameter learns but the toy conv net's own classifier, which it cannot drop (no reset_classifier)
    missing = [
        n for n, p in model.named_parameters() if p.grad is None and not n.startswith("towers.image.backbone.fc.")
    ]
    assert not missing
    keys = model.state_dict().keys()
    assert any(k.startswith("towers.text.backbone.") for k in keys) and "head.fc.weight" in keys


def test_a_missing_input_follows_its_policy(conv_net, encoder, batch):
    def model(missing):
        torch.manual_seed(0)
        return fuse({"image": conv_net(), "text": encoder()}, ClassifierHead(32, 3, pooling="none"), missing=missing)

    with pytest.raises(MissingInputError, match="input 'text' is missing"):
        model("error")({"image": batch["image"]})
    zeros = model("zeros")
    assert zeros({"image": batch["image"]}).shape == (2, 3)
    learned = model("learned")
    learned({"image": batch["image"]}).sum().backward()
    assert learned.stand_ins["text"].grad is not None and learned.stand_ins["image"].grad is None
    with pytest.raises(KeyError, match="expected inputs among"):
        zeros({"audio": batch["image"]})


def test_fusion_refuses_what_does_not_fit(conv_net, encoder):
    with pytest.raises(IncompatibleHeadError, match="one width for every encoder"):
        fuse({"image": conv_net(width=4), "text": encoder()}, ClassifierHead(8, 3, pooling="none"), fusion="sum")
    with pytest.raises(IncompatibleHeadError, match="expects 5 input features"):
        fuse({"image": conv_net(), "text": encoder()}, ClassifierHead(5, 3, pooling="none"))
    with pytest.raises(ValueError, match="missing must be one of"):
        fuse({"image": conv_net()}, ClassifierHead(16, 3, pooling="none"), missing="ignore")
    with pytest.raises(KeyError, match="encoders_weights/encoders_config name encoders"):
        fuse({"image": conv_net()}, ClassifierHead(16, 3, pooling="none"), encoders_weights={"text": "DEFAULT"})
    with pytest.raises(TypeError, match=r"encoders_weights\['image'\] and encoders_config\['image'\] apply only"):
        fuse({"image": conv_net()}, ClassifierHead(16, 3, pooling="none"), encoders_weights={"image": "DEFAULT"})


def test_fusions_old_spellings_warn_once_and_still_work(conv_net):
    with (
        pytest.warns(
            TorchgraftDeprecationWarning, match=r"fuse\(weights=...\) is deprecated: write fuse\(encoders_weights"
        ),
        pytest.raises(KeyError, match="weights/configs name encoders"),
    ):
        fuse({"image": conv_net()}, ClassifierHead(16, 3, pooling="none"), weights={"text": "DEFAULT"})
    with pytest.raises(TypeError, match="got both configs= and encoders_config="):
        fuse({"image": conv_net()}, ClassifierHead(16, 3, pooling="none"), configs={}, encoders_config={})


def test_a_backbone_breaking_the_contract_at_run_time_gets_the_contracts_error(conv_net, image):
    from torchgraft.core import BackboneContractError, Features

    class Bare(conv_net):
        def forward_features(self, x):
            return super().forward_features(x).last  # a tensor, not Features

    class Narrow(conv_net):
        def forward_features(self, x):
            features = super().forward_features(x)
            return Features(last=features.last[:, :4])  # 4 channels; the spec says 16

    with pytest.raises(
        BackboneContractError, match=r"Bare.forward_features returned a Tensor; .* Features\(last=tensor\)"
    ):
        Embedder(Bare(), embed_dim=4)(image)
    with pytest.raises(BackboneContractError, match="gives features of width 4 .* feature_spec declares width=16"):
        classifier(Narrow(), 3)(image)
