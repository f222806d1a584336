"""``torchgraft pitch`` (CREPE pitch track) and ``torchgraft transcribe`` (CTC speech recognition)
of audio files: a ``torchgraft.cli`` plugin."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("pitch", parents=[common], help="pitch (Hz) and confidence every 10 ms of an audio file")
    p.add_argument("audio", metavar="AUDIO", help="a WAV, FLAC or OGG file (any sample rate; mixed down to mono)")
    p.add_argument("--model", default="crepe_full", choices=("crepe_full", "crepe_tiny"))
    p.set_defaults(func=pitch)

    p = sub.add_parser("transcribe", parents=[common], help="speech to text with an ASR (CTC) checkpoint")
    p.add_argument("audio", nargs="+", metavar="AUDIO", help="WAV, FLAC or OGG files (any rate; mixed down to mono)")
    p.add_argument(
        "--weights",
        required=True,
        metavar="MODEL.WEIGHTS",
        help="an ASR weights entry, e.g. wav2vec2_base.ASR_LS960_960H or Wav2Vec2_Base_Weights.ASR_LS960_960H",
    )
    p.add_argument(
        "--chunk-seconds",
        type=float,
        default=30.0,
        help="long recordings are run this many seconds at a time, with 2 s of context (default 30)",
    )
    p.set_defaults(func=transcribe)


def pitch(args: argparse.Namespace) -> int:
    import torchgraft.core as tg
    from torchgraft.core.cli import emit

    from .models import check_pitch_input, estimate_pitch
    from .transforms import load_audio, to_mono

    audio, rate = load_audio(args.audio)
    audio = to_mono(audio)
    check_pitch_input(audio, rate)
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


def _asr_weights(target: str) -> tuple[str, Any]:
    """``MODEL.WEIGHTS`` -> (model name, weights member), refusing non-ASR entries before any
    download."""
    from torchgraft.core.registry import resolve_target

    if "." not in target:
        raise ValueError(f"--weights takes MODEL.WEIGHTS, e.g. wav2vec2_base.ASR_LS960_960H; found {target!r}")
    model, weights = resolve_target(target)
    if not weights.meta.get("categories") or "blank" not in weights.meta:
        asr = [m for m in type(weights) if m.value.meta.get("categories")]
        hint = f"; ASR weights of {model}: {', '.join(m.name for m in asr)}" if asr else ""
        raise ValueError(f"{weights} is not a speech-recognition (CTC) checkpoint{hint}")
    return model, weights


def transcribe(args: argparse.Namespace) -> int:
    import torch

    import torchgraft.core as tg
    from torchgraft.core.cli import emit

    from .ctc import chunked_emissions, greedy_ctc_decode

    if args.chunk_seconds <= 0:
        raise ValueError(f"--chunk-seconds must be positive; found {args.chunk_seconds}")
    model_name, weights = _asr_weights(args.weights)
    transform = weights.transforms()
    # mono, at the model's rate, normalised if it expects that; every file decodes before any download
    waves = [transform.prepare(path) for path in args.audio]
    model = tg.get_model(model_name, weights=weights).eval()
    meta = weights.meta
    results = []
    for path, wave in zip(args.audio, waves, strict=True):
        with torch.inference_mode():
            emissions = chunked_emissions(
                model,
                wave,
                sample_rate=transform.sample_rate,
                chunk_seconds=args.chunk_seconds,
                progress=sys.stderr.isatty(),
            )
        text = greedy_ctc_decode(
            emissions, meta["categories"], blank=meta["blank"], word_delimiter=meta.get("word_delimiter")
        )[0]
        seconds = round(wave.shape[0] / transform.sample_rate, 3)
        results.append({"audio": path, "seconds": seconds, "text": text})
    data = {
        "model": model_name,
        "weights": str(weights),
        "sample_rate": transform.sample_rate,
        "transcripts": results,
    }
    emit(args, data, lambda d: "\n".join(f"{r['audio']}: {r['text']}" for r in d["transcripts"]))
    return 0
