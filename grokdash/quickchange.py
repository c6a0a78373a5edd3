"""`add` and `rm` at 100,000 tasks without reading the task database: the ids index and the journal.

A script that calls `grokdash add ONE-ID` after each create must not pay for reading and checking a
40 MB file. When the database is large enough to have a journal (store.JOURNAL_FROM) and its ids index
(taskindex.py) describes the very TinyDB file on disk, the ids tracked and a free document id come from
the index and the journal's lines after it; the change is then appended to the journal, under the
database's lock, exactly as the store would append it. Every reader sees it as the store's own change.

Anything else (no index, an index of another version of the file, a journal on top of another version,
a line the store did not write, a journal due for compaction, an error while reading) returns None, and
the caller takes the long way through `TaskStore`, which reads everything, says what it found and
repairs the index. So the quick way never has to be right about a file it does not fully recognise.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grokdash import store, taskindex, taskjournal
from grokdash.models import check_id
from grokdash.store import LOCK_TIMEOUT, AddOutcome, database_lock, holding, not_saved
from grokdash.tracked import TrackedTask

INDEX_REFRESH = 1 << 20
"""Bytes of journal read past the index from which the index is written again: the next `add` then
reads only what came after (a busy dashboard appends a poll round's answers every few seconds)."""


def add(
    database: Path,
    ids: Iterable[str],
    *,
    label: str | None = None,
    clock: Callable[[], float] = time.time,
) -> AddOutcome | None:
    """Track `ids` (valid task ids) as `TaskStore.add` would; None when it must be done the long way."""
    wanted = list(dict.fromkeys(check_id(task_id) for task_id in ids))
    label = (label or "").strip() or None
    with _locked(database) as target:
        known = _Known.read(target)
        if known is None:
            return None
        already = [task_id for task_id in wanted if task_id in known.doc_ids]
        fresh = [task_id for task_id in wanted if task_id not in known.doc_ids]
        if fresh:
            now = clock()
            start = max(known.doc_ids.values(), default=0) + 1
            put = {
                str(start + n): TrackedTask(id=task_id, added_at=now, label=label).to_json()
                for n, task_id in enumerate(fresh)
            }
            known.append(database, put, {})
    return AddOutcome(added=fresh, already=already)


def remove(database: Path, ids: Iterable[str]) -> list[str] | None:
    """Stop tracking `ids`; the ids that were tracked, or None when it must be done the long way."""
    wanted = list(dict.fromkeys(ids))
    with _locked(database) as target:
        known = _Known.read(target)
        if known is None:
            return None
        gone = [task_id for task_id in wanted if task_id in known.doc_ids]
        if gone:
            known.append(database, {}, {str(known.doc_ids[task_id]): task_id for task_id in gone})
    return gone


@dataclass
class _Known:
    """What the index and the journal say, under the lock: enough to append one change."""

    target: Path
    index: taskindex.Index
    doc_ids: dict[str, int]
    journal_size: int
    """Bytes of the journal's header and whole lines (0: no journal yet)."""
    read_past_index: int
    mode: int

    @classmethod
    def read(cls, target: Path) -> _Known | None:
        try:
            info = os.stat(target)
            if not stat.S_ISREG(info.st_mode) or info.st_size < store.JOURNAL_FROM:
                return None
            main = (info.st_mtime_ns, info.st_size, info.st_ino)
            index = taskindex.read(taskindex.path_of(target), main=main)
            if index is None:
                return None
            journal = _journal_after(taskjournal.path_of(target), index)
        except (OSError, taskjournal.JournalNewer):
            return None  # the long way says what it is
        if journal is None or journal.size >= info.st_size:
            return None  # a journal as large as the file: the long way writes the file whole
        doc_ids = index.doc_ids
        if journal.changes:
            doc_ids = dict(doc_ids)
            _apply(doc_ids, journal.changes)
        past = journal.size - (index.journal[1] if index.journal else 0)
        return cls(target, index, doc_ids, journal.size, past, stat.S_IMODE(info.st_mode))

    def append(self, database: Path, put: dict[str, Any], delete: dict[str, str]) -> None:
        text = taskjournal.line(put, delete)
        path = taskjournal.path_of(self.target)
        try:
            if self.journal_size:
                info = taskjournal.append(path, self.journal_size, text)
            else:
                info = taskjournal.start(path, self.index.base, text, mode=self.mode)
        except OSError as exc:
            raise not_saved(database, exc) from exc
        if self.read_past_index + len(text) >= INDEX_REFRESH:
            self._write_index(put, delete, (info.st_ino, info.st_size))

    def _write_index(self, put: dict[str, Any], delete: dict[str, str], journal: tuple[int, int]) -> None:
        _apply(self.doc_ids, [taskjournal.Change(put=put, delete=delete)])
        with contextlib.suppress(OSError):  # only a shortcut: the next `add` reads a little more
            taskindex.write(
                taskindex.path_of(self.target),
                base=self.index.base,
                main=self.index.main,
                journal=journal,
                doc_ids=self.doc_ids,
                mode=self.mode,
            )


def _journal_after(path: Path, index: taskindex.Index) -> taskjournal.Journal | None:
    """The journal's changes the index does not hold, when the journal is the one the index goes with
    and holds only lines the store wrote; else None."""
    if index.journal is None:
        info, raw = taskjournal.read_file(path)
        if info is None:
            return taskjournal.Journal()
        journal = taskjournal.read(raw)
        if journal.base is None and journal.empty and journal.size == 0:
            return taskjournal.Journal()  # its header cut short by a kill: replaced on the next write
        if journal.base != index.base:
            return None
    else:
        inode, size = index.journal
        info, raw = taskjournal.read_file(path, size)
        if info is None or info.st_ino != inode or info.st_size < size:
            return None
        journal = taskjournal.read_tail(raw, size)
    if journal.problems or not journal.checked:
        return None
    return journal


def _apply(doc_ids: dict[str, int], changes: list[taskjournal.Change]) -> None:
    """Apply journal changes to task id → document id, by document id as the store applies them."""
    task_at = {doc_id: task_id for task_id, doc_id in doc_ids.items()}
    for change in changes:
        for key in change.delete:
            gone = task_at.pop(int(key), None)
            if gone is not None:
                doc_ids.pop(gone, None)
        for key, doc in change.put.items():
            before = task_at.get(int(key))
            if before is not None and before != doc["id"]:
                doc_ids.pop(before, None)
            doc_ids[doc["id"]] = int(key)
            task_at[int(key)] = doc["id"]


@contextlib.contextmanager
def _locked(database: Path) -> Iterator[Path]:
    """The database's lock, as the store takes it; yields the file it names (through a symlink)."""
    target = Path(os.path.realpath(database))
    with holding(database_lock(target, LOCK_TIMEOUT), database, LOCK_TIMEOUT):
        yield target
