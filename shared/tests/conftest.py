"""Tiny backbones of each feature kind, shared by the core tests."""

from __future__ import annotations

import hashlib
import http.server
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from torch import nn

from torchgraft.core import Features, FeatureSpec, StageSpec


class TinyConvNet(nn.Module):
    """A two-stage spatial backbone with an ImageNet-style classifier ``fc``."""

    def __init__(self, *, num_classes: int = 10, width: int = 8, norm_layer: type[nn.Module] = nn.BatchNorm2d):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False), norm_layer(width), nn.ReLU())
        self.layer1 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU())
        self.fc = nn.Linear(2 * width, num_classes)
        self.feature_spec = FeatureSpec(
            kind="spatial",
            width=2 * width,
            stages=(StageSpec("stem", width, 2), StageSpec("layer1", 2 * width, 4)),
        )

    def forward_features(self, x: torch.Tensor) -> Features:
        s0 = self.stem(x)
        s1 = self.layer1(s0)
        return Features(last=s1, stages={"stem": s0, "layer1": s1})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x).last.mean(dim=(2, 3)))


class TinyEncoder(nn.Module):
    """A sequence backbone: embeddings, one transformer layer, a tied LM decoder and a non-persistent
    buffer, exercising ties and buffers that checkpoints do not hold."""

    def __init__(self, *, vocab_size: int = 50, dim: int = 16, max_len: int = 32):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.pos = nn.Parameter(torch.zeros(max_len, dim))
        self.layer = nn.TransformerEncoderLayer(dim, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.decoder = nn.Linear(dim, vocab_size, bias=False)
        self.decoder.weight = self.embed.weight
        self.register_buffer("position_ids", torch.arange(max_len), persistent=False)
        self.feature_spec = FeatureSpec(kind="sequence", width=dim, has_mask=True, pooled_width=dim)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.pos, std=0.02)

    def forward_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> Features:
        T = input_ids.shape[1]
        x = self.embed(input_ids) + self.pos[self.position_ids[:T]]
        pad = None if attention_mask is None else ~attention_mask.bool()
        x = self.norm(self.layer(x, src_key_padding_mask=pad))
        return Features(last=x, mask=attention_mask.bool() if attention_mask is not None else None, pooled=x[:, 0])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self.forward_features(input_ids, attention_mask).last)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def cache_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache root, so stamps and downloads never leak between tests."""
    root = tmp_path_factory.mktemp("tg_home")
    monkeypatch.setenv("TORCHGRAFT_HOME", str(root))
    return root


@pytest.fixture
def image() -> torch.Tensor:
    return torch.randn(2, 3, 16, 16)


@pytest.fixture
def tokens() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, 50, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 4:] = 0
    return ids, mask


@pytest.fixture
def conv_net() -> type[TinyConvNet]:
    return TinyConvNet


@pytest.fixture
def encoder() -> type[TinyEncoder]:
    return TinyEncoder


@pytest.fixture
def save_checkpoint(tmp_path: Path):
    """Saves a model (or state dict) as safetensors or .pth; returns ``(path, sha256)``."""

    def save(obj: nn.Module | dict, name: str = "model.safetensors") -> tuple[Path, str]:
        from safetensors.torch import save_file, save_model

        path = tmp_path / name
        if name.endswith(".safetensors"):
            if isinstance(obj, nn.Module):
                save_model(obj, str(path))
            else:
                save_file({k: v.contiguous() for k, v in obj.items()}, str(path))
        else:
            torch.save(obj.state_dict() if isinstance(obj, nn.Module) else obj, path)
        return path, sha256(path)

    return save


# --------------------------------------------------------------------------- a misbehaving server
@dataclass
class Rule:
    """How the server misbehaves for one request."""

    status: int | None = None
    drop_after: int | None = None
    ignore_range: bool = False
    bad_content_range: bool = False
    flip_byte: int | None = None
    body: bytes | None = None
    extra: int = 0
    trickle_s: float = 0.0
    redirect_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    no_length: bool = False  # no Content-Length: the body ends when the connection closes


@dataclass
class Hit:
    path: str
    range: str | None
    status: int
    sent: int


class FaultyServer:
    """A real HTTP server on 127.0.0.1 (in a thread) that can drop connections, ignore or botch
    Range requests, flip bytes, serve HTML or git-lfs pointers, over-send, trickle, redirect,
    send bodies without a Content-Length, and answer 404/401/500, counting every request."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.once: dict[str, list[Rule]] = {}
        self.always: dict[str, Rule] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server._serve(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def add(self, path: str, data: bytes, *once: Rule, always: Rule | None = None) -> str:
        """Serves ``data`` at ``path``; the n-th request follows ``once[n]``, later ones ``always``."""
        self.files[path] = data
        self.once[path] = list(once)
        if always is not None:
            self.always[path] = always
        return f"{self.url}{path}"

    def requests(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    def bytes_sent(self, path: str) -> int:
        return sum(h.sent for h in self.requests(path))

    def _serve(self, h: http.server.BaseHTTPRequestHandler) -> None:
        path, rng = h.path, h.headers.get("Range")
        with self._lock:
            queued = self.once.get(path)
            rule = queued.pop(0) if queued else self.always.get(path, Rule())
        hit = Hit(path, rng, 200, 0)
        self.hits.append(hit)
        if rule.redirect_to is not None:
            hit.status = 302
            h.send_response(302)
            h.send_header(
                "Location", rule.redirect_to if "://" in rule.redirect_to else f"{self.url}{rule.redirect_to}"
            )
            h.send_header("Content-Length", "0")
            for name, value in rule.headers.items():
                h.send_header(name, value)
            h.end_headers()
            return
        if path not in self.files or (rule.status):
            hit.status = rule.status or 404
            body = b"nope"
            h.send_response(hit.status)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        data = self.files[path]
        if rule.body is not None:
            data = rule.body
        if rule.flip_byte is not None:
            data = data[: rule.flip_byte] + bytes([data[rule.flip_byte] ^ 0xFF]) + data[rule.flip_byte + 1 :]
        if rule.extra:
            data = data + b"\0" * rule.extra
        start = 0
        if rng and not (rule.ignore_range):
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(data):  # RFC 9110: a range past the end is not satisfiable
                hit.status = 416
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            hit.status = 206
            h.send_response(206)
            first = start + 7 if rule.bad_content_range else start
            h.send_header("Content-Range", f"bytes {first}-{len(data) - 1}/{len(data)}")
        else:
            h.send_response(200)
        body = data[start:]
        if rule.no_length:
            h.close_connection = True
            h.send_header("Connection", "close")
        else:
            h.send_header("Content-Length", str(len(body)))
        h.send_header("Content-Type", "application/octet-stream")
        for name, value in rule.headers.items():
            h.send_header(name, value)
        h.end_headers()
        limit = rule.drop_after if rule.drop_after is not None else len(body)
        step = 16384 if rule.trickle_s else 1 << 20
        try:
            for i in range(0, min(limit, len(body)), step):
                chunk = body[i : min(i + step, limit)]
                h.wfile.write(chunk)
                hit.sent += len(chunk)
                if rule.trickle_s:
                    h.wfile.flush()
                    time.sleep(rule.trickle_s)
        except (BrokenPipeError, ConnectionResetError):
            return
        if limit < len(body) or rule.no_length:
            h.close_connection = True
            h.wfile.flush()
            h.connection.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def faulty() -> Iterator[FaultyServer]:
    server = FaultyServer()
    yield server
    server.close()


@pytest.fixture
def rule() -> type[Rule]:
    return Rule


@pytest.fixture
def payload() -> bytes:
    """2 MiB of incompressible bytes, with its sha256 reachable as ``hashlib.sha256(payload)``."""
    return random.Random(1).randbytes(2 << 20)
