"""Small helpers for files that must survive a crash."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

PRIVATE_MODE = 0o600
"""What mkstemp creates: readable and writable by the owner only."""


def file_kind(mode: int) -> str:
    """What a file of this `st_mode` is, for a message: "a regular file", "a folder", "a FIFO", "a socket",
    "a device", "a symlink" (of an lstat), else "a special file"."""
    for is_kind, kind in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISLNK, "a symlink"),
    ):
        if is_kind(mode):
            return kind
    return "a special file"


def fsync_directory(folder: Path) -> None:
    """Make a rename durable. Not every platform or filesystem can; the rename happened regardless."""
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def temp_prefix(target: Path) -> str:
    """The name prefix of `replace_atomically`'s temp files for `target` (a leftover one can be found)."""
    return f".{target.name}."


def replace_atomically(
    target: Path, payload: bytes, *, mode: int = PRIVATE_MODE, mtime_ns: int | None = None
) -> os.stat_result:
    """Write `payload` to a temp file beside `target` with `mode` (and `mtime_ns`), fsync it, rename it over
    `target`, fsync the folder: a crash leaves the old file or the new one, never a part. The folder must
    exist. Returns the new file's stat."""
    folder = target.parent
    fd, temp = tempfile.mkstemp(dir=folder, prefix=temp_prefix(target), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            if mode != PRIVATE_MODE and hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), mode)
            if mtime_ns is not None and os.utime in os.supports_fd:
                os.utime(handle.fileno(), ns=(mtime_ns, mtime_ns))
            os.fsync(handle.fileno())
            written = os.fstat(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_directory(folder)
    return written
