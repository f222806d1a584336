"""Every task head on every text encoder: builds, trains, and loads encoder-only weights."""

from __future__ import annotations

import hashlib

import pytest
import torch
import torch.nn.functional as F

import torchgraft.core as tg

TINY = {
    "vocab_size": 120,
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 4,
    "intermediate_size": 64,
    "max_positions": 66,
    "dropout": 0.0,
}
ENCODERS = {
    "bert_base": TINY,
    "roberta_base": {**TINY, "pad_token_id": 1, "type_vocab_size": 1},
    "xlm_roberta_base": {**TINY, "pad_token_id": 1, "type_vocab_size": 1},
}


def batch(pad: int):
    torch.manual_seed(0)
    ids = torch.randint(3, 120, (4, 9))
    mask = torch.ones_like(ids)
    ids[2:, 6:] = pad
    mask[2:, 6:] = 0
    return ids, mask


def loss_of(task: str, out, ids, mask):
    if task == "text_classifier":
        return F.cross_entropy(out, torch.tensor([0, 1, 2, 0]))
    if task == "token_classifier":
        return F.cross_entropy(out[mask.bool()], (ids[mask.bool()] % 3))
    if task == "question_answering":
        return F.cross_entropy(out["start_logits"], torch.tensor([1, 2, 3, 4])) + F.cross_entropy(
            out["end_logits"], torch.tensor([2, 3, 4, 5])
        )
    if task == "masked_lm":
        return F.cross_entropy(out[mask.bool()], ids[mask.bool()])
    return (1 - (out[0] * out[1]).sum()) + (out[2] * out[3]).sum()  # pull 0-1 together, push 2-3 apart


TASK_ARGS = {
    "text_classifier": {"num_classes": 3},
    "token_classifier": {"num_classes": 3},
    "question_answering": {},
    "masked_lm": {},
    "sentence_embedder": {},
}


@pytest.mark.parametrize("encoder", list(ENCODERS))
@pytest.mark.parametrize("task", list(TASK_ARGS))
def test_task_trains_on_any_encoder(task, encoder):
    torch.manual_seed(0)
    model = tg.get_model(task, backbone=encoder, backbone_config=ENCODERS[encoder], **TASK_ARGS[task])
    ids, mask = batch(pad=ENCODERS[encoder].get("pad_token_id", 0))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        loss = loss_of(task, model(ids, mask), ids, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses


def test_encoder_weights_stored_once_load_into_every_task(tmp_path):
    from safetensors.torch import save_model

    torch.manual_seed(0)
    encoder = tg.get_model("bert_base", **TINY)
    path = tmp_path / "encoder.safetensors"
    save_model(encoder, str(path))
    mine = tg.Weights(url=path.as_uri(), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), meta={}, role="backbone")
    for task, args in TASK_ARGS.items():
        with tg.init_empty():
            model = tg.get_model(task, backbone="bert_base", backbone_config=TINY, **args)
        report = tg.load_weights(model, mine)
        assert not report.unexpected and all(k.startswith("head.") for k in report.fresh), (task, report)
        torch.testing.assert_close(model.backbone.layers[0].attn.qkv.weight, encoder.layers[0].attn.qkv.weight)
    assert report.fresh == []  # the sentence head has no parameters at all
    with tg.init_empty():
        mlm = tg.get_model("masked_lm", backbone="bert_base", backbone_config=TINY)
    report = tg.load_weights(mlm, mine)
    assert "head.decoder.weight" in report.loaded and mlm.head.decoder.weight is mlm.backbone.embeddings.word.weight
    assert report.fresh == ["head.bias", "head.dense.bias", "head.dense.weight", "head.norm.bias", "head.norm.weight"]


def test_heads_refuse_backbones_that_do_not_fit():
    vision_like = tg.get_model("minilm_l6_h384", **TINY)
    vision_like.feature_spec = tg.FeatureSpec(kind="pooled", width=32)
    with pytest.raises(tg.IncompatibleHeadError, match="needs a sequence backbone"):
        tg.get_model("token_classifier", backbone=vision_like, num_classes=2)
    with pytest.raises(TypeError, match="only when backbone is a model name; found a TextEncoder"):
        tg.get_model("question_answering", backbone=tg.get_model("bert_base", **TINY), backbone_weights="DEFAULT")


def test_qa_logits_never_point_into_padding():
    model = tg.get_model("question_answering", backbone="bert_base", backbone_config=TINY).eval()
    ids, mask = batch(pad=0)
    out = model(ids, mask)
    assert (out["start_logits"][2:, 6:] < -1e30).all() and out["start_logits"].argmax(-1)[2:].max() < 6


def test_masked_lm_takes_the_pretrained_head_of_a_roberta_checkpoint(tmp_path):
    """RoBERTa layout (``roberta.`` + ``lm_head.``), through the user's own Weights of the file."""
    import transformers
    from safetensors.torch import save_file

    config = transformers.RobertaConfig(
        vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=40, type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5,
    )  # fmt: skip
    torch.manual_seed(0)
    reference = transformers.RobertaForMaskedLM(config).eval()
    state = {k: v.contiguous() for k, v in reference.state_dict().items() if not k.startswith("lm_head.decoder.")}
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    mine = tg.Weights(url=path.as_uri(), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), meta={})
    encoder_config = {
        "vocab_size": 120, "hidden_size": 32, "num_layers": 2, "num_heads": 4, "intermediate_size": 64,
        "max_positions": 40,
    }  # fmt: skip
    model = tg.get_model("masked_lm", backbone="roberta_base", backbone_weights=mine, backbone_config=encoder_config)
    ids = torch.tensor([[0, 5, 6, 7, 2, 1, 1], [0, 9, 10, 11, 12, 13, 2]])
    mask = ids.ne(1).long()
    with torch.no_grad():
        torch.testing.assert_close(
            model.eval()(ids, mask)[mask.bool()],
            reference(ids, attention_mask=mask).logits[mask.bool()],
            atol=1e-4,
            rtol=0,
        )


@pytest.mark.parametrize("task", ["masked_lm", "causal_lm"])
def test_a_tied_task_model_saved_whole_reloads_tied_and_complete(task, tmp_path):
    """A task model's own checkpoint (safetensors keeps a tied weight once): rebuilt from it, the
    output layer is still the embeddings' weight and every tensor loads (the backbone used to be
    built eagerly, so the head tied itself to a real tensor that the meta build then copied)."""
    from safetensors.torch import save_model

    backbone = "gpt2" if task == "causal_lm" else "bert_base"
    torch.manual_seed(0)
    model = tg.get_model(task, backbone=backbone, backbone_config=TINY).eval()
    path = tmp_path / "task.safetensors"
    save_model(model, str(path))
    weights = tg.Weights(url=path.as_uri(), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), meta={})
    again = tg.get_model(task, weights=weights, backbone=backbone, backbone_config=TINY).eval()
    assert again.load_report.complete, again.load_report
    assert (
        again.head.decoder.weight is again.backbone.input_embeddings.weight
        if task == "causal_lm"
        else (again.head.decoder.weight is again.backbone.embeddings.word.weight)
    )
    ids, mask = batch(0)
    with torch.no_grad():
        torch.testing.assert_close(again(ids, mask), model(ids, mask))
