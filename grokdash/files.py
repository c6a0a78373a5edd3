"""Small helpers for files that must survive a crash."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


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
