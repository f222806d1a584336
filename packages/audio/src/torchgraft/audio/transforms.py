"""Audio to model inputs: decoding (soundfile), mono mixdown, resampling (torchaudio), waveform
normalisation, and batching with lengths.

``Wav2Vec2Transform`` is the ``transforms()`` of the wav2vec 2.0 / HuBERT weights: it turns one
or several waveforms (tensors with their sample rate, or file paths) into the
``{"waveforms": [B, samples], "lengths": [B]}`` a ``Wav2Vec2Model`` takes as ``model(**batch)``.
torchaudio and soundfile are imported when a transform runs, not at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "MAX_AUDIO_SAMPLES",
    "MAX_SAMPLE_RATE",
    "AudioInput",
    "Wav2Vec2Transform",
    "check_waveform",
    "load_audio",
    "resample",
    "to_mono",
]

AudioInput = str | Path | Tensor


MAX_AUDIO_SAMPLES = 48_000 * 3600
#: The highest sample rate accepted (the highest any audio format in use records, 768 kHz); a
#: header claiming more is damaged or hostile (2**31 - 1 Hz once asked for an 8.6 GB filter).
MAX_SAMPLE_RATE = 768_000
#: The most coefficients a resampling filter may have (128 MiB of float32): rates that share no
#: large common factor (44101 Hz to 16 kHz) would need gigabytes.
MAX_RESAMPLE_KERNEL = 1 << 25
"""The most samples (all channels together) ``load_audio`` decodes: an hour of 48 kHz mono, 691 MB
as float32. A longer file is refused before it is decoded; split it, or raise this bound."""


def load_audio(path: str | Path, *, max_samples: int | None = None) -> tuple[Tensor, int]:
    """A file's waveform ``[channels, samples]`` (float32 in [-1, 1]) and sample rate, decoded with
    soundfile: WAV, FLAC, OGG/Vorbis, and (libsndfile >= 1.1) MP3 and Opus.

    A file with no samples, or with more than ``max_samples`` (default ``MAX_AUDIO_SAMPLES``) over
    all channels, is refused with ``ValueError``; the read itself is bounded, so a header that
    understates the length cannot make it allocate more."""
    import soundfile

    limit = MAX_AUDIO_SAMPLES if max_samples is None else max_samples
    if not Path(path).is_file():
        raise FileNotFoundError(f"no audio file at {path}")
    try:
        with soundfile.SoundFile(str(path)) as sound:
            channels, rate = sound.channels, int(sound.samplerate)
            if channels < 1 or rate < 1:
                raise ValueError(f"{path} declares {channels} channels at {rate} Hz; expected at least 1 of each")
            if rate > MAX_SAMPLE_RATE:
                raise ValueError(
                    f"{path} declares a sample rate of {rate:,} Hz; expected at most {MAX_SAMPLE_RATE:,} Hz "
                    f"(the header is damaged, or the file is not audio)"
                )
            per_channel = limit // channels
            if sound.frames > per_channel:
                raise ValueError(_too_long(path, sound.frames * channels, limit, rate, channels))
            data = sound.read(per_channel + 1, dtype="float32", always_2d=True)  # [samples, channels]
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise ValueError(f"{path} is not audio soundfile can decode (WAV, FLAC, OGG, ...): {exc}") from exc
    if data.shape[0] > per_channel:
        raise ValueError(_too_long(path, data.shape[0] * channels, limit, rate, channels, "at least "))
    if data.shape[0] == 0:
        raise ValueError(f"{path} holds no audio samples (a {rate} Hz file of length 0)")
    wave = torch.from_numpy(data.T.copy())
    check_waveform(wave, what=str(path))
    return wave, rate


def check_waveform(wave: Tensor, *, what: str = "the waveform") -> None:
    """Refuses (``ValueError``) a waveform holding NaN or infinite samples, naming the first: a
    model would turn them into NaN outputs, and NaN is not JSON."""
    bad = ~torch.isfinite(wave)
    if bool(bad.any()):
        index = int(bad.flatten().nonzero()[0])
        raise ValueError(
            f"{what} holds {int(bad.sum())} NaN or infinite sample(s), the first at index {index} "
            f"({float(wave.flatten()[index])}); expected finite samples in [-1, 1]"
        )


def resample(wave: Tensor, rate: int, target: int, *, what: str = "the audio") -> Tensor:
    """``torchaudio.functional.resample`` from ``rate`` to ``target`` Hz, refusing (``ValueError``)
    a rate outside (0, `MAX_SAMPLE_RATE`] or a pair of rates whose filter would exceed
    `MAX_RESAMPLE_KERNEL` coefficients, before anything is allocated."""
    import math

    if not isinstance(rate, int) or isinstance(rate, bool) or not 0 < rate <= MAX_SAMPLE_RATE:
        raise ValueError(f"{what}: sample_rate must be an int in (0, {MAX_SAMPLE_RATE:,}] Hz; found {rate!r}")
    if rate == target:
        return wave
    g = math.gcd(rate, target)
    width = math.ceil(6 * rate / min(rate, target) / 0.99)  # torchaudio's default lowpass width and rolloff
    coefficients = (target // g) * (rate // g + 2 * width)
    if coefficients > MAX_RESAMPLE_KERNEL:
        raise ValueError(
            f"{what}: resampling from {rate:,} Hz to {target:,} Hz needs a filter of {coefficients:,} "
            f"coefficients ({coefficients * 4 / 2**30:.1f} GiB; the rates share only a factor of {g}); "
            f"convert it to a common rate such as 16000, 44100 or 48000 Hz first"
        )
    import torchaudio

    return torchaudio.functional.resample(wave, rate, target)


def _too_long(path: str | Path, samples: int, limit: int, rate: int, channels: int, qualifier: str = "") -> str:
    seconds = samples / channels / rate
    return (
        f"{path} holds {qualifier}{samples} samples ({seconds:.1f} s, {channels} channel(s) at {rate} Hz); "
        f"expected at most {limit} (set max_samples, or torchgraft.audio.transforms.MAX_AUDIO_SAMPLES, to allow more)"
    )


def to_mono(waveform: Tensor) -> Tensor:
    """``[samples]`` from ``[samples]`` or ``[channels, samples]`` (channels averaged)."""
    if waveform.dim() == 1:
        return waveform
    if waveform.dim() == 2:
        return waveform.mean(dim=0)
    raise ValueError(f"expected a waveform [samples] or [channels, samples]; found shape {list(waveform.shape)}")


@dataclass(frozen=True)
class Wav2Vec2Transform:
    """Mono, resampled to ``sample_rate`` with ``torchaudio.functional.resample``, optionally
    normalised to zero mean and unit variance per recording (what the models trained on
    normalised audio expect), and padded to the longest with ``lengths``."""

    sample_rate: int = 16000
    normalize: bool = False

    def __call__(self, audio: AudioInput | Sequence[AudioInput], sample_rate: int | None = None) -> dict[str, Tensor]:
        items = list(audio) if isinstance(audio, (list, tuple)) else [audio]
        if not items:
            raise ValueError("expected at least one waveform or audio file; found an empty list")
        waves = [self.prepare(item, sample_rate) for item in items]
        lengths = torch.tensor([w.shape[0] for w in waves])
        batch = torch.zeros(len(waves), int(lengths.max()))
        for i, w in enumerate(waves):
            batch[i, : w.shape[0]] = w
        return {"waveforms": batch, "lengths": lengths}

    def prepare(self, audio: AudioInput, sample_rate: int | None = None) -> Tensor:
        """One recording as the model's ``[samples]`` waveform."""
        if isinstance(audio, (str, Path)):
            if sample_rate is not None:
                raise ValueError(f"sample_rate applies to waveform tensors; {audio} carries its own rate")
            wave, rate = load_audio(audio)
        elif isinstance(audio, Tensor):
            if sample_rate is None:
                raise ValueError("a waveform tensor needs its sample_rate= (Hz)")
            wave, rate = audio, sample_rate
        else:
            raise TypeError(f"expected a file path or a waveform tensor; found {type(audio).__name__}")
        if not wave.is_floating_point():
            raise TypeError(f"expected a floating-point waveform in [-1, 1]; found dtype {wave.dtype}")
        if not isinstance(rate, int) or rate <= 0:
            raise ValueError(f"sample_rate must be a positive int (Hz); found {rate!r}")
        wave = to_mono(wave).float()
        if wave.numel() == 0:
            raise ValueError("the recording is empty")
        check_waveform(wave, what=str(audio) if not isinstance(audio, Tensor) else "the waveform")
        wave = resample(
            wave, rate, self.sample_rate, what=str(audio) if not isinstance(audio, Tensor) else "the waveform"
        )
        if self.normalize:
            wave = F.layer_norm(wave, wave.shape)
        return wave

    def describe(self) -> str:
        norm = ", normalised per recording" if self.normalize else ""
        return f"mono, resampled to {self.sample_rate} Hz (torchaudio){norm}, padded with lengths"
