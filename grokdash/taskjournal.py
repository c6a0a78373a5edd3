"""The task database's journal: the changes made since the TinyDB file was last written whole.

At 100,000 tasks the TinyDB file is tens of megabytes, and an `add` or a poll round changes a few
records. So once the file is large (store.JOURNAL_FROM) a change is appended to `<db>.journal` beside
it, one line per write, and the TinyDB file is rewritten whole (compacted) only when the journal has
grown as large as it: every byte a change costs is then written at most twice.

The journal's first line names the TinyDB file it goes on top of, by the digest that file carries in its
`_meta` table. Each further line is one write: the digest of its JSON, a space, and
`{"put": {doc id: record, …}, "del": {doc id: task id, …}}` (a digest starting with `=` marks a line with
numbers beyond 64 bits, read with the standard library). A line is appended and fsynced under the
database's lock; a last line without its newline is a write cut short by a kill, and is ignored (the next
writer cuts it off before it appends).

The store applies a journal on top of the version it names by document id. Any other journal (on top of
another version: a compaction killed before it removed it, a file restored from a backup, rewritten by
plain TinyDB, or deleted) is applied by task id, so that none of its tasks is lost; what changes nothing
is nothing to say.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from grokdash.files import PRIVATE_MODE, fsync_directory, replace_atomically

SUFFIX = ".journal"
VERSION = 1
DIGEST_LENGTH = 32
EXACT_MARK = b"="
"""Before a line's digest: its JSON holds numbers orjson would read as floats."""


class JournalNewer(Exception):
    """The journal was written by a newer grokdash."""


@dataclass
class Change:
    """One write: the stored records it put, by document id, and the tasks it removed, by document id."""

    put: dict[str, Any] = field(default_factory=dict)
    delete: dict[str, str] = field(default_factory=dict)
    checked: bool = True
    """Its digest matches: the store wrote it, from records it had checked."""


@dataclass
class Journal:
    """What a journal holds on top of one version of the TinyDB file."""

    changes: list[Change] = field(default_factory=list)
    size: int = 0
    """Bytes of the header and the whole lines: where the next line goes."""
    base: str | None = None
    """The digest of the TinyDB file it goes on top of, as its header says (None: no header)."""
    problems: list[str] = field(default_factory=list)
    """Why lines could not be read (the others are in `changes`), or the header."""

    @property
    def empty(self) -> bool:
        return not self.changes and not self.problems

    @property
    def problem(self) -> str | None:
        if not self.problems:
            return None
        more = len(self.problems) - 1
        return self.problems[0] + (f" (and {more} more line{'s' if more > 1 else ''})" if more else "")

    @property
    def checked(self) -> bool:
        return all(change.checked for change in self.changes)


def path_of(database: Path) -> Path:
    return database.with_name(database.name + SUFFIX)


def read(raw: bytes) -> Journal:
    """The journal's header and changes. Unreadable lines are skipped and named in `problems`. Raises
    JournalNewer."""
    end = raw.find(b"\n")
    if end < 0:
        return Journal()  # empty, or its header cut short: nothing was ever appended to it
    journal = Journal(size=end + 1)
    try:
        header = orjson.loads(raw[:end])
    except orjson.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or not isinstance(header.get("journal"), int):
        journal.problems.append("its first line is not a journal header")
        _read_lines(raw, 0, 0, journal)
        return journal
    if header["journal"] > VERSION:
        raise JournalNewer(header["journal"])
    base = header.get("base")
    journal.base = base if isinstance(base, str) else None
    _read_lines(raw, end + 1, 1, journal)
    return journal


def read_tail(raw: bytes, size: int) -> Journal:
    """The changes in `raw`, the bytes of a journal after its first `size` bytes (its header and the
    lines already read): what another process appended since. `size` of the result counts from the
    journal's start."""
    journal = Journal(size=size)
    _read_lines(raw, 0, None, journal, offset=size)
    return journal


def _read_lines(raw: bytes, start: int, number: int | None, journal: Journal, *, offset: int = 0) -> None:
    """Read whole lines of `raw` from `start` into `journal` (`number`: the line number before the first,
    when known, for the sentences)."""
    while start < len(raw):
        end = raw.find(b"\n", start)
        if end < 0:
            break  # cut short by a kill: never confirmed to anyone
        number = None if number is None else number + 1
        change = _change(raw[start:end])
        if change is None:
            where = "a line" if number is None else f"its line {number}"
            journal.problems.append(f"{where} is not a change the store wrote")
        else:
            journal.changes.append(change)
        journal.size = offset + end + 1
        start = end + 1


def _change(line: bytes) -> Change | None:
    digest, _, body = line.partition(b" ")
    exact = digest.startswith(EXACT_MARK)
    try:
        if exact:
            raise orjson.JSONDecodeError("exact numbers", "", 0)
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:  # what orjson refuses (a lone surrogate's escape) or misreads (numbers beyond 64 bits)
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
    if not isinstance(data, dict):
        return None
    put, delete = data.get("put", {}), data.get("del", {})
    if not isinstance(put, dict) or not isinstance(delete, dict):
        return None
    if not all(isinstance(doc, dict) for doc in put.values()):
        return None
    if not all(isinstance(task_id, str) for task_id in delete.values()):
        return None
    expected = (EXACT_MARK if exact else b"") + _digest(body).encode("ascii")
    return Change(put=put, delete=delete, checked=digest == expected)


def header(base: str) -> bytes:
    return orjson.dumps({"journal": VERSION, "base": base}) + b"\n"


def line(put: dict[str, Any], delete: dict[str, str]) -> bytes:
    """One write as a journal line. orjson where it can; the standard library (ASCII escapes, exact
    big numbers, marked so that they are read back exactly) where orjson refuses."""
    data: dict[str, Any] = {}
    if put:
        data["put"] = put
    if delete:
        data["del"] = delete
    mark = b""
    try:
        body = orjson.dumps(data)
    except TypeError:
        body = json.dumps(data, separators=(",", ":")).encode("ascii")
        mark = EXACT_MARK  # a lone surrogate alone would not need it; telling the two apart costs more
    return mark + _digest(body).encode("ascii") + b" " + body + b"\n"


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:DIGEST_LENGTH]


def start(path: Path, base: str, first: bytes, *, mode: int = PRIVATE_MODE) -> os.stat_result:
    """A new journal on top of the TinyDB file whose digest is `base`, holding `first`: written whole
    and renamed over any journal there (a stale one), so a kill leaves the old one or the new one."""
    return replace_atomically(path, header(base) + first, mode=mode)


def append(path: Path, size: int, text: bytes) -> os.stat_result:
    """Append `text` to the journal after its first `size` bytes (whatever follows them is a line cut
    short by a kill), and fsync it. Call with the database's lock held."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "the journal is not a regular file")
        if info.st_size != size:
            os.ftruncate(fd, size)
        try:
            view = memoryview(text)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            # A full disk, an I/O error: the caller is told it failed, so the line must not count later.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
        # A new mtime on every line, so that a reader's signature changes even on a coarse clock.
        after = os.fstat(fd)
        mtime = max(after.st_mtime_ns, info.st_mtime_ns + 1)
        if os.utime in os.supports_fd:
            os.utime(fd, ns=(mtime, mtime))
        return os.fstat(fd)
    finally:
        os.close(fd)


def remove(path: Path) -> None:
    """Remove a journal a compaction made stale (a kill first leaves a stale one, which is ignored)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    fsync_directory(path.parent)


def read_file(path: Path, offset: int = 0) -> tuple[os.stat_result | None, bytes]:
    """The journal's stat and its bytes from `offset`; (None, b"") when there is none. Raises OSError,
    and for a journal that is not a regular file (a FIFO, a folder, a symlink) an OSError whose strerror
    says so."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None, b""
    except OSError as exc:
        if os.path.islink(path):
            raise OSError(exc.errno, "its journal is a symbolic link") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "its journal is not a regular file")
        chunks = []
        if offset:
            os.lseek(fd, offset, os.SEEK_SET)
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return info, b"".join(chunks)
    finally:
        os.close(fd)
