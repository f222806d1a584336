"""Files published without a sha256: pinned on the first download, verified against the pin after."""

from __future__ import annotations

import hashlib
import json
import socket
import warnings

import pytest

from torchgraft.core import IntegrityError, OfflineError, UnpinnedError, Weights, download
from torchgraft.core.cache import export_cache, import_cache
from torchgraft.core.store import UnpinnedDownloadWarning, is_cached, known_sha256, pinned_sha256


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_first_download_pins_the_digest_and_later_calls_use_the_cache(faulty, payload, cache_home):
    url = faulty.add("/encoder/model.safetensors", payload)
    with pytest.warns(UnpinnedDownloadWarning, match=digest(payload)):
        path = download(url, sha256=None, progress=False)
    assert path == cache_home / "blobs" / digest(payload) and path.read_bytes() == payload
    assert pinned_sha256(url) == digest(payload)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second call neither warns nor downloads
        assert download(url, sha256=None, progress=False) == path
    assert len(faulty.requests("/encoder/model.safetensors")) == 1


def test_a_changed_file_behind_a_pinned_url_is_refused(faulty, payload, cache_home):
    url = faulty.add("/w.bin", payload)
    with pytest.warns(UnpinnedDownloadWarning):
        path = download(url, sha256=None, progress=False)
    path.unlink()  # the cache lost the file, and upstream replaced it meanwhile
    faulty.files["/w.bin"] = payload[::-1]
    with pytest.raises(IntegrityError, match="pinned to") as info:
        download(url, sha256=None, progress=False)
    assert str(cache_home / "pins") in str(info.value)
    assert not (cache_home / "blobs" / digest(payload[::-1])).exists()
    assert pinned_sha256(url) == digest(payload)


def test_require_pinned_refuses_before_any_request(faulty, payload, cache_home, monkeypatch):
    url = faulty.add("/w.bin", payload)
    monkeypatch.setenv("TORCHGRAFT_REQUIRE_PINNED", "1")
    with pytest.raises(UnpinnedError, match="publishes no sha256"):
        download(url, sha256=None, progress=False)
    assert faulty.requests("/w.bin") == [] and not (cache_home / "pins").exists()
    # a digest given by the user is still fine
    assert download(url, sha256=digest(payload), progress=False).read_bytes() == payload


def test_offline_serves_a_pinned_file_and_fails_at_once_for_an_unpinned_one(faulty, payload, monkeypatch):
    url = faulty.add("/w.bin", payload)
    other = faulty.add("/other.bin", payload[:1000])
    with pytest.warns(UnpinnedDownloadWarning):
        path = download(url, sha256=None, progress=False)
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError("a socket was connected while offline")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert download(url, sha256=None, progress=False) == path
    with pytest.raises(OfflineError, match="other.bin"):
        download(other, sha256=None, progress=False)


def test_the_digest_a_server_declares_on_the_redirect_is_checked(faulty, payload, rule, cache_home):
    # Hugging Face answers /resolve/ with a redirect carrying the LFS sha256 in X-Linked-Etag.
    faulty.add("/cdn/blob", payload)
    good = faulty.add(
        "/resolve/good.safetensors",
        b"",
        always=rule(redirect_to="/cdn/blob", headers={"X-Linked-Etag": f'"{digest(payload)}"'}),
    )
    bad = faulty.add(
        "/resolve/bad.safetensors",
        b"",
        always=rule(redirect_to="/cdn/blob", headers={"X-Linked-Etag": f'"{"ab" * 32}"'}),
    )
    with pytest.raises(IntegrityError, match="the digest the server declared"):
        download(bad, sha256=None, progress=False)
    assert pinned_sha256(bad) is None and not (cache_home / "blobs" / digest(payload)).exists()
    with pytest.warns(UnpinnedDownloadWarning):
        assert download(good, sha256=None, progress=False).read_bytes() == payload


def test_an_interrupted_unpinned_download_resumes(faulty, payload, rule, cache_home):
    cut = len(payload) // 3
    url = faulty.add("/w.bin", payload, rule(drop_after=cut))
    with pytest.warns(UnpinnedDownloadWarning):
        assert download(url, sha256=None, progress=False).read_bytes() == payload
    _, second = faulty.requests("/w.bin")
    assert second.range == f"bytes={cut}-" and faulty.bytes_sent("/w.bin") == len(payload)


def test_weights_without_a_digest(faulty, payload, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="must be pinned"):
        Weights(url="pkg://torch/x.safetensors", sha256=None, meta={})
    weights = Weights(url=faulty.add("/m.safetensors", payload), sha256=None, meta={})
    assert not weights.pinned and not weights.full_hash
    assert not is_cached(weights) and known_sha256(weights) is None
    with pytest.warns(UnpinnedDownloadWarning):
        weights.fetch(progress=False)
    assert is_cached(weights) and known_sha256(weights) == digest(payload)
    # a user's own local file has nothing to be verified against and is read in place
    local = tmp_path / "mine.safetensors"
    local.write_bytes(b"x" * 10)
    assert Weights(url=local.as_uri(), sha256=None, meta={}).fetch() == local


def test_pins_travel_with_an_exported_cache(faulty, payload, tmp_path, monkeypatch):
    url = faulty.add("/w.bin", payload)
    with pytest.warns(UnpinnedDownloadWarning):
        download(url, sha256=None, progress=False)
    export_cache(tmp_path / "carry")
    record = json.loads(next((tmp_path / "carry" / "pins").glob("*.json")).read_text())
    assert record["url"] == url and record["sha256"] == digest(payload)
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "airgapped"))
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")
    pins = [r for r in import_cache(tmp_path / "carry") if r.get("kind") == "pin"]
    assert [r["status"] for r in pins] == ["skipped"], "another machine's first-use trust needs consent"
    assert pinned_sha256(url) is None
    pins = [r for r in import_cache(tmp_path / "carry", trust_pins=True) if r.get("kind") == "pin"]
    assert [r["status"] for r in pins] == ["imported"]
    assert download(url, sha256=None, progress=False).read_bytes() == payload


def test_an_import_folder_is_untrusted_input(faulty, payload, tmp_path, monkeypatch):
    """Symlinks are never followed, records are read bounded, and a pin only vouches for a file the
    cache holds."""
    url = faulty.add("/w.bin", payload)
    with pytest.warns(UnpinnedDownloadWarning):
        download(url, sha256=None, progress=False)
    carry = tmp_path / "carry"
    export_cache(carry)
    secret = tmp_path / "secret"
    secret.write_bytes(b"not for the cache")
    (carry / digest(b"not for the cache")).symlink_to(secret)
    (carry / f"{digest(payload)}.json").unlink()
    (carry / f"{digest(payload)}.json").write_bytes(b"{" + b" " * (1 << 20) + b"}")  # 1 MiB record
    orphan = f"{url}-elsewhere"
    from torchgraft.core.store import pin_path

    (carry / "pins" / pin_path(orphan).name).write_text(json.dumps({"url": orphan, "sha256": "ab" * 32}))
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "airgapped"))
    results = {r["sha256"]: r for r in import_cache(carry, trust_pins=True) if r.get("kind") != "pin"}
    assert results[digest(b"not for the cache")] == {
        "sha256": digest(b"not for the cache"),
        "status": "rejected",
        "reason": "not a regular file",
    }
    assert not (tmp_path / "airgapped" / "blobs" / digest(b"not for the cache")).exists()
    assert results[digest(payload)]["status"] == "imported"
    assert not (tmp_path / "airgapped" / "blobs" / f"{digest(payload)}.json").exists(), "oversized record dropped"
    assert pinned_sha256(orphan) is None, "a pin for a file the cache does not hold vouches for nothing"
    assert pinned_sha256(url) == digest(payload)


def test_a_local_mirror_of_an_unpinned_file_is_pinned_too(tmp_path, monkeypatch, payload):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "model.pth").write_bytes(payload)
    url = "https://download.example.org/models/model.pth"
    monkeypatch.setenv("TORCHGRAFT_MIRROR", f"https://download.example.org/models/={mirror.as_uri()}/")
    monkeypatch.setenv("TORCHGRAFT_REQUIRE_PINNED", "1")
    with pytest.raises(UnpinnedError):
        download(url, sha256=None, progress=False)
    monkeypatch.delenv("TORCHGRAFT_REQUIRE_PINNED")
    with pytest.warns(UnpinnedDownloadWarning):
        assert download(url, sha256=None, progress=False) == mirror / "model.pth"
    assert pinned_sha256(url) == digest(payload)
    (mirror / "model.pth").write_bytes(payload[::-1])  # the mirror's copy changes
    with pytest.raises(IntegrityError, match="pinned to"):
        download(url, sha256=None, progress=False)


@pytest.mark.parametrize("damage", ["flipped byte, mtime kept", "truncated", "emptied"])
def test_an_import_never_reblesses_a_corrupt_cached_copy(faulty, payload, tmp_path, monkeypatch, damage):
    """A good export imported over a cache holding a corrupt copy of the same blob: the copy is
    hashed, quarantined and replaced by the verified import; later loads get the right bytes."""
    import os

    from torchgraft.core.store import blobs_folder

    url = faulty.add("/good.bin", payload)
    download(url, sha256=digest(payload), progress=False)
    export_cache(tmp_path / "carry")
    blob = blobs_folder() / digest(payload)
    stat = blob.stat()
    data = bytearray(blob.read_bytes())
    if damage.startswith("flipped"):
        data[1000] ^= 0xFF
    blob.write_bytes(bytes(data[: len(data) // 2] if damage == "truncated" else b"" if damage == "emptied" else data))
    if damage.startswith("flipped"):
        os.utime(blob, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the damage hides behind the old mtime
    [result] = import_cache(tmp_path / "carry")
    assert result["status"] == "repaired"
    assert blob.read_bytes() == payload and any((blob.parent.parent / "quarantine").iterdir())
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")
    assert download(url, sha256=digest(payload), progress=False).read_bytes() == payload
    # importing again over the good copy finds it present
    assert import_cache(tmp_path / "carry")[0]["status"] == "present"


def test_an_import_file_that_is_not_what_its_name_says_is_rejected_and_stamps_nothing(tmp_path, payload):
    from torchgraft.core.store import blobs_folder

    carry = tmp_path / "carry"
    carry.mkdir()
    (carry / digest(payload)).write_bytes(payload[:-1] + b"\x00")
    [result] = import_cache(carry)
    assert result["status"] == "rejected" and result["actual"] != digest(payload)
    assert not (blobs_folder() / digest(payload)).exists()
