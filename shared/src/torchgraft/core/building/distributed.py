"""torchgraft under ``torch.distributed``: rank-coordinated downloads, sharded builds on the
``meta`` device with FSDP2, and distributed checkpoints.

``torch.distributed`` is the engine; nothing here replaces it. This module imports it only when a
function runs, so ``import torchgraft.core`` stays light.

- `prefetch` downloads each file once per cache, not once per rank: one rank of every group of
  ranks that share a cache folder downloads through the store's lock, the others wait on it, and a
  failure anywhere makes every rank raise the same `PrefetchError` within a poll interval.
- `build_sharded` builds on ``meta``, shards each unit the model declares (``shard_units()``,
  then the root) with ``fully_shard``, and fills every rank's shards straight from the
  memory-mapped checkpoint: each rank reads only its own rows, nothing is broadcast, and fresh
  tensors are initialised at full size from ``seed`` before slicing, so they are equal for any
  world size.
- `save_sharded` / `load_sharded` use ``torch.distributed.checkpoint``; `export_full` writes one
  safetensors file that loads as a `Weights` entry anywhere.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import ctypes
import gc
import itertools
import json
import os
import shutil
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from ..contracts.errors import DistributedSetupError, PrefetchError, TorchgraftError
from ..contracts.features import shard_units
from ..contracts.torch_internals import default_store, local_shape_and_offset
from ..io.loading import FreshPlan, LoadReport, current_tensor, plan_load
from ..io.store import alive, atomic_file, cache_root, sha256_file
from ..io.weights import Asset, Weights, WeightsEnum
from .builders import deferred_loads
from .registry import get_model_builder, get_weight, weights_enum_of

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup
    from torch.distributed.device_mesh import DeviceMesh

__all__ = ["build_sharded", "export_full", "load_sharded", "prefetch", "save_sharded", "shard_units", "teardown"]

POLL_S = 0.05
#: A leader on another host whose heartbeat is older than this is taken for dead and replaced.
STALE_LEADER_S = 30.0


def _dist() -> Any:
    import torch.distributed as dist

    return dist


def _initialized() -> bool:
    dist = _dist()
    return dist.is_available() and dist.is_initialized()


# --------------------------------------------------------------------------- prefetch
def _as_files(weights: Sequence[Weights | WeightsEnum | str]) -> list[tuple[str, Weights | Asset]]:
    """``(label, file)`` for every checkpoint and asset the entries name (``"resnet50.DEFAULT"``
    strings included), checkpoints first in the order given."""
    entries = []
    for w in weights:
        member = get_weight(w) if isinstance(w, str) else w
        value = member.value if isinstance(member, WeightsEnum) else member
        if not isinstance(value, Weights):
            raise TypeError(f"prefetch takes Weights, weights enum members or names; found {type(w).__name__}")
        entries.append((str(member) if isinstance(member, WeightsEnum) else value.url, value))
    files: list[tuple[str, Weights | Asset]] = list(entries)
    files += [(f"{label}:{name}", asset) for label, value in entries for name, asset in value.assets.items()]
    return files


def _leaders(scope: str, hosts: list[str], views: list[list[int]]) -> list[int]:
    """For each rank, the rank that downloads for it: rank 0 (``global``), the lowest rank on its
    host (``node``), or the lowest rank that sees the same cache folder (``auto``)."""
    world = len(hosts)
    if scope == "global":
        return [0] * world
    if scope == "node":
        return [min(r for r in range(world) if hosts[r] == hosts[me]) for me in range(world)]
    return [min([r for r in views[me] if me in views[r]] or [me]) for me in range(world)]


def prefetch(
    *weights: Weights | WeightsEnum | str,
    group: ProcessGroup | None = None,
    scope: Literal["auto", "node", "global"] = "auto",
    timeout: float = 3600.0,
    progress: bool | None = None,
) -> list[Path]:
    """Makes every rank's cache hold ``weights`` (their assets too) with one download per cache,
    and returns the checkpoints' local paths (the same files on ranks that share a cache).

    ``scope`` says who downloads: ``"auto"`` finds which ranks share a cache folder (each rank
    leaves a marker in its cache and looks for the others') and lets the lowest rank of each group
    download; ``"node"`` takes one rank per host; ``"global"`` one rank in all (a cache on a
    shared file system). The others wait on the downloader, never on a collective: a failure on
    any rank is published at once through the process group's store, and every rank raises the
    same `PrefetchError` naming the rank, host and url. A downloader that dies is replaced by a
    rank that shares its cache (the store resumes its partial file). Afterwards no rank needs a
    request or a re-hash to load these weights. Without an initialised process group this simply
    fetches.
    """
    if scope not in ("auto", "node", "global"):
        raise ValueError(f"scope must be 'auto', 'node' or 'global'; found {scope!r}")
    if not _initialized():
        return [f.fetch(progress=progress) for _, f in _as_files(weights)][: len(weights)]
    dist = _dist()
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    # No collective here: a rank that fails before or during the setup, or never arrives, must
    # not hold the others past `timeout` (a collective waits for the process group's own time-out).
    board = _Board(next(_CALLS), rank, world, time.monotonic() + timeout)
    try:
        files = _as_files(weights)
    except BaseException as exc:
        board.fail("?", exc)
        raise board.error() from exc
    run = board.gather("run", uuid.uuid4().hex)[0]
    markers = cache_root() / "distributed" / run
    with contextlib.suppress(OSError):
        markers.mkdir(parents=True, exist_ok=True)
        (markers / str(rank)).touch()
    infos = [tuple(json.loads(i)) for i in board.gather("info", json.dumps([socket.gethostname(), os.getpid()]))]
    try:  # every rank's marker is written once the gather above returns
        seen = sorted(int(p.name) for p in markers.iterdir() if p.name.isdigit())
    except OSError:
        seen = [rank]
    views = [json.loads(v) for v in board.gather("seen", json.dumps(seen))]
    leaders = _leaders(scope, [h for h, _ in infos], views)
    job = _Prefetch(board, leaders[rank], infos, files, progress, markers)
    try:
        paths = job.run()
    finally:
        if rank == leaders[rank]:
            shutil.rmtree(markers, ignore_errors=True)
    return paths[: len(weights)]


#: The n-th `prefetch` of this process: every rank calls it in the same order (as collectives),
#: so it names the same keys in the process group's store on every rank.
_CALLS = itertools.count()


class _Board:
    """One `prefetch` call's keys in the default store of the process group
    (``torchgraft/prefetch/<n>/...``): values every rank posts, and the first failure (``error``),
    which every rank raises as the same `PrefetchError`. Every wait ends at ``deadline``."""

    def __init__(self, call: int, rank: int, world: int, deadline: float) -> None:
        self.rank, self.world, self.deadline = rank, world, deadline
        self.key = f"torchgraft/prefetch/{call}/"
        self.store = default_store()
        self.host = socket.gethostname()

    def has(self, name: str) -> bool:
        return self.store.check([self.key + name])

    def fail(self, url: str, exc: BaseException) -> None:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        record = {"rank": self.rank, "host": self.host, "url": url, "kind": type(exc).__name__, "message": first}
        self.store.compare_set(self.key + "error", "", json.dumps(record))  # the first failure wins

    def error(self) -> PrefetchError:
        record = json.loads(self.store.get(self.key + "error"))
        return PrefetchError(
            f"prefetch failed on rank {record['rank']} ({record['host']}) for {record['url']}: "
            f"{record['kind']}: {record['message']}",
            rank=record["rank"],
            host=record["host"],
            url=record["url"],
            kind=record["kind"],
        )

    def gather(self, name: str, value: str) -> list[str]:
        """Every rank's ``value`` for ``name`` (rank 0's first), once all have posted; a published
        failure or the deadline ends the wait with a `PrefetchError` on this rank."""
        self.store.set(f"{self.key}{name}/{self.rank}", value)
        keys = [f"{self.key}{name}/{r}" for r in range(self.world)]
        while not self.store.check(keys):
            if self.has("error"):
                raise self.error()
            if time.monotonic() > self.deadline:
                missing = [r for r in range(self.world) if not self.store.check([keys[r]])]
                raise PrefetchError(
                    f"prefetch timed out on rank {self.rank}: ranks {missing} did not reach it (they failed "
                    f"before it, or do not call it)",
                    rank=self.rank,
                )
            time.sleep(POLL_S)
        return [self.store.get(k).decode() for k in keys]


class _Prefetch:
    """One rank's part of a `prefetch`, coordinated on its `_Board`: ``done/<leader>``,
    ``status/<rank>``, ``error``."""

    def __init__(
        self,
        board: _Board,
        leader: int,
        infos: list[Any],
        files: list[tuple[str, Weights | Asset]],
        progress: bool | None,
        markers: Path,
    ) -> None:
        self.board, self.rank, self.world, self.leader = board, board.rank, board.world, leader
        self.infos, self.files, self.progress, self.markers = infos, files, progress, markers
        self.key, self.store = board.key, board.store
        self.heartbeat = markers / f"leader-{leader}"

    def _has(self, name: str) -> bool:
        return self.board.has(name)

    def _fail(self, url: str, exc: BaseException) -> None:
        self.board.fail(url, exc)

    def _error(self) -> PrefetchError:
        return self.board.error()

    def _fetch_all(self, out: dict[str, Any]) -> None:
        for _, f in self.files:
            try:
                out.setdefault("paths", []).append(f.fetch(progress=self.progress))
            except BaseException as exc:  # published, then raised on every rank
                out["failed"] = (f.url, exc)
                return

    def _download(self, deadline: float) -> list[Path]:
        """Fetches in a thread while watching the store: returns as soon as this rank is done, and
        stops waiting the moment another rank publishes a failure."""
        out: dict[str, Any] = {}
        worker = threading.Thread(target=self._fetch_all, args=(out,), daemon=True)
        worker.start()
        while worker.is_alive():
            with contextlib.suppress(OSError):
                self.heartbeat.touch()
            if self._has("error"):
                raise self._error()
            if time.monotonic() > deadline:
                raise PrefetchError(f"prefetch timed out on rank {self.rank} while downloading", rank=self.rank)
            worker.join(POLL_S)
        if "failed" in out:
            url, exc = out["failed"]
            self._fail(url, exc)
            raise self._error() from exc
        return out["paths"]

    def _rank_alive(self, rank: int) -> bool:
        """Whether a rank still runs: known for ranks on this host; others are taken to."""
        host, pid = self.infos[rank]
        return alive(pid) if host == self.infos[self.rank][0] else True

    def _leader_alive(self) -> bool:
        if self.infos[self.leader][0] == self.infos[self.rank][0]:
            return self._rank_alive(self.leader)
        try:  # on another host: its heartbeat on the shared cache
            return time.time() - self.heartbeat.stat().st_mtime < STALE_LEADER_S
        except OSError:
            return True  # no heartbeat yet: it has not started

    def run(self) -> list[Path]:
        deadline = self.board.deadline
        try:
            if self.rank == self.leader:
                paths = self._download(deadline)
                self.store.set(self.key + f"done/{self.leader}", "ok")
            else:
                while not self._has(f"done/{self.leader}"):
                    if self._has("error"):
                        raise self._error()
                    if not self._leader_alive():
                        break  # the downloader died: this rank takes over (its partial is resumed)
                    if time.monotonic() > deadline:
                        raise PrefetchError(
                            f"prefetch timed out on rank {self.rank} waiting for rank {self.leader}", rank=self.rank
                        )
                    time.sleep(POLL_S)
                # Done by the leader (a cache hit: no request, the stamp spares the re-hash), or taken over.
                paths = self._download(deadline)
        except PrefetchError:
            raise
        except TorchgraftError as exc:
            self._fail("?", exc)
            raise self._error() from exc
        self.store.set(self.key + f"status/{self.rank}", "ok")
        statuses = [self.key + f"status/{r}" for r in range(self.world)]
        while not self.store.check(statuses):
            if self._has("error"):
                raise self._error()
            missing = [r for r in range(self.world) if not self.store.check([statuses[r]])]
            if not any(self._rank_alive(r) for r in missing):
                break  # only dead ranks are missing (their files were taken over): nothing to wait for
            if time.monotonic() > deadline:
                missing = [r for r in range(self.world) if not self.store.check([statuses[r]])]
                raise PrefetchError(f"prefetch timed out on rank {self.rank} waiting for ranks {missing}")
            time.sleep(POLL_S)
        return paths


# --------------------------------------------------------------------------- sharded builds
def _default_mesh(group: ProcessGroup | None) -> DeviceMesh:
    from torch.distributed.device_mesh import init_device_mesh

    dist = _dist()
    device_type = "cuda" if torch.cuda.is_available() and dist.get_backend(group) == "nccl" else "cpu"
    return init_device_mesh(device_type, (dist.get_world_size(group),))


def _mesh_device(mesh: DeviceMesh) -> torch.device:
    if mesh.device_type == "cuda":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device(mesh.device_type)


def _file_mappings() -> list[tuple[int, int]]:
    """Address ranges of this process's file-backed mappings (Linux; empty elsewhere)."""
    ranges = []
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) >= 6 and fields[5].startswith("/"):
                    start, end = (int(x, 16) for x in fields[0].split("-"))
                    ranges.append((start, end))
    except OSError:
        pass
    return ranges


class _PageReleaser:
    """Drops the pages of a memory-mapped checkpoint from this process once a shard was copied out
    of them (``madvise(MADV_DONTNEED)``): they are clean file pages, so a later read faults them in
    again from the page cache, and the process's resident memory holds its shards, not the file."""

    MADV_DONTNEED = 4

    def __init__(self) -> None:
        self.ranges = _file_mappings()
        self.page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        try:
            self.madvise = ctypes.CDLL(None, use_errno=True).madvise
        except (OSError, AttributeError):
            self.madvise = None

    def __call__(self, t: torch.Tensor) -> None:
        if self.madvise is None or t.device.type != "cpu" or not t.numel():
            return
        start = t.data_ptr()
        end = start + t.numel() * t.element_size()
        if not any(a <= start and end <= b for a, b in self.ranges):
            return  # not a file mapping: memory someone owns
        first = (start + self.page - 1) // self.page * self.page  # whole pages inside the tensor only
        last = end // self.page * self.page
        if last > first:
            self.madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), self.MADV_DONTNEED)


def _local_part(full: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The part of ``full`` (the whole tensor) that ``target`` (a DTensor shard, or a plain
    tensor) holds on this rank: a view, so only those bytes are read."""
    from torch.distributed.tensor import DTensor

    if not isinstance(target, DTensor):
        return full
    shape, offset = local_shape_and_offset(full.shape, target.device_mesh, target.placements)
    part = full
    for dim, (start, length) in enumerate(zip(offset, shape, strict=True)):
        part = part.narrow(dim, start, length)
    return part


def _fill(target: torch.Tensor, full: torch.Tensor, release: Callable[[torch.Tensor], None]) -> None:
    from torch.distributed.tensor import DTensor

    if tuple(full.shape) != tuple(target.shape):  # plan_load checked the checkpoint: this is a bug
        raise DistributedSetupError(
            f"a tensor of shape {list(full.shape)} cannot fill one of shape {list(target.shape)}"
        )
    local = target.to_local() if isinstance(target, DTensor) else target
    part = _local_part(full, target)
    local.copy_(part)
    release(part)


def build_sharded(
    model: str | Callable[..., nn.Module],
    *,
    weights: Weights | WeightsEnum | str | None = None,
    mesh: DeviceMesh | None = None,
    units: Iterable[nn.Module] | None = None,
    mp_policy: Any = None,
    reshard_after_forward: bool = True,
    seed: int = 0,
    group: ProcessGroup | None = None,
    **config: Any,
) -> nn.Module:
    """A model sharded with FSDP2 (``fully_shard``) straight from ``meta``: no rank ever holds it
    whole.

    ``model`` is a registered name or a builder; ``weights`` and ``config`` are what the builder
    takes (a task builder's ``backbone_weights`` too). The model is built on ``meta``; each unit
    (``units``, else the model's `shard_units`) is sharded, then the root, over ``mesh`` (default:
    every rank of ``group``, on CUDA under NCCL, else CPU). Every rank then fills its shards from the
    memory-mapped checkpoint, reading its own rows only (the pages are released as it goes), and
    initialises fresh tensors (a new head) at full size from ``seed`` before keeping its part, so
    they are equal for any world size. Tied weights stay one parameter; non-persistent buffers
    keep the values the constructor computed. The model's ``load_report`` says what was loaded and
    what is fresh, as `torchgraft.core.load_weights` does; a checkpoint that does not fit raises
    the same errors before anything is sharded.
    """
    if not _initialized():
        raise DistributedSetupError(
            "build_sharded needs an initialised process group: run under torchrun and call "
            "torch.distributed.init_process_group() first (a single process may use get_model)"
        )
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    builder = get_model_builder(model) if isinstance(model, str) else model
    if isinstance(weights, str):
        enum = weights_enum_of(builder)
        if enum is None:
            raise TypeError(f"{getattr(builder, '__name__', builder)} has no weights enum to resolve {weights!r}")
        weights = enum.verify(weights)
    with deferred_loads() as loads:
        net = builder(weights=weights, **config)

    # Decide everything before changing anything: every checkpoint read and checked.
    names = {id(m): name for name, m in net.named_modules(remove_duplicate=False)}
    sources: dict[str, torch.Tensor] = {}
    reports: list[tuple[LoadReport, list[str]]] = []
    provided_ids: set[int] = set()
    for load in loads:
        plan = plan_load(load.model, load.weights, **load.options)
        # Keys in the built model's namespace, found through the modules that own the tensors: a
        # builder may keep part of what it loaded into (a sentence model's encoder, not its head).
        where = {key: _net_key(plan.slots[key], names) for key in plan.report.loaded}
        for key in plan.provided:
            if where[key] is not None:
                sources[where[key]] = plan.state[key]
        reports.append((plan.report, sorted(k for k in where.values() if k is not None)))
        provided_ids |= {id(current_tensor(plan.slots[k])) for k in plan.report.loaded}
    real = {name: t for name, t in [*net.named_parameters(), *net.named_buffers()] if t.device.type != "meta"}
    pending = {id(t) for t in [*net.parameters(), *net.buffers()] if t.device.type == "meta"} - provided_ids
    fresh_plan = FreshPlan.of(net, pending)
    # Copies (on meta, before sharding) of the outermost modules that initialise fresh tensors.
    whole = [prefix for _, prefix, _, own in fresh_plan.steps if own is None]
    twins = [
        (copy.deepcopy(module), prefix, reset.__name__, own)
        for module, prefix, reset, own in fresh_plan.steps
        if not any(prefix != outer and prefix.startswith(outer) for outer in whole)
    ]

    mesh = mesh or _default_mesh(group)
    policy = mp_policy if mp_policy is not None else MixedPrecisionPolicy()
    for unit in shard_units(net) if units is None else list(units):
        fully_shard(unit, mesh=mesh, mp_policy=policy, reshard_after_forward=reshard_after_forward)
    fully_shard(net, mesh=mesh, mp_policy=policy, reshard_after_forward=reshard_after_forward)
    device = _mesh_device(mesh)
    net.to_empty(device=device)

    targets = dict(net.named_parameters(remove_duplicate=False)) | dict(net.named_buffers(remove_duplicate=False))
    release = _PageReleaser()
    with torch.no_grad():
        for name, value in real.items():  # what the constructor made (non-persistent buffers included)
            _fill(targets[name], value, lambda _: None)
        for name in sorted(sources):
            _fill(targets[name], sources[name], release)
        fresh = _initialise_fresh(twins, targets, seed)
    del sources
    net.load_report = _report(reports, fresh)
    return net


def _initialise_fresh(
    twins: list[tuple[nn.Module, str, str, list[str] | None]], targets: dict[str, Any], seed: int
) -> list[str]:
    """Initialises each fresh module at full size on the CPU, seeded by ``seed`` and its place in
    the model (so every rank, at any world size, draws the same values), and copies this rank's part
    of it into the shards."""
    fresh: list[str] = []
    cpu = torch.device("cpu")
    for index, (twin, prefix, reset_name, own) in enumerate(twins):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 1_000_003 + index)
            if own is None:  # the whole subtree, children first, as load_weights initialises it
                meta = {id(t) for t in [*twin.parameters(), *twin.buffers()] if t.device.type == "meta"}
                names = FreshPlan.of(twin, meta).apply(cpu)
            else:
                names = FreshPlan([(twin, "", getattr(twin, reset_name), own)]).apply(cpu)
        values = dict(twin.named_parameters()) | dict(twin.named_buffers())
        for name in names:
            _fill(targets[prefix + name], values[name], lambda _: None)
        fresh += [prefix + n for n in names]
    return sorted(fresh)


def _net_key(slot: tuple[nn.Module, str, bool], names: dict[int, str]) -> str | None:
    """The built model's key of a tensor slot (owning module, attribute), or ``None`` when the
    builder did not keep that module."""
    name = names.get(id(slot[0]))
    if name is None:
        return None
    return f"{name}.{slot[1]}" if name else slot[1]


def _report(reports: list[tuple[LoadReport, list[str]]], fresh: list[str]) -> LoadReport:
    """The model's load report, keys in its namespace: its one checkpoint's, or one naming each
    loaded key's checkpoint (a task model whose backbone loaded its own weights)."""
    if len(reports) == 1:
        report, loaded = reports[0]
        report.loaded = loaded
    else:
        sources = {key: r.weights or r.source for r, loaded in reports for key in loaded}
        checkpoints = sorted(set(sources.values()))
        report = LoadReport(
            source=" + ".join(checkpoints) if checkpoints else "no checkpoint", loaded=sorted(sources), sources=sources
        )
    report.fresh = fresh
    return report


# --------------------------------------------------------------------------- checkpoints
def save_sharded(model: nn.Module, path: str | Path, *, optimizer: torch.optim.Optimizer | None = None) -> Path:
    """Saves a sharded model (and optimizer) with ``torch.distributed.checkpoint``: each rank writes
    its own shards, into a temporary folder that becomes ``path`` only once every rank is done."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    dist = _dist()
    path = Path(path)
    box = [f"{path.name}.partial-{uuid.uuid4().hex[:8]}" if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    tmp = path.with_name(str(box[0]))
    model_state, optim_state = get_state_dict(model, [optimizer] if optimizer is not None else [])
    state: dict[str, Any] = {"model": model_state}
    if optimizer is not None:
        state["optimizer"] = optim_state
    dcp.save(state, checkpoint_id=str(tmp))
    dist.barrier()
    if dist.get_rank() == 0:
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    dist.barrier()
    return path


def load_sharded(model: nn.Module, path: str | Path, *, optimizer: torch.optim.Optimizer | None = None) -> None:
    """Loads what `save_sharded` wrote into a model sharded the same way or another (any world
    size: ``torch.distributed.checkpoint`` reshards)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    path = Path(path)
    if not (path / ".metadata").is_file():
        raise FileNotFoundError(f"no distributed checkpoint at {path} (expected its .metadata file)")
    model_state, optim_state = get_state_dict(model, [optimizer] if optimizer is not None else [])
    state: dict[str, Any] = {"model": model_state}
    if optimizer is not None:
        state["optimizer"] = optim_state
    dcp.load(state, checkpoint_id=str(path))
    set_state_dict(
        model,
        [optimizer] if optimizer is not None else [],
        model_state_dict=state["model"],
        optim_state_dict=state.get("optimizer", {}),
    )


def export_full(model: nn.Module, path: str | Path, *, meta: dict[str, Any] | None = None) -> Weights:
    """Gathers a sharded model's full state dict and writes it on rank 0 as one safetensors file
    (tied weights once); returns, on every rank, a `Weights` entry for it (file url, sha256,
    ``num_params``) that ``get_model(name, weights=...)`` loads. Without a process group (one
    process, no ``torchrun``) it writes the model's own state dict the same way."""
    from safetensors.torch import save

    dist = _dist()
    path = Path(path).resolve()
    grouped = dist.is_available() and dist.is_initialized()
    if grouped:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    else:
        full = {key: tensor.detach().cpu() for key, tensor in model.state_dict().items()}
    first: dict[int, str] = {}
    aliases = {  # tied weights are written once; loading re-ties them
        name for name, p in model.named_parameters(remove_duplicate=False) if first.setdefault(id(p), name) != name
    }
    num_params = sum(p.numel() for p in model.parameters())
    box: list[Any] = [None]
    if not grouped or dist.get_rank() == 0:
        kept = {key: tensor.contiguous() for key, tensor in full.items() if key not in aliases}
        with atomic_file(path, durable=True) as fh:
            fh.write(save(kept))
        box = [sha256_file(path)]
    if grouped:
        dist.broadcast_object_list(box, src=0)
    return Weights(url=path.as_uri(), sha256=box[0], meta={"num_params": num_params, **(meta or {})})


# --------------------------------------------------------------------------- teardown
def _gloo_threads() -> int:
    """How many gloo worker threads this process runs (Linux names them; 0 where it cannot tell)."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0
    count = 0
    for task in tasks:
        with contextlib.suppress(OSError), open(f"/proc/self/task/{task}/comm") as fh:
            count += fh.read().strip() == "pt_gloo_runloop"
    return count


def teardown() -> int:
    """Ends this process's part in torch.distributed so that nothing of it is left for the
    interpreter's exit: destroys the default process group (and every group made from it) if one
    is initialised, then collects the garbage that still refers to the groups (FSDP modules,
    DTensors and device meshes refer to each other in cycles), so each group's worker threads are
    joined now, while Python is fully alive. Returns how many gloo worker threads still run (on
    Linux; 0 elsewhere): a group something still holds, such as a model or mesh in a global
    variable, or the one DDP's reducer keeps (torch leaks it for the life of the process, and it
    is never torn down, so it is harmless).

    torchgraft runs this at interpreter exit (an `atexit` handler registered when
    ``torchgraft.core`` is imported), after the program's functions have returned, so programs
    that call ``destroy_process_group()`` themselves are covered too. Why it matters: a group that
    ``destroy_process_group()`` leaves referenced is only freed by the interpreter's final garbage
    collection, and its gloo worker thread, releasing the last collective's tensors, then needs
    the GIL the finalising interpreter no longer grants; the thread is unwound through a
    ``noexcept`` destructor and the process aborts (``terminate called without an active
    exception``, SIGABRT) after its work is done. See docs/distributed.md."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available():
        return 0
    if dist.is_initialized():
        dist.destroy_process_group()
    if _gloo_threads():
        gc.collect()
    return _gloo_threads()


atexit.register(teardown)
