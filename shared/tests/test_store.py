"""The weight store against a real, misbehaving HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from torchgraft.core import (
    DiskSpaceError,
    FormatMismatchError,
    IntegrityError,
    NetworkError,
    NotFoundError,
    NotWeightsError,
    OfflineError,
    UnauthorizedError,
    Weights,
    download,
)
from torchgraft.core.store import cached_path, pinned_sha256


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_files(home: Path) -> list[Path]:
    blobs = home / "blobs"
    return sorted(p for p in blobs.iterdir() if not p.name.endswith(".json")) if blobs.is_dir() else []


def partial_files(home: Path) -> list[Path]:
    return sorted((home / "partial").glob("*.part")) if (home / "partial").is_dir() else []


def test_plain_download_is_verified_content_addressed_and_cached(faulty, payload, cache_home):
    url = faulty.add("/w.safetensors", payload)
    path = download(url, sha256=digest(payload), size=len(payload), progress=False)
    assert path == cache_home / "blobs" / digest(payload)
    assert path.read_bytes() == payload
    assert download(url, sha256=digest(payload), progress=False) == path
    assert len(faulty.requests("/w.safetensors")) == 1, "a cache hit must not touch the network"
    assert not partial_files(cache_home)


def test_connection_dropped_at_40_percent_resumes_with_a_range_request(faulty, payload, rule):
    cut = int(len(payload) * 0.4)
    url = faulty.add("/w", payload, rule(drop_after=cut))
    path = download(url, sha256=digest(payload), size=len(payload), progress=False)
    assert path.read_bytes() == payload
    first, second = faulty.requests("/w")
    assert first.range is None and second.range == f"bytes={cut}-" and second.status == 206
    assert faulty.bytes_sent("/w") == len(payload), "resuming must not fetch bytes twice"


def test_server_that_ignores_range_restarts_without_duplicating_bytes(faulty, payload, rule):
    cut = len(payload) // 3
    url = faulty.add("/w", payload, rule(drop_after=cut), rule(ignore_range=True))
    path = download(url, sha256=digest(payload), progress=False)
    assert path.read_bytes() == payload
    assert [h.status for h in faulty.requests("/w")] == [200, 200]


def test_wrong_content_range_discards_the_partial_and_starts_over(faulty, payload, rule):
    cut = len(payload) // 2
    url = faulty.add("/w", payload, rule(drop_after=cut), rule(bad_content_range=True))
    path = download(url, sha256=digest(payload), progress=False)
    assert path.read_bytes() == payload
    hits = faulty.requests("/w")
    assert len(hits) == 3 and hits[2].range is None


def test_flipped_byte_is_an_integrity_error_and_nothing_is_cached(faulty, payload, rule, cache_home):
    url = faulty.add("/w", payload, always=rule(flip_byte=12345))
    with pytest.raises(IntegrityError) as info:
        download(url, sha256=digest(payload), progress=False)
    message = str(info.value)
    bad = bytearray(payload)
    bad[12345] ^= 0xFF
    assert url in message and digest(payload) in message and digest(bytes(bad)) in message
    assert not blob_files(cache_home) and not partial_files(cache_home)


def test_corrupt_resume_gets_one_clean_retry(faulty, payload, rule):
    cut = len(payload) // 2
    url = faulty.add("/w", payload, rule(drop_after=cut, flip_byte=10), rule())
    assert download(url, sha256=digest(payload), progress=False).read_bytes() == payload
    assert [h.range for h in faulty.requests("/w")] == [None, f"bytes={cut}-", None]


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"<!DOCTYPE html><html><body>Sign in to the proxy</body></html>", "HTML page"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 1234\n", "git-lfs pointer"),
    ],
)
def test_html_pages_and_lfs_pointers_are_named_as_such(faulty, payload, rule, body, what):
    url = faulty.add("/w", payload, always=rule(body=body))
    with pytest.raises(NotWeightsError, match=what):
        download(url, sha256=digest(payload), progress=False)


def test_more_bytes_than_declared_abort_the_transfer(faulty, payload, rule, cache_home):
    url = faulty.add("/w", payload, always=rule(extra=4096))
    with pytest.raises(IntegrityError, match=f"declared {len(payload)}"):
        download(url, sha256=digest(payload), size=len(payload), progress=False)
    assert not blob_files(cache_home)


def test_a_stalled_server_times_out(faulty, payload, rule, monkeypatch):
    monkeypatch.setenv("TORCHGRAFT_HTTP_TIMEOUT", "0.3")
    monkeypatch.setattr("torchgraft.core.store.ATTEMPTS", 2)
    url = faulty.add("/w", payload, always=rule(trickle_s=1.0))
    start = time.monotonic()
    with pytest.raises(NetworkError, match="connection broke"):
        download(url, sha256=digest(payload), progress=False)
    assert time.monotonic() - start < 60  # trickled to the end, the body would take over two minutes


def test_redirects_are_followed_but_bounded(faulty, payload, rule):
    faulty.add("/real", payload)
    url = faulty.add("/hop1", b"", always=rule(redirect_to="/hop2"))
    faulty.add("/hop2", b"", always=rule(redirect_to="/real"))
    assert download(url, sha256=digest(payload), progress=False).read_bytes() == payload
    loop = faulty.add("/loop", b"", always=rule(redirect_to="/loop"))
    with pytest.raises(NetworkError):
        download(loop, sha256="ab" * 32, progress=False)
    assert len(faulty.requests("/loop")) <= 6
    ftp = faulty.add("/ftp", b"", always=rule(redirect_to="ftp://127.0.0.1/w"))
    with pytest.raises(NetworkError, match="only http"):
        download(ftp, sha256="ab" * 32, progress=False)


@pytest.mark.parametrize(
    ("status", "error"), [(404, NotFoundError), (401, UnauthorizedError), (403, UnauthorizedError), (500, NetworkError)]
)
def test_http_errors_are_typed_and_never_called_offline(faulty, payload, rule, status, error):
    url = faulty.add("/w", payload, always=rule(status=status))
    with pytest.raises(error) as info:
        download(url, sha256=digest(payload), progress=False)
    assert not isinstance(info.value, OfflineError)
    assert str(status) in str(info.value)


def test_primary_500_then_mirror_succeeds(faulty, payload, rule):
    primary = faulty.add("/primary", payload, always=rule(status=500))
    mirror = faulty.add("/mirror", payload)
    path = download(primary, sha256=digest(payload), mirrors=[mirror], progress=False)
    assert path.read_bytes() == payload
    assert len(faulty.requests("/primary")) == 1 and len(faulty.requests("/mirror")) == 1


def test_user_mirror_setting_rewrites_url_prefixes(faulty, payload, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    faulty.add("/company/models/w.safetensors", payload)
    monkeypatch.setenv("TORCHGRAFT_MIRROR", f"{dead}/models/={faulty.url}/company/models/")
    path = download(f"{dead}/models/w.safetensors", sha256=digest(payload), progress=False)
    assert path.read_bytes() == payload


def test_unreachable_host_is_a_network_error(payload):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(NetworkError, match="cannot connect"):
        download(f"http://127.0.0.1:{port}/w", sha256=digest(payload), progress=False)


@pytest.fixture
def no_sockets(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a socket was connected while offline")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_offline_serves_the_cache_without_any_socket(faulty, payload, monkeypatch, request):
    url = faulty.add("/w", payload)
    path = download(url, sha256=digest(payload), progress=False)
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")
    request.getfixturevalue("no_sockets")
    assert download(url, sha256=digest(payload), progress=False) == path


def test_offline_without_the_file_fails_at_once_naming_it(payload, monkeypatch, cache_home, no_sockets):
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")
    weights = Weights(url="https://example.org/resnet.safetensors", sha256=digest(payload), meta={})
    with pytest.raises(OfflineError) as info:
        weights.fetch(progress=False)
    message = str(info.value)
    assert "resnet.safetensors" in message and str(cache_home) in message and digest(payload) in message


def test_corrupted_cache_entry_is_quarantined_and_fetched_again(faulty, payload, cache_home):
    url = faulty.add("/w", payload)
    path = download(url, sha256=digest(payload), progress=False)
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    path.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="quarantine"):
        again = download(url, sha256=digest(payload), progress=False)
    assert again.read_bytes() == payload
    assert len(list((cache_home / "quarantine").iterdir())) == 1
    assert len(faulty.requests("/w")) == 2


def test_read_only_cache_that_holds_the_file_still_serves_it(faulty, payload, cache_home):
    url = faulty.add("/w", payload)
    download(url, sha256=digest(payload), progress=False)
    # Nothing more can be written: stamps and locks are blocked, and the tree is read-only.
    import shutil

    for name in ("stamps", "locks"):
        shutil.rmtree(cache_home / name, ignore_errors=True)
        (cache_home / name).write_text("blocked")
    for p in [cache_home, *cache_home.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        assert download(url, sha256=digest(payload), progress=False).read_bytes() == payload
        assert len(faulty.requests("/w")) == 1
    finally:
        for p in [cache_home, *cache_home.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)


def test_not_enough_disk_space_fails_before_the_transfer(faulty, payload, monkeypatch, cache_home):
    import shutil

    url = faulty.add("/w", payload)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10 << 30, 10 << 30, 1 << 20))
    with pytest.raises(DiskSpaceError, match="MiB free"):
        download(url, sha256=digest(payload), size=len(payload), progress=False)
    assert not blob_files(cache_home) and not partial_files(cache_home), "nothing may be written"


@pytest.mark.parametrize("bad", ["../../etc/passwd", "C:\\Windows\\x", "\\\\server\\share\\x", "/abs/path", "ab" * 33])
def test_nothing_from_a_weights_entry_can_escape_the_cache_root(bad):
    with pytest.raises(ValueError, match="hex digits"):
        download("https://example.org/w.pth", sha256=bad)


def test_url_paths_never_become_file_names(faulty, payload, cache_home):
    faulty.add("/../../etc/passwd", payload)
    path = download(f"{faulty.url}/../../etc/passwd", sha256=digest(payload), progress=False)
    assert path.parent == cache_home / "blobs" and path.name == digest(payload)


def test_hash_prefix_downloads_are_stored_under_the_full_digest(faulty, payload, cache_home):
    url = faulty.add("/resnet50-0676ba61.pth", payload)
    prefix = digest(payload)[:8]
    path = download(url, sha256=prefix, progress=False)
    assert path.name == digest(payload)
    assert cached_path(prefix) is None, "a prefix never chooses between cached files"
    assert pinned_sha256(url) == digest(payload), "the download pins the full digest"
    assert download(url, sha256=prefix, progress=False) == path
    assert len(faulty.requests("/resnet50-0676ba61.pth")) == 1, "served by its pinned full digest, no request"


def test_progress_bar_only_on_a_terminal_or_when_asked(faulty, payload, capsys, monkeypatch):
    """Builders pass progress=True by default: from a script or a pipe (no terminal) that prints
    nothing; TORCHGRAFT_PROGRESS=1 asks for bars anyway, progress=False silences them."""
    monkeypatch.delenv("CI", raising=False)
    for i, progress in enumerate((False, True, None)):
        url = faulty.add(f"/w{i}", payload + bytes([i]))
        download(url, sha256=digest(payload + bytes([i])), progress=progress)
        assert capsys.readouterr().err == ""
    monkeypatch.setenv("TORCHGRAFT_PROGRESS", "1")
    faulty.add("/asked", payload + b"x")
    download(f"{faulty.url}/asked", sha256=digest(payload + b"x"), progress=True)
    err = capsys.readouterr().err
    assert "asked" in err and "2.00M/2.00M" in err, err
    faulty.add("/silenced", payload + b"y")
    download(f"{faulty.url}/silenced", sha256=digest(payload + b"y"), progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_every_file_the_store_writes_honours_the_umask(faulty, payload, cache_home, tmp_path, umask):
    """A cache shared by a group: blobs, origin records, stamps, pins, locks and everything an
    import writes get mode 0666 less the umask (0644, or 0664 for a group), never mkstemp's 0600."""
    import warnings

    from torchgraft.core.cache import export_cache, import_cache
    from torchgraft.core.store import UnpinnedDownloadWarning

    old = os.umask(umask)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnpinnedDownloadWarning)
            download(faulty.add("/pinned-on-first-use", payload), sha256=None)
        export_cache(tmp_path / "carry")
        os.environ["TORCHGRAFT_HOME"] = str(tmp_path / "other")
        statuses = {r["status"] for r in import_cache(tmp_path / "carry", trust_pins=True)}
    finally:
        os.umask(old)
        os.environ["TORCHGRAFT_HOME"] = str(cache_home)
    assert statuses == {"imported"}
    expected = {"blobs", "pins", "stamps", "locks"}
    for root, kinds in ((cache_home, expected), (tmp_path / "other", expected - {"locks"}), (tmp_path / "carry", None)):
        files = [p for p in root.rglob("*") if p.is_file()]
        assert kinds is None or {p.parent.name for p in files} == kinds
        modes = {str(p.relative_to(root)): oct(p.stat().st_mode & 0o777) for p in files}
        assert set(modes.values()) == {oct(0o666 & ~umask)}, modes


def test_pickle_served_where_safetensors_was_declared(faulty, tmp_path):
    import torch

    torch.save({"w": torch.zeros(2)}, tmp_path / "w.pth")
    data = (tmp_path / "w.pth").read_bytes()
    url = faulty.add("/w.safetensors", data)
    weights = Weights(url=url, sha256=digest(data), meta={})
    with pytest.raises(FormatMismatchError, match="declared safetensors but holds pth"):
        weights.get_state_dict(progress=False)


# --------------------------------------------------------------------------- several processes
CHILD = """
import hashlib, sys
from torchgraft.core import download
path = download(sys.argv[1], sha256=sys.argv[2], progress=False)
print(path, hashlib.sha256(open(path, "rb").read()).hexdigest())
"""


def test_eight_processes_on_one_cold_file_make_one_download(faulty, payload, rule, cache_home):
    url = faulty.add("/w", payload, rule(trickle_s=0.005))
    env = {**os.environ, "TORCHGRAFT_HOME": str(cache_home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, url, digest(payload)], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert {tuple(o) for o in outputs} == {(str(cache_home / "blobs" / digest(payload)), digest(payload))}
    assert len(faulty.requests("/w")) == 1 and faulty.bytes_sent("/w") == len(payload)


def test_without_any_lock_concurrent_downloads_still_never_corrupt_the_cache(faulty, payload, rule, cache_home):
    # Slow enough (~1.3 s) that the processes' downloads overlap.
    url = faulty.add("/w", payload, always=rule(trickle_s=0.01))
    env = {**os.environ, "TORCHGRAFT_HOME": str(cache_home), "TORCHGRAFT_NO_LOCK": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, url, digest(payload)], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert {o[1] for o in outputs} == {digest(payload)}
    assert (cache_home / "blobs" / digest(payload)).read_bytes() == payload
    assert not partial_files(cache_home)


def test_a_killed_download_is_resumed_by_the_next_process(faulty, payload, rule, cache_home):
    url = faulty.add("/w", payload, rule(trickle_s=0.01))
    env = {**os.environ, "TORCHGRAFT_HOME": str(cache_home)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, url, digest(payload)], env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120  # polls a condition; the sleep only paces the polling
    while time.monotonic() < deadline:
        parts = partial_files(cache_home)
        if parts and parts[0].stat().st_size > len(payload) // 4:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the child never wrote a quarter of the file in 120 s")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = partial_files(cache_home)[0].stat().st_size
    assert 0 < kept < len(payload)
    path = download(url, sha256=digest(payload), progress=False)
    assert path.read_bytes() == payload
    resumed = faulty.requests("/w")[-1]
    assert resumed.range is not None and int(resumed.range.split("=")[1].rstrip("-")) >= kept
    assert faulty.bytes_sent("/w") < len(payload) * 1.2
    assert not partial_files(cache_home)


def test_a_lock_left_by_a_killed_process_expires(faulty, payload, cache_home):
    url = faulty.add("/w", payload)
    lock = cache_home / "locks" / f"{digest(payload)}.lock"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import filelock, time; filelock.FileLock({str(lock)!r}).acquire(); print('held', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    start = time.monotonic()
    assert download(url, sha256=digest(payload), progress=False).read_bytes() == payload
    assert time.monotonic() - start < 120  # not the 900 s a lock still held would make it wait


@pytest.mark.parametrize(
    ("left", "declared"),
    [
        ("the whole file", True),
        ("the whole file", False),
        ("more than the file", False),
        ("a wrong file of its size", False),
    ],
)
def test_a_partial_that_cannot_be_resumed_never_wedges_the_download(faulty, payload, cache_home, left, declared):
    """A partial left by a dead process that already holds the whole file (or more, or other
    bytes): a standards-following server answers its Range request with 416; the partial is dropped
    and the download starts over, now and for every later process."""
    url = faulty.add("/w.bin", payload)
    partial = cache_home / "partial"
    partial.mkdir(parents=True, exist_ok=True)
    body = {"the whole file": payload, "more than the file": payload + b"x" * 100}.get(
        left, random.Random(1).randbytes(len(payload))
    )
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())  # as the store names partial files
    (partial / f"{digest(payload)}.{host}.999999.part").write_bytes(body)
    size = len(payload) if declared else None
    got = download(url, sha256=digest(payload), size=size, progress=False)
    assert got.read_bytes() == payload and not partial_files(cache_home)
    statuses = [h.status for h in faulty.requests("/w.bin")]
    assert statuses[-1] == 200 and (416 in statuses or (left == "more than the file" and declared))
    got.unlink()  # a later process, with nothing cached: no leftover state to trip on
    assert download(url, sha256=digest(payload), progress=False).read_bytes() == payload


# --------------------------------------------------------------------------- https
@pytest.fixture
def https_server(tmp_path, monkeypatch):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate this process trusts, serving
    ``files`` and answering ``redirects`` with 302s."""
    import http.server
    import ssl
    import threading

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    files: dict[str, bytes] = {}
    redirects: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path in redirects:
                self.send_response(302)
                self.send_header("Location", redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = files.get(self.path, b"")
            self.send_response(200 if self.path in files else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{httpd.server_port}", files, redirects
    httpd.shutdown()
    httpd.server_close()


def test_an_https_download_is_never_redirected_to_plain_http(https_server, faulty, payload, cache_home):
    base, files, redirects = https_server
    files["/w"] = payload
    assert download(f"{base}/w", sha256=digest(payload), progress=False).read_bytes() == payload  # TLS works
    redirects["/moved"] = faulty.add("/w2", payload)
    with pytest.raises(NetworkError, match="from https to plain http"):
        download(f"{base}/moved", sha256=None, progress=False)
    assert faulty.requests("/w2") == [], "the plain-http url is never asked"
    assert not list((cache_home / "pins").glob("*")), "no pin is written"
