"""``torchgraft pitch``: CREPE pitch track of an audio file (a ``torchgraft.cli`` plugin)."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("pitch", parents=[common], help="pitch (Hz) and confidence every 10 ms of an audio file")
    p.add_argument("audio", metavar="AUDIO", help="a WAV, FLAC or OGG file (any sample rate; mixed down to mono)")
    p.add_argument("--model", default="crepe_full", choices=("crepe_full", "crepe_tiny"))
    p.set_defaults(func=pitch)


def load_audio(path: str) -> tuple[Any, int]:
    """A mono float waveform and its sample rate, decoded with soundfile."""
    from pathlib import Path

    import soundfile
    import torch

    if not Path(path).is_file():
        raise FileNotFoundError(f"no audio file at {path}")
    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)  # [samples, channels]
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise ValueError(f"{path} is not audio soundfile can decode (WAV, FLAC, OGG, ...): {exc}") from exc
    return torch.from_numpy(data).mean(dim=1), int(rate)


def pitch(args: argparse.Namespace) -> int:
    import torchgraft.core as tg
    from torchgraft.core.cli import emit

    from .models import estimate_pitch

    audio, rate = load_audio(args.audio)
    model = tg.get_model(args.model, weights="DEFAULT").eval()
    track = estimate_pitch(model, audio, rate)
    data = {
        "model": args.model,
        "sample_rate": track.sample_rate,
        "hop_seconds": track.hop_seconds,
        "frequency": [round(float(f), 3) for f in track.frequency],
        "confidence": [round(float(c), 4) for c in track.confidence],
    }

    def text(d: dict[str, Any]) -> str:
        voiced = [f for f, c in zip(d["frequency"], d["confidence"], strict=True) if c >= 0.5]
        lines = [f"{args.audio}: {len(d['frequency'])} frames, {len(voiced)} voiced (confidence >= 0.5)"]
        if voiced:
            voiced.sort()
            lines.append(f"  pitch {voiced[0]:.1f} to {voiced[-1]:.1f} Hz, median {voiced[len(voiced) // 2]:.1f} Hz")
        return "\n".join(lines)

    emit(args, data, text)
    return 0
