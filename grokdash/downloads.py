"""Saving videos: streaming, resumable, atomic downloads into the download folder.

- The bytes go to `<final name>.part` beside the final file; only a complete transfer is fsynced and
  renamed into place, so a file with the final name is always a whole video.
- An interrupted transfer (network, timeout, disk full, Ctrl-C) keeps its `.part`; the next attempt
  asks for the rest with `Range: bytes=<size>-` and `If-Range: <validator>` (the ETag or Last-Modified
  of the first answer, kept in `<final name>.part.etag`). A server that ignores Range (200) or whose
  file changed gets a clean start; a 416 for a part that is already whole finishes it.
- The name comes from the task id (and label), never from the URL, and cannot leave the folder.
- The video host is a CDN: the client here is not the API client and never carries the API key.
- A file already at the final name is never overwritten and never taken for the video: the Downloader
  refuses the name (`NameTakenError`), and `save_task` picks a free one (`vid-2 (1).mp4`) unless the
  file is one grokdash recorded (its path and size on the task, or a sidecar naming the task).
- Two saves of one video at once share one transfer (in this process); `save_task` holds a lock per
  video across processes for the whole save (fetch, rename, sidecar, record), and a second process
  trying the same video is told so (`SaveBusyError`); the `.part` file is locked too (POSIX).
- Each transfer's request and body loop run in a worker thread over a synchronous httpx client (the
  async client reached a third to a half of curl's speed on loopback), so the event loop only sees
  progress reports. A plain Content-Length body is read straight off the socket in large reads
  (`socketbody`), which takes the transfer from about half of curl's speed to par with it.
- What arrived before a connection broke or a transfer was stopped is written to the `.part` too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import hashlib
import logging
import os
import re
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

import httpx

from grokdash import __version__
from grokdash.api import Timeouts
from grokdash.errors import ApiError, safe_snippet
from grokdash.files import fsync_directory
from grokdash.sidecar import build_sidecar, is_foreign, sidecar_names, sidecar_path, write_sidecar
from grokdash.socketbody import body_chunks
from grokdash.videofile import (
    PART_SUFFIX,
    VALIDATOR_SUFFIX,
    VIDEO_SUFFIXES,
    VIDEO_TYPES,
    DownloadError,
    extension_for,
    media_type,
    part_progress,
    read_small,
    safe_filename,
    saved_file,
)

if TYPE_CHECKING:
    from grokdash.api import GrokClient
    from grokdash.store import TaskStore
    from grokdash.tracked import TrackedTask

try:  # POSIX only: keeps two processes from writing one .part at once.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
"""on_progress(bytes_done, total_bytes_or_None): bytes on disk so far, the part kept from before included."""

DEFAULT_CHUNK_SIZE = 1024 * 1024
"""Bytes gathered before each write to disk (in a worker thread, so a slow disk never stalls the loop)."""
SNIFF_BYTES = 64
MAX_PIECES = 512
"""Network chunks gathered per write at most (writev takes up to IOV_MAX, 1024 on Linux)."""
HAVE_WRITEV = hasattr(os, "writev")
WRITEBACK_BYTES = 8 * 1024 * 1024
"""Bytes written between asking the kernel to start writing them to disk (posix_fadvise, Linux), so the
one fsync at the end has little left to wait for (about 0.1 s less for 200 MB)."""
HAVE_FADVISE = hasattr(os, "posix_fadvise") and hasattr(os, "POSIX_FADV_DONTNEED")
MAX_VIDEO_BYTES = 4 * 2**30
"""The most a video may be: a body without end (or a Content-Length beyond it) is refused, not written
until the disk is full. A generated video of this API is tens of megabytes."""
MIN_SPEED = (64 * 1024, 60.0)
"""(bytes, seconds): a transfer that receives fewer bytes than this in that long is stopped (its part
kept, resumed later), like curl's --speed-limit."""

GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/x-download"}


class NameTakenError(DownloadError):
    """A file that is not this transfer's is at the final name: it is left alone."""


class SaveBusyError(DownloadError):
    """Another grokdash process is saving this video right now."""

    kind = "busy"


class UrlExpiredError(DownloadError):
    """The video host refused the URL (403, 404 or 410): it has most likely expired."""

    kind = "url_expired"


def _refusal(content_type: str | None) -> str | None:
    """Why an answer of this Content-Type is not a video, or None when it may be one."""
    kind = media_type(content_type)
    if kind in VIDEO_TYPES or kind.startswith("video/") or kind in GENERIC_TYPES:
        return None
    if kind in ("text/html", "application/xhtml+xml"):
        return "a web page"
    if kind == "application/json" or kind.endswith("+json"):
        return "a JSON document"
    if kind in ("application/xml", "text/xml") or kind.endswith("+xml"):
        return "an XML document"
    if kind.startswith("text/"):
        return "text"
    if kind.startswith(("image/", "audio/", "font/", "multipart/")):
        return f"a file of type {safe_snippet(kind, 40)}"
    return None  # some other application/* type: the first bytes decide


def _sniff(head: bytes) -> str | None:
    """Why these first bytes are not a video, or None when they look like one (or cannot tell)."""
    if len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return None  # MP4 / QuickTime
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return None  # WebM / Matroska
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if start[:1] in (b"<", b"{", b"["):
        return "a web page" if start[:1] == b"<" else "a JSON document"
    if head and all(32 <= byte < 127 or byte in (9, 10, 13) for byte in head):
        return "text"
    return None


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total) of a Content-Range header; None where it does not say."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if match is None:
        return None, None
    first = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(2)) if match.group(2) != "*" else None
    return first, total


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("Content-Length", "")
    return int(value) if value.strip().isdigit() else None


# ---- files ---------------------------------------------------------------------------------------------


def _write_all(fd: int, pieces: list[memoryview]) -> None:
    """Write every byte of `pieces`, in order, at the file position (a worker thread calls this)."""
    views = list(pieces)
    while views:
        written = os.writev(fd, views) if HAVE_WRITEV else os.write(fd, views[0])
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if written:
            views[0] = views[0][written:]


def _finish(fd: int, part: Path, final: Path, validator: Path) -> None:
    """fsync the part, move it to its final name without ever replacing a file there (a hard link, then
    the part's name removed), forget its validator, make the move durable."""
    os.fsync(fd)
    try:
        os.link(part, final)
    except FileExistsError:
        raise NameTakenError(
            f"a file appeared at {final} while the video was saved; it is left alone"
        ) from None
    except OSError as exc:  # no hard links here (FAT, some network mounts): check, then rename
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            raise
        if os.path.lexists(final):
            raise NameTakenError(
                f"a file appeared at {final} while the video was saved; it is left alone"
            ) from None
        os.replace(part, final)
    else:
        os.unlink(part)
    with contextlib.suppress(OSError):
        validator.unlink()
    fsync_directory(final.parent)


def _write_small(path: Path, text: str) -> None:
    """Replace a small file of grokdash's without following a symlink or opening a FIFO put there."""
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.lstat(path).st_mode):
            os.unlink(path)  # a link or a FIFO at our own name: removed, never written through
    flags = (
        os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    )
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, text.encode("ascii"))
    finally:
        os.close(fd)


def _disk_sentence(exc: OSError, what: str, part: Path, done: int) -> str:
    kept = f"; the {done:,} bytes saved so far are kept in {part} for a later resume" if done else ""
    code = exc.errno
    if code == errno.ENOSPC:
        return f"the disk is full: could not save {what}{kept}"
    if code == getattr(errno, "EDQUOT", -1):
        return f"the disk quota is used up: could not save {what}{kept}"
    if code in (errno.EACCES, errno.EPERM):
        folder = part.parent
        return (
            f"the download folder {folder} is not writable (permission denied): could not save {what}{kept}"
        )
    if code == errno.EROFS:
        return f"the download folder {part.parent} is on a read-only disk: could not save {what}{kept}"
    reason = (exc.strerror or str(exc)).lower()
    return f"could not write {part} ({reason}): could not save {what}{kept}"


@dataclass
class _InFlight:
    """One transfer and everyone waiting for it."""

    task: asyncio.Task[Path]
    listeners: list[Progress]
    waiters: int = 0


@dataclass
class _Attempt:
    """One transfer's state across its (at most two) requests."""

    task_id: str
    url: str
    folder: Path
    part: Path
    validator: Path
    final_stem: str
    url_extension: str
    progress: Callable[[int, int | None], None]
    before_final: Callable[[Path, int], None] | None = None
    """Called in the worker thread with the final path and size once the bytes are whole and flushed,
    before the file takes its final name (the sidecar, grokdash's mark on the file, goes first)."""
    fd: int = -1
    done: int = 0
    written_back: int = 0


@dataclass
class _Body:
    """An answer whose body is to be saved from `a.done` on."""

    total: int | None
    sniff: bool


_WHOLE = "whole"
"""_check's word for: the part on disk is already the whole file (a 416 that says so)."""


class _TooSlow(Exception):
    """Raised in a transfer's worker thread: fewer bytes came in the speed window than the minimum."""

    def __init__(self, got: int, seconds: float) -> None:
        self.got = got
        self.seconds = seconds


class _Stopped(Exception):
    """Raised in a transfer's worker thread: the transfer was cancelled or a progress listener failed."""


class _Pieces:
    """Cuts a stream of network chunks into batches of about `size` bytes for one writev each, without
    copying, and refuses the stream when its first bytes are not a video."""

    def __init__(self, size: int, sniff: bool, what: str) -> None:
        self.size = size
        self.sniff = sniff
        self.what = what
        self.pending: list[memoryview] = []
        self.pending_size = 0

    def feed(self, chunk: bytes) -> Iterator[list[memoryview]]:
        view = memoryview(chunk)
        if self.sniff:
            head = b"".join([*self.pending, view[:SNIFF_BYTES]])[:SNIFF_BYTES]
            if len(head) >= SNIFF_BYTES:
                _check_sniff(head, self.what)
                self.sniff = False
        while view:
            piece = view[: self.size - self.pending_size]
            view = view[len(piece) :]
            self.pending.append(piece)
            self.pending_size += len(piece)
            if self.pending_size >= self.size or len(self.pending) >= MAX_PIECES:
                batch, self.pending, self.pending_size = self.pending, [], 0
                yield batch

    def received(self) -> list[memoryview]:
        """What is gathered but not written, when the stream broke off: nothing until the sniff passed."""
        batch = [] if self.sniff else self.pending
        self.pending, self.pending_size = [], 0
        return batch

    def rest(self) -> list[memoryview]:
        """What is left to write once the stream has ended (the sniff check first, if still due)."""
        if self.sniff:
            _check_sniff(b"".join(self.pending)[:SNIFF_BYTES], self.what)
        batch, self.pending, self.pending_size = self.pending, [], 0
        return batch


def _check_sniff(head: bytes, what: str) -> None:
    refusal = _sniff(head[:SNIFF_BYTES]) if head else None
    if refusal:
        raise DownloadError(f"the server answered with {refusal}, not a video, for {what}")


class _Link:
    """Between a transfer's worker thread and the event loop: progress reports go to the loop (at most
    one unhandled at a time, so a listener's exception stops the transfer within a chunk), and a stop
    request comes back (checked at every network chunk)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, progress: Progress) -> None:
        self.loop = loop
        self.progress = progress
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self.response: httpx.Response | None = None
        self._handled: threading.Event | None = None

    # -- in the worker thread

    def check(self) -> None:
        if self.stop.is_set():
            raise _Stopped

    def settle(self) -> None:
        """Wait until the last report was handled; raise _Stopped if the transfer must stop."""
        handled = self._handled
        while handled is not None and not handled.wait(0.05):
            self.check()
        self.check()

    def report(self, done: int, total: int | None) -> None:
        self.settle()
        handled = self._handled = threading.Event()

        def deliver() -> None:
            try:
                if not self.stop.is_set():
                    self.progress(done, total)
            except BaseException as exc:  # handed to the transfer's callers
                self.failure = exc
                self.stop.set()
            finally:
                handled.set()

        try:
            self.loop.call_soon_threadsafe(deliver)
        except RuntimeError:  # the loop is closed: no one is waiting any more
            self.stop.set()
            raise _Stopped from None

    # -- in the event loop

    def abort(self) -> None:
        """Ask the worker to stop, and wake it if it waits for the network."""
        self.stop.set()
        response = self.response
        stream = response.extensions.get("network_stream") if response is not None else None
        with contextlib.suppress(Exception):
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                sock.shutdown(socket.SHUT_RDWR)


class Downloader:
    """Saves videos over its own HTTP client, which carries no API key. Use as an async context manager,
    or call `aclose()`.

    `transport`: None for the network, or an `httpx.BaseTransport` to reach it through (such as one
    that trusts a test's own certificate authority); either way the transfer runs in a worker thread.
    """

    def __init__(
        self,
        *,
        timeouts: Timeouts | None = None,
        transport: httpx.BaseTransport | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_connections: int = 8,  # max_downloads goes up to 8: the Saver's gate is what limits
        max_bytes: int = MAX_VIDEO_BYTES,
        min_speed: tuple[int, float] = MIN_SPEED,
    ) -> None:
        self._timeouts = timeouts or Timeouts()
        self._chunk_size = max(1, chunk_size)
        self._max_bytes = max_bytes
        self._min_speed = min_speed
        self._client = httpx.Client(
            transport=transport,
            headers={
                "User-Agent": f"grokdash/{__version__}",
                "Accept": "video/*, application/octet-stream;q=0.9, */*;q=0.1",
                # Byte offsets of a resume must count the file's own bytes, not a compressed form's.
                "Accept-Encoding": "identity",
            },
            timeout=self._timeouts.to_httpx(),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=True,  # nothing secret to carry along: this client has no key
        )
        # Its own threads, one per connection: long transfers never starve asyncio.to_thread users.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, max_connections), thread_name_prefix="grokdash-download"
        )
        self._inflight: dict[tuple[str, str], _InFlight] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every transfer (their `.part` files stay for a resume) and close the client."""
        running = [entry.task for entry in self._inflight.values()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        self._client.close()
        self._executor.shutdown(wait=False)

    def final_path(
        self, task_id: str, url: str, folder: Path, *, label: str | None = None, with_label: bool = False
    ) -> Path:
        """Where `download` would save this video (before the answer's Content-Type is known)."""
        return Path(folder) / safe_filename(task_id, label, extension_for(None, url), with_label=with_label)

    async def download(
        self,
        task_id: str,
        url: str,
        folder: Path,
        *,
        label: str | None = None,
        with_label: bool = False,
        stem: str | None = None,
        on_progress: Progress | None = None,
        before_final: Callable[[Path, int], None] | None = None,
    ) -> Path:
        """Save the video at `url` for `task_id` in `folder`; return its path.

        The file is named by `safe_filename`, or `stem` plus the video's extension when given. A file
        already at that name is never overwritten: NameTakenError, and nothing is fetched.
        Raises UrlExpiredError when the host refuses the URL (403/404/410) and DownloadError for every
        other failure, each with one sentence; the partial file is kept for the next call to resume.
        `on_progress(done, total)` is called after each chunk written; an exception it raises stops the
        transfer (the partial file is kept) and reaches every caller. Calls for a video already being
        saved wait for that transfer; cancelling a caller stops the transfer only when no other waits.
        """
        folder = Path(folder)
        url_extension = extension_for(None, url)
        final = Path(safe_filename(task_id, label, url_extension, with_label=with_label))
        if stem is not None:
            final = Path(stem + url_extension)
        key = (os.path.abspath(folder), final.stem)
        entry = self._inflight.get(key)
        if entry is None:
            listeners: list[Progress] = []

            def progress(done: int, total: int | None) -> None:
                for listener in list(listeners):
                    listener(done, total)

            attempt = _Attempt(
                task_id=task_id,
                url=url,
                folder=folder,
                part=folder / (final.name + PART_SUFFIX),
                validator=folder / (final.name + PART_SUFFIX + VALIDATOR_SUFFIX),
                final_stem=final.stem,
                url_extension=url_extension,
                progress=progress,
                before_final=before_final,
            )
            task = asyncio.create_task(self._transfer(attempt), name=f"download {final.name}")
            entry = self._inflight[key] = _InFlight(task, listeners)
            task.add_done_callback(lambda _: self._forget(key, entry))
        if on_progress is not None:
            entry.listeners.append(on_progress)
        entry.waiters += 1
        try:
            return await asyncio.shield(entry.task)
        finally:
            entry.waiters -= 1
            if on_progress is not None:
                with contextlib.suppress(ValueError):
                    entry.listeners.remove(on_progress)
            if entry.waiters == 0 and not entry.task.done():
                entry.task.cancel()  # everyone who wanted it gave up (cancelled)

    def _forget(self, key: tuple[str, str], entry: _InFlight) -> None:
        if self._inflight.get(key) is entry:
            del self._inflight[key]

    # ---- one transfer ----------------------------------------------------------------------------------

    async def _transfer(self, a: _Attempt) -> Path:
        what = f"the video of {safe_snippet(a.task_id, 40)}"
        scheme = urlsplit(a.url).scheme.lower()
        if scheme not in ("http", "https") or not urlsplit(a.url).netloc:
            raise DownloadError(f"the video URL of {safe_snippet(a.task_id, 40)} is not a web address")
        self._refuse_taken(a)
        try:
            await asyncio.to_thread(a.folder.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise DownloadError(f"cannot create the download folder {a.folder}: {reason}") from None
        try:
            a.fd = self._open_part(a)
        except OSError as exc:
            raise DownloadError(_disk_sentence(exc, what, a.part, 0)) from None
        try:
            self._refuse_taken(a)  # finished by another process while we waited for the lock?
            a.done = os.fstat(a.fd).st_size
            return await self._in_worker(a, what)
        except OSError as exc:
            kept = a.done
            with contextlib.suppress(OSError):
                kept = os.fstat(a.fd).st_size
            raise DownloadError(_disk_sentence(exc, what, a.part, kept)) from None
        finally:
            self._close_part(a)

    def _refuse_taken(self, a: _Attempt) -> None:
        for suffix in VIDEO_SUFFIXES:
            candidate = a.folder / (a.final_stem + suffix)
            if os.path.lexists(candidate):
                raise NameTakenError(f"{candidate} is already there; it is left alone")

    def _open_part(self, a: _Attempt) -> int:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        for _ in range(5):
            fd = os.open(a.part, flags, 0o666)
            if fcntl is None:
                return fd
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise DownloadError(
                    f"another grokdash is saving the video of {safe_snippet(a.task_id, 40)} right now; "
                    "try again when it is done"
                ) from None
            except OSError:  # a file system without locks (some network mounts): go on without
                return fd
            # The holder before us may have renamed this very file into place: then start a new one.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(a.part))
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)
        raise DownloadError(f"the partial file {a.part} keeps changing under grokdash; try again")

    def _close_part(self, a: _Attempt) -> None:
        if a.fd < 0:
            return
        with contextlib.suppress(OSError):
            if os.fstat(a.fd).st_size == 0 and os.path.samestat(os.fstat(a.fd), os.stat(a.part)):
                os.unlink(a.part)  # an empty .part helps no one
                with contextlib.suppress(OSError):
                    a.validator.unlink()
        os.close(a.fd)
        a.fd = -1

    def _restart(self, a: _Attempt) -> None:
        os.ftruncate(a.fd, 0)
        a.done = 0
        with contextlib.suppress(OSError):
            a.validator.unlink()

    def _read_validator(self, a: _Attempt) -> str | None:
        lines = (read_small(a.validator) or "").splitlines()
        text = lines[0].strip() if lines else ""
        return text if text and text.isprintable() and len(text) < 200 else None

    def _save_validator(self, a: _Attempt, response: httpx.Response, total: int | None) -> None:
        """The first answer's validator (for If-Range), and its whole size on a second line (so an
        interrupted save can say `partial 43%` before any request)."""
        etag = response.headers.get("ETag")
        value = etag if etag and not etag.startswith("W/") else response.headers.get("Last-Modified")
        if value and (not value.isprintable() or len(value) >= 200):
            value = None
        with contextlib.suppress(OSError, UnicodeEncodeError):
            # Written even when empty: it also marks the .part as grokdash's own.
            _write_small(a.validator, f"{value or ''}\n{'' if total is None else total}\n")

    def _range_headers(self, a: _Attempt) -> dict[str, str]:
        headers = {}
        if a.done:
            headers["Range"] = f"bytes={a.done}-"
            validator = self._read_validator(a)
            if validator:
                headers["If-Range"] = validator
        return headers

    def _network_error(self, a: _Attempt, what: str, exc: httpx.HTTPError) -> DownloadError:
        if isinstance(exc, httpx.TimeoutException):
            return DownloadError(self._network_sentence(a, what, "the video server stopped answering"))
        if isinstance(exc, httpx.TooManyRedirects):
            return DownloadError(f"the video URL for {what} redirects in circles")
        reason = _reason(exc)
        return DownloadError(self._network_sentence(a, what, f"the connection broke ({reason})"))

    def _network_sentence(self, a: _Attempt, what: str, cause: str) -> str:
        if a.done:
            kept = f"the {a.done:,} bytes saved so far are kept in {a.part} to resume"
            return f"{cause} while saving {what}; {kept}"
        return f"{cause} while saving {what}"

    def _check(self, a: _Attempt, response: httpx.Response, what: str) -> _Body | str | None:
        """What to do with an answer before its body: `_WHOLE` when the part is already the whole file,
        None to start over from byte 0, else the body to save (the file is positioned for it)."""
        status = response.status_code
        if status in (403, 404, 410):
            raise UrlExpiredError(
                f"the video URL of {safe_snippet(a.task_id, 40)} was refused (HTTP {status}): it has expired"
            )
        if status == 416 and a.done:
            _, total = _content_range(response.headers.get("Content-Range"))
            if total == a.done:
                return _WHOLE
            self._restart(a)  # the part is longer than the file: it is not this file's start
            return None
        if status not in (200, 206):
            raise DownloadError(f"the video server answered HTTP {status} for {what}")
        refusal = _refusal(response.headers.get("Content-Type"))
        if refusal:
            raise DownloadError(f"the server answered with {refusal}, not a video, for {what}")
        encoded = response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
        total: int | None
        if status == 206:
            first, total = _content_range(response.headers.get("Content-Range"))
            if first != a.done or encoded:
                self._restart(a)
                return None
            if total is None and (length := _content_length(response)) is not None:
                total = a.done + length
        else:  # 200: the whole file, whether or not we asked for a range
            if a.done:
                log.info("the server ignored the Range request for %s: starting over", a.task_id)
                self._restart(a)
            total = None if encoded else _content_length(response)
        os.lseek(a.fd, a.done, os.SEEK_SET)
        if a.done == 0:
            self._save_validator(a, response, total)
        # The first bytes are checked whatever the type says: an error page sent as video/mp4 is no video.
        sniff = a.done == 0
        return _Body(total, sniff)

    def _too_big(self, a: _Attempt, what: str) -> str:
        with contextlib.suppress(OSError):
            self._restart(a)  # what came is no video of this API: it must not stay on the disk
        limit = self._max_bytes
        size = f"{limit / 2**30:g} GiB" if limit >= 2**30 else f"{limit / 2**20:g} MiB"
        return f"the video server sent more than {size} for {what}, which is no video of this API: not saved"

    def _check_end(self, a: _Attempt, total: int | None, what: str) -> None:
        if total is not None and a.done != total:
            raise DownloadError(
                f"the video server sent {a.done:,} of {total:,} bytes of {what}; "
                f"what came is kept in {a.part} to resume"
            )
        if a.done == 0:
            raise DownloadError(f"the video server sent an empty file for {what}")

    # ---- the transfer itself, in a worker thread ----------------------------------------------------

    async def _in_worker(self, a: _Attempt, what: str) -> Path:
        """Run the transfer in a worker thread. Cancelling stops it at its next network chunk (its
        socket is shut down to wake it) and waits for it, so the file descriptor outlives its use."""
        loop = asyncio.get_running_loop()
        link = _Link(loop, a.progress)
        work = loop.run_in_executor(self._executor, self._fetch, a, what, link)
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            link.abort()
            while not work.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({work})
            if not work.cancelled():
                work.exception()  # retrieved: the cancellation is what the caller hears about
            raise
        except _Stopped:
            if link.failure is not None:
                raise link.failure from None
            raise asyncio.CancelledError from None  # pragma: no cover - only abort() stops otherwise

    def _fetch(self, a: _Attempt, what: str, link: _Link) -> Path:
        """The whole transfer, in a worker thread: at most two requests, then fsync and rename."""
        for _ in range(2):
            link.check()
            result = self._fetch_once(a, what, link)
            if result is not None:
                return result
        raise DownloadError(f"the video server kept sending a different file for {what}")

    def _fetch_once(self, a: _Attempt, what: str, link: _Link) -> Path | None:
        try:
            with self._client.stream("GET", a.url, headers=self._range_headers(a)) as response:
                link.response = response
                try:
                    return self._receive(a, response, what, link)
                finally:
                    link.response = None
        except httpx.HTTPError as exc:
            link.check()  # a socket shut down by abort(): that is a stop, not a network failure
            raise self._network_error(a, what, exc) from None

    def _receive(self, a: _Attempt, response: httpx.Response, what: str, link: _Link) -> Path | None:
        body = self._check(a, response, what)
        if body is None:
            return None
        if body == _WHOLE:
            link.settle()
            return self._complete(a, a.url_extension)
        assert isinstance(body, _Body)
        if body.total is not None and body.total > self._max_bytes:
            raise DownloadError(self._too_big(a, what))
        pieces = _Pieces(self._chunk_size, body.sniff, what)
        a.written_back = a.done
        link.report(a.done, body.total)
        least, window = self._min_speed
        window_start, window_bytes = time.monotonic(), 0
        try:
            for chunk in body_chunks(response, self._timeouts.read):
                link.check()
                # A host that trickles (a byte every few seconds beats any read timeout) would hold a
                # save slot for ever, and the other videos' URLs age meanwhile: stopped, resumed later.
                window_bytes += len(chunk)
                now = time.monotonic()
                if now - window_start >= window:
                    if window_bytes < least:
                        raise _TooSlow(window_bytes, now - window_start)
                    window_start, window_bytes = now, 0
                for batch in pieces.feed(chunk):
                    self._write(a, batch, body.total, link)
                    if a.done > self._max_bytes:  # a body without end must not fill the disk
                        raise DownloadError(self._too_big(a, what))
        except _TooSlow as slow:
            kept = pieces.received()
            _write_all(a.fd, kept)
            a.done += sum(len(piece) for piece in kept)
            raise DownloadError(
                self._network_sentence(
                    a, what, f"the video server sent only {slow.got:,} bytes in {slow.seconds:.0f} s"
                )
            ) from None
        except (httpx.HTTPError, _Stopped):
            # What arrived before the break is kept for the resume (once it is known to be a video).
            kept = pieces.received()
            _write_all(a.fd, kept)
            a.done += sum(len(piece) for piece in kept)
            raise
        rest = pieces.rest()
        if rest:
            self._write(a, rest, body.total, link)
        self._check_end(a, body.total, what)
        link.settle()  # the last report was handled and raised nothing: the file may be finished
        return self._complete(a, extension_for(response.headers.get("Content-Type"), a.url))

    def _write(self, a: _Attempt, pieces: list[memoryview], total: int | None, link: _Link) -> None:
        _write_all(a.fd, pieces)
        a.done += sum(len(piece) for piece in pieces)
        if HAVE_FADVISE and a.done - a.written_back >= WRITEBACK_BYTES:
            # Starts writeback of what was written (it does not wait for it, and it is not an fsync).
            with contextlib.suppress(OSError):
                os.posix_fadvise(a.fd, a.written_back, a.done - a.written_back, os.POSIX_FADV_DONTNEED)
            a.written_back = a.done
        link.report(a.done, total)

    def _complete(self, a: _Attempt, extension: str) -> Path:
        final = a.folder / (a.final_stem + extension)
        if a.before_final is not None:
            a.before_final(final, os.fstat(a.fd).st_size)
        _finish(a.fd, a.part, final, a.validator)
        return final


def _reason(exc: Exception) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno:
            return os.strerror(cause.errno).lower()
        cause = cause.__cause__ or cause.__context__
    return safe_snippet(str(exc) or type(exc).__name__, 80).strip("'\"")


# ---- a tracked task ----------------------------------------------------------------------------------

FREE_NAMES_TRIED = 100
"""`vid-2.mp4`, then `vid-2 (1).mp4` … `vid-2 (99).mp4`: past that the folder is full of someone's files."""


def _is_ours(tracked: TrackedTask, path: Path) -> bool:
    """Whether the file at `path` is this task's video as grokdash saved it (the record, or a sidecar
    naming the task and the file's size): a user's file of the same name is not."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode):
        return False
    if tracked.local_file == str(path) and tracked.saved_size in (None, info.st_size):
        return True
    return sidecar_names(sidecar_path(path), tracked.id, size=info.st_size)


def _foreign_part(part: Path) -> bool:
    """Whether something at this `.part` name is not a partial file grokdash left: a symlink, a FIFO, a
    folder, a file with another name too (a hard link), or bytes without the validator file grokdash
    writes at a transfer's first answer. Resuming it would take a user's bytes for the video's start,
    or write into the user's file."""
    try:
        info = os.lstat(part)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        return True
    validator = Path(str(part) + VALIDATOR_SUFFIX)
    return info.st_size > 0 and read_small(validator) is None


def _choose_stem(tracked: TrackedTask, folder: Path, base: str, extension: str) -> tuple[str, Path | None]:
    """The name (without extension) to save under, and the file already there when it is this task's
    video (a save whose record was lost). A name is free when no video file of any extension, no JSON
    file other than this task's sidecar and no `.part` other than grokdash's has it."""
    for number in range(FREE_NAMES_TRIED):
        stem = base if number == 0 else f"{base} ({number})"
        present = [folder / (stem + suffix) for suffix in VIDEO_SUFFIXES]
        present = [path for path in present if os.path.lexists(path)]
        for path in present:
            if _is_ours(tracked, path):
                return stem, path
        if present or is_foreign(folder / (stem + ".json"), tracked.id):
            continue
        if not _foreign_part(folder / (stem + extension + PART_SUFFIX)):
            return stem, None
    raise DownloadError(
        f"{FREE_NAMES_TRIED} files in {folder} already have the names the video of "
        f"{safe_snippet(tracked.id, 40)} would take; it was not saved"
    )


def _drop_own_sidecar(folder: Path, stem: str, task_id: str) -> None:
    """The sidecar written for a name that turned out taken: it must not mark the user's file as ours."""
    json_path = folder / (stem + ".json")
    if sidecar_names(json_path, task_id):
        with contextlib.suppress(OSError):
            json_path.unlink()


class _VideoLock:
    """One save of a video at a time across processes: an flock on a small file in `lock_dir`, named by
    a hash of the download folder and the task id, held from the first check to the recorded file."""

    def __init__(self, lock_dir: Path, folder: Path, task_id: str) -> None:
        digest = hashlib.sha256(f"{os.path.abspath(folder)}\0{task_id}".encode()).hexdigest()[:32]
        self.path = lock_dir / f"{digest}.lock"
        self.task_id = task_id
        self.fd = -1

    def acquire(self) -> None:
        if fcntl is None:  # pragma: no cover - Windows: the .part's own handling is all there is
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:  # a state folder we cannot write: the .part lock still guards the bytes
            log.warning("cannot open the save lock %s: %s", self.path, exc)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SaveBusyError(
                f"another grokdash is saving the video of {safe_snippet(self.task_id, 40)} right now"
            ) from None
        except OSError:  # no locks on this file system
            pass
        self.fd = fd

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the flock
            self.fd = -1


async def save_task(
    downloader: Downloader,
    client: GrokClient,
    store: TaskStore,
    task_id: str,
    folder: Path,
    *,
    with_label: bool = False,
    on_progress: Progress | None = None,
    clock: Callable[[], float] = time.time,
    lock_dir: Path | None = None,
    sidecar: bool = False,
) -> Path:
    """Save a tracked task's video, write its sidecar (when asked) and record the file in the store.

    With `lock_dir`, the whole save holds that video's lock across processes (SaveBusyError when another
    has it), and the record is read again under it: a video another process saved meanwhile is
    returned without a request. A video already saved is returned at once. When no video URL is known
    yet, the API is asked once first. When the video host refuses the URL, the API is asked once for a
    fresh one (the answer is recorded) and the download is tried once more. Store writes and file
    checks run in worker threads.
    """
    lock = _VideoLock(lock_dir, folder, task_id) if lock_dir is not None else None
    if lock is not None:
        await asyncio.to_thread(lock.acquire)
    try:
        if lock is not None:
            await asyncio.to_thread(store.refresh)  # what another process saved before we got the lock
        return await _save_locked(
            downloader, client, store, task_id, folder, with_label, on_progress, clock, sidecar
        )
    finally:
        if lock is not None:
            lock.release()


async def _save_locked(
    downloader: Downloader,
    client: GrokClient,
    store: TaskStore,
    task_id: str,
    folder: Path,
    with_label: bool,
    on_progress: Progress | None,
    clock: Callable[[], float],
    sidecar: bool,
) -> Path:
    name = safe_snippet(task_id, 40)
    tracked = store.get(task_id)
    if tracked is None:
        raise DownloadError(f"task {name} is not tracked")
    already = await asyncio.to_thread(saved_file, tracked)
    if already is not None:
        return already
    if not (tracked.task and tracked.task.video_url):
        # Never asked about, or asked before it completed: ask once now.
        answer = await client.get_task(task_id)
        now = clock()
        changed = await asyncio.to_thread(store.update, {task_id: lambda old: old.with_answer(answer, now)})
        tracked = changed[0] if changed else store.get(task_id) or tracked
    task = tracked.task
    if task is None or not task.video_url:
        status = f"it is {task.status}" if task is not None else "it has not been checked yet"
        raise DownloadError(f"task {name} has no video yet ({status})")

    def mark(final: Path, size: int) -> None:
        """The sidecar, before the video takes its name: it marks the file as grokdash's, should the
        record be lost (a crash right after the rename, a database restored from a backup)."""
        json_path = sidecar_path(final)
        if is_foreign(json_path, task_id):  # a file of the user's appeared there meanwhile
            log.warning("not writing the sidecar of %s: %s is not grokdash's", task_id, json_path)
            return
        try:
            write_sidecar(final, build_sidecar(store.get(task_id) or tracked, final, size))
        except OSError as exc:
            log.warning("could not write the sidecar of %s: %s", task_id, exc)

    try:
        path = await _fetch_with_fresh_url(
            downloader,
            client,
            store,
            tracked,
            folder,
            with_label,
            on_progress,
            clock,
            mark if sidecar else None,
        )
        size = (await asyncio.to_thread(os.stat, path)).st_size
    except DownloadError as error:
        # The task shows why ("expired", "failed") until a later save succeeds.
        now = clock()
        record = {task_id: lambda old, failure=error: old.with_download_error(failure, now)}
        await asyncio.to_thread(store.update, record)
        raise
    await asyncio.to_thread(store.update, {task_id: lambda old: old.with_local_file(str(path), size)})
    return path


async def _fetch_with_fresh_url(
    downloader: Downloader,
    client: GrokClient,
    store: TaskStore,
    tracked: TrackedTask,
    folder: Path,
    with_label: bool,
    on_progress: Progress | None,
    clock: Callable[[], float],
    before_final: Callable[[Path, int], None] | None = None,
) -> Path:
    """Download the video; when its URL has expired, ask the API once for a fresh one and try again."""
    task_id, name = tracked.id, safe_snippet(tracked.id, 40)
    assert tracked.task is not None and tracked.task.video_url

    folder = Path(os.path.abspath(folder))  # the recorded path must hold from any folder

    async def attempt(url: str) -> Path:
        extension = extension_for(None, url)
        base = Path(safe_filename(task_id, tracked.label, extension, with_label=with_label)).stem
        for _ in range(2):  # a file may appear at the chosen name meanwhile: then choose again
            stem, ours = await asyncio.to_thread(_choose_stem, tracked, folder, base, extension)
            if ours is not None:
                return ours
            try:
                return await downloader.download(
                    task_id, url, folder, stem=stem, on_progress=on_progress, before_final=before_final
                )
            except NameTakenError:
                _drop_own_sidecar(folder, stem, task_id)
                continue
        raise DownloadError(f"files keep appearing where the video of {name} would be saved; try again")

    try:
        return await attempt(tracked.task.video_url)
    except UrlExpiredError as refused:
        try:
            fresh = await client.get_task(task_id)
        except ApiError as exc:
            # Not known to be gone for good: the API could not be asked. Tried again later.
            raise DownloadError(
                f"the video URL of {name} was refused and asking the API for a new one failed "
                f"({exc.message}); trying again later"
            ) from None
        now = clock()
        await asyncio.to_thread(store.update, {task_id: lambda old: old.with_answer(fresh, now)})
        if not fresh.video_url:
            raise UrlExpiredError(
                f"the video URL of {name} has expired and the API gave no new one (it is {fresh.status})"
            ) from None
        if fresh.video_url == tracked.task.video_url:
            # The API still hands out this URL: the video host is lagging (a CDN a moment after the
            # task completed), not expired. A failure, tried again later, never given up for it.
            raise DownloadError(
                f"{refused.message.removesuffix(': it has expired')}, though the API still gives it "
                "(the video may not be ready on its host yet); trying again later"
            ) from None
        try:
            return await attempt(fresh.video_url)
        except UrlExpiredError:
            raise UrlExpiredError(
                f"the video URL of {name} has expired and the API gave no working one"
            ) from None


__all__ = [
    "DownloadError",
    "Downloader",
    "NameTakenError",
    "SaveBusyError",
    "UrlExpiredError",
    "extension_for",
    "part_progress",
    "safe_filename",
    "save_task",
    "saved_file",
]
