"""The shared-cache threat model (docs/store.md): what another member of the group can plant in a
group-writable cache, and that the store never writes through it, serves it, or hangs on it."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from torchgraft.core import (
    CacheError,
    IntegrityError,
    OfflineError,
    SettingsError,
    WeightsSourceError,
    download,
)
from torchgraft.core import settings as tg_settings
from torchgraft.core.cache import import_cache, list_cache
from torchgraft.core.store import _host, cached_path, pinned_sha256


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped) on this host."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """Another user's file, outside the cache, that a planted name points at."""
    path = tmp_path / "outside" / "victim.txt"
    path.parent.mkdir()
    path.write_bytes(b"another user's thesis\n")
    return path


def plant(kind: str, at: Path, victim: Path) -> None:
    at.parent.mkdir(parents=True, exist_ok=True)
    if kind == "symlink":
        at.symlink_to(victim)
    elif kind == "hardlink":
        os.link(victim, at)
    elif kind == "fifo":
        os.mkfifo(at)
    elif kind == "directory":
        at.mkdir()
    elif kind == "dangling symlink":
        at.symlink_to(victim.parent / "not-yet")
    else:  # pragma: no cover
        raise AssertionError(kind)


KINDS = ["symlink", "hardlink", "fifo", "directory", "dangling symlink"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("owner", ["a dead process", "this process"])
def test_a_planted_partial_file_is_never_adopted_or_written_through(kind, owner, faulty, payload, victim, cache_home):
    """Named like a dead process's partial download (or like this process's own), a planted
    symlink, hard link, FIFO or directory is neither adopted nor opened: the victim is untouched,
    and the blob is a regular file with the right bytes."""
    sha = digest(payload)
    pid = dead_pid() if owner == "a dead process" else os.getpid()
    planted = cache_home / "partial" / f"{sha}.{_host()}.{pid}.part"
    plant(kind, planted, victim)
    before = victim.read_bytes()
    url = faulty.add("/w", payload)
    path = download(url, sha256=sha, progress=False)
    assert victim.read_bytes() == before, "the victim is never written"
    assert not path.is_symlink() and path.read_bytes() == payload and os.stat(path).st_nlink == 1
    assert not (cache_home / "outside").exists()
    assert faulty.requests("/w")[0].range is None, "nothing planted is resumed from"


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "fifo"])
def test_a_planted_blob_is_never_served(kind, faulty, payload, victim, cache_home):
    """blobs/<sha256> is served only as a regular file of the store's: a symlink (even to a file
    with the right bytes), a FIFO or a hard link is not trusted, and the download replaces it."""
    victim.write_bytes(payload)
    sha = digest(payload)
    planted = cache_home / "blobs" / sha
    plant(kind, planted, victim)
    if kind == "hardlink":  # a hard link is a regular file: it is served only after a full hash
        assert cached_path(sha) == planted
        return
    assert cached_path(sha) is None
    url = faulty.add("/w", payload)
    path = download(url, sha256=sha, progress=False)
    assert not path.is_symlink() and path.read_bytes() == payload
    assert victim.read_bytes() == payload and len(faulty.requests("/w")) == 1


@pytest.mark.parametrize("record", ["stamps", "pins", "locks"])
@pytest.mark.filterwarnings("ignore::torchgraft.core.store.UnpinnedDownloadWarning")
def test_planted_records_never_hang_or_mislead(record, faulty, payload, cache_home):
    """A stamp, pin or lock-holder record swapped for a FIFO or /dev/zero is read as no record:
    nothing blocks, nothing reads without bound."""
    sha = digest(payload)
    url = faulty.add("/w", payload)
    names = {
        "stamps": [cache_home / "stamps" / f"{sha}.json"],
        "pins": [],  # filled below: pins are named by the url's hash
        "locks": [cache_home / "locks" / f"{sha}.lock.holder"],
    }
    from torchgraft.core.store import pin_path

    names["pins"] = [pin_path(url)]
    for path in names[record]:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
    start = time.monotonic()
    path = download(url, sha256=sha if record != "pins" else None, progress=False)
    assert path.read_bytes() == payload and time.monotonic() - start < 60
    (cache_home / "stamps").mkdir(exist_ok=True)
    zero = cache_home / "stamps" / f"{sha}.json"
    zero.unlink(missing_ok=True)
    zero.symlink_to("/dev/zero")
    assert cached_path(sha) == path, "a stamp that is not a regular file is no stamp: the file is hashed"


@pytest.mark.parametrize("folder", ["partial", "blobs", "pins", "stamps"])
@pytest.mark.filterwarnings("ignore::torchgraft.core.store.UnpinnedDownloadWarning")
def test_a_cache_folder_replaced_by_a_symlink_is_refused(folder, faulty, payload, tmp_path, cache_home):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (cache_home / folder).symlink_to(elsewhere, target_is_directory=True)
    url = faulty.add("/w", payload)
    if folder == "stamps":  # stamps are best effort: the download succeeds and is not stamped
        assert download(url, sha256=digest(payload), progress=False).read_bytes() == payload
    else:
        with pytest.raises(CacheError, match=f"{folder} is a symlink"):
            download(url, sha256=None, progress=False)
    assert not any(elsewhere.iterdir()), "nothing is written through the symlink"


def collide() -> tuple[bytes, bytes]:
    """Two payloads whose sha256 share their first 8 hex digits (a 32-bit prefix: a birthday
    search over a few hundred thousand candidates, deterministic)."""
    seen: dict[str, bytes] = {}
    for i in range(4_000_000):
        data = b"candidate-%d" % i
        key = digest(data)[:8]
        if key in seen:
            return seen[key], data
        seen[key] = data
    raise AssertionError("no collision found")  # pragma: no cover


def test_a_prefix_never_chooses_between_cached_files_or_vouches_for_an_imported_one(
    faulty, tmp_path, cache_home, monkeypatch
):
    real, impostor = collide()
    prefix = digest(real)[:8]
    assert digest(impostor).startswith(prefix) and digest(real) != digest(impostor)
    # The impostor is brought in by `cache import` (which verifies only that it is what it is named).
    folder = tmp_path / "carried"
    folder.mkdir()
    (folder / digest(impostor)).write_bytes(impostor)
    assert [r["status"] for r in import_cache(folder)] == ["imported"]
    url = faulty.add("/resnet-0676ba61.pth", real)
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")
    with pytest.raises(OfflineError):
        download(url, sha256=prefix, progress=False)
    monkeypatch.delenv("TORCHGRAFT_OFFLINE")
    assert download(url, sha256=prefix, progress=False).read_bytes() == real
    assert pinned_sha256(url) == digest(real)
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")
    for _ in range(2):  # served by the pinned full digest, whichever digest sorts first
        assert download(url, sha256=prefix, progress=False).read_bytes() == real
    assert len(faulty.requests("/resnet-0676ba61.pth")) == 1


@pytest.mark.parametrize("source", ["fifo", "/dev/zero", "directory"])
@pytest.mark.parametrize("published", [True, False])
def test_a_file_url_that_is_not_a_regular_file_is_refused_at_once(source, published, tmp_path, cache_home):
    if source == "fifo":
        path = tmp_path / "weights.pt"
        os.mkfifo(path)
    elif source == "directory":
        path = tmp_path / "weights.pt"
        path.mkdir()
    else:
        path = Path(source)
    signal.alarm(60)  # a regression would block forever: fail instead
    try:
        with pytest.raises(WeightsSourceError, match="not a regular file|no file at"):
            download(path.as_uri(), sha256="ab" * 32 if published else None, progress=False)
    finally:
        signal.alarm(0)


def test_require_pinned_refuses_a_local_file_without_a_digest(tmp_path, monkeypatch):
    from torchgraft.core import UnpinnedError

    path = tmp_path / "w.pt"
    path.write_bytes(b"x")
    assert download(path.as_uri(), sha256=None, progress=False) == path
    monkeypatch.setenv("TORCHGRAFT_REQUIRE_PINNED", "1")
    with pytest.raises(UnpinnedError, match="TORCHGRAFT_REQUIRE_PINNED"):
        download(path.as_uri(), sha256=None, progress=False)


def test_a_stopped_lock_holder_does_not_block_others(faulty, payload, cache_home):
    """A download holding the lock and stopped with SIGSTOP: another process says so and downloads
    without the lock at once, instead of waiting TORCHGRAFT_LOCK_TIMEOUT in silence."""
    sha = digest(payload)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from torchgraft.core.store import _download_lock
                with _download_lock({sha!r}):
                    print("held", flush=True)
                    time.sleep(600)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        env={**os.environ, "TORCHGRAFT_HOME": str(cache_home)},
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        os.kill(holder.pid, signal.SIGSTOP)
        url = faulty.add("/w", payload)
        start = time.monotonic()
        with pytest.warns(RuntimeWarning, match=f"process {holder.pid} on .*which is stopped"):
            assert download(url, sha256=sha, progress=False).read_bytes() == payload
        assert time.monotonic() - start < 120
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TORCHGRAFT_HTTP_TIMEOUT", "abc"),
        ("TORCHGRAFT_HTTP_TIMEOUT", "-1"),
        ("TORCHGRAFT_HTTP_TIMEOUT", "nan"),
        ("TORCHGRAFT_LOCK_TIMEOUT", "x"),
        ("TORCHGRAFT_LOCK_TIMEOUT", "0"),
        ("TORCHGRAFT_OFFLINE", "maybe"),
        ("TORCHGRAFT_REQUIRE_PINNED", "2"),
        ("TORCHGRAFT_VERIFY", "sometimes"),
        ("TORCHGRAFT_NO_LOCK", "yes please"),
        ("TORCHGRAFT_PROGRESS", "loud"),
        ("TORCHGRAFT_MAX_DOWNLOAD", "12 parsecs"),
        ("TORCHGRAFT_MIRROR", "https://a.example"),
    ],
)
def test_a_malformed_setting_is_refused_by_name(name, value, faulty, payload, monkeypatch):
    monkeypatch.setenv(name, value)
    code = "import torchgraft.core"
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ}, capture_output=True, text=True)
    assert result.returncode == 0, f"a malformed {name} must not break the import: {result.stderr}"
    url = faulty.add("/w", payload)
    with pytest.raises(SettingsError, match=f"{name}=.*is not valid: it takes"):
        download(url, sha256=digest(payload), progress=False)


@pytest.mark.parametrize("value", ["1", "true", "ALWAYS", "on"])
def test_verify_accepts_the_usual_spellings_of_yes(value, faulty, payload, monkeypatch):
    url = faulty.add("/w", payload)
    path = download(url, sha256=digest(payload), progress=False)
    with open(path, "r+b") as fh:  # bit rot that keeps the mtime: only a full hash sees it
        st = os.stat(path)
        fh.seek(100)
        fh.write(bytes([payload[100] ^ 1]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    monkeypatch.setenv("TORCHGRAFT_VERIFY", value)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert download(url, sha256=digest(payload), progress=False).read_bytes() == payload
    assert len(faulty.requests("/w")) == 2, "the altered file was caught and fetched again"


def test_every_setting_is_in_the_documented_table():
    table = (Path(__file__).parents[2] / "docs" / "store.md").read_text()
    for name in tg_settings.SETTINGS:
        assert f"| `{name}` |" in table, f"{name} is missing from docs/store.md's settings table"
    source = "".join(p.read_text() for p in (Path(tg_settings.__file__).parent).glob("*.py"))
    import re

    used = set(re.findall(r'"(TORCHGRAFT_[A-Z_]+)"', source)) - {"TORCHGRAFT_ISOLATED"}
    assert used <= set(tg_settings.SETTINGS), f"read outside settings.py: {used - set(tg_settings.SETTINGS)}"


@pytest.mark.parametrize("through", ["file", "file/sub"])
def test_cache_commands_refuse_a_home_through_a_file(through, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / through))
    with pytest.raises(CacheError, match="TORCHGRAFT_HOME=.*(is a file|goes through .*file)"):
        list_cache()


def test_an_imported_origin_record_cannot_put_escapes_on_a_terminal(tmp_path, cache_home):
    import json

    data = b"weights"
    folder = tmp_path / "carried"
    folder.mkdir()
    (folder / digest(data)).write_bytes(data)
    (folder / f"{digest(data)}.json").write_text(json.dumps({"url": "\x1b]0;pwned\x07\x1b[2Jhttps://x", "fetched": 1}))
    import_cache(folder)
    (entry,) = list_cache()["files"]
    assert "\x1b" not in entry["url"] and "\x07" not in entry["url"] and "\\x1b" in entry["url"]


def test_a_pin_that_cannot_be_written_is_a_cache_error_naming_it(faulty, payload, monkeypatch):
    from torchgraft.core import store

    real = store.atomic_write_text

    def refuse_pins(target, text):
        if target.parent.name == "pins":
            raise PermissionError(13, "Permission denied", str(target))
        return real(target, text)

    monkeypatch.setattr(store, "atomic_write_text", refuse_pins)
    url = faulty.add("/w", payload)
    with pytest.raises(CacheError, match=r"arrived and verified as [0-9a-f]{64}, but its pin could not be written"):
        download(url, sha256=None, progress=False)


@pytest.mark.parametrize(
    "command", [["cache", "ls"], ["cache", "verify"], ["cache", "prune"], ["cache", "export", "x"]]
)
def test_every_cache_command_fails_on_a_home_through_a_file(command, tmp_path, monkeypatch, capsys):
    from torchgraft.core.cli import main

    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "file" / "sub"))
    monkeypatch.chdir(tmp_path)
    assert main(command) == 1
    assert "goes through" in capsys.readouterr().err


@pytest.mark.parametrize("swap", ["symlink", "fifo", "/dev/zero"])
def test_an_import_file_swapped_after_the_listing_is_rejected_not_followed(
    swap, tmp_path, victim, monkeypatch, cache_home
):
    """What `cache import` checks is what it reads: a file that passes the listing's check and is
    then replaced (simulated by a check that always passes) is opened without following links or
    blocking, and rejected."""
    from torchgraft.core import cache

    folder = tmp_path / "carried"
    folder.mkdir()
    name = digest(victim.read_bytes())
    if swap == "symlink":
        (folder / name).symlink_to(victim)
    elif swap == "fifo":
        os.mkfifo(folder / name)
    else:
        (folder / name).symlink_to("/dev/zero")
    monkeypatch.setattr(cache, "is_regular", lambda path: True)
    signal.alarm(60)
    try:
        results = import_cache(folder)
    finally:
        signal.alarm(0)
    assert [r["status"] for r in results] == ["rejected"], results
    assert "symlink" in results[0]["reason"] or "FIFO" in results[0]["reason"], results
    assert not os.path.lexists(cache_home / "blobs" / name), "nothing is brought into the cache"


@pytest.mark.parametrize("moment", ["before the rename", "during the rename"])
def test_a_partial_swapped_at_the_rename_is_never_served_or_stamped(moment, faulty, payload, cache_home, monkeypatch):
    """A member swaps the finished partial file for one of their own just before the store renames
    it into blobs/ (or while it does): the download fails, and nothing unverified is kept."""
    from torchgraft.core import store

    real = os.replace
    planted = b"not the weights" * 1000

    def swapping(src, dst, *args, **kwargs):
        if str(src).endswith(".part") and Path(dst).parent.name == "blobs":
            swap = Path(src).with_name("swap")
            swap.write_bytes(planted)
            if moment == "before the rename":
                real(swap, src)
            else:
                real(src, dst)  # the real partial lands, then the planted file replaces it
                real(swap, dst)
                return None
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(store.os, "replace", swapping)
    url = faulty.add("/w", payload)
    with pytest.raises(IntegrityError, match="replaced by another file|not the file that was downloaded"):
        download(url, sha256=digest(payload), progress=False)
    monkeypatch.setattr(store.os, "replace", real)
    blob = cache_home / "blobs" / digest(payload)
    assert not blob.exists() or blob.read_bytes() == payload
    assert cached_path(digest(payload)) is None
