"""Opening the files of a cache that others may write: what is checked is what is read.

A cache shared by a group is writable by every member, so any name in it may have been replaced
by a symlink, a FIFO, a device or a hard link to someone else's file. Everything here opens first
and checks the open descriptor, never a path checked earlier.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from ..contracts.errors import WeightsSourceError

__all__ = ["MAX_RECORD_BYTES", "describe", "is_regular", "open_regular", "read_record"]

#: The largest stamp list, pin or origin record the store reads (they are a few hundred bytes).
MAX_RECORD_BYTES = 64 << 10


def describe(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: Path, flags: int = os.O_RDONLY, *, follow: bool = True, mode: int = 0o666) -> int:
    """A descriptor for ``path``, which must be a regular file once open (so what is checked is
    what is read: no window between a check and the open). ``O_NONBLOCK`` keeps a FIFO from
    hanging the open; ``follow=False`` refuses a symlink (``O_NOFOLLOW``), as for every file inside
    the cache, where any group member may plant one. Raises `WeightsSourceError` naming what was
    found, or the `OSError` of the open itself."""
    extra = os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags | extra, mode)
    except OSError as exc:
        if not follow and exc.errno == errno.ELOOP:
            raise WeightsSourceError(f"{path} is a symlink; the store never follows one inside its cache") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise WeightsSourceError(f"{path} is {describe(st.st_mode)}, not a regular file")
        if flags & (os.O_WRONLY | os.O_RDWR) and st.st_nlink != 1:
            raise WeightsSourceError(
                f"{path} has {st.st_nlink} hard links; the store writes only files of its own (a hard link "
                f"may be another user's file)"
            )
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def is_regular(path: Path) -> bool:
    """Whether ``path`` itself is a regular file (a symlink is not followed)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def read_record(path: Path, *, follow: bool = False) -> Any:
    """A small JSON record (a stamp list, a pin, an origin record), read bounded from a regular
    file, or ``None`` when it is missing, not a regular file, larger than `MAX_RECORD_BYTES` or
    not JSON."""
    try:
        with os.fdopen(open_regular(path, follow=follow), "rb") as fh:
            data = fh.read(MAX_RECORD_BYTES + 1)
        return json.loads(data) if len(data) <= MAX_RECORD_BYTES else None
    except (OSError, ValueError):
        return None
