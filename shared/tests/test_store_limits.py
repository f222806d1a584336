"""The store's bounds: no body is read without a limit, free space is watched while bytes arrive,
and a write that fails (full disk, file-size limit, unwritable cache) is a typed error."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchgraft.core import (
    CacheError,
    DiskSpaceError,
    SettingsError,
    SizeLimitError,
    Weights,
    WeightsSourceError,
    download,
)
from torchgraft.core.store import DEFAULT_MAX_DOWNLOAD, max_download, weights_bound


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(home: Path) -> list[Path]:
    """Files the store left: blobs and partial downloads."""
    return sorted(p for d in ("blobs", "partial") if (home / d).is_dir() for p in (home / d).iterdir())


def test_a_body_without_content_length_is_read_in_full_when_within_bounds(faulty, payload, rule, cache_home):
    url = faulty.add("/w", payload, always=rule(no_length=True))
    assert download(url, sha256=digest(payload), progress=False).read_bytes() == payload
    assert not list((cache_home / "partial").glob("*.part"))


def test_an_endless_body_stops_at_the_callers_bound_and_leaves_nothing(faulty, payload, rule, cache_home):
    url = faulty.add("/w", payload, always=rule(no_length=True, extra=62 << 20))
    with pytest.raises(SizeLimitError, match=r"sent more than 4,194,304 bytes.*max_bytes=4,194,304"):
        download(url, sha256=digest(payload), progress=False, max_bytes=4 << 20)
    assert not leftovers(cache_home), "bytes past the bound must not stay in the cache"
    assert faulty.bytes_sent("/w") < 32 << 20, "the read stops at the bound, not at the end of the body"


def test_an_announced_length_past_the_bound_is_refused_before_the_body(faulty, payload, rule, cache_home):
    url = faulty.add("/w", payload)
    with pytest.raises(SizeLimitError, match=f"announces {len(payload):,} bytes"):
        download(url, sha256=None, progress=False, max_bytes=1 << 20)
    assert not leftovers(cache_home) and not list((cache_home / "pins").glob("*")), "no pin for a refused file"


def test_torchgraft_max_download_overrides_every_estimate(faulty, payload, rule, monkeypatch, cache_home):
    url = faulty.add("/w", payload, always=rule(no_length=True))
    monkeypatch.setenv("TORCHGRAFT_MAX_DOWNLOAD", "1M")
    assert max_download() == 1 << 20
    with pytest.raises(SizeLimitError, match="TORCHGRAFT_MAX_DOWNLOAD"):
        download(url, sha256=digest(payload), progress=False, max_bytes=1 << 30)
    monkeypatch.setenv("TORCHGRAFT_MAX_DOWNLOAD", "2.5GiB")
    assert max_download() == int(2.5 * (1 << 30))
    assert download(url, sha256=digest(payload), progress=False).read_bytes() == payload


@pytest.mark.parametrize("bad", ["lots", "-5G", "0", "12 parsecs"])
def test_a_malformed_max_download_says_what_it_expects(bad, monkeypatch):
    monkeypatch.setenv("TORCHGRAFT_MAX_DOWNLOAD", bad)
    with pytest.raises(SettingsError, match="TORCHGRAFT_MAX_DOWNLOAD=.* takes a size: 512M"):
        download("https://example.org/w.safetensors", sha256=None, progress=False)


def test_a_weights_entry_without_a_size_is_bounded_by_its_parameter_count(faulty, payload, rule, cache_home):
    weights = Weights(url=f"{faulty.url}/w.safetensors", sha256=None, meta={"num_params": 1000})
    bound = weights_bound(weights)
    assert bound.bytes == 8000 + (64 << 20) < DEFAULT_MAX_DOWNLOAD
    faulty.add("/w.safetensors", random.Random(1).randbytes(bound.bytes + 1), always=rule(no_length=True))
    with pytest.raises(SizeLimitError, match="fp32 size of its 1,000 parameters"):
        weights.fetch(progress=False)
    assert not leftovers(cache_home)


def test_free_space_is_watched_while_a_body_of_unknown_length_streams(faulty, payload, rule, monkeypatch, cache_home):
    url = faulty.add("/w", payload, always=rule(no_length=True))
    monkeypatch.setattr("torchgraft.core.transfer.SPACE_CHECK_EVERY", 1 << 20)
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=32 << 20))
    with pytest.raises(DiskSpaceError, match="kept to resume"):
        download(url, sha256=digest(payload), progress=False)
    (part,) = (cache_home / "partial").glob("*.part")
    assert 0 < part.stat().st_size < len(payload)
    monkeypatch.setattr(shutil, "disk_usage", real)
    assert download(url, sha256=digest(payload), progress=False).read_bytes() == payload


WRITER = """
import resource, sys
from torchgraft.core import TorchgraftError, download
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
try:
    download(sys.argv[1], sha256=sys.argv[2], progress=False)
except TorchgraftError as exc:
    print(type(exc).__name__, exc, sep="|")
"""


def test_a_write_past_the_file_size_limit_is_a_typed_error(faulty, payload, cache_home):
    """A real failing write: the child may not write files over 1 MiB (``ulimit -f``)."""
    url = faulty.add("/w", payload)
    out = subprocess.run(
        [sys.executable, "-c", WRITER, url, digest(payload)],
        capture_output=True,
        text=True,
        env={**os.environ, "TORCHGRAFT_HOME": str(cache_home)},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    name, message = out.stdout.strip().split("|", 1)
    assert name == "DiskSpaceError" and "ulimit -f" in message, out.stdout
    assert not list((cache_home / "blobs").iterdir()), "no blob from a failed write"


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Makes ``folder`` refuse new entries, for root as well (root ignores file modes; an immutable
    folder refuses it too)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(folder)], check=True, capture_output=True)
    else:
        folder.chmod(0o555)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=True, capture_output=True)
        folder.chmod(0o755)


def test_a_read_only_cache_without_the_file_is_a_typed_error(faulty, payload, cache_home):
    url = faulty.add("/w", payload)
    cached = faulty.add("/cached", b"cached bytes")
    kept = download(cached, sha256=digest(b"cached bytes"), progress=False)
    shutil.rmtree(cache_home / "partial")
    with read_only(cache_home):
        assert download(cached, sha256=digest(b"cached bytes"), progress=False) == kept, "what it holds it serves"
        with pytest.raises(CacheError, match=f"cannot write to the cache {cache_home} .*TORCHGRAFT_HOME"):
            download(url, sha256=digest(payload), progress=False)
    assert faulty.requests("/w") == [], "nothing is downloaded that could not be kept"


def test_torchgraft_home_naming_a_file_is_a_typed_error(faulty, payload, monkeypatch, tmp_path):
    home = tmp_path / "home"
    home.write_text("not a directory")
    monkeypatch.setenv("TORCHGRAFT_HOME", str(home))
    url = faulty.add("/w", payload)
    with pytest.raises(WeightsSourceError, match="TORCHGRAFT_HOME=.* is a file, not a directory"):
        download(url, sha256=digest(payload), progress=False)


def test_bit_rot_that_keeps_the_mtime_is_caught_by_verify_always(faulty, payload, monkeypatch, cache_home):
    """A stamp proves (inode, size, mtime) only, as documented; TORCHGRAFT_VERIFY=always re-hashes
    on every use, quarantines the altered copy and fetches the file again."""
    url = faulty.add("/w", payload)
    path = download(url, sha256=digest(payload), progress=False)
    st = path.stat()
    with open(path, "r+b") as fh:  # one flipped byte, in place: same inode and size
        fh.seek(12345)
        fh.write(bytes([payload[12345] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert download(url, sha256=digest(payload), progress=False).read_bytes() != payload, "the stamp's limit"
    monkeypatch.setenv("TORCHGRAFT_VERIFY", "always")
    with pytest.warns(RuntimeWarning, match="quarantine"):
        assert download(url, sha256=digest(payload), progress=False).read_bytes() == payload
    assert len(faulty.requests("/w")) == 2
