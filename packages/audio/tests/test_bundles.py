"""The wav2vec 2.0 / HuBERT weights catalog against torchaudio's bundles, and one bundle end to end.

torchaudio's files cannot be downloaded here. The end-to-end test writes a file exactly as
torchaudio publishes its ASR bundles (its own model at the bundle's configuration, weight-norm
``weight_g``/``weight_v`` names, 32 CTC rows from fairseq's dictionary), serves it where
download.pytorch.org would, and compares torchgraft with torchaudio's own bundle pipeline reading
the same file: model outputs, labels, and the transcript of real speech.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import torch
import torchaudio

import torchgraft.core as tg
from torchgraft.audio.ctc import greedy_ctc_decode
from torchgraft.audio.models import Wav2Vec2_Base_Weights
from torchgraft.audio.models.wav2vec2 import BASE_URL
from torchgraft.audio.transforms import load_audio
from torchgraft.core.builders import architecture_only
from torchgraft.core.cli import main
from torchgraft.core.store import UnpinnedDownloadWarning
from torchgraft.core.testing import serve_like_hub

# Every variant with published weights, from the registry.
BUNDLES = {n: tg.get_model_weights(n) for n in tg.list_models(["wav2vec2_*", "hubert_*"]) if n != "wav2vec2_model"}
ENTRIES = [(name, member) for name, enum in BUNDLES.items() for member in enum]


@pytest.mark.parametrize(("name", "member"), ENTRIES, ids=[str(m) for _, m in ENTRIES])
def test_each_entry_equals_its_torchaudio_bundle(name, member):
    w = member.value
    bundle = getattr(torchaudio.pipelines, w.meta["torchaudio_bundle"])
    assert w.url == BASE_URL + bundle._path and w.sha256 is None
    assert w.meta["sample_rate"] == bundle.sample_rate
    transform = w.transforms()
    assert transform.sample_rate == bundle.sample_rate and transform.normalize == bundle._normalize_waveform
    with architecture_only():
        model = tg.get_model(name, weights=member)
    expected = {k: tuple(map(tuple, v)) if k == "extractor_conv_layer_config" else v for k, v in bundle._params.items()}
    assert {k: model.cfg.__dict__[k] for k in expected} == expected  # architecture and every dropout rate
    asr = isinstance(bundle, torchaudio.pipelines.Wav2Vec2ASRBundle)
    assert (w.role == "full") == asr
    if asr:
        assert tuple(w.meta["categories"]) == bundle.get_labels() and w.meta["blank"] == 0
        assert w.adapter.remove_aux_rows == bundle._remove_aux_axis


def test_dropout_defaults_of_the_weights_give_way_to_the_callers():
    with architecture_only():
        model = tg.get_model("wav2vec2_large", weights="LS960", encoder_layer_drop=0.0)
    assert model.cfg.encoder_layer_drop == 0.0 and model.cfg.encoder_dropout == 0.0  # bundle's 0.0, not 0.1


def speech(tmp_path, text: str = "the quick brown fox jumps over the lazy dog") -> str:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is needed for real speech (apt-get install espeak-ng; .ci/run installs it)")
    path = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
    return str(path)


@pytest.fixture(scope="module")
def published_asr_file(tmp_path_factory):
    """WAV2VEC2_ASR_BASE_10M as torchaudio publishes it, written from torchaudio's own model."""
    bundle = torchaudio.pipelines.WAV2VEC2_ASR_BASE_10M
    torch.manual_seed(0)
    model = torchaudio.models.wav2vec2_model(**{**bundle._params, "aux_num_out": 32})
    g_v = {"parametrizations.weight.original0": "weight_g", "parametrizations.weight.original1": "weight_v"}
    state = {}
    for key, tensor in model.state_dict().items():
        for new, old in g_v.items():
            key = key.replace(new, old)
        state[key] = tensor
    root = tmp_path_factory.mktemp("download.pytorch.org")
    path = root / bundle._path
    torch.save(state, path)
    return root, path


@pytest.mark.slow
def test_asr_bundle_end_to_end_equals_torchaudios_pipeline(published_asr_file, tmp_path, monkeypatch, capsys):
    from torchaudio.pipelines._wav2vec2 import utils as bundle_utils

    root, path = published_asr_file
    bundle = torchaudio.pipelines.WAV2VEC2_ASR_BASE_10M
    monkeypatch.setattr(bundle_utils, "load_state_dict_from_url", lambda url, **kw: torch.load(path, weights_only=True))
    reference = bundle.get_model().eval()

    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "cache"))
    audio = speech(tmp_path)
    with serve_like_hub(root) as base:
        monkeypatch.setenv("TORCHGRAFT_MIRROR", f"{BASE_URL}={base}/")
        with pytest.warns(UnpinnedDownloadWarning, match="wav2vec2_fairseq_base_ls960_asr_ll10m.pth"):
            model = tg.get_model("wav2vec2_base", weights="ASR_LS960_10M").eval()
    weights = Wav2Vec2_Base_Weights.ASR_LS960_10M
    batch = weights.transforms()(audio)  # espeak-ng writes 22.05 kHz: resampled to 16 kHz
    wave, rate = load_audio(audio)
    assert rate == 22050 and batch["waveforms"].shape[1] == round(wave.shape[1] * 16000 / 22050)
    with torch.inference_mode():
        ours, frames = model(**batch)
        theirs, their_frames = reference(batch["waveforms"], batch["lengths"])
    assert torch.equal(frames, their_frames) and ours.shape[-1] == len(bundle.get_labels()) == 29
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)
    expected = greedy_ctc_decode(theirs, bundle.get_labels(), lengths=their_frames)[0]

    # the command reads the same pinned file from the cache: no server needed any more
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")
    assert main(["transcribe", audio, "--weights", "wav2vec2_base.ASR_LS960_10M", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "model": "wav2vec2_base",
        "weights": "Wav2Vec2_Base_Weights.ASR_LS960_10M",
        "sample_rate": 16000,
        "results": [{"file": audio, "seconds": round(batch["lengths"][0].item() / 16000, 3), "text": expected}],
    }

    # long recordings go in chunks: frames stay in place, so 1-second chunks change only what
    # attention sees, and the command still accounts for the whole recording
    assert (
        main(["transcribe", audio, "--weights", "wav2vec2_base.ASR_LS960_10M", "--chunk-seconds", "1", "--json"]) == 0
    )
    chunked = json.loads(capsys.readouterr().out)["results"][0]
    assert chunked["seconds"] == out["results"][0]["seconds"] and isinstance(chunked["text"], str)
    # the same entry named as --model plus a bare member, as every other command takes it
    assert main(["transcribe", audio, "--model", "wav2vec2_base", "--weights", "ASR_LS960_10M", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == out


def test_transcribe_refuses_weights_that_are_not_asr_before_downloading(capsys, monkeypatch):
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")
    assert main(["transcribe", "x.wav", "--weights", "wav2vec2_base.LS960"]) == 1
    err = capsys.readouterr().err
    assert "not a speech-recognition (CTC) checkpoint" in err and "ASR_LS960_960H" in err
    assert main(["transcribe", "x.wav", "--weights", "wav2vec2_base"]) == 2
    assert "MODEL.WEIGHTS" in capsys.readouterr().err
    assert main(["transcribe", "x.wav", "--model", "wav2vec2_base", "--weights", "LS960"]) == 1
    assert "not a speech-recognition (CTC) checkpoint" in capsys.readouterr().err
    assert main(["transcribe", "x.wav"]) == 1  # a default model, as every command has: the input is what fails
    assert "no audio file at x.wav" in capsys.readouterr().err


@pytest.mark.parametrize("samples", [1, 10, 399])
def test_transcribe_refuses_a_recording_shorter_than_one_frame_before_downloading(
    samples, tmp_path, capsys, monkeypatch
):
    import soundfile

    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")  # nothing is cached: a download would be an OfflineError
    path = tmp_path / "tiny.wav"
    soundfile.write(str(path), torch.zeros(samples).numpy(), 16000)
    assert main(["transcribe", str(path), "--weights", "wav2vec2_base.ASR_LS960_10M"]) == 1
    err = capsys.readouterr().err
    assert "needs at least 25 ms of audio" in err and "Traceback" not in err, err


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0"])
def test_transcribe_names_a_chunk_length_that_is_not_a_positive_number(value, capsys):
    assert main(["transcribe", "x.wav", "--weights", "wav2vec2_base.ASR_LS960_10M", "--chunk-seconds", value]) == 2
    err = capsys.readouterr().err
    assert "--chunk-seconds must be a finite number of seconds > 0" in err and "Traceback" not in err
