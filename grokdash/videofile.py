"""Where a task's video is on disk: the name it is saved under, the `.part` an interrupted save left,
and the file grokdash recorded when it is still there.

Plain functions of a task and a few stats, apart from the downloader (`downloads`): what every surface
needs to say where a video stands (`savestate`), without loading the HTTP client that fetches one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from grokdash.errors import GrokdashError, safe_snippet

if TYPE_CHECKING:
    from grokdash.tracked import TrackedTask

MAX_NAME_BYTES = 150
"""The longest file name before the extension, in UTF-8 bytes (file systems allow 255 for the whole)."""
HASH_LENGTH = 12

PART_SUFFIX = ".part"
VALIDATOR_SUFFIX = ".etag"

VIDEO_TYPES = {
    "video/mp4": ".mp4",
    "application/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "video/x-m4v": ".m4v",
    "video/x-matroska": ".mkv",
}
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".m4v", ".mkv")
DEFAULT_EXTENSION = ".mp4"

_WINDOWS_RESERVED = re.compile(r"(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?", re.IGNORECASE)
_WINDOWS_FORBIDDEN = set('<>:"/\\|?*')
_HASH_TAIL = re.compile(rf"-[0-9a-f]{{{HASH_LENGTH}}}$")


class DownloadError(GrokdashError):
    """A video could not be saved. The message is one sentence for the user."""

    kind = "download"


# ---- names -------------------------------------------------------------------------------------------


def _clean(text: str, *, allow_space: bool) -> str:
    out = []
    for char in text:
        if char in _WINDOWS_FORBIDDEN or not char.isprintable() or (char == " " and not allow_space):
            out.append("_")
        else:
            out.append(char)
    return "".join(out)


def _cut_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def safe_filename(task_id: str, label: str | None, extension: str, *, with_label: bool) -> str:
    """The file name a task's video is saved under: one plain name inside the download folder.

    The id (then a space and the label, when `with_label` and there is one) is kept as it is when it is
    already a safe name. Otherwise unsafe characters (path separators, control and format characters,
    Windows' reserved ones) become `_`, a leading dot or dash and trailing dots or spaces become `_`,
    Windows device names get a `_` prefix, the name is cut to `MAX_NAME_BYTES` and `-` plus a short
    hash of the raw id and label is appended, so that two different tasks never share a name. Ids hold
    no whitespace (models.check_id), so the first space always ends the id.
    """
    label = (label or "").strip() if with_label else ""
    id_part = _clean(task_id, allow_space=False) or "video"
    name = id_part + (" " + _clean(label, allow_space=True) if label else "")
    raw = task_id + (" " + label if label else "")
    name = re.sub(r"^[.-]", "_", name)
    name = re.sub(r"[. ]+$", lambda m: "_" * len(m.group()), name)
    if _WINDOWS_RESERVED.fullmatch(name.split(" ", 1)[0]):
        name = "_" + name
    too_long = len(name.encode("utf-8")) > MAX_NAME_BYTES
    # A name that already ends like a hash tail gets one too: names with a tail never equal names without.
    if name != raw or too_long or _HASH_TAIL.search(name):
        digest = hashlib.sha256(json.dumps([task_id, label], ensure_ascii=True).encode("ascii")).hexdigest()[
            :HASH_LENGTH
        ]
        name = _cut_utf8(name, MAX_NAME_BYTES - HASH_LENGTH - 1).rstrip(". ") + "-" + digest
    if extension not in VIDEO_SUFFIXES:
        extension = DEFAULT_EXTENSION
    final = name + extension
    if os.path.basename(final) != final or final in {".", ".."}:  # pragma: no cover - by construction
        raise DownloadError(f"cannot make a safe file name for task {safe_snippet(task_id, 40)}")
    return final


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def extension_for(content_type: str | None, url: str) -> str:
    """The file extension for a video: from its Content-Type when that names a video type, else from the
    URL's path when it ends in a known video suffix, else `.mp4`."""
    known = VIDEO_TYPES.get(media_type(content_type))
    if known:
        return known
    try:
        suffix = PurePosixPath(unquote(urlsplit(url).path)).suffix.lower()
    except ValueError:
        suffix = ""
    return suffix if suffix in VIDEO_SUFFIXES else DEFAULT_EXTENSION


# ---- the partial file and the recorded one ------------------------------------------------------------

MAX_VALIDATOR_BYTES = 400


def read_small(path: Path) -> str | None:
    """The text of a small regular file of grokdash's, or None: never follows a symlink, never waits on a
    FIFO (a user or another program may have put anything at that name)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, MAX_VALIDATOR_BYTES).decode("ascii")
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(fd)


def part_progress(part: Path) -> tuple[int, int | None] | None:
    """(bytes kept, whole size or None) of a partial file left by an interrupted save; None when there is
    none. The whole size is what the first answer said, kept in the validator file's second line."""
    try:
        info = os.lstat(part)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    total = None
    lines = (read_small(Path(str(part) + VALIDATOR_SUFFIX)) or "").splitlines()
    if len(lines) > 1 and lines[1].strip().isdigit():
        total = int(lines[1])
    return info.st_size, total


def saved_file(tracked: TrackedTask) -> Path | None:
    """The video grokdash saved for this task, when it is still there: the recorded path names a regular
    file of the recorded size. None when nothing was saved, or the file has gone (then it is `missing`)."""
    if not tracked.local_file or not os.path.isabs(tracked.local_file):
        return None
    try:
        info = os.stat(tracked.local_file, follow_symlinks=False)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode) or Path(tracked.local_file).suffix.lower() not in VIDEO_SUFFIXES:
        return None  # grokdash saves regular files named like videos only: an imported /etc/passwd is not
    if tracked.saved_size is not None and info.st_size != tracked.saved_size:
        return None  # replaced by another file since: not the video
    return Path(tracked.local_file)
