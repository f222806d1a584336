"""The checkpoint readers under mutated inputs: safetensors (header, offsets, shapes, dtypes), the
``.pth`` zip and the legacy ``.pth`` pickle. Every input reads or raises a torchgraft error; none
crashes the process or allocates beyond a small factor of its size."""

from __future__ import annotations

import json
import os
import random
import struct
from pathlib import Path

import pytest
import torch

from torchgraft.core.fuzz import FuzzReport, fuzz, mutate
from torchgraft.core.loading import read_checkpoint

SECONDS = float(os.environ.get("TORCHGRAFT_FUZZ_SECONDS", "8"))


def read_and_touch(path: Path) -> None:
    """What loading does with a checkpoint, and more: every tensor's bytes are read."""
    for tensor in read_checkpoint(path).values():
        if tensor.numel():
            tensor.float().sum().item()


def mutate_safetensors(data: bytes, rng: random.Random) -> bytes:
    """A header that still parses as JSON, with one field made hostile: offsets past the end,
    overlapping or reversed, shapes that disagree with the bytes or overflow, unknown dtypes, a
    header length larger than the file."""
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + n])
        names = [k for k, v in header.items() if k != "__metadata__" and len(v.get("data_offsets", ())) == 2]
    except (struct.error, ValueError, AttributeError, TypeError):
        return mutate(data, rng)  # no longer a parsable header: mutate the bytes
    if not names:
        return mutate(data, rng)
    entry = header[rng.choice(names)]
    big = rng.choice((2**31, 2**32, 2**40, 2**63 - 1, len(data) * 1000))
    kind = rng.randrange(6)
    if kind == 0:
        entry["data_offsets"] = [entry["data_offsets"][0], entry["data_offsets"][1] + rng.choice((1, 8, big))]
    elif kind == 1:
        entry["data_offsets"] = list(reversed(entry["data_offsets"]))
    elif kind == 2:
        entry["shape"] = [rng.choice((0, 1, 3, big)) for _ in range(rng.randrange(0, 5))]
    elif kind == 3:
        entry["dtype"] = rng.choice(("F8_E4M3", "I128", "", "F32 ", "U64", "BOOL"))
    elif kind == 4:
        entry["data_offsets"] = [0, entry["data_offsets"][1]]  # overlaps the first tensor
    else:
        text = json.dumps(header).encode()
        return struct.pack("<Q", rng.choice((len(text) + 1, big))) + text + data[8 + n :]
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + n :]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, Path]:
    from safetensors.torch import save_file

    torch.manual_seed(0)
    state = {
        "conv.weight": torch.randn(8, 3, 3, 3),
        "conv.bias": torch.randn(8),
        "embed.weight": torch.randn(50, 16).half(),
        "steps": torch.tensor([3], dtype=torch.int64),
        "mask": torch.rand(4, 4) > 0.5,
    }
    folder = tmp_path_factory.mktemp("seeds")
    save_file(state, str(folder / "model.safetensors"))
    torch.save(state, folder / "model.pth")
    torch.save({"state_dict": state}, folder / "wrapped.pth")
    torch.save(state, folder / "legacy.pth", _use_new_zipfile_serialization=False)
    return {p.name: p for p in folder.iterdir()}


@pytest.mark.parametrize(
    ("names", "mutator"),
    [
        (["model.safetensors"], f"{__file__}:mutate_safetensors"),
        (["model.pth", "wrapped.pth"], None),
        (["legacy.pth"], None),
    ],
    ids=["safetensors", "pth-zip", "pth-legacy"],
)
def test_checkpoint_readers_survive_mutated_files(seeds, tmp_path, names, mutator):
    for name in names:  # the seeds themselves read
        read_and_touch(seeds[name])
    report = fuzz(
        f"{__file__}:read_and_touch",
        [seeds[n] for n in names],
        seconds=SECONDS,
        min_cases=60,  # the same first 60 mutations on any machine, however busy
        allowed=["torchgraft.core.errors:TorchgraftError"],
        folder=tmp_path,
        mutator=mutator,
    )
    print(report)
    assert report.ok, str(report)
    assert report.cases >= 60 and report.errors, str(report)  # it ran, and mutations were refused


def test_the_harness_reports_untyped_errors_crashes_and_memory(tmp_path, seeds):
    """The fuzz test could not fail if the harness missed these: each kind is caught, with the input kept."""
    helper = tmp_path / "readers.py"
    helper.write_text(
        "import ctypes, os\n"
        "def untyped(path):\n"
        "    raise KeyError('a raw error')\n"
        "def crash(path):\n"
        "    if path.name.startswith('current'):\n"
        "        os.abort()\n"
        "def greedy(path):\n"
        "    block = bytearray(256 << 20)\n"
        "    block[::4096] = b'x' * len(block[::4096])\n"
    )
    common = {"seconds": 0.5, "allowed": ["builtins:ValueError"], "memory_slack": 16 << 20}
    seed = [seeds["model.safetensors"]]
    untyped = fuzz(f"{helper}:untyped", seed, folder=tmp_path / "a", **common)
    crash = fuzz(f"{helper}:crash", seed, folder=tmp_path / "b", **common)
    greedy = fuzz(f"{helper}:greedy", seed, folder=tmp_path / "c", **common)
    assert [r.failures[0]["kind"] for r in (untyped, crash, greedy)] == ["untyped error", "crash", "memory"]
    assert "KeyError: 'a raw error'" in untyped.failures[0]["detail"]
    assert all(Path(r.failures[0]["input"]).is_file() for r in (untyped, crash, greedy))
    assert isinstance(untyped, FuzzReport) and not untyped.ok
