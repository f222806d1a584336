"""The importers and generation under mutated inputs, for a bounded time: ``config.json`` of every
family, shard indexes, and generation arguments. Every input imports (or generates) or raises a
torchgraft error (a ``ValueError`` for generation's arguments); none crashes, hangs, or allocates
beyond a small factor of its size: a config that disagrees with its checkpoint is refused before
anything is built at its size."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

import pytest
import torch

from torchgraft.core.fuzz import fuzz

SECONDS = float(os.environ.get("TORCHGRAFT_FUZZ_SECONDS", "8"))
ALLOWED = ["torchgraft.core.errors:TorchgraftError"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tiny_checkpoint) -> Path:
    folder = tmp_path_factory.mktemp("checkpoints")
    for kind in ("bert", "gpt2", "t5"):
        tiny_checkpoint(kind, folder)
    tiny_checkpoint("bart", folder, max_shard_size="20KB")  # sharded: an index and several files
    return folder


def _assembled(path: Path, name: str) -> Path:
    """A checkpoint folder of the family the input's suffix names, with the input as ``name``."""
    source = Path(os.environ["TG_FUZZ_CHECKPOINTS"]) / path.suffix[1:]
    folder = Path(tempfile.mkdtemp(prefix="tg-fuzz-"))
    for item in source.iterdir():
        if item.name != name:
            os.symlink(item, folder / item.name)
    shutil.copyfile(path, folder / name)
    return folder


def _import_with(path: Path, name: str) -> None:
    from torchgraft.text.models import from_huggingface

    folder = _assembled(path, name)
    try:
        from_huggingface(folder)
    finally:
        shutil.rmtree(folder)


def import_config(path: Path) -> None:
    _import_with(path, "config.json")


def import_index(path: Path) -> None:
    _import_with(path, "model.safetensors.index.json")


@cache
def _tiny(kind: str) -> torch.nn.Module:
    from torchgraft.text.models import from_huggingface

    return from_huggingface(Path(os.environ["TG_FUZZ_CHECKPOINTS"]) / kind).eval()


def generate_with(path: Path) -> None:
    """``generate`` with the arguments the input holds (a JSON object), on a tiny GPT-2 or T5."""
    from torchgraft.core import generate

    try:
        kwargs = json.loads(path.read_bytes())
    except ValueError:
        return  # not arguments at all: nothing to call with
    if not isinstance(kwargs, dict):
        return
    from torchgraft.core import preflight

    # A 64 MiB machine: every request generate lets through must fit its own estimate, which the
    # harness checks against the memory the child really grew by (bound: 160 MiB).
    saved, preflight.memory_bytes = preflight.memory_bytes, lambda: 64 << 20
    try:
        generate(_tiny(path.suffix[1:]), torch.tensor([[5, 6, 7], [8, 9, 10]]), **kwargs)
    finally:
        preflight.memory_bytes = saved


@pytest.mark.parametrize("kind", ["bert", "gpt2", "t5", "bart"])
def test_config_files_of_every_family_under_mutation(kind, checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("TG_FUZZ_CHECKPOINTS", str(checkpoints))
    seed = tmp_path / f"config.{kind}"
    shutil.copyfile(checkpoints / kind / "config.json", seed)
    import_config(seed)  # the seed itself imports
    report = fuzz(
        f"{__file__}:import_config",
        [seed],
        seconds=SECONDS,
        min_cases=40,
        allowed=ALLOWED,
        folder=tmp_path / "inputs",
        mutator="torchgraft.core.fuzz:mutate_json",
        memory_slack=160 << 20,  # an import builds a (tiny) model: torch's first allocations
    )
    print(report)
    assert report.ok, str(report)
    assert report.errors, str(report)  # mutations were refused, by typed errors


def test_shard_indexes_under_mutation(checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("TG_FUZZ_CHECKPOINTS", str(checkpoints))
    seed = tmp_path / "index.bart"
    shutil.copyfile(checkpoints / "bart" / "model.safetensors.index.json", seed)
    import_index(seed)
    report = fuzz(
        f"{__file__}:import_index",
        [seed],
        seconds=SECONDS,
        min_cases=40,
        allowed=ALLOWED,
        folder=tmp_path / "inputs",
        mutator="torchgraft.core.fuzz:mutate_json",
        memory_slack=160 << 20,
    )
    print(report)
    assert report.ok, str(report)
    assert report.errors, str(report)


@pytest.mark.parametrize("kind", ["gpt2", "t5"])
def test_generation_arguments_under_mutation(kind, checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("TG_FUZZ_CHECKPOINTS", str(checkpoints))
    seeds = []
    for i, kwargs in enumerate(
        (
            {"max_new_tokens": 3, "num_beams": 2, "length_penalty": 1.0, "eos_token_id": 2, "pad_token_id": 0},
            {"max_new_tokens": 3, "do_sample": True, "temperature": 0.7, "top_k": 5, "top_p": 0.9},
            {"max_new_tokens": 4, "repetition_penalty": 1.2, "no_repeat_ngram_size": 2, "min_new_tokens": 1},
            {"max_new_tokens": 3, "forced_bos_token_id": 4, "forced_eos_token_id": 2, "bos_token_id": 1},
        )
    ):
        seed = tmp_path / f"args{i}.{kind}"
        seed.write_text(json.dumps(kwargs))
        generate_with(seed)
        seeds.append(seed)
    report = fuzz(
        f"{__file__}:generate_with",
        seeds,
        seconds=SECONDS,
        min_cases=40,
        allowed=[*ALLOWED, "builtins:ValueError"],
        folder=tmp_path / "inputs",
        mutator="torchgraft.core.fuzz:mutate_json",
        memory_slack=160 << 20,
    )
    print(report)
    assert report.ok, str(report)
    assert report.errors, str(report)
