"""Waveform transforms (decode, mono, resample, normalise, batch) and greedy CTC decoding."""

from __future__ import annotations

import math

import pytest
import soundfile
import torch
import torchaudio

import torchgraft.core as tg
from torchgraft.audio.ctc import greedy_ctc_decode
from torchgraft.audio.models import EN_LABELS
from torchgraft.audio.transforms import Wav2Vec2Transform, load_audio


def stereo(rate: int, seconds: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(rate * seconds)) / rate
    return torch.stack([0.5 * torch.sin(2 * math.pi * 220 * t), 0.25 * torch.sin(2 * math.pi * 330 * t)])


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg"])
def test_files_and_tensors_give_the_same_mono_16k_input(tmp_path, suffix):
    wave = stereo(44100)
    path = tmp_path / f"clip{suffix}"
    soundfile.write(str(path), wave.T.numpy(), 44100)
    decoded, rate = load_audio(path)
    assert rate == 44100 and decoded.shape == wave.shape
    transform = Wav2Vec2Transform()
    from_file = transform(path)
    from_tensor = transform(decoded, sample_rate=44100)
    expected = torchaudio.functional.resample(decoded.mean(0), 44100, 16000)
    torch.testing.assert_close(from_file["waveforms"][0], expected)
    torch.testing.assert_close(from_tensor["waveforms"], from_file["waveforms"])
    assert from_file["lengths"].tolist() == [8000]


def test_batches_pad_to_the_longest_and_normalise_each_recording_alone():
    long, short = torch.randn(16000) * 3 + 1, torch.randn(6000) * 0.1
    batch = Wav2Vec2Transform(normalize=True)([long, short], sample_rate=16000)
    assert batch["waveforms"].shape == (2, 16000) and batch["lengths"].tolist() == [16000, 6000]
    assert batch["waveforms"][1, 6000:].abs().max() == 0
    for row, n in zip(batch["waveforms"], (16000, 6000), strict=True):
        assert abs(float(row[:n].mean())) < 1e-5 and abs(float(row[:n].std(unbiased=False)) - 1) < 1e-3


def test_normalised_input_equals_torchaudios_normalising_bundle_wrapper():
    from torchaudio.pipelines._wav2vec2.utils import _extend_model

    config = {
        "extractor_mode": "layer_norm", "extractor_conv_layer_config": [(32, 10, 5), (32, 3, 2)],
        "extractor_conv_bias": True, "encoder_embed_dim": 32, "encoder_pos_conv_kernel": 8,
        "encoder_pos_conv_groups": 4, "encoder_num_layers": 1, "encoder_num_heads": 4,
        "encoder_ff_interm_features": 64, "encoder_layer_norm_first": True, "encoder_layer_drop": 0.0,
        "encoder_projection_dropout": 0.0, "encoder_attention_dropout": 0.0, "encoder_ff_interm_dropout": 0.0,
        "encoder_dropout": 0.0, "aux_num_out": None,
    }  # fmt: skip
    torch.manual_seed(0)
    reference = _extend_model(torchaudio.models.wav2vec2_model(**config), normalize_waveform=True).eval()
    ours = tg.get_model("wav2vec2_model", **config).eval()
    tg.load_weights(ours, reference.model.state_dict())
    wave = torch.randn(1, 8000) * 0.3 + 0.05
    with torch.no_grad():
        expected, _ = reference(wave)
        found, _ = ours(**Wav2Vec2Transform(normalize=True)(wave[0], sample_rate=16000))
    torch.testing.assert_close(found, expected, atol=1e-4, rtol=0)


def test_bad_audio_is_refused_with_what_was_expected(tmp_path):
    transform = Wav2Vec2Transform()
    with pytest.raises(ValueError, match="needs its sample_rate"):
        transform(torch.zeros(100))
    with pytest.raises(TypeError, match="floating-point"):
        transform(torch.zeros(100, dtype=torch.int16), sample_rate=16000)
    with pytest.raises(ValueError, match=r"\[channels, samples\]"):
        transform(torch.zeros(1, 2, 100), sample_rate=16000)
    with pytest.raises(ValueError, match="empty"):
        transform(torch.zeros(0), sample_rate=16000)
    with pytest.raises(ValueError, match="at least one"):
        transform([])
    with pytest.raises(FileNotFoundError):
        transform(tmp_path / "missing.wav")
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(ValueError, match="soundfile can decode"):
        transform(tmp_path / "text.wav")
    with pytest.raises(ValueError, match="carries its own rate"):
        transform(tmp_path / "text.wav", sample_rate=8000)


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_empty_and_over_long_files_are_refused_before_decoding_everything(tmp_path, subtype):
    empty = tmp_path / "empty.wav"
    soundfile.write(str(empty), torch.zeros(0, 2).numpy(), 16000, subtype=subtype)
    with pytest.raises(ValueError, match="holds no audio samples"):
        load_audio(empty)
    with pytest.raises(ValueError, match="holds no audio samples"):
        Wav2Vec2Transform()(empty)
    path = tmp_path / "stereo.wav"
    soundfile.write(str(path), stereo(16000).T.numpy(), 16000, subtype=subtype)  # 8000 frames x 2 channels
    with pytest.raises(ValueError, match=r"holds 16000 samples .*expected at most 15999"):
        load_audio(path, max_samples=15999)
    wave, rate = load_audio(path, max_samples=16000)
    assert wave.shape == (2, 8000) and rate == 16000


def test_streaming_header_sizes_do_not_lift_the_bound(tmp_path):
    """A WAV whose RIFF and data sizes are 0xFFFFFFFF (as streaming writers leave them) is still
    measured and refused past the bound, not read to the claimed 4 GB."""
    path = tmp_path / "stream.wav"
    soundfile.write(str(path), torch.zeros(4000).numpy(), 8000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[4:8] = b"\xff\xff\xff\xff"
    at = data.index(b"data")
    data[at + 4 : at + 8] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data))
    with pytest.raises(
        ValueError, match=r"holds 4000 samples \(0.5 s, 1 channel\(s\) at 8000 Hz\); expected at most 3000"
    ):
        load_audio(path, max_samples=3000)
    assert load_audio(path)[0].shape == (1, 4000)


def emissions_for(path: str, labels=EN_LABELS) -> torch.Tensor:
    """One-hot frames spelling ``path`` (a string of labels)."""
    out = torch.full((len(path), len(labels)), -5.0)
    for i, ch in enumerate(path):
        out[i, labels.index(ch)] = 5.0
    return out


def test_greedy_ctc_merges_repeats_drops_blanks_and_splits_words():
    # "HELLO WORLD": the double L needs a blank between the two Ls; repeats merge; || collapses
    frames = emissions_for("--HHEE-LL-LLOO||||-WWOO-RRLLDD--|")
    assert greedy_ctc_decode(frames, EN_LABELS) == ["HELLO WORLD"]
    batch = torch.stack([emissions_for("-CAT|-"), emissions_for("DOG|||")])
    assert greedy_ctc_decode(batch, EN_LABELS, lengths=torch.tensor([6, 2])) == ["CAT", "DO"]
    assert greedy_ctc_decode(emissions_for("A|B"), EN_LABELS, word_delimiter=None) == ["A|B"]


def test_greedy_ctc_refuses_mismatched_labels_and_shapes():
    with pytest.raises(ValueError, match="29 labels per frame, but 3 labels"):
        greedy_ctc_decode(torch.zeros(4, 29), ["-", "A", "B"])
    with pytest.raises(ValueError, match=r"\[batch, frames, labels\]"):
        greedy_ctc_decode(torch.zeros(29), EN_LABELS)
    with pytest.raises(ValueError, match="blank index 40"):
        greedy_ctc_decode(torch.zeros(4, 29), EN_LABELS, blank=40)


def test_chunked_emissions_keep_every_frame_in_place(capsys):
    """A model whose frames depend only on nearby audio (layer-norm extractor, no transformer
    layers): chunked outputs equal one pass exactly, frame for frame, whatever the chunking."""
    from torchgraft.audio.ctc import chunked_emissions

    torch.manual_seed(0)
    config = {
        "extractor_mode": "layer_norm", "extractor_conv_layer_config": [(16, 10, 5), (16, 3, 2), (16, 2, 2)],
        "encoder_embed_dim": 16, "encoder_pos_conv_kernel": 8, "encoder_pos_conv_groups": 4,
        "encoder_num_layers": 0, "encoder_num_heads": 4, "encoder_ff_interm_features": 32, "aux_num_out": 5,
    }  # fmt: skip
    model = tg.get_model("wav2vec2_model", **config).eval()
    wave = torch.randn(16000 * 3 + 123)
    with torch.no_grad():
        full = model(wave[None])[0][0]
        for chunk, context in ((0.25, 0.05), (0.5, 0.0), (1.0, 0.1), (10.0, 1.0)):
            chunked = chunked_emissions(model, wave, chunk_seconds=chunk, context_seconds=context)
            assert chunked.shape == full.shape, (chunk, context)
            torch.testing.assert_close(chunked, full, atol=1e-5, rtol=0)
        shown = chunked_emissions(model, wave, chunk_seconds=0.5, context_seconds=0.05, progress=True)
    torch.testing.assert_close(shown, full, atol=1e-5, rtol=0)
    assert "chunks" in capsys.readouterr().err  # a progress bar over the 7 chunks
    with pytest.raises(ValueError, match=r"mono waveform \[samples\]"):
        chunked_emissions(model, wave[None])


# --------------------------------------------------------------------------- audio at the edge
def _wav_with_rate(path, rate: int, samples: int = 160) -> None:
    """A 16-bit mono WAV whose header declares ``rate`` (written by hand: soundfile refuses some)."""
    import struct

    data = b"\0\0" * samples
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2 % 2**32, 2, 16)
    )
    path.write_bytes(header + b"data" + struct.pack("<I", len(data)) + data)


@pytest.mark.parametrize("rate", [2**31 - 1, 10**7, 768_001])
def test_a_header_claiming_an_absurd_sample_rate_is_refused_before_any_allocation(rate, tmp_path):
    from torchgraft.audio.transforms import load_audio

    _wav_with_rate(tmp_path / "x.wav", rate)
    with pytest.raises(ValueError, match=rf"declares a sample rate of {rate:,} Hz; expected at most 768,000 Hz"):
        load_audio(tmp_path / "x.wav")


@pytest.mark.parametrize(
    ("rate", "ok"), [(44_100, True), (22_050, True), (8_000, True), (44_101, False), (96_001, False)]
)
def test_rates_whose_filter_would_take_gigabytes_are_named(rate, ok):
    from torchgraft.audio.transforms import resample

    wave = torch.zeros(rate // 10)
    if ok:
        assert resample(wave, rate, 16_000).shape[0] == 1600
    else:
        with pytest.raises(ValueError, match=rf"resampling from {rate:,} Hz to 16,000 Hz needs a filter of"):
            resample(wave, rate, 16_000)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_samples_are_named_not_turned_into_nan_outputs(value, tmp_path):
    import soundfile

    from torchgraft.audio.transforms import Wav2Vec2Transform, load_audio

    wave = torch.zeros(1600)
    wave[123] = value
    with pytest.raises(ValueError, match=r"1 NaN or infinite sample\(s\), the first at index 123"):
        Wav2Vec2Transform()(wave, sample_rate=16_000)
    soundfile.write(str(tmp_path / "f.wav"), wave.numpy(), 16_000, subtype="FLOAT")
    with pytest.raises(ValueError, match="first at index 123"):
        load_audio(tmp_path / "f.wav")
