"""The task database's ids index: which task is under which document id, without reading 40 MB.

At 100,000 tasks, `grokdash add ONE-ID` needs only two things from the database: whether the id is
tracked already, and a free document id for it. Both are in `<db>.ids`, written beside the TinyDB file
each time the store writes that file whole (store.JOURNAL_FROM and above), and read by quickchange.py,
which then appends the change to the journal as the store would.

The index is only ever a shortcut: whatever does not match exactly sends the caller the long way (the
store, which reads everything). Its first line says what it describes:

    {"ids": 1, "base": <digest of the TinyDB file>, "main": [mtime_ns, size, inode],
     "journal": [inode, size] | null, "sum": <sha256 of the second line>}

and the second line is `{task id: document id, …}` as of that TinyDB file (the very file: its stat
signature, which every write changes) with the journal's first `size` bytes applied, when `journal` is
given. The journal is append-only under one header, so the lines after those bytes are the only ones a
reader still has to apply. A kill while it is written leaves the old index or the new one (written
whole and renamed); a garbled one fails its sum.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from grokdash.files import PRIVATE_MODE, replace_atomically

SUFFIX = ".ids"
VERSION = 1
HEADER_LIMIT = 4096
"""The header is far shorter: a first line longer than this is not an index."""

FileSignature = tuple[int, int, int]
"""(st_mtime_ns, st_size, st_ino) of the TinyDB file, as the store keeps it."""


@dataclass(frozen=True)
class Index:
    base: str
    """The digest of the TinyDB file it describes."""
    main: FileSignature
    journal: tuple[int, int] | None
    """(inode, size) of the journal whose first `size` bytes are applied; None: none are."""
    doc_ids: dict[str, int]


def path_of(database: Path) -> Path:
    return database.with_name(database.name + SUFFIX)


def write(
    path: Path,
    *,
    base: str,
    main: FileSignature,
    journal: tuple[int, int] | None,
    doc_ids: dict[str, int],
    mode: int = PRIVATE_MODE,
) -> None:
    """Write the index atomically."""
    body = orjson.dumps(doc_ids)
    head = {"ids": VERSION, "base": base, "main": list(main), "journal": journal, "sum": _sum(body)}
    replace_atomically(path, orjson.dumps(head) + b"\n" + body, mode=mode)


def read(path: Path, *, main: FileSignature) -> Index | None:
    """The index, when it is whole and describes the TinyDB file whose signature is `main`; else None."""
    try:
        with _open_regular(path) as handle:
            head = _header(handle.readline(HEADER_LIMIT))
            if head is None or tuple(head["main"]) != main:
                return None  # written for another version of the file: not worth reading further
            body = handle.read()
    except OSError:
        return None
    if _sum(body) != head["sum"]:
        return None
    try:
        doc_ids = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc_ids, dict) or not all(n.__class__ is int for n in doc_ids.values()):
        return None
    journal = head["journal"]
    return Index(head["base"], main, None if journal is None else (journal[0], journal[1]), doc_ids)


def describes(path: Path, main: FileSignature) -> bool:
    """Whether the index is of the TinyDB file whose signature is `main` (its header alone is read)."""
    try:
        with _open_regular(path) as handle:
            head = _header(handle.readline(HEADER_LIMIT))
    except OSError:
        return False
    return head is not None and tuple(head["main"]) == main


def doc_ids_of(stored: dict[str, Any]) -> dict[str, int]:
    """Task id → document id of the tasks table (document id → record) of a file the store wrote."""
    return {doc["id"]: int(key) for key, doc in stored.items()}


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _open_regular(path: Path) -> BinaryIO:
    """The index opened for reading; OSError unless it is a regular file (a FIFO must not hang a
    command that holds the database's lock)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    handle = open(fd, "rb")  # noqa: SIM115 (the caller's `with` closes it)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise OSError(0, "the ids index is not a regular file")
    return handle


def _header(line: bytes) -> dict[str, Any] | None:
    try:
        head = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(head, dict) or head.get("ids") != VERSION:
        return None
    main, journal = head.get("main"), head.get("journal")
    if not isinstance(head.get("base"), str) or not isinstance(head.get("sum"), str):
        return None
    if not _whole_numbers(main, 3) or not (journal is None or _whole_numbers(journal, 2)):
        return None
    return head


def _whole_numbers(value: Any, count: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == count
        and all(isinstance(n, int) and not isinstance(n, bool) for n in value)
    )


def _sum(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]
