"""Managing the weight store: listing, verifying, pruning, and moving it to air-gapped machines.

Every function returns plain data (lists of dicts) so the CLI can print it as a table or as JSON.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ...contracts.errors import CacheError, WeightsSourceError
from ..files import is_regular, open_regular, read_record
from ..transfer import check_space
from . import (
    alive,
    atomic_file,
    atomic_write_text,
    blobs_folder,
    cache_folder,
    cache_root,
    file_stamp,
    pin_path,
    pinned_sha256,
    quarantine,
    sha256_file,
    write_pin,
    write_stamp,
)

__all__ = ["adopt_files", "export_cache", "import_cache", "list_cache", "prune_cache", "verify_cache"]

_FULL = re.compile(r"[0-9a-f]{64}")


def _listing(folder: Path, pattern: str = "*") -> list[Path]:
    """The entries of one of the cache's folders matching ``pattern``: none while it does not exist
    yet, and a `CacheError` when it cannot be read (no command reports success on a cache it never
    saw; ``glob`` alone would answer an unreadable folder with nothing)."""
    if not folder.is_dir():
        if folder.exists():
            raise CacheError(f"the cache folder {folder} is a file, not a directory: the cache is damaged")
        return []
    if not os.access(folder, os.R_OK | os.X_OK):
        raise CacheError(f"cannot read the cache folder {folder}: permission denied")
    try:
        return sorted(p for p in folder.iterdir() if fnmatch.fnmatchcase(p.name, pattern))
    except OSError as exc:
        raise CacheError(f"cannot read the cache folder {folder}: {exc.strerror or exc}") from exc


def _blob_paths() -> list[Path]:
    """The cached files: regular files named by a full sha256 (anything else planted there is
    never listed, verified, served or exported)."""
    return [p for p in _listing(blobs_folder()) if _FULL.fullmatch(p.name) and is_regular(p)]


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(text: Any) -> str | None:
    """A record's text as it may reach a terminal: control characters (escape sequences an
    imported record could carry) shown as ``\\xNN``, never sent raw."""
    if text is None:
        return None
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))[:2048]


def _clean_origin(record: dict[str, Any]) -> dict[str, Any]:
    """An origin record's fields as the cache keeps and shows them: ``url`` (text without control
    characters) and ``fetched`` (a time, else ``None``)."""
    fetched = record.get("fetched")
    return {
        "url": _printable(record.get("url")) if isinstance(record.get("url"), str) else None,
        "fetched": fetched if isinstance(fetched, (int, float)) and not isinstance(fetched, bool) else None,
    }


def _origin(blob: Path) -> dict[str, Any]:
    """Where a cached file came from (`_clean_origin`), or nothing."""
    record = read_record(blob.with_name(blob.name + ".json"))
    return _clean_origin(record) if isinstance(record, dict) else {}


def list_cache() -> dict[str, Any]:
    """Cached files (sha256, size, source url, when fetched), partial downloads and quarantined files."""
    root = cache_root()
    files = []
    for blob in _blob_paths():
        origin = _origin(blob)
        files.append(
            {
                "sha256": blob.name,
                "size": os.lstat(blob).st_size,
                "url": origin.get("url"),
                "fetched": origin.get("fetched"),
                "path": str(blob),
            }
        )
    partial = _listing(root / "partial", "*.part")
    quarantine = _listing(root / "quarantine")
    return {
        "root": str(root),
        "files": files,
        "total_bytes": sum(f["size"] for f in files),
        "partial": [{"path": str(p), "size": os.lstat(p).st_size} for p in partial],
        "quarantined": [str(p) for p in quarantine],
    }


def verify_cache() -> list[dict[str, Any]]:
    """Re-hashes every cached file (stamps ignored); a file whose content no longer matches its
    name is moved to quarantine."""
    results = []
    for blob in _blob_paths():
        try:
            actual = sha256_file(blob)
        except WeightsSourceError as exc:
            results.append({"sha256": blob.name, "ok": False, "path": str(blob), "error": str(exc)})
            continue
        except OSError as exc:
            results.append({"sha256": blob.name, "ok": False, "path": str(blob), "error": exc.strerror or str(exc)})
            continue
        ok = actual == blob.name
        entry = {"sha256": blob.name, "ok": ok, "path": str(blob)}
        if ok:
            write_stamp(blob.name, file_stamp(blob))
        else:
            entry.update(actual=actual, quarantined=str(quarantine(blob)))
        results.append(entry)
    return results


def _referenced(digests: Iterable[str]) -> set[str]:
    """Cached full digests that an installed weights entry names (by full digest or prefix)."""
    names = [b.name for b in _blob_paths()]
    wanted = list(digests)
    return {n for n in names for d in wanted if n.startswith(d)}


def prune_cache(
    *, unreferenced: bool = False, referenced: Iterable[str] = (), dry_run: bool = False
) -> list[dict[str, Any]]:
    """Removes partial downloads left by processes that are gone, quarantined files, stamps of
    files that no longer exist and, with ``unreferenced``, cached files that no weights entry in
    ``referenced`` names."""
    root = cache_root()
    blobs = _blob_paths()  # a damaged cache is reported, not pruned around
    doomed: list[tuple[Path, str]] = []
    for part in _listing(root / "partial", "*.part"):
        bits = part.name.split(".")
        if len(bits) == 4 and bits[2].isdigit() and alive(int(bits[2])):
            continue  # a download in progress
        doomed.append((part, "partial download"))
    doomed += [(p, "quarantined") for p in _listing(root / "quarantine")]
    for stamp in _listing(root / "stamps", "*.json"):
        try:
            kept = any(Path(e["path"]).exists() for e in read_record(stamp))
        except (OSError, ValueError, KeyError, TypeError):
            kept = False
        if not kept:
            doomed.append((stamp, "stale stamp"))
    if unreferenced:
        keep = _referenced(referenced)
        for blob in blobs:
            if blob.name not in keep:
                doomed.append((blob, "unreferenced"))
                meta = blob.with_name(blob.name + ".json")
                if meta.exists():
                    doomed.append((meta, "unreferenced"))
    removed = []
    for path, why in doomed:
        st = os.lstat(path)
        mode = st.st_mode
        size = st.st_size if stat.S_ISREG(mode) else 0
        if not dry_run:
            if stat.S_ISDIR(mode):
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)  # a symlink is removed, never its target
        removed.append({"path": str(path), "reason": why, "size": size})
    return removed


class _Mismatch(Exception):
    """The bytes copied do not hash to the name they were imported under (the copy is dropped)."""


def _copy_verified(src: Path, dest: Path, sha256: str) -> str:
    """Copies ``src`` to ``dest`` atomically, hashing the bytes as they are written: the copy lands
    only if they hash to ``sha256``. Returns the digest of what was read (so a file that changes
    between a check and the copy is caught on the bytes that count)."""
    import hashlib

    digest = hashlib.sha256()
    with (
        contextlib.suppress(_Mismatch),
        os.fdopen(open_regular(src, follow=False), "rb") as inp,  # the file checked is the file read
        atomic_file(dest, durable=True) as out,
    ):
        while chunk := inp.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
        if digest.hexdigest() != sha256:
            raise _Mismatch
    return digest.hexdigest()


def _copy_atomic(src: Path, dest: Path) -> None:
    with os.fdopen(open_regular(src, follow=False), "rb") as inp, atomic_file(dest, durable=True) as out:
        shutil.copyfileobj(inp, out, 1 << 20)


def export_cache(directory: Path) -> list[dict[str, Any]]:
    """Copies every cached file (and its origin record) into ``directory``, for carrying to an
    air-gapped machine and ``import_cache`` there."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for blob in _blob_paths():
        dest = directory / blob.name
        if not (dest.exists() and dest.stat().st_size == blob.stat().st_size):
            _copy_atomic(blob, dest)
        meta = blob.with_name(blob.name + ".json")
        if meta.exists():
            _copy_atomic(meta, directory / meta.name)
        out.append({"sha256": blob.name, "size": blob.stat().st_size, "path": str(dest)})
    pins = cache_root() / "pins"
    for pin in sorted(pins.glob("*.json")) if pins.is_dir() else []:
        (directory / "pins").mkdir(exist_ok=True)
        _copy_atomic(pin, directory / "pins" / pin.name)
    return out


def _read_record(path: Path) -> dict[str, Any] | None:
    """A small JSON object from an import folder (bounded by `MAX_RECORD_BYTES`, never through a
    symlink, FIFO or device), or ``None``."""
    record = read_record(path)
    return record if isinstance(record, dict) else None


def _import_pins(directory: Path, *, trust_pins: bool, present: set[str]) -> list[dict[str, Any]]:
    """Digests pinned on the exporting machine (first-use pins of files published without one).
    They are that machine's trust, not this one's: taken only with ``trust_pins``, only for a
    blob this cache now holds, and never over a pin of this cache's own."""
    results: list[dict[str, Any]] = []
    folder = directory / "pins"
    if folder.is_symlink() or not folder.is_dir():
        return results
    for src in sorted(folder.glob("*.json")):
        record = _read_record(src)
        url, digest = (record or {}).get("url"), (record or {}).get("sha256")
        if not isinstance(url, str) or not _FULL.fullmatch(str(digest)) or pin_path(url).name != src.name:
            results.append({"kind": "pin", "path": str(src), "status": "rejected", "reason": "malformed"})
            continue
        entry = {"kind": "pin", "url": url, "sha256": digest}
        if pinned_sha256(url) is not None:
            results.append({**entry, "status": "present" if pinned_sha256(url) == digest else "kept own"})
        elif not trust_pins:
            results.append({**entry, "status": "skipped", "reason": "pins are imported only with trust_pins"})
        elif digest not in present:
            results.append({**entry, "status": "skipped", "reason": "no such file in the cache"})
        else:
            write_pin(url, {"sha256": digest, "imported": time.time()})
            results.append({**entry, "status": "imported"})
    return results


def adopt_files(directory: Path, catalog: Sequence[Any]) -> list[dict[str, Any]]:
    """Adopts the files of another cache (torch.hub's ``checkpoints`` folder, a download folder)
    whose bytes a catalog entry vouches for: each regular file named as an entry's url names its
    file is hashed, and imported when its digest is the full one the entry publishes. Every other
    file is reported as skipped, with why: no entry names it, the entry publishes no full digest
    to check it against (a published prefix never vouches for a local file: a forged one can share
    it; such files are downloaded, see docs/store.md), or the bytes differ."""
    by_name: dict[str, list[Any]] = {}
    for entry in catalog:
        by_name.setdefault(str(entry.url).split("?", 1)[0].rsplit("/", 1)[-1], []).append(entry)
    blobs = cache_folder("blobs")
    results: list[dict[str, Any]] = []
    for src in sorted(directory.iterdir()):
        if _FULL.fullmatch(src.name) or src.name.endswith(".json") or src.name.startswith("."):
            continue  # an export's own files: import_cache reads those
        entries = by_name.get(src.name, [])
        if not is_regular(src):
            results.append({"file": src.name, "status": "skipped", "reason": "not a regular file"})
            continue
        if not entries:
            results.append({"file": src.name, "status": "skipped", "reason": "no installed weights entry names it"})
            continue
        published = [e for e in entries if e.sha256 and len(e.sha256) == 64]
        if not published:
            reason = (
                "its entry publishes no full digest to check its bytes against (a prefix can be matched by a "
                "forged file): download it instead"
            )
            results.append({"file": src.name, "status": "skipped", "reason": reason})
            continue
        actual = sha256_file(src)
        match = next((e for e in published if actual == e.sha256), None)
        if match is None:
            reason = f"its bytes hash to {actual[:12]}..., not to the digest its entry publishes"
            results.append({"file": src.name, "status": "skipped", "reason": reason})
            continue
        dest = blobs / actual
        if not (os.path.lexists(dest) and is_regular(dest) and sha256_file(dest) == actual):
            if os.path.lexists(dest):
                quarantine(dest)
            check_space(blobs, os.lstat(src).st_size, f"adopting {src}")
            if _copy_verified(src, dest, actual) != actual:  # changed while it was read
                results.append({"file": src.name, "status": "skipped", "reason": "it changed while being read"})
                continue
        atomic_write_text(dest.with_name(dest.name + ".json"), json.dumps({"url": match.url, "adopted": time.time()}))
        write_stamp(dest.name, file_stamp(dest))
        results.append({"file": src.name, "sha256": actual, "status": "imported", "url": match.url})
    return results


def import_cache(directory: Path, *, trust_pins: bool = False) -> list[dict[str, Any]]:
    """Adds the files of an exported directory to the cache; the directory is untrusted input.

    Only regular files (no symlinks) named by a full sha256 are considered, so no name can point
    outside the cache, and the bytes copied are hashed as they are written: a file whose content
    does not match its name is rejected. A cached copy already there is hashed too, never trusted:
    a corrupt one is quarantined and replaced by the verified import (``"repaired"``). Every stamp
    written marks bytes hashed by this call. Origin records and pins are read bounded
    (`MAX_RECORD_BYTES`); pins, which vouch for files published without a digest, are taken only
    with ``trust_pins`` (see `_import_pins`)."""
    if directory.is_symlink() or not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory (a symlink to one is not followed)")
    blobs = cache_folder("blobs")
    results: list[dict[str, Any]] = []
    for src in sorted(directory.iterdir()):
        if not _FULL.fullmatch(src.name):
            continue
        if not is_regular(src):
            results.append({"sha256": src.name, "status": "rejected", "reason": "not a regular file"})
            continue
        dest = blobs / src.name
        status = "present"
        if os.path.lexists(dest) and (not is_regular(dest) or sha256_file(dest) != src.name):
            quarantine(dest)  # moves a planted symlink itself, never its target
            status = "repaired"
        if not os.path.lexists(dest):
            check_space(blobs, os.lstat(src).st_size, f"importing {src}")
            try:
                actual = _copy_verified(src, dest, src.name)
            except WeightsSourceError as exc:  # swapped for a symlink, FIFO or device since listed
                results.append({"sha256": src.name, "status": "rejected", "reason": str(exc)})
                continue
            if actual != src.name:
                results.append({"sha256": src.name, "status": "rejected", "actual": actual})
                continue
            status = "imported" if status == "present" else status
        origin = _read_record(src.with_name(src.name + ".json"))
        if origin is not None and not os.path.lexists(dest.with_name(dest.name + ".json")):
            atomic_write_text(
                dest.with_name(dest.name + ".json"), json.dumps({**_clean_origin(origin), "imported": time.time()})
            )
        write_stamp(dest.name, file_stamp(dest))
        results.append({"sha256": src.name, "status": status, "size": os.lstat(dest).st_size})
    present = {p.name for p in _blob_paths()}
    return results + _import_pins(directory, trust_pins=trust_pins, present=present)
