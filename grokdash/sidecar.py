"""The provenance file beside each saved video: `<video>.json`, saying which task made it and how.

A folder of videos outlives the task database; the sidecar keeps each video's prompt and request with
it. It never holds a signed URL's token (the folder may be shared), and grokdash never writes over a
`.json` of the user's own: only over a sidecar it wrote for the same task.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from grokdash import __version__
from grokdash.files import replace_atomically
from grokdash.tracked import TrackedTask

SIDECAR_MODE = 0o644
"""Readable by anyone who can read the video beside it (it holds no secret)."""
MAX_SIDECAR_READ = 1024 * 1024
"""Bytes read at most of a `.json` to tell whether it is a sidecar: it may be a user's huge file."""
MARKER = "grokdash"
"""The key that makes a `.json` a grokdash sidecar (its value is the version that wrote it)."""


def sidecar_path(video: Path) -> Path:
    """`<video without its suffix>.json`: `/dl/vid-2 (1).mp4` → `/dl/vid-2 (1).json`."""
    path = video.with_suffix(".json")
    # A video named `.json` must never be its own sidecar.
    return path if path != video else video.with_name(video.name + ".json")


def strip_url(url: str) -> str:
    """`url` without its query, fragment and user:password: a signed URL's token stays out of the file."""
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    url = url[:cut]
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL that parses ("https://[::1"): cutting the query was enough
        return url
    if "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return url


def _scrubbed(value: Any) -> Any:
    """`value` with every web address in it, at any depth, stripped by `strip_url`: the video URL and
    the request's reference images alike may be signed (`?X-Amz-Signature=…`)."""
    if isinstance(value, dict):
        return {key: _scrubbed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrubbed(item) for item in value]
    if isinstance(value, str) and value[:8].lower().startswith(("http://", "https://")):
        return strip_url(value)
    return value


def _iso(unix: float | None) -> str | None:
    """Unix seconds as ISO 8601 UTC (`2025-11-28T03:20:00Z`): readable by someone browsing the folder."""
    if unix is None:
        return None
    try:
        moment = datetime.fromtimestamp(unix, UTC)
    except (OverflowError, OSError, ValueError):  # a server's nonsense year: no time rather than a crash
        return None
    text = moment.isoformat(timespec="seconds" if moment.microsecond == 0 else "milliseconds")
    return text.removesuffix("+00:00") + "Z"


def build_sidecar(tracked: TrackedTask, video: Path, size: int) -> dict[str, Any]:
    """What the sidecar of `video` (`size` bytes, saved for `tracked`) says, in the order written."""
    task = tracked.task
    request = tracked.request
    prompt = request.get("prompt") if request else None
    data = {
        MARKER: __version__,
        "id": tracked.id,
        "file": str(video.absolute()),
        "size": size,
        "label": tracked.label,
        "model": tracked.model,
        # Only a task created here has a known prompt: the API's answer does not carry it.
        "prompt": prompt if isinstance(prompt, str) else None,
        "request": request,
        "created": _iso(task.created) if task else None,
        "completed": _iso(tracked.status_seen.get("completed")),
        "duration": task.actual_duration if task else None,
        # The documented fields only: an undocumented one could carry anything, tokens included.
        "answer": task.api_fields() if task else None,
    }
    return _scrubbed(data)


def write_sidecar(video: Path, data: dict[str, Any]) -> Path:
    """Write `data` as the sidecar of `video`, atomically (a crash leaves the old file or the new one).
    Returns its path. Raises OSError as the system gives it; whether a file there may be replaced
    (`is_foreign`) is the caller's to check."""
    path = sidecar_path(video)
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    # A lone surrogate (JSON can hold one) is written as its JSON escape, which reads back the same.
    replace_atomically(path, text.encode("utf-8", "backslashreplace"), mode=SIDECAR_MODE)
    return path


def sidecar_names(json_path: Path, task_id: str, *, size: int | None = None) -> bool:
    """Whether the file at `json_path` is a grokdash sidecar of task `task_id` (and, with `size`, of a
    video of that many bytes). Anything that cannot be read as one (missing, unreadable, not a regular
    file, not JSON, over 1 MiB) is not."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(json_path, flags)  # non-blocking: a FIFO put there must not hang us
    except (OSError, ValueError):
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        with os.fdopen(os.dup(fd), "rb") as handle:
            raw = handle.read(MAX_SIDECAR_READ + 1)
        if len(raw) > MAX_SIDECAR_READ:
            return False
        data = json.loads(raw.decode("utf-8"))
    except Exception:  # OSError, UnicodeDecodeError, JSONDecodeError, RecursionError…: not a sidecar
        return False
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    if not (isinstance(data, dict) and MARKER in data and data.get("id") == task_id):
        return False
    return size is None or data.get("size") == size


def is_foreign(json_path: Path, task_id: str) -> bool:
    """Whether something stands at `json_path` that grokdash must not replace: anything but a grokdash
    sidecar of `task_id` (a user's own `vid-2.json`, a folder, a symlink, a file it cannot read)."""
    try:
        info = os.lstat(json_path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except (OSError, ValueError):  # cannot tell what is there: leave it alone
        return True
    if not stat.S_ISREG(info.st_mode):  # grokdash writes regular files only, never symlinks
        return True
    return not sidecar_names(json_path, task_id)
