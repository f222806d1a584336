"""Downloads from a real HTTP server on loopback (the full fault-injection suite lives with the
weight store)."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest
import torch

from torchgraft.core import IntegrityError, Weights, WeightsSourceError, build_model


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def publish(root: Path, model: torch.nn.Module, name: str = "net.safetensors") -> str:
    from safetensors.torch import save_model

    save_model(model, str(root / name))
    return hashlib.sha256((root / name).read_bytes()).hexdigest()


def test_download_verifies_and_caches_by_content(server, conv_net, cache_home):
    root, base = server
    source = conv_net()
    digest = publish(root, source)
    weights = Weights(url=f"{base}/net.safetensors", sha256=digest, meta={"num_params": 1})
    model = build_model(conv_net, weights=weights, config={}, progress=False)
    torch.testing.assert_close(model.fc.weight, source.fc.weight)
    assert (cache_home / "blobs" / digest).is_file()
    (root / "net.safetensors").unlink()  # served from the cache from now on
    assert weights.fetch(progress=False) == cache_home / "blobs" / digest


def test_wrong_bytes_never_reach_the_cache(server, conv_net, cache_home):
    root, base = server
    publish(root, conv_net())
    weights = Weights(url=f"{base}/net.safetensors", sha256="1" * 64, meta={"num_params": 1})
    with pytest.raises(IntegrityError, match="expected 1111"):
        weights.fetch(progress=False)
    blobs = cache_home / "blobs"
    assert not blobs.exists() or not any(blobs.iterdir())


def test_missing_primary_falls_back_to_a_mirror(server, conv_net, tmp_path, monkeypatch):
    root, base = server
    digest = publish(root, conv_net(), "mirror.safetensors")
    weights = Weights(
        url=f"{base}/gone.safetensors",
        sha256=digest,
        meta={"num_params": 1},
        mirrors=(f"{base}/mirror.safetensors",),
    )
    assert weights.fetch(progress=False).is_file()
    # The cache is content-addressed, so a fresh cache is needed to see the primary fail alone.
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "empty-cache"))
    lost = Weights(url=f"{base}/gone.safetensors", sha256=digest, meta={"num_params": 1})
    with pytest.raises(WeightsSourceError, match="404"):
        lost.fetch(progress=False)
