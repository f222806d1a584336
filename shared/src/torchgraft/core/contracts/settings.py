"""Every ``TORCHGRAFT_*`` environment variable, parsed in one place.

Each setting is read when it is used (never at import, so a malformed value cannot break
``import torchgraft.core``) and a malformed value raises `SettingsError` naming the variable,
what it holds and what it accepts. docs/store.md has the table; a test keeps it equal to
`SETTINGS`.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import CacheError, SettingsError

__all__ = [
    "SETTINGS",
    "Setting",
    "cache_home",
    "flag",
    "http_timeout",
    "lock_timeout",
    "lock_wait_notice",
    "max_download",
    "mirrors",
    "progress",
    "validate",
    "verify_always",
]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    accepts: str
    effect: str


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("TORCHGRAFT_HOME", "the platform cache directory", "a directory path", "the cache root"),
        Setting("TORCHGRAFT_OFFLINE", "0", "a boolean", "open no socket: serve cached files, refuse missing ones"),
        Setting(
            "TORCHGRAFT_MIRROR", "", "PREFIX=REPLACEMENT pairs", "point urls at a mirror, tried before the original"
        ),
        Setting("TORCHGRAFT_HTTP_TIMEOUT", "30", "seconds > 0", "connect and per-read time-out"),
        Setting("TORCHGRAFT_LOCK_TIMEOUT", "900", "seconds > 0", "how long to wait for another process's download"),
        Setting(
            "TORCHGRAFT_VERIFY", "stamps", "always (or a boolean)", "re-hash every file on every use, stamps ignored"
        ),
        Setting("TORCHGRAFT_MAX_DOWNLOAD", "", "a size: 512M, 20G, 1.5GiB or bytes", "bound on undeclared sizes"),
        Setting("TORCHGRAFT_REQUIRE_PINNED", "0", "a boolean", "refuse files that publish no sha256 and are unpinned"),
        Setting("TORCHGRAFT_NO_LOCK", "0", "a boolean", "skip the download lock"),
        Setting("TORCHGRAFT_PROGRESS", "auto", "a boolean, always, never or auto", "download progress bars"),
    )
}


def _raw(name: str) -> str:
    return os.environ.get(name, "").strip()


def _refuse(name: str, raw: str) -> SettingsError:
    setting = SETTINGS[name]
    return SettingsError(f"{name}={raw!r} is not valid: it takes {setting.accepts} ({setting.effect})")


def _bool(name: str, raw: str) -> bool:
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise _refuse(name, raw)


def flag(name: str) -> bool:
    """A boolean setting: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``/unset."""
    return _bool(name, _raw(name))


def _seconds(name: str) -> float:
    raw = _raw(name) or SETTINGS[name].default
    try:
        value = float(raw)
    except ValueError:
        raise _refuse(name, raw) from None
    if not math.isfinite(value) or value <= 0:
        raise _refuse(name, raw)
    return value


def http_timeout() -> float:
    return _seconds("TORCHGRAFT_HTTP_TIMEOUT")


def lock_timeout() -> float:
    return _seconds("TORCHGRAFT_LOCK_TIMEOUT")


def lock_wait_notice() -> float:
    """Seconds of waiting on another process's lock before saying who holds it."""
    return 10.0


def verify_always() -> bool:
    raw = _raw("TORCHGRAFT_VERIFY")
    if raw.lower() in ("always", "stamps"):
        return raw.lower() == "always"
    return _bool("TORCHGRAFT_VERIFY", raw)


def progress() -> bool | None:
    """``True`` (bars anywhere), ``False`` (never) or ``None`` (where someone watches)."""
    raw = _raw("TORCHGRAFT_PROGRESS")
    low = raw.lower()
    if low in ("", "auto"):
        return None
    if low in ("always", "never"):
        return low == "always"
    return _bool("TORCHGRAFT_PROGRESS", raw)


def max_download() -> int | None:
    raw = _raw("TORCHGRAFT_MAX_DOWNLOAD")
    if not raw:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", raw.lower())
    if not match or float(match.group(1)) <= 0:
        raise _refuse("TORCHGRAFT_MAX_DOWNLOAD", raw)
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def mirrors() -> list[tuple[str, str]]:
    pairs = []
    for item in re.split(r"[,;\s]+", _raw("TORCHGRAFT_MIRROR")):
        if not item:
            continue
        prefix, sep, replacement = item.partition("=")
        if not sep or not prefix or not replacement:
            raise _refuse("TORCHGRAFT_MIRROR", item)
        pairs.append((prefix, replacement))
    return pairs


def cache_home() -> Path | None:
    """``TORCHGRAFT_HOME`` as a path, or ``None`` when unset. It must be a directory or not exist
    yet, below a directory: a path through a file is refused here, before any command reads it."""
    raw = os.environ.get("TORCHGRAFT_HOME", "")
    if not raw.strip():
        return None
    root = Path(raw).expanduser()
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == root else f"goes through {probe}, which is a file"
        raise CacheError(f"TORCHGRAFT_HOME={raw} {where}, not a directory: point it at a directory")
    return root


def validate() -> None:
    """Parses every setting, so a malformed one is refused by name before any work, whichever
    path would have read it."""
    cache_home()
    for name in ("TORCHGRAFT_OFFLINE", "TORCHGRAFT_REQUIRE_PINNED", "TORCHGRAFT_NO_LOCK"):
        flag(name)
    http_timeout()
    lock_timeout()
    verify_always()
    progress()
    max_download()
    mirrors()
