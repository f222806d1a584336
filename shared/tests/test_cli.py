"""The torchgraft command, run in-process (and once as the installed console script)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from typing import Any

import pytest
from torch import nn

import torchgraft.core as tg
from torchgraft.core.cli import main

DATA_V1 = random.Random(1).randbytes(300_000)
DATA_V2 = random.Random(2).randbytes(200_000)
VOCAB = b"a\nb\n"


class CliNet_Weights(tg.WeightsEnum):
    V1 = tg.Weights(
        url="http://127.0.0.1:9/clinet-v1.safetensors",  # rewritten per test, see `served`
        sha256=hashlib.sha256(DATA_V1).hexdigest()[:8],
        size=len(DATA_V1),
        meta={
            "num_params": 10,
            "license": "MIT",
            "metrics": {"ImageNet-1K": {"acc@1": 70.1}},
            "deprecated": True,
            "superseded_by": "V2",
        },
    )
    V2 = tg.Weights(
        url="http://127.0.0.1:9/clinet-v2.safetensors",
        sha256=hashlib.sha256(DATA_V2).hexdigest(),
        meta={"num_params": 10, "license": "MIT", "categories": ["a", "b"]},
        assets={"vocab.txt": tg.Asset("http://127.0.0.1:9/clinet-vocab.txt", sha256=hashlib.sha256(VOCAB).hexdigest())},
    )
    DEFAULT = V2


@tg.register_model()
def clinet(*, weights: CliNet_Weights | str | None = None, progress: bool = True, **config: Any) -> nn.Module:
    """A tiny model for CLI tests, from [A Paper](https://example.org/paper): ``nn.Linear`` with
    :class:`~torch.nn.Linear`'s defaults, 12 parameters (e.g. 3.0 x 4). Nothing more.

    Args:
        weights: none that load.
    """
    return nn.Linear(3, 3, **config)


@tg.register_model()
def clinet_nowts(*, weights: tg.Weights | None = None, progress: bool = True, **config: Any) -> nn.Module:
    """A model without published weights, named closer to 'clinet_nowt' than clinet is."""
    return nn.Linear(3, 3, **config)


@pytest.fixture
def served(faulty, monkeypatch):
    """Serves both files and points the entries' host at the test server through the user mirror."""
    faulty.add("/clinet-v1.safetensors", DATA_V1)
    faulty.add("/clinet-v2.safetensors", DATA_V2)
    faulty.add("/clinet-vocab.txt", VOCAB)
    monkeypatch.setenv("TORCHGRAFT_MIRROR", f"http://127.0.0.1:9/={faulty.url}/")
    return faulty


def run(capsys, *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


def test_list_json(capsys):
    code, rows, _ = run(capsys, "list", "clinet*", "--json")
    assert code == 0
    assert rows[0] == {
        "model": "clinet",
        "domain": "user",
        "weights": ["CliNet_Weights.V1", "CliNet_Weights.V2"],
        "default": "CliNet_Weights.V2",
    }
    assert rows[1]["model"] == "clinet_nowts" and rows[1]["weights"] == [] and rows[1]["default"] is None


def test_no_arguments_prints_help(capsys):
    code, out, err = run(capsys)
    assert code == 0 and err == ""
    assert out.startswith("usage: torchgraft") and all(c in out for c in ("list", "info", "download", "cache"))


def test_unknown_names_suggest_models_with_weights_first(capsys):
    # 'clinet_nowt' is closest to clinet_nowts (no weights); clinet, which has weights, comes first
    code, _, err = run(capsys, "info", "clinet_nowt")
    assert code == 1 and "did you mean clinet, clinet_nowts?" in err


def test_list_domain_is_checked_and_case_insensitive(capsys):
    code, rows, _ = run(capsys, "list", "clinet*", "--domain", "USER", "--json")
    assert code == 0 and [r["model"] for r in rows] == ["clinet", "clinet_nowts"]
    code, out, err = run(capsys, "list", "--domain", "visoin")
    assert code == 2 and out == "" and "domain 'visoin': expected one of" in err and "user" in err


def test_a_bare_word_lists_the_models_containing_it_and_no_match_says_so(capsys):
    code, rows, _ = run(capsys, "list", "nowts", "--json")
    assert code == 0 and [r["model"] for r in rows] == ["clinet_nowts"]  # as `pip list | grep` would
    code, out, err = run(capsys, "list", "clinte")
    assert code == 1 and out == "" and "no model matches 'clinte'; did you mean clinet" in err


def test_info_takes_a_weights_enums_name(capsys):
    code, data, _ = run(capsys, "info", "CliNet_Weights", "--json")
    assert code == 0 and data["model"] == "clinet"
    assert [w["name"] for w in data["weights"]] == ["CliNet_Weights.V1", "CliNet_Weights.V2"]


def test_info_shows_hashes_metrics_licence_and_cache_state(capsys, served):
    code, data, _ = run(capsys, "info", "clinet", "--json")
    assert code == 0 and data["model"] == "clinet"
    # the whole first sentence, joined across lines, without markup
    assert data["summary"] == (
        "A tiny model for CLI tests, from A Paper: nn.Linear with torch.nn.Linear's defaults, 12 parameters (e.g. 3.0 x 4)."
    )
    v1, v2 = data["weights"]
    assert v1["hash"] == "sha256-prefix (weaker)" and v2["hash"] == "sha256"
    assert v1["metrics"] == {"ImageNet-1K": {"acc@1": 70.1}} and v1["deprecated"] and v1["superseded_by"] == "V2"
    assert v2["default"] and not v2["cached"]
    run(capsys, "download", "clinet")
    code, text, _ = run(capsys, "info", "clinet")
    assert "CliNet_Weights.V2  [default, cached]" in text and "sha256-prefix (weaker)" in text and "70.1" in text


def test_download_named_default_and_all(capsys, served, cache_home):
    code, data, _ = run(capsys, "download", "clinet", "--json")
    assert code == 0 and data == {
        "results": [
            {
                "model": "clinet",
                "weights": "CliNet_Weights.V2",
                "ok": True,
                "path": str(cache_home / "blobs" / hashlib.sha256(DATA_V2).hexdigest()),
            }
        ],
        "ok": 1,
        "failed": 0,
    }
    assert (cache_home / "blobs" / hashlib.sha256(DATA_V2).hexdigest()).is_file()
    with pytest.warns(tg.TorchgraftDeprecationWarning):
        code, data, _ = run(capsys, "download", "clinet.V1", "--json")
    assert code == 0 and data["results"][0]["path"].endswith(hashlib.sha256(DATA_V1).hexdigest())
    # --all covers every registered model; other test modules register unreachable ones, so only
    # this module's entries are asserted on, and the summary counts them all.
    _, data, _ = run(capsys, "download", "--all", "--json")
    ours = {r["weights"]: r["ok"] for r in data["results"] if r["weights"].startswith("CliNet_Weights.")}
    assert ours == {"CliNet_Weights.V1": True, "CliNet_Weights.V2": True}
    assert data["ok"] + data["failed"] == len(data["results"]) and data["ok"] == sum(r["ok"] for r in data["results"])
    code, text, _ = run(capsys, "download", "--all")
    assert text.rstrip().endswith(f"{data['ok']} ok, {data['failed']} failed")
    assert code == (1 if data["failed"] else 0)


def test_download_failure_exits_non_zero_with_a_one_line_reason(capsys, faulty, monkeypatch):
    monkeypatch.setenv("TORCHGRAFT_MIRROR", f"http://127.0.0.1:9/={faulty.url}/")  # nothing served: 404
    code, _, err = run(capsys, "download", "clinet")
    assert code == 1
    assert err.strip().count("\n") == 0 and "404" in err


def test_usage_errors_exit_2(capsys):
    assert run(capsys, "download")[0] == 2
    assert run(capsys, "download", "clinet.V9")[0] == 1
    assert run(capsys, "nosuchcommand")[0] == 2
    assert run(capsys, "download", "clinet_nowts")[0] == 1  # no weights to download: one line, exit 1


def test_cache_ls_verify_prune_export_import(capsys, served, cache_home, tmp_path, monkeypatch):
    run(capsys, "download", "clinet")
    code, listing, _ = run(capsys, "cache", "ls", "--json")
    assert code == 0 and listing["files"][0]["sha256"] == hashlib.sha256(DATA_V2).hexdigest()
    assert listing["files"][0]["url"].endswith("/clinet-v2.safetensors")
    assert listing["files"][0]["weights"] == ["CliNet_Weights.V2"]  # which entry a blob belongs to
    code, text, _ = run(capsys, "cache", "ls")
    assert "CliNet_Weights.V2" in text

    code, results, _ = run(capsys, "cache", "verify", "--json")
    assert code == 0 and all(r["ok"] for r in results)

    export = tmp_path / "export"
    code, exported, _ = run(capsys, "cache", "export", str(export), "--json")
    assert code == 0 and [e["sha256"] for e in exported] == [hashlib.sha256(DATA_V2).hexdigest()]
    assert (export / hashlib.sha256(DATA_V2).hexdigest()).read_bytes() == DATA_V2

    # On the air-gapped machine: an empty cache, offline, filled from the export.
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "airgapped"))
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")
    (export / ("0" * 64)).write_bytes(b"not what the name says")
    code, imported, err = run(capsys, "cache", "import", str(export), "--json")
    assert code == 1 and "rejected" in err
    assert {r["status"] for r in imported} == {"imported", "rejected"}
    code, data, _ = run(capsys, "download", "clinet", "--json")
    assert code == 0 and data["results"][0]["ok"]


def test_cache_verify_quarantines_corruption(capsys, served, cache_home):
    run(capsys, "download", "clinet")
    blob = cache_home / "blobs" / hashlib.sha256(DATA_V2).hexdigest()
    blob.write_bytes(b"x" + DATA_V2[1:])
    code, results, err = run(capsys, "cache", "verify", "--json")
    assert code == 1 and not results[0]["ok"] and "corrupt" in err
    assert not blob.exists() and len(list((cache_home / "quarantine").iterdir())) == 1


def test_cache_prune_removes_leftovers_and_unreferenced_files(capsys, served, cache_home):
    run(capsys, "download", "clinet")
    vocab = CliNet_Weights.V2.value.fetch_asset("vocab.txt")  # an asset is referenced by its entry too
    partial = cache_home / "partial"
    partial.mkdir(exist_ok=True)
    (partial / f"{'ab' * 32}.host.999999.part").write_bytes(b"left by a dead process")
    stray = cache_home / "blobs" / ("7e" * 32)
    stray.write_bytes(b"a file no weights entry names")
    code, removed, _ = run(capsys, "cache", "prune", "--dry-run", "--json")
    assert code == 0 and [r["reason"] for r in removed] == ["partial download"]
    assert (partial / f"{'ab' * 32}.host.999999.part").exists()
    code, removed, _ = run(capsys, "cache", "prune", "--unreferenced", "--json")
    assert {r["reason"] for r in removed} == {"partial download", "unreferenced"}
    assert not stray.exists() and (cache_home / "blobs" / hashlib.sha256(DATA_V2).hexdigest()).exists()
    assert vocab.read_bytes() == VOCAB


@pytest.mark.parametrize("action", ["ls", "verify", "prune", "export"])
@pytest.mark.parametrize("damage", ["blobs", "home"])
def test_cache_commands_fail_on_a_cache_they_cannot_read(capsys, cache_home, tmp_path, monkeypatch, action, damage):
    """Never "0 files verified" for a cache that was not read: blobs/ replaced by a file, or
    TORCHGRAFT_HOME naming a file."""
    if damage == "blobs":
        (cache_home / "blobs").write_text("not a folder")
    else:
        monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "a-file"))
        (tmp_path / "a-file").write_text("not a folder")
    argv = ["cache", action, *([str(tmp_path / "out")] if action == "export" else []), "--json"]
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == "", out
    assert err.count("\n") == 1 and ("is a file, not a directory" in err), err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_an_empty_cache_is_listed_as_empty(capsys, cache_home):
    code, listing, _ = run(capsys, "cache", "ls", "--json")
    assert code == 0 and listing["files"] == [] and listing["partial"] == []


def test_console_script_is_installed():
    exe = shutil.which("torchgraft", path=os.path.dirname(sys.executable))
    assert exe, "the torchgraft console script is not installed next to this Python"
    out = subprocess.run([exe, "list", "--json"], capture_output=True, text=True, check=True).stdout
    assert isinstance(json.loads(out), list)


def test_a_command_of_a_domain_not_installed_says_what_to_install(capsys, monkeypatch):
    import torchgraft.core.cli as cli

    monkeypatch.setattr(cli, "COMMANDS", {**cli.COMMANDS, "torchgraft-fictional": frozenset({"dream"})})
    code, out, err = run(capsys, "dream", "--json", "of sheep")
    assert code == 2 and out == ""
    assert (
        "torchgraft dream is provided by torchgraft-fictional, which is not installed: pip install torchgraft-fictional"
        in err
    )
    code, _, err = run(capsys, "dreem")
    assert code == 2 and "invalid choice: 'dreem'" in err  # an unknown word is still argparse's


def test_cache_import_adopts_another_caches_files_a_weights_entry_vouches_for(capsys, tmp_path, monkeypatch):
    hub = tmp_path / "checkpoints"  # torch.hub's layout: files named as their url names them
    hub.mkdir()
    (hub / "clinet-v2.safetensors").write_bytes(DATA_V2)  # its entry publishes the full digest
    (hub / "clinet-v1.safetensors").write_bytes(DATA_V1)  # published by an 8-digit prefix only
    (hub / "someone-elses.pth").write_bytes(b"not ours")
    code, out, _ = run(capsys, "cache", "import", str(hub), "--json")
    adopted = {r["file"]: r for r in out if r.get("kind") == "adopted"}
    assert code == 0 and adopted["clinet-v2.safetensors"]["status"] == "imported"
    assert "no full digest" in adopted["clinet-v1.safetensors"]["reason"]  # a prefix never vouches for a file
    assert adopted["someone-elses.pth"]["reason"] == "no installed weights entry names it"
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")
    assert CliNet_Weights.V2.fetch(progress=False).read_bytes() == DATA_V2  # served from the cache
    (hub / "clinet-v2.safetensors").write_bytes(DATA_V2[:-1] + bytes([DATA_V2[-1] ^ 1]))  # one bit differs
    code, text, _ = run(capsys, "cache", "import", str(hub))
    assert code == 0 and "skipped clinet-v2.safetensors: its bytes hash to" in text
