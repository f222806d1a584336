"""wav2vec 2.0 / HuBERT against torchaudio, conformance, and composition with task heads."""

from __future__ import annotations

import hashlib

import pytest
import torch
import torchaudio

import torchgraft.core as tg

TINY = {
    "extractor_conv_layer_config": [(32, 10, 5), (32, 3, 2), (32, 2, 2)],
    "encoder_embed_dim": 48,
    "encoder_pos_conv_kernel": 16,
    "encoder_pos_conv_groups": 4,
    "encoder_num_layers": 2,
    "encoder_num_heads": 4,
    "encoder_ff_interm_features": 96,
}
NO_DROPOUT = {
    "encoder_projection_dropout": 0.0,
    "encoder_attention_dropout": 0.0,
    "encoder_ff_interm_dropout": 0.0,
    "encoder_dropout": 0.0,
    "encoder_layer_drop": 0.0,
}
VARIANTS = ["wav2vec2_base", "wav2vec2_large", "wav2vec2_large_lv60k", "hubert_base", "hubert_large", "hubert_xlarge"]


def waves() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(3)
    return torch.randn(3, 4000), torch.tensor([4000, 3000, 1500])


@pytest.mark.parametrize("name", VARIANTS)
def test_layout_and_size_equal_torchaudio(name):
    with torch.device("meta"):
        ref = getattr(torchaudio.models, name)()
    with tg.init_empty():
        ours = tg.get_model(name)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert all(ours.state_dict()[k].shape == v.shape for k, v in ref.state_dict().items())
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("name", VARIANTS)
def test_every_default_equals_torchaudios_factory(name):
    """Dropout and layer-drop defaults included: recipes written for torchaudio carry over."""
    import inspect

    from torchgraft.audio.models.wav2vec2 import VARIANTS as OURS

    theirs = {k: p.default for k, p in inspect.signature(getattr(torchaudio.models, name)).parameters.items()}
    ours = OURS[name].__dict__
    assert {k: ours[k] for k in theirs} == theirs


@pytest.mark.parametrize(("mode", "first", "bias"), [("group_norm", False, False), ("layer_norm", True, True)])
def test_outputs_equal_torchaudio_with_padding(mode, first, bias):
    config = {
        **TINY,
        **NO_DROPOUT,
        "extractor_mode": mode,
        "encoder_layer_norm_first": first,
        "extractor_conv_bias": bias,
        "aux_num_out": 7,
    }
    torch.manual_seed(0)
    ref = torchaudio.models.wav2vec2_model(**config).eval()
    ours = tg.get_model("wav2vec2_model", **config).eval()
    assert tg.load_weights(ours, ref.state_dict()).complete
    x, lengths = waves()
    with torch.no_grad():
        expected, expected_lengths = ref(x, lengths)
        found, found_lengths = ours(x, lengths)
        ref_layers, _ = ref.extract_features(x, lengths, num_layers=1)
        our_layers, _ = ours.extract_features(x, lengths, num_layers=1)
    assert torch.equal(found_lengths, expected_lengths)
    real = torch.arange(found.shape[1])[None] < found_lengths[:, None]
    torch.testing.assert_close(found[real], expected[real], atol=1e-4, rtol=0)
    assert len(our_layers) == 1
    torch.testing.assert_close(our_layers[0][real], ref_layers[0][real], atol=1e-4, rtol=0)


def test_backbone_weights_into_a_classifier_and_a_ctc_head_train_frozen_and_unfrozen(tmp_path):
    from safetensors.torch import save_model

    torch.manual_seed(0)
    pretrained = tg.get_model("wav2vec2_model", **TINY, **NO_DROPOUT)
    path = tmp_path / "pretrained.safetensors"
    save_model(pretrained, str(path))
    backbone_weights = tg.Weights(
        url=path.as_uri(), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), meta={}, role="backbone"
    )

    with tg.init_empty():
        clf = tg.classifier(tg.get_model("wav2vec2_model", **TINY, **NO_DROPOUT), num_classes=4)
    report = tg.load_weights(clf, backbone_weights)
    assert report.fresh == ["head.fc.bias", "head.fc.weight"] and not report.unexpected

    x, lengths = waves()
    labels = torch.tensor([0, 1, 2])
    for frozen in (True, False):
        clf.freeze_backbone(frozen)
        # Fine-tuning the whole encoder needs the smaller learning rate.
        opt = torch.optim.Adam([p for p in clf.parameters() if p.requires_grad], lr=1e-2 if frozen else 1e-3)
        losses = []
        for _ in range(8):
            loss = torch.nn.functional.cross_entropy(clf(x, lengths), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0], (frozen, losses)
    # The ASR variant is the same class with an aux CTC head: backbone weights leave aux fresh.
    ctc_model = tg.get_model("hubert_base", **TINY, **NO_DROPOUT, aux_num_out=10, weights=backbone_weights)
    assert ctc_model.aux is not None and ctc_model.aux.weight.device.type == "cpu"
    log_probs = ctc_model(x, lengths)[0].log_softmax(-1).transpose(0, 1)
    out_lengths = ctc_model(x, lengths)[1]
    loss = torch.nn.functional.ctc_loss(log_probs, torch.randint(1, 10, (3, 4)), out_lengths, torch.tensor([4, 4, 4]))
    loss.backward()
    assert torch.isfinite(loss) and ctc_model.aux.weight.grad is not None


def test_classifier_pools_over_real_frames_only():
    # With a layer-norm extractor (large/lv60k/HuBERT-large style), more padding changes nothing.
    # Group-norm extractors (base models) normalise over the padded waveform too, as in torchaudio.
    torch.manual_seed(0)
    config = {**TINY, **NO_DROPOUT, "extractor_mode": "layer_norm", "encoder_layer_norm_first": True}
    clf = tg.classifier(tg.get_model("wav2vec2_model", **config), num_classes=4).eval()
    x, lengths = waves()
    with torch.no_grad():
        longer = torch.cat([x, torch.randn(3, 800)], dim=1)
        torch.testing.assert_close(clf(longer, lengths), clf(x, lengths), atol=1e-4, rtol=0)


def test_bad_inputs_are_refused():
    model = tg.get_model("wav2vec2_model", **TINY)
    with pytest.raises(ValueError, match=r"expected waveforms \[batch, samples\]"):
        model(torch.zeros(4000))
    with pytest.raises(TypeError, match=r"unexpected keyword argument .encoder_width. \(did you mean .encoder_"):
        tg.get_model("wav2vec2_base", encoder_width=3)
    with pytest.raises(ValueError, match="extractor_mode"):
        tg.get_model("wav2vec2_model", extractor_mode="batch_norm")


def test_unpadded_and_padded_paths_agree_on_real_frames_and_gradients():
    """With lengths, per-frame layers run on the real frames only (the default): same outputs on
    real frames, per layer too, and the same gradients as running every frame."""
    torch.manual_seed(0)
    config = {**TINY, **NO_DROPOUT, "extractor_mode": "layer_norm", "encoder_layer_norm_first": True}
    fast = tg.get_model("wav2vec2_model", **config, aux_num_out=6)
    slow = tg.get_model("wav2vec2_model", **config, aux_num_out=6, unpad=False)
    slow.load_state_dict(fast.state_dict())
    x, lengths = waves()
    (a, frames), (b, _) = fast(x, lengths), slow(x, lengths)
    real = torch.arange(a.shape[1])[None] < frames[:, None]
    assert real.float().mean() < 0.9  # enough padding for the packed path
    torch.testing.assert_close(a[real], b[real], atol=1e-5, rtol=0)
    layers_a, _ = fast.extract_features(x, lengths)
    layers_b, _ = slow.extract_features(x, lengths)
    for la, lb in zip(layers_a, layers_b, strict=True):
        torch.testing.assert_close(la[real], lb[real], atol=1e-5, rtol=0)
    a[real].sum().backward()
    b[real].sum().backward()
    for (name, p), q in zip(fast.named_parameters(), slow.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-4, rtol=1e-4, msg=name)
