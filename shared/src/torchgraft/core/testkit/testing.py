"""Conformance kit: checks that any builder and weights enum keep torchgraft's conventions.

Domain packages run `check_model` over every registered model (with a tiny config and an
example input) and `check_weights_enum` over every weights enum. Each check raises
``AssertionError`` with a message saying what was expected and what was found.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import inspect
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..building.builders import architecture_only
from ..building.compose import classifier, poolings_for
from ..building.registry import get_model_builder, get_model_weights
from ..contracts.errors import UnknownWeightsError
from ..contracts.features import Features, FeatureSpec
from ..io.loading import init_empty, load_weights
from ..io.weights import WeightsEnum

__all__ = [
    "REQUIRED_META",
    "RankFailure",
    "RankOutput",
    "check_builder_signature",
    "check_builds_on_meta",
    "check_composition",
    "check_domain_package",
    "check_model",
    "check_num_params",
    "check_state_dict_roundtrip",
    "check_weights_enum",
    "count_params",
    "outputs_close",
    "serve_like_hub",
    "torchrun",
]

REQUIRED_META = ("num_params", "license")


def count_params(model: nn.Module) -> int:
    """Parameters of the architecture, each tied parameter counted once (meta tensors count too)."""
    return sum(p.numel() for p in model.parameters())


def check_builder_signature(builder: Callable[..., nn.Module]) -> None:
    params = inspect.signature(builder).parameters
    positional = [n for n, p in params.items() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert not positional, f"{builder.__name__}: builders are keyword-only; found positional {positional}"
    for name, default in (("weights", None), ("progress", True)):
        assert name in params, f"{builder.__name__}: expected a {name}= parameter"
        assert params[name].default is default, (
            f"{builder.__name__}: {name}= should default to {default!r}; found {params[name].default!r}"
        )


def check_weights_enum(enum: type[WeightsEnum], required_meta: Sequence[str] = REQUIRED_META) -> None:
    """Every member carries the required meta; DEFAULT exists; classification weights name their
    categories; deprecated members name an existing successor."""
    assert list(enum), f"{enum.__name__} has no members"
    assert "DEFAULT" in enum.__members__, f"{enum.__name__} has no DEFAULT alias"
    for member in enum:
        meta = member.value.meta
        missing = [k for k in required_meta if k not in meta]
        assert not missing, f"{member}: meta lacks {missing}"
        if meta.get("deprecated") and meta.get("superseded_by"):
            assert meta["superseded_by"] in enum.__members__, (
                f"{member}: superseded_by={meta['superseded_by']!r} is not a member of {enum.__name__}"
            )
        cats = meta.get("categories")
        if cats is not None:
            assert len(cats) > 0, f"{member}: categories are empty"


def check_num_params(builder: Callable[..., nn.Module], enum: type[WeightsEnum]) -> None:
    """``meta["num_params"]`` equals the parameters of the architecture each member is built into
    (built on ``meta`` and never downloaded, so even huge models cost nothing)."""
    for member in enum:
        with architecture_only():
            model = builder(weights=member)
        found = count_params(model)
        assert found == member.value.num_params, (
            f"{member}: meta num_params={member.value.num_params}, but the built architecture has {found}"
        )


def check_builds_on_meta(builder: Callable[..., nn.Module], config: Mapping[str, Any]) -> nn.Module:
    with init_empty():
        model = builder(weights=None, **config)
    devices = {p.device.type for p in model.parameters()}
    assert devices <= {"meta"}, f"{builder.__name__}: parameters escaped the meta device: {devices}"
    return model


def _run(model: nn.Module, inputs: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    with torch.no_grad():
        return model(*inputs, **kwargs)


def outputs_close(a: Any, b: Any, atol: float = 1e-6) -> bool:
    """Two model outputs (tensors, or mappings, sequences and Features of them) agree."""
    if isinstance(a, torch.Tensor):
        return torch.allclose(a, b, atol=atol, rtol=1e-5)
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(outputs_close(a[k], b[k], atol) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(outputs_close(x, y, atol) for x, y in zip(a, b, strict=True))
    if isinstance(a, Features):
        return outputs_close(a.last, b.last, atol)
    return a == b


def check_state_dict_roundtrip(
    builder: Callable[..., nn.Module],
    config: Mapping[str, Any],
    inputs: Sequence[Any],
    kwargs: Mapping[str, Any] | None = None,
) -> None:
    """Saves a randomly initialised model as safetensors, loads it into a model built on ``meta``
    through `load_weights`, and checks every tensor and the outputs are identical."""
    from safetensors.torch import save_model

    kwargs = kwargs or {}
    torch.manual_seed(0)
    original = builder(weights=None, **config).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        save_model(original, str(path))
        with init_empty():
            restored = builder(weights=None, **config)
        report = load_weights(restored, path)
        restored.eval()
        assert not report.unexpected and not report.fresh, f"round trip was not exact: {report}"
        ref, got = original.state_dict(), restored.state_dict()
        assert ref.keys() == got.keys(), f"state dict keys differ: {sorted(ref.keys() ^ got.keys())}"
        for key in ref:
            assert torch.equal(ref[key], got[key]), f"{key} differs after the round trip"
        assert outputs_close(_run(original, inputs, kwargs), _run(restored, inputs, kwargs)), (
            "outputs differ after the state-dict round trip"
        )


def check_composition(
    backbone: nn.Module, inputs: Sequence[Any], kwargs: Mapping[str, Any] | None = None, num_classes: int = 3
) -> None:
    """Composes ``backbone`` with a classifier for every pooling its ``feature_spec`` allows; each
    forward gives ``[B, num_classes]`` and gradients reach the head and the backbone."""
    kwargs = kwargs or {}
    spec: FeatureSpec = backbone.feature_spec  # type: ignore[assignment]
    feats = backbone.forward_features(*inputs, **kwargs)
    assert isinstance(feats, Features), f"forward_features returned {type(feats).__name__}, expected Features"
    assert feats.last.shape[-1 if spec.kind != "spatial" else 1] == spec.width, (
        f"feature_spec.width={spec.width}, but forward_features gave shape {list(feats.last.shape)}"
    )
    if spec.kind == "spatial":
        assert list(feats.stages) == list(spec.stage_names), (
            f"feature_spec stages {spec.stage_names}, forward_features gave {list(feats.stages)}"
        )
        for stage in spec.stages:
            assert feats.stages[stage.name].shape[1] == stage.channels, (
                f"stage {stage.name}: spec says {stage.channels} channels, got {feats.stages[stage.name].shape[1]}"
            )
    if spec.has_mask:
        assert feats.mask is not None, "feature_spec.has_mask is True but forward_features gave no mask"
    for pooling in poolings_for(spec):
        model = classifier(backbone, num_classes, pooling=pooling)
        model.train()
        logits = model(*inputs, **kwargs)
        assert logits.shape[-1] == num_classes and logits.dim() == 2, (
            f"pooling={pooling}: expected logits [B, {num_classes}], got {list(logits.shape)}"
        )
        logits.float().square().mean().backward()
        assert model.head.fc.weight.grad is not None, f"pooling={pooling}: no gradient reached the head"
        grads = [p.grad for p in backbone.parameters() if p.requires_grad]
        assert any(g is not None for g in grads), f"pooling={pooling}: no gradient reached the backbone"
        backbone.zero_grad(set_to_none=True)


def check_model(
    name: str,
    *,
    config: Mapping[str, Any],
    inputs: Sequence[Any],
    kwargs: Mapping[str, Any] | None = None,
) -> None:
    """Runs every applicable check on a registered model with a tiny ``config``."""
    builder = get_model_builder(name)
    check_builder_signature(builder)
    check_builds_on_meta(builder, config)
    check_state_dict_roundtrip(builder, config, inputs, kwargs)
    try:
        enum = get_model_weights(name)
    except UnknownWeightsError:
        enum = None
    if enum is not None:
        check_weights_enum(enum)
        check_num_params(builder, enum)
    model = builder(weights=None, **config)
    if callable(getattr(model, "forward_features", None)):  # a backbone, not a finished task model
        check_composition(model, inputs, kwargs)


def check_domain_package(domain: str, *, lazy_modules: Sequence[str], joins: Sequence[str] = ()) -> None:
    """A domain distribution is wired up: each of its models has an entry point of its own name that
    names the module defining it (and ``get_model`` imports that module alone), its version matches
    the installed metadata, and importing it and listing every model imports none of
    ``lazy_modules`` (checked in fresh interpreters). In its isolated session, no other domain is
    installed but those it ``joins``."""
    import importlib
    import importlib.util
    import os
    import subprocess
    import sys
    from importlib import metadata

    from ..building.registry import ENTRY_POINT_GROUP, get_model_builder, list_models

    dist = f"torchgraft-{domain}"
    eps = {ep.name: ep.value for ep in metadata.distribution(dist).entry_points if ep.group == ENTRY_POINT_GROUP}
    names = list_models(domain=domain)
    assert sorted(eps) == names, (
        f"{dist} must name each of its models in {ENTRY_POINT_GROUP} (get_model imports that module alone): "
        f"missing {sorted(set(names) - set(eps))}, extra {sorted(set(eps) - set(names))}"
    )
    wrong = {n: v for n, v in eps.items() if get_model_builder(n).__module__ != v}
    assert not wrong, f"entry points naming another module than the one defining the model: {wrong}"
    models = importlib.import_module(f"torchgraft.{domain}.models")
    families = getattr(models, "_FAMILIES", {})
    shadowed = sorted(set(families) & {name for names in families.values() for name in names})
    assert not shadowed, (
        f"{models.__name__} exports {shadowed}, which are also family modules: once imported, the module "
        "shadows the name; rename one"
    )
    for family, exported in families.items():
        declared = importlib.import_module(f"{models.__name__}.{family}").__all__
        assert sorted(exported) == sorted(declared), (
            f"{models.__name__} exports {sorted(set(exported) ^ set(declared))} differently from {family}.__all__"
        )
    module = importlib.import_module(f"torchgraft.{domain}")
    assert module.__version__ == metadata.version(dist), (
        f"torchgraft.{domain}.__version__={module.__version__}, installed {dist} is {metadata.version(dist)}"
    )
    code = (
        f"import sys, torchgraft.{domain}, torchgraft.core as tg; tg.list_models(); "
        f"print([m for m in {list(lazy_modules)!r} if m in sys.modules])"
    )
    # get_model(name) in a fresh process imports the family module defining name, and no other.
    first = names[0]
    probe = (
        f"import sys; from torchgraft.core.registry import get_model_builder; get_model_builder({first!r}); "
        f"print(sorted(m for m in {sorted(set(eps.values()))!r} if m in sys.modules))"
    )
    loaded = subprocess.check_output([sys.executable, "-c", probe], text=True).strip()
    assert loaded == repr([eps[first]]), f"get_model({first!r}) should import {eps[first]} alone; it imported {loaded}"
    imported = subprocess.check_output([sys.executable, "-c", code], text=True).strip()
    assert imported == "[]", f"importing torchgraft.{domain} and listing models imported {imported}"
    if os.environ.get("TORCHGRAFT_ISOLATED") == domain:
        others = {"vision": "torchvision", "text": "tokenizers", "audio": "torchaudio"}
        foreign = [
            name
            for other, lib in others.items()
            if other != domain and other not in joins
            for name in (f"torchgraft.{other}", lib)
            if importlib.util.find_spec(name) is not None
        ]
        assert not foreign, (
            f"the isolated {domain} session should hold no other domain than {list(joins)}; found {foreign}"
        )
        for other in joins:
            assert importlib.util.find_spec(f"torchgraft.{other}") is not None, (
                f"{domain} joins {other}, which is missing"
            )


@contextlib.contextmanager
def serve_like_hub(root: Path) -> Iterator[str]:
    """Serves the files under ``root`` over HTTP on 127.0.0.1 the way the Hugging Face Hub serves
    LFS files: ``GET /<path>`` answers a redirect carrying the file's sha256 as ``X-Linked-Etag``,
    and the redirect target sends the bytes. Yields the base url; point weights at it with
    ``TORCHGRAFT_MIRROR="https://huggingface.co/=<base>/"``. Each request's path is appended to
    ``root / ".requests"``, so tests can count downloads."""
    root = Path(root).resolve()
    log = root / ".requests"

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            with open(log, "a") as fh:
                fh.write(self.path + "\n")
            blob = self.path.startswith("/_blobs/")
            rel = self.path.removeprefix("/_blobs/" if blob else "/").split("?", 1)[0]
            path = (root / rel).resolve()
            if not path.is_relative_to(root) or not path.is_file() or path == log:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if not blob:
                self.send_response(302)
                self.send_header("Location", f"/_blobs/{rel}")
                self.send_header("X-Linked-Etag", f'"{hashlib.sha256(path.read_bytes()).hexdigest()}"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            self.wfile.write(data)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


# --------------------------------------------------------------------------- multi-process runs
class RankFailure(AssertionError):
    """A `torchrun` job that failed or ran out of time; the message holds every rank's own output."""


@dataclass(frozen=True)
class RankOutput:
    """What each rank of a `torchrun` job printed, in rank order."""

    stdout: list[str]
    stderr: list[str]


def _rank_logs(log_dir: Path, nproc: int) -> tuple[list[str], list[str]]:
    """Each rank's stdout and stderr from torchrun's ``<log_dir>/<run>/attempt_<n>/<rank>/`` files
    (the last attempt; ``""`` for a rank that never started)."""

    def read(path: Path) -> str:
        try:
            return path.read_text(errors="replace")
        except OSError:
            return ""

    attempts = sorted(log_dir.glob("*/attempt_*"), key=lambda p: (p.stat().st_mtime, p.name))
    last = attempts[-1] if attempts else log_dir / "missing"
    return [read(last / str(r) / "stdout.log") for r in range(nproc)], [
        read(last / str(r) / "stderr.log") for r in range(nproc)
    ]


def _descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (Linux's ``/proc``; empty elsewhere). torchrun starts each
    rank in a session of its own, so killing the launcher's process group leaves the ranks running."""
    import os

    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parent = int(fh.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _wait_gone(pids: list[int], bound: float = 30.0) -> None:
    """Waits (at most ``bound`` seconds) until each of ``pids`` has exited: gone, or a zombie."""
    import time

    def running(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                return fh.read().rpartition(")")[2].split()[0] != "Z"
        except (OSError, IndexError):
            return False

    deadline = time.monotonic() + bound
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"[... {len(text) - limit:,} characters before]\n{text[-limit:]}"


def torchrun(
    *target: str,
    nproc: int = 2,
    env: Mapping[str, str] | None = None,
    timeout: float = 300.0,
    cwd: str | Path | None = None,
) -> RankOutput:
    """Runs ``target`` (a script and its arguments, or ``"-m", module, ...``) as ``nproc`` local
    ranks under ``torch.distributed.run``, the way every multi-process test launches ranks.

    The job rendezvouses on a port the launcher binds itself (``--standalone`` asks the system for
    a free one, so concurrent jobs cannot collide), one thread per rank (``OMP_NUM_THREADS=1``)
    unless ``env`` says otherwise, Python's fault handler on (an abort prints every thread's
    stack). Each rank's stdout and stderr go to their own files. Returns them when every rank
    exits 0; otherwise, or after ``timeout`` seconds (the launcher and every process below it are
    then killed), raises `RankFailure` showing each rank's own output, then the launcher's tail (which names
    each rank's exit)."""
    import os
    import signal
    import subprocess
    import sys

    with tempfile.TemporaryDirectory(prefix="torchgraft-torchrun-") as tmp:
        log_dir = Path(tmp)
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
        cmd += ["--max-restarts=0", f"--log-dir={log_dir}", "--redirects=3", *target]
        full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1", **(env or {})}
        job = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # the launcher and its helpers in one group, killed together on a timeout
        )
        try:
            launcher, _ = job.communicate(timeout=timeout)
            what = f"exited with status {job.returncode}"
        except subprocess.TimeoutExpired:
            ranks = _descendants(job.pid)  # found before the launcher dies and they are re-parented
            os.killpg(job.pid, signal.SIGKILL)
            for pid in ranks:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            _wait_gone(ranks)
            launcher, _ = job.communicate()
            what = f"did not finish in {timeout:.0f} s and was killed"
        stdout, stderr = _rank_logs(log_dir, nproc)
        if job.returncode == 0:
            return RankOutput(stdout, stderr)
        parts = [f"torchrun {' '.join(target)} ({nproc} ranks) {what}"]
        for rank in range(nproc):
            parts.append(f"----- rank {rank} stdout -----\n{_tail(stdout[rank], 4000)}")
            parts.append(f"----- rank {rank} stderr -----\n{_tail(stderr[rank], 8000)}")
        parts.append(f"----- launcher -----\n{_tail(launcher or '', 3000)}")
        raise RankFailure("\n".join(parts))
