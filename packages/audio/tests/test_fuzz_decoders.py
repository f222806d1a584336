"""The audio decoder under mutated files (WAV, FLAC, OGG/Vorbis): every input decodes or raises
the ValueError ``load_audio`` documents; none crashes the process or allocates beyond its bound.

The sample bound is set to a few times the seeds' length, so a header that claims more samples
than the file holds is caught at a small multiple of the file's size."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from torchgraft.audio.transforms import load_audio
from torchgraft.core.fuzz import fuzz

SECONDS = float(os.environ.get("TORCHGRAFT_FUZZ_SECONDS", "8"))
RATE, SAMPLES = 8000, 4000  # half a second, stereo
BOUND = 4 * 2 * SAMPLES


def read(path: Path) -> None:
    load_audio(path, max_samples=BOUND)


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg"])
def test_load_audio_survives_mutated_files(tmp_path, suffix):
    t = np.arange(SAMPLES) / RATE
    seed = tmp_path / f"seed{suffix}"
    wave = np.stack([0.5 * np.sin(2 * math.pi * 220 * t), 0.3 * np.sin(2 * math.pi * 330 * t)], axis=1)
    soundfile.write(str(seed), wave.astype(np.float32), RATE, subtype="PCM_16" if suffix != ".ogg" else None)
    assert load_audio(seed)[0].shape == (2, SAMPLES)
    report = fuzz(
        f"{__file__}:read",
        [seed],
        seconds=SECONDS,
        min_cases=60,  # the same first 60 mutations on any machine, however busy
        allowed=["builtins:ValueError"],
        folder=tmp_path / "inputs",
        memory_slack=24 << 20,
    )
    print(report)
    assert report.ok, str(report)
    assert report.cases >= 60 and report.errors.get("ValueError"), str(report)
