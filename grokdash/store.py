"""The task database: the only code that touches the TinyDB JSON file of tracked tasks (and its journal).

The file is a real TinyDB database (`{"tasks": {"1": {…}}, "_meta": {"1": {"schema": 1, …}}}`), shared by
the command line and a long-running poller in other processes. Nothing a user tracked may be lost:

- every write of the whole file goes to a temp file in the same folder, is fsynced and then renamed over
  the real file, so a crash at any instant leaves the old file or the new one, never a broken one;
- once the file is large (JOURNAL_FROM, about 2,500 tasks), a change is instead appended to a journal
  beside it (`<db>.journal`, taskjournal.py) and fsynced, and the file is written whole only when the
  journal has grown as large as it, or on a clean exit of the dashboard or `watch` (`compact()`). Every
  reader reads both: at 100,000 tasks an `add` writes a few hundred bytes, not 40 MB;
- every read-modify-write holds a file lock (`<db>.lock`); under it the files are reloaded when another
  process changed them since we last read them, the change is applied to that fresh data, and it is
  written once;
- a file that cannot be read is moved aside (never overwritten) and the user is told where it went; so
  is a journal with a line that cannot be read (the changes before it are kept).

The file's `_meta` record carries a digest of the tables as this code wrote them. A file whose digest
matches holds only records that were checked when they were first read, so they are not checked again,
and each is built into a `TrackedTask` only when first used: `add` and `rm` at 100,000 tasks build none.
The JSON is read and written with orjson, with the standard library for what orjson refuses.

In memory the store keeps an index task id → record, so lookups never touch the disk, and `refresh()`
costs two `stat`s when nothing changed. Records are immutable `TrackedTask`s: the UI thread may read them
while a worker thread writes.

Poll answers are *staged*: `stage()` applies them in memory at once (every reader sees them) and keeps
the change functions until `flush()` writes them, so answers are shown as they arrive and written in
batches. A staged change survives a failed write and a reload of the file by another process's write
(it is applied again on top of what was read), so nothing is lost while the disk is full or locked.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import hashlib
import json
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock
import orjson
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

from grokdash import taskindex, taskjournal
from grokdash.errors import ApiError, GrokdashError, safe_snippet
from grokdash.files import PRIVATE_MODE, file_kind, fsync_directory, replace_atomically, temp_prefix
from grokdash.models import check_id, id_problem
from grokdash.tracked import TrackedTask

SCHEMA_VERSION = 1
"""The layout of the records this code reads and writes; stored in the `_meta` table."""
TASKS_TABLE = "tasks"
META_TABLE = "_meta"
LOCK_TIMEOUT = 30.0
"""Seconds to wait for another grokdash process to finish its write."""
LOCK_POLL = 0.01
"""Seconds between tries while another process holds the lock (filelock polls; its default is 0.05)."""
NEW_FILE_MODE = PRIVATE_MODE
"""Labels, prompts and video URLs are the user's business."""

Change = Callable[[TrackedTask], TrackedTask]
"""A change to one record: `new = change(old)`, applied to whatever the file holds at write time."""


class _Unread:
    """A stored record not built into a `TrackedTask` yet (see `TaskStore._records`)."""

    __slots__ = ("doc",)

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    @property
    def id(self) -> str:
        return self.doc["id"]

    def build(self) -> TrackedTask:
        try:
            return TrackedTask.from_json(self.doc, checked=True)
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, ApiError) as exc:
            # Only a fault of this code could bring it here: the digest said the store wrote the record.
            raise StoreError(
                f"task {safe_snippet(self.id, 40)} in the task database cannot be read "
                f"({safe_snippet(str(exc), 60)}); please report it"
            ) from exc


Held = TrackedTask | _Unread
"""A record as the store holds it: built, or not yet."""

FileSignature = tuple[int, int, int]
"""(st_mtime_ns, st_size, st_ino) of a file: when it differs, someone wrote the file."""
Signature = tuple[FileSignature | None, FileSignature | None]
"""The TinyDB file's signature and its journal's (None: no such file)."""
JOURNAL_FROM = 1 << 20
"""From this size of the TinyDB file on (about 2,500 tasks), a change is appended to the journal rather
than rewriting the whole file (taskjournal.py); below it, every write is a whole, atomic file as ever."""


class StoreError(GrokdashError):
    """The task database cannot be read, locked or written. The message is one sentence for the user."""

    kind = "store"


@dataclass(frozen=True)
class AddOutcome:
    added: list[str]
    """Ids that are tracked now and were not before, in the order given."""
    already: list[str]
    """Ids that were tracked already, left untouched, in the order given."""


class TaskStore:
    """The tracked tasks, persisted in one TinyDB JSON file shared with other grokdash processes."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        """The database as the user named it."""
        self.notices: list[str] = []
        """Sentences for the user about files moved aside because they could not be read."""
        self._clock = clock
        self._lock_timeout = lock_timeout
        # A symlinked database (a dotfiles manager, say) is written through to its target.
        self._target = Path(os.path.realpath(self.path))
        self._file_lock = database_lock(self._target, lock_timeout)
        self._db = TinyDB(str(self._target), storage=_AtomicJSONStorage)
        self._storage: _AtomicJSONStorage = self._db.storage  # type: ignore[assignment]
        self._table = self._db.table(TASKS_TABLE, cache_size=0)
        self._io = threading.RLock()
        """Serialises this instance's file work (and TinyDB, which is not thread-safe)."""
        self._state = threading.Lock()
        """Guards the index below, which the UI thread reads while a worker thread writes."""
        self._base: dict[str, Held] = {}
        """The records as the file holds them (last read or written)."""
        self._pending: dict[str, list[Change]] = {}
        """Staged changes not written yet, per id, in the order staged."""
        self._records: dict[str, Held] = {}
        """What every reader sees: `_base` with `_pending` applied. A record of a file the store wrote is
        built when first used (`_build`): `add` and `rm` at 100,000 tasks never build one."""
        self._doc_ids: dict[str, int] = {}
        self._ordered: list[TrackedTask] | None = None
        self._order: list[str] | None = None
        """The ids in the order added; kept while only answers change (they never change the order)."""
        self.version = 0
        """Goes up whenever the tracked tasks change, here or through another process: a cheap "did
        anything change?" for callers that derive things from all tasks."""
        self.outside_version = 0
        """Goes up on every change but a staged answer: what can make a task due sooner (an add, a
        reload, a change by `update`). A poller need not look for due tasks after its own answers."""
        with self._io:
            self._reload()

    # ---- reading ------------------------------------------------------------------------------------

    @property
    def writes(self) -> int:
        """How many times this instance wrote the file."""
        return self._storage.writes

    def tasks(self) -> list[TrackedTask]:
        """Every tracked task, in the order added (added_at, then the order within one add)."""
        with self._state:
            if self._ordered is None:
                with _no_collection():
                    for task_id, held in list(self._records.items()):
                        if held.__class__ is _Unread:
                            self._build(self._records, task_id)
                records, doc_ids = self._records, self._doc_ids
                if self._order is None:
                    self._order = sorted(records, key=lambda i: (records[i].added_at, doc_ids[i]))
                self._ordered = [records[task_id] for task_id in self._order]
            return list(self._ordered)

    def _changed(self, *, staged: bool = False) -> None:
        """Call with `_state` held: the records changed (`staged`: by answers staged here only)."""
        self._ordered = None
        self.version += 1
        if not staged:
            self._order = None
            self.outside_version += 1

    def get(self, task_id: str) -> TrackedTask | None:
        with self._state:
            return self._build(self._records, task_id)

    def _build(self, table: dict[str, Held], task_id: str) -> TrackedTask | None:
        """Call with `_state` held: the record of `task_id` in `table` (`_records` or `_base`), built
        from its stored form the first time."""
        held = table.get(task_id)
        if held is None or held.__class__ is not _Unread:
            return held  # type: ignore[return-value]
        record = held.build()  # type: ignore[union-attr]
        table[task_id] = record
        if table is self._records and self._base.get(task_id) is held:
            self._base[task_id] = record  # nothing is staged for it: the file holds the same record
        return record

    def __len__(self) -> int:
        with self._state:
            return len(self._records)

    def __contains__(self, task_id: object) -> bool:
        with self._state:
            return task_id in self._records

    def refresh(self) -> bool:
        """Pick up what other processes wrote. One `stat` when nothing changed; True when it reloaded."""
        if self._storage.is_current(self._stat_signature()):
            return False
        with self._io:
            return self._reload()

    # ---- changing -----------------------------------------------------------------------------------

    def add(
        self, ids: Iterable[str], *, label: str | None = None, request: dict[str, Any] | None = None
    ) -> AddOutcome:
        """Track `ids` (already checked with `models.check_id`); one write, none when all were tracked."""
        wanted = list(dict.fromkeys(check_id(task_id) for task_id in ids))
        if not wanted:
            return AddOutcome(added=[], already=[])
        label = (label or "").strip() or None
        with self._transaction():
            already = [task_id for task_id in wanted if task_id in self._records]
            fresh = [task_id for task_id in wanted if task_id not in self._records]
            if fresh:
                now = self._clock()
                self._insert(
                    [
                        TrackedTask(id=task_id, added_at=now, label=label, request=copy.deepcopy(request))
                        for task_id in fresh
                    ]
                )
        return AddOutcome(added=fresh, already=already)

    def remove(self, ids: Iterable[str]) -> list[TrackedTask]:
        """Stop tracking `ids`; returns the removed records (for undo). Unknown ids are ignored."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        with self._transaction():
            with self._state:
                gone = [self._build(self._records, task_id) for task_id in wanted if task_id in self._records]
            if gone:
                doc_ids = [self._doc_ids[record.id] for record in gone]
                self._storage.change = ({}, {str(self._doc_ids[r.id]): r.id for r in gone})
                self._table.remove(doc_ids=doc_ids)
                with self._state:
                    for record in gone:
                        del self._records[record.id]
                        del self._base[record.id]
                        del self._doc_ids[record.id]
                        self._pending.pop(record.id, None)
                    self._changed()
        return gone

    def restore(self, tracked: Iterable[TrackedTask]) -> None:
        """Put removed records back as they were (undo); ids tracked again meanwhile are left alone."""
        self._add_records(tracked)

    def import_records(self, tracked: Iterable[TrackedTask]) -> AddOutcome:
        """Track whole records (`grokdash import`); ids already tracked are skipped and reported."""
        return self._add_records(tracked)

    def stage(self, changes: Mapping[str, Change]) -> list[TrackedTask]:
        """Apply `new = fn(old)` in memory now and keep it for the next `flush()` (or `update()`).

        Returns the records that changed, as they are now. Ids no longer tracked are skipped.
        """
        changed: list[TrackedTask] = []
        with self._state:
            for task_id, change in changes.items():
                old = self._build(self._records, task_id)
                if old is None:
                    continue
                new = _apply(change, old)
                if new is old:
                    continue
                self._records[task_id] = new
                self._pending.setdefault(task_id, []).append(change)
                changed.append(new)
            if changed:
                self._changed(staged=True)
        return changed

    @property
    def unsaved(self) -> int:
        """How many records have staged changes the file does not hold yet."""
        with self._state:
            return len(self._pending)

    def flush(self) -> int:
        """Write every staged change: one write, none when nothing is staged or nothing differs.

        Returns how many records were written. Raises StoreError when the file cannot be locked or
        written; the changes then stay staged (and shown) for the next try.
        """
        if not self.unsaved:
            return 0
        return self._commit({})[1]

    def compact(self) -> bool:
        """Write the TinyDB file whole with the journal's changes in it, and remove the journal: what a
        long-running process does on a clean exit. False when there was no journal."""
        self.flush()
        with self._transaction():
            if not self._storage.journal_size:
                return False
            self._storage.write(self._storage.read())
        return True

    def update(self, changes: Mapping[str, Change]) -> list[TrackedTask]:
        """Apply `new = fn(old)` to each id still tracked, on the fresh data under the lock, and write it
        together with every staged change.

        Writes once when any record changed and not at all otherwise; returns the records `changes`
        changed, as they are now. Ids no longer tracked (another process removed them) are skipped,
        never brought back. When the write fails nothing of `changes` is kept (StoreError).
        """
        if not changes and not self.unsaved:
            return []
        return self._commit(changes)[0]

    def _commit(self, changes: Mapping[str, Change]) -> tuple[list[TrackedTask], int]:
        """Under the lock: the staged changes taken now, then `changes`, applied to the file's records and
        written once. Changes staged while the file is written stay staged."""
        with self._transaction():
            with self._state:
                taken = {task_id: list(fns) for task_id, fns in self._pending.items()}
            stored = self._storage.tasks_table()
            written: dict[str, TrackedTask] = {}
            new_docs: dict[str, dict[str, Any]] = {}
            asked: list[str] = []
            for task_id in dict.fromkeys([*taken, *changes]):
                with self._state:
                    base = self._build(self._base, task_id)
                if base is None:
                    continue
                record = base
                for change in taken.get(task_id, ()):
                    record = _apply(change, record)
                if task_id in changes:
                    record = _apply(changes[task_id], record)
                if record is base:
                    continue
                written[task_id] = record
                doc = record.to_json()
                if doc != stored.get(str(self._doc_ids[task_id])):
                    new_docs[task_id] = doc
                    if task_id in changes:
                        asked.append(task_id)
            if new_docs:

                def replace(document: dict[str, Any]) -> None:
                    fresh = new_docs[str(document["id"])]
                    document.clear()
                    document.update(fresh)

                put = {str(self._doc_ids[task_id]): doc for task_id, doc in new_docs.items()}
                self._storage.change = (put, {})
                self._table.update(replace, doc_ids=[self._doc_ids[task_id] for task_id in new_docs])
            with self._state:
                for task_id in dict.fromkeys([*taken, *written]):
                    if task_id in written:
                        self._base[task_id] = written[task_id]
                    rest = self._pending.pop(task_id, [])[len(taken.get(task_id, ())) :]
                    if task_id not in self._base:
                        continue
                    record = self._build(self._base, task_id)
                    for change in rest:
                        record = _apply(change, record)
                    if rest:
                        self._pending[task_id] = rest
                    self._records[task_id] = record
                if written or taken:
                    self._changed(staged=not changes)
                changed = [self._build(self._records, task_id) for task_id in asked]
        return changed, len(new_docs)

    # ---- inside -------------------------------------------------------------------------------------

    def _add_records(self, tracked: Iterable[TrackedTask]) -> AddOutcome:
        records: dict[str, TrackedTask] = {}
        for record in tracked:
            records.setdefault(check_id(record.id), record)
        if not records:
            return AddOutcome(added=[], already=[])
        with self._transaction():
            already = [task_id for task_id in records if task_id in self._records]
            fresh = [record for task_id, record in records.items() if task_id not in self._records]
            if fresh:
                self._insert(fresh)
        return AddOutcome(added=[record.id for record in fresh], already=already)

    def _insert(self, records: list[TrackedTask]) -> None:
        """Insert new records with one write (inside a transaction)."""
        start = max(self._doc_ids.values(), default=0) + 1
        documents = [Document(record.to_json(), doc_id=start + n) for n, record in enumerate(records)]
        self._storage.change = ({str(document.doc_id): dict(document) for document in documents}, {})
        self._table.insert_multiple(documents)
        with self._state:
            for document, record in zip(documents, records, strict=True):
                self._records[record.id] = record
                self._base[record.id] = record
                self._doc_ids[record.id] = document.doc_id
            self._changed()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """Hold the file lock, bring memory up to the file, and let the body change it (one write)."""
        with self._io, self._locked():
            self._sync_locked()
            self._storage.change = None
            try:
                yield
            except OSError as exc:
                self._storage.invalidate()
                raise not_saved(self.path, exc) from exc
            except BaseException:
                # TinyDB may have changed the cached document before failing: read the file again next time.
                self._storage.invalidate()
                raise
            finally:
                self._storage.change = None

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return holding(self._file_lock, self.path, self._lock_timeout)

    def _reload(self) -> bool:
        """Bring memory up to the files. Without the file lock, unless a file needs moving aside."""
        if self._catch_up_with_journal():
            return True
        signature, raw, journal = self._read_files()
        if self._storage.is_current(signature):
            return False
        loaded = self._parse(raw, journal)
        if loaded.problem is None and loaded.journal_news is None:
            self._install(loaded, signature)
            return True
        with self._locked():
            return self._sync_locked()

    def _sync_locked(self) -> bool:
        """Under the file lock: reload when a file changed since we last read or wrote it."""
        if self._catch_up_with_journal():
            return True
        signature, raw, journal = self._read_files()
        if self._storage.is_current(signature):
            return False
        loaded = self._parse(raw, journal)
        if loaded.problem is not None:
            self._set_aside(loaded)
        elif loaded.journal_news is not None:
            self._install(loaded, signature)
            self._write_with_journal(loaded.journal_news)
        else:
            self._install(loaded, signature)
        return True

    def _catch_up_with_journal(self) -> bool:
        """When all another process did since we last read is append to the journal: read only what it
        appended, and take its changes (a dashboard at 100,000 tasks sees an `add` without reading 40 MB
        again). False when that is not the case, or a line is not as the store wrote it: then the files
        are read whole."""
        storage = self._storage
        held = storage.signature
        if storage.data is None or held is None or held[1] is None or not storage.journal_size:
            return False
        main = _stat_signature(self._target)
        if main != held[0]:
            return False
        try:
            info, tail = taskjournal.read_file(storage.journal_path, storage.journal_size)
        except OSError:
            return False  # the whole read says why
        if info is None or info.st_ino != held[1][2] or info.st_size < storage.journal_size:
            return False
        journal = taskjournal.read_tail(tail, storage.journal_size)
        if journal.problem is not None or not journal.checked:
            return False
        self._take(journal.changes)
        storage.journal_size = journal.size
        storage.signature = (main, _signature(info))
        return True

    def _take(self, changes: list[taskjournal.Change]) -> None:
        """Apply journal changes another process wrote (and checked) to the document and the records."""
        table = self._storage.tasks_table()
        with self._state:
            by_doc_id = {doc_id: task_id for task_id, doc_id in self._doc_ids.items()}
            for change in changes:
                for key in change.delete:
                    table.pop(key, None)
                    task_id = by_doc_id.pop(int(key), None)
                    if task_id is not None:
                        for index in (self._records, self._base, self._doc_ids, self._pending):
                            index.pop(task_id, None)  # type: ignore[attr-defined]
                for key, doc in change.put.items():
                    table[key] = doc
                    held = _Unread(doc)
                    self._base[held.id] = held
                    self._doc_ids[held.id] = int(key)
                    by_doc_id[int(key)] = held.id
                    # What is staged here goes on top of it, as on a whole reload.
                    staged = self._pending.get(held.id)
                    record: Held = held
                    if staged:
                        record = held.build()
                        for fn in staged:
                            record = _apply(fn, record)
                    self._records[held.id] = record
            self._changed()

    def _read_files(self) -> tuple[Signature, bytes, bytes]:
        """The signature and bytes of the TinyDB file, and those of its journal (b"" when none)."""
        try:
            # Not blocking: a FIFO put where the database (or its archive) should be must not hang us.
            fd = os.open(self._target, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
            with open(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode):
                    raise OSError(0, f"it is {file_kind(info.st_mode)}, not a file")
                main = _signature(info)
                raw = handle.read()
        except FileNotFoundError:
            main, raw = None, b""
        except OSError as exc:
            raise StoreError(f"cannot read the task database {self.path} ({exc.strerror or exc})") from None
        try:
            info, journal = taskjournal.read_file(self._storage.journal_path)
        except OSError as exc:
            raise StoreError(
                f"cannot read the task database's journal {self._storage.journal_path} "
                f"({exc.strerror or exc})"
            ) from None
        return (main, None if info is None else _signature(info)), raw, journal

    def _stat_signature(self) -> Signature:
        return _stat_signature(self._target), _stat_signature(self._storage.journal_path)

    def _parse(self, raw: bytes, journal: bytes) -> _Loaded:
        """Read the files' bytes, reusing the records whose stored form did not change."""
        previous = None
        if self._storage.data is not None:
            previous = _Previous(self._storage.tasks_table(), self._base, self._doc_ids)
        with _no_collection():
            return _parse(raw, journal, self.path, previous)

    def _install(self, loaded: _Loaded, signature: Signature | None) -> None:
        self._storage.loaded(
            loaded.tables,
            signature,
            base=loaded.base,
            journal_size=loaded.journal_size,
            as_written=loaded.main_as_written,
        )
        with self._state:
            self._base = loaded.records
            self._doc_ids = loaded.doc_ids
            # Staged changes go on top of what was read: another process's write does not undo them.
            records = dict(loaded.records)
            for task_id in list(self._pending):
                held = records.get(task_id)
                if held is None:  # no longer tracked: removed by another process
                    del self._pending[task_id]
                    continue
                record = held.build() if held.__class__ is _Unread else held  # type: ignore[union-attr]
                for change in self._pending[task_id]:
                    record = _apply(change, record)
                records[task_id] = record
            self._records = records
            self._changed()

    def _set_aside(self, loaded: _Loaded) -> None:
        """Under the file lock: move an unreadable file aside, keep what can be kept, tell the user."""
        aside = self._aside_path()
        self._storage.change = None
        try:
            os.rename(self._target, aside)
            # Its journal goes with it: on top of a file no longer there, it would be taken for stale.
            with contextlib.suppress(FileNotFoundError):
                os.rename(self._storage.journal_path, aside.with_name(aside.name + taskjournal.SUFFIX))
        except OSError as exc:
            raise StoreError(
                f"the task database {self.path} is not readable ({loaded.problem}) and could not be moved "
                f"aside ({exc.strerror or exc}); move or repair it by hand"
            ) from None
        fsync_directory(self._target.parent)
        # A running process still holds the last good state: keep it rather than lose it with the file.
        kept_before = [
            held.build() if held.__class__ is _Unread else held  # type: ignore[union-attr]
            for task_id, held in self._base.items()
            if task_id not in loaded.records
        ]
        next_id = max(loaded.doc_ids.values(), default=0) + 1
        table = loaded.tables[TASKS_TABLE]
        for n, record in enumerate(kept_before):
            table[str(next_id + n)] = record.to_json()
            loaded.records[record.id] = record
            loaded.doc_ids[record.id] = next_id + n
        self._install(loaded, None)
        self.notices.append(self._set_aside_sentence(loaded, aside, len(kept_before)))
        if loaded.records:
            try:
                self._storage.write(loaded.tables)
            except OSError as exc:
                self._storage.invalidate()
                raise StoreError(
                    f"could not save the task database {self.path} ({exc.strerror or exc}) after moving "
                    f"the unreadable one to {aside}"
                ) from exc

    def _write_with_journal(self, news: _JournalNews) -> None:
        """Under the file lock, with the journal's readable changes installed: write the TinyDB file
        whole, so that they are in it, after moving a journal with unreadable lines aside (kept for the
        user); the journal is then gone. Tell the user what happened."""
        journal = self._storage.journal_path
        aside = self._aside_path(journal) if news.problem else None
        try:
            if aside is not None:
                os.rename(journal, aside)
                fsync_directory(journal.parent)
            self._storage.journal_size = 0
            self._storage.write(self._storage.read())
        except OSError as exc:
            self._storage.invalidate()
            raise StoreError(
                f"could not save the task database {self.path} with the changes of its journal {journal} "
                f"({exc.strerror or exc}); the files were left as they were"
            ) from None
        if news.problem:
            self.notices.append(
                f"the task database's journal {journal} was not wholly readable ({news.problem}); it was "
                f"moved to {aside}, and grokdash applied the {_count(news.applied, 'change')} it could read"
            )
        elif news.applied:
            self.notices.append(
                f"the task database {self.path} had changed without its journal {journal} (replaced, "
                f"restored from a backup or rewritten by another program?); grokdash applied the journal's "
                f"{_count(news.applied, 'change')} to it, so that no task in it is lost"
            )

    def _set_aside_sentence(self, loaded: _Loaded, aside: Path, kept_before: int) -> str:
        before = f" and the {_count(kept_before, 'task')} it had loaded before" if kept_before else ""
        if loaded.dropped:
            good = len(loaded.records) - kept_before
            return (
                f"the task database {self.path} had {_count(loaded.dropped, 'unreadable record')} of "
                f"{loaded.total} ({loaded.problem}); it was moved to {aside} and grokdash keeps the other "
                f"{_count(good, 'task')}{before}"
            )
        if kept_before:
            return (
                f"the task database {self.path} was not readable ({loaded.problem}); it was moved to "
                f"{aside} and grokdash keeps the {_count(kept_before, 'task')} it had loaded before"
            )
        return (
            f"the task database {self.path} was not readable ({loaded.problem}); it was moved to {aside} "
            "and grokdash starts with an empty list"
        )

    def _aside_path(self, of: Path | None = None) -> Path:
        of = of or self._target
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self._clock()))
        base = of.with_name(f"{of.name}.corrupt-{stamp}")
        candidate, counter = base, 1
        while os.path.lexists(candidate):
            counter += 1
            candidate = base.with_name(f"{base.name}-{counter}")
        return candidate


def database_lock(target: Path, timeout: float) -> filelock.FileLock:
    """The lock every grokdash process holds while it writes the database at `target` (its real path)."""
    return filelock.FileLock(f"{target}.lock", timeout=timeout, mode=NEW_FILE_MODE, poll_interval=LOCK_POLL)


@contextlib.contextmanager
def holding(lock: filelock.FileLock, path: Path, timeout: float) -> Iterator[None]:
    """Hold `lock` of the database the user knows as `path`; StoreError with a sentence when it cannot
    be had."""
    try:
        Path(lock.lock_file).parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except filelock.Timeout:
        raise StoreError(
            f"the task database {path} is locked by another grokdash process "
            f"(waited {timeout:g} s); try again when it has finished"
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot lock the task database {path} ({exc.strerror or exc})") from None
    try:
        yield
    finally:
        lock.release()


def not_saved(path: Path, exc: OSError) -> StoreError:
    return StoreError(
        f"could not save the task database {path} ({exc.strerror or exc}); the file was left as it was"
    )


# ---- the file ----------------------------------------------------------------------------------------


class _AtomicJSONStorage(Storage):
    """TinyDB storage for one JSON file and its journal: atomic writes, and the document as last read or
    written.

    TinyDB reads the whole document before each change; `read` hands it the copy in memory, which the
    store keeps current (it reloads the files under the lock when another process changed them). `write`
    must only be called with the store's file lock held. When the store has said what the change is
    (`change`) and the file is large, `write` appends that change to the journal; else it writes the
    whole file (with the journal's changes in it) and removes the journal.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = Path(path)
        self.journal_path = taskjournal.path_of(self.path)
        self.index_path = taskindex.path_of(self.path)
        self._indexed: FileSignature | None = None
        """The version of the TinyDB file whose ids index is known to be on disk."""
        self.data: dict[str, Any] | None = None
        self.signature: Signature | None = None
        self.writes = 0
        self.change: tuple[dict[str, Any], dict[str, str]] | None = None
        """The records the next write puts (by document id) and the document ids it removes."""
        self.base: str | None = None
        """The digest in the TinyDB file's `_meta` table: what a journal goes on top of."""
        self.journal_size = 0
        """Bytes of the journal's whole lines; 0 when there is none (or only a stale one)."""
        self.main_as_written = False
        """The TinyDB file is as this code wrote it (its digest matches)."""
        self._swept = False

    def read(self) -> dict[str, Any]:
        if self.data is None:
            # Never let TinyDB take "nothing loaded" for "empty" and write an empty database.
            raise RuntimeError("the task database was used before it was loaded")
        return self.data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        change, self.change = self.change, None
        try:
            if not self._swept:
                self._sweep_temp_files()
            if change is not None and self._appends():
                journal = self._append(*change)
                main = self.signature[0] if self.signature else None
                self._index_after_append(data, main, journal)
            else:
                main, journal = self._write_whole(data), None
        except BaseException:
            self.invalidate()
            raise
        self.data = data
        self.signature = (main, journal)
        self.writes += 1

    def _appends(self) -> bool:
        main = self.signature[0] if self.signature else None
        # A file not as this code wrote it (an older grokdash's, one edited by hand) is written whole
        # first: every later open then reads it without checking each record again.
        if self.base is None or not self.main_as_written or main is None or main[1] < JOURNAL_FROM:
            return False
        return self.journal_size < main[1]  # as large as the file: time to write it whole

    def _append(self, put: dict[str, Any], delete: dict[str, str]) -> FileSignature:
        text = taskjournal.line(put, delete)
        assert self.base is not None
        if self.journal_size:
            info = taskjournal.append(self.journal_path, self.journal_size, text)
            self.journal_size += len(text)
        else:
            info = taskjournal.start(self.journal_path, self.base, text, mode=_mode_of(self.path))
            self.journal_size = info.st_size
        return _signature(info)

    def _write_whole(self, data: dict[str, Any]) -> FileSignature:
        payload, digest = _encode_with_digest(data)
        previous = self.signature[0] if self.signature else None
        signature = _write_atomically(self.path, payload, previous[0] if previous else None)
        self.base, self.journal_size, self.main_as_written = digest, 0, bool(digest)
        # A kill before this leaves a stale journal beside the new file: ignored, and replaced later.
        taskjournal.remove(self.journal_path)
        self._write_index(data, signature, None)
        return signature

    def _index_after_append(
        self, data: dict[str, Any], main: FileSignature | None, journal: FileSignature
    ) -> None:
        """After an append on top of a file without a current ids index (one an older grokdash wrote, or
        an index lost to a kill or a full disk): write it, once per version of the file."""
        if main is None or main == self._indexed:
            return
        self._indexed = main
        if not taskindex.describes(self.index_path, main):
            self._write_index(data, main, (journal[2], self.journal_size))

    def _write_index(
        self, data: dict[str, Any], main: FileSignature, journal: tuple[int, int] | None
    ) -> None:
        """The ids index of the file just written (with the journal's first bytes given, when given), for
        quickchange.py; only a shortcut, so failing to write it fails nothing (a stale one never matches
        the file's signature)."""
        self._indexed = main
        try:
            if not self.base or main[1] < JOURNAL_FROM:
                taskindex.remove(self.index_path)
                return
            doc_ids = taskindex.doc_ids_of(data.get(TASKS_TABLE, {}))
            taskindex.write(
                self.index_path,
                base=self.base,
                main=main,
                journal=journal,
                doc_ids=doc_ids,
                mode=_mode_of(self.path),
            )
        except (OSError, KeyError, TypeError, ValueError):
            with contextlib.suppress(OSError):
                taskindex.remove(self.index_path)

    def loaded(
        self,
        data: dict[str, Any],
        signature: Signature | None,
        *,
        base: str | None,
        journal_size: int,
        as_written: bool,
    ) -> None:
        self.data = data
        self.signature = signature
        self.base = base
        self.journal_size = journal_size
        self.main_as_written = as_written

    def invalidate(self) -> None:
        """Forget the document: the next transaction reads the files again."""
        self.data = None
        self.signature = None

    def is_current(self, signature: Signature | None) -> bool:
        """Whether the files with this signature are the document we hold."""
        return self.data is not None and signature == self.signature

    def tasks_table(self) -> dict[str, Any]:
        return self.read().get(TASKS_TABLE, {})

    def _sweep_temp_files(self) -> None:
        """Temp files of writers killed mid-write (we hold the lock, so no live writer owns one). The
        journal's temp files start with the same prefix."""
        self._swept = True
        prefix = temp_prefix(self.path)
        with contextlib.suppress(OSError), os.scandir(self.path.parent) as entries:
            for entry in entries:
                if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def _mode_of(path: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return NEW_FILE_MODE


def _write_atomically(target: Path, payload: bytes, after_mtime_ns: int | None) -> FileSignature:
    """Replace `target` with `payload` atomically, keeping its mode (a new file is owner-only).

    The new file's mtime is set past `after_mtime_ns` (the file it replaces), so each write changes the
    signature even when the filesystem reuses the inode and the clock's tick is coarse.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_of(target)
    mtime = time.time_ns()
    if after_mtime_ns is not None:
        mtime = max(mtime, after_mtime_ns + 1)
    return _signature(replace_atomically(target, payload, mode=mode, mtime_ns=mtime))


ENCODE_CHUNK = 2_000
"""Documents encoded by one call of the fast encoder: a call holds the GIL for as long as it lasts, so
one call over 100,000 tasks would stall the dashboard's event loop while a worker thread writes."""
DIGEST_FIELD = "digest"
"""In the `_meta` record: a digest of the file's tables as the store wrote them. A file whose digest
matches holds only records this code wrote after reading them whole, so they are not checked again."""
EXACT_FLAG = "exact_numbers"
"""Set in the `_meta` record when some number in the file is beyond 64 bits: orjson reads such a number as
a float, so that file is read with the standard library, which keeps it exact."""

# The standard library's encoder is the fallback for what orjson refuses: lone surrogates (a label
# typed through a terminal that mangled its bytes) and integers beyond 64 bits (a hostile server's
# `created`). ASCII-only, so any string survives; the data is never circular (it came from JSON).
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def _encode(data: dict[str, dict[str, Any]]) -> bytes:
    return _encode_with_digest(data)[0]


def _encode_with_digest(data: dict[str, dict[str, Any]]) -> tuple[bytes, str]:
    """The document as compact JSON, encoded a chunk of documents at a time (see ENCODE_CHUNK).

    orjson writes in a tenth of the standard library's time; a chunk it refuses is written by the
    standard library instead, a document at a time. When one of those holds a number beyond 64 bits, the
    `_meta` record says so (EXACT_FLAG).
    """
    exact = False
    tables: list[bytes] = []
    for name, table in data.items():
        if name == META_TABLE:
            continue
        parts, needs_exact = _encode_table(table)
        exact = exact or needs_exact
        tables.append(orjson.dumps(name) + b":{" + b",".join(parts) + b"}")
    body = b"{" + b",".join(tables)
    meta = {key: dict(doc) if isinstance(doc, dict) else doc for key, doc in data.get(META_TABLE, {}).items()}
    first = meta.setdefault("1", {"schema": SCHEMA_VERSION})
    if isinstance(first, dict):
        first.pop(EXACT_FLAG, None)
        if exact:
            first[EXACT_FLAG] = True
        first[DIGEST_FIELD] = digest = _digest(body, os.urandom(8).hex())
    else:  # a `_meta` table not of this code's making: no journal goes on top of it
        digest = ""
    return body + _meta_tail(meta, first=not tables), digest


def _meta_tail(meta: dict[str, Any], *, first: bool) -> bytes:
    """The `_meta` table as the last member of the document, and the document's closing brace."""
    return (
        (b"" if first else b",") + b'"' + META_TABLE.encode() + b'":' + _ENCODER.encode(meta).encode() + b"}"
    )


def _digest(body: bytes, salt: str) -> str:
    """`salt:hash`: the hash of the salt and the body. Not a secret: a check that the tables are byte for
    byte what this code wrote. The salt, new on every whole write, makes each version of the file's
    digest its own, so that a journal is never taken to go on top of a later version holding the same
    records (hashlib lets go of the GIL while it hashes)."""
    return salt + ":" + hashlib.sha256(salt.encode("ascii") + body).hexdigest()[:32]


def _is_as_written(raw: bytes, data: dict[str, Any], *, only_meta: bool | None = None) -> bool:
    """Whether the file's tables are exactly what `_encode` wrote: its `_meta` table is the file's last
    member, in the form `_encode` gives it, and holds the digest of all that comes before. `data`: the
    file's document, or just its `_meta` table (then `only_meta` says whether it is the only table)."""
    meta = data.get(META_TABLE)
    if only_meta is None:
        only_meta = len(data) == 1
    first = meta.get("1") if isinstance(meta, dict) else None
    digest = first.get(DIGEST_FIELD) if isinstance(first, dict) else None
    if not isinstance(digest, str) or not digest.isascii():
        return False
    tail = _meta_tail(meta, first=only_meta)  # type: ignore[arg-type]
    salt = digest.partition(":")[0]
    return raw.endswith(tail) and _digest(raw[: len(raw) - len(tail)], salt) == digest


def _encode_table(table: dict[str, Any]) -> tuple[list[bytes], bool]:
    """The table's `"key":{…}` parts, and whether one holds a number beyond 64 bits."""
    parts: list[bytes] = []
    exact = False
    items = list(table.items())
    for start in range(0, len(items), ENCODE_CHUNK):
        chunk = dict(items[start : start + ENCODE_CHUNK])
        try:
            encoded = orjson.dumps(chunk)
        except TypeError:
            for key, doc in chunk.items():
                try:
                    parts.append(orjson.dumps({key: doc})[1:-1])
                except TypeError:
                    text = f"{_ENCODER.encode(key)}:{_ENCODER.encode(doc)}"
                    exact = exact or _has_big_integer(doc)
                    parts.append(text.encode("ascii"))
            continue
        if len(encoded) > 2:
            parts.append(encoded[1:-1])
    return parts, exact


def _has_big_integer(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_big_integer(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_big_integer(item) for item in value)
    return isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64


def _decode(raw: bytes) -> tuple[Any, bool]:
    """The file's JSON, and whether its tables are as the store wrote them (`_is_as_written`).

    orjson (several times faster) for a file as the store wrote it, unless it holds numbers beyond 64 bits
    (orjson would read them as floats); else the standard library, which reads every file exactly as
    before (NaN, lone surrogates, big numbers) and whose errors name the line and column. Raises
    UnicodeDecodeError, json.JSONDecodeError or RecursionError."""
    meta = {META_TABLE: _meta_at_end(raw)}
    if meta[META_TABLE] is not None and _is_as_written(raw, meta, only_meta=False) and not _wants_exact(meta):
        try:
            return orjson.loads(raw), True
        except orjson.JSONDecodeError:
            pass
    data = json.loads(raw.decode("utf-8"))
    return data, isinstance(data, dict) and _is_as_written(raw, data)


def _meta_at_end(raw: bytes) -> Any:
    """The `_meta` table, when it is the last member of the file as the store writes it; else None."""
    start = raw.rfind(b',"_meta":')
    if start < 0 or not raw.endswith(b"}}"):
        return None
    try:
        return json.loads(raw[start + 9 : -1])
    except (ValueError, RecursionError):
        return None


def _wants_exact(data: Any) -> bool:
    meta = data.get(META_TABLE) if isinstance(data, dict) else None
    if not isinstance(meta, dict):
        return False
    return any(isinstance(doc, dict) and doc.get(EXACT_FLAG) is True for doc in meta.values())


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """No cyclic garbage collection while a whole database is read or built: records are made of JSON
    values and frozen dataclasses, which hold no cycles, and at 100,000 tasks the collector's full passes
    over the millions of objects being made cost more than the making (1.2 s → 0.4 s to open)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _apply(change: Change, old: TrackedTask) -> TrackedTask:
    new = change(old)
    if new.id != old.id:
        raise ValueError(f"a change for task {old.id!r} returned a record for {new.id!r}")
    return new


def _signature(result: os.stat_result) -> FileSignature:
    return (result.st_mtime_ns, result.st_size, result.st_ino)


def _stat_signature(path: Path) -> FileSignature | None:
    try:
        return _signature(os.stat(path))
    except OSError:
        return None


# ---- parsing -----------------------------------------------------------------------------------------


@dataclass
class _Loaded:
    tables: dict[str, Any]
    """The document as TinyDB reads it, without the unreadable records."""
    records: dict[str, Held] = field(default_factory=dict)
    doc_ids: dict[str, int] = field(default_factory=dict)
    problem: str | None = None
    """Why the file, or some of its records, could not be read."""
    dropped: int = 0
    """Unreadable records left out of a file that was otherwise readable."""
    total: int = 0
    last: str = ""
    """The id of the record read last."""
    base: str | None = None
    """The digest in the file's `_meta` table (what a journal goes on top of)."""
    journal_size: int = 0
    main_as_written: bool = False
    """The TinyDB file is as the store wrote it (its digest matches), whatever the journal holds."""
    journal_news: _JournalNews | None = None
    """A journal applied by task id (see `_apply_by_task_id`): the file must be written whole with it."""


def _empty_tables() -> dict[str, Any]:
    return {TASKS_TABLE: {}, META_TABLE: {"1": {"schema": SCHEMA_VERSION}}}


def _unreadable(problem: str) -> _Loaded:
    return _Loaded(tables=_empty_tables(), problem=problem)


@dataclass(frozen=True)
class _Previous:
    """What was loaded before: a stored record that did not change is not parsed again."""

    stored: Mapping[str, Any]
    records: Mapping[str, Held]
    doc_ids: Mapping[str, int]

    def record(self, key: str, doc: dict[str, Any]) -> Held | None:
        """The record loaded before from exactly this stored form under this document id, if any."""
        if self.stored.get(key) != doc:
            return None
        task_id = str(doc.get("id"))
        record = self.records.get(task_id)
        if record is None or str(self.doc_ids.get(task_id)) != key:
            return None
        return record


def _parse(raw: bytes, journal_raw: bytes, path: Path, previous: _Previous | None) -> _Loaded:
    """The file's bytes, with its journal's changes, as tables and records, reusing the unchanged
    records of `previous`.

    Raises StoreError for a file written by a newer grokdash: that one must not be touched.
    """
    if not raw:  # no file, or an empty one (TinyDB itself creates empty files)
        if not journal_raw:
            return _Loaded(tables=_empty_tables())
        raw = _encode(_empty_tables())  # a journal without its file: its tasks are still the user's
    try:
        data, as_written = _decode(raw)
    except UnicodeDecodeError:
        return _unreadable("it is not UTF-8 text")
    except json.JSONDecodeError as exc:
        # Some of json's messages end in "at" ("Unterminated string starting at"): say it once.
        where = f"line {exc.lineno} column {exc.colno}"
        return _unreadable(f"it is not valid JSON: {exc.msg.removesuffix(' at')} at {where}")
    except RecursionError:
        return _unreadable("it is nested too deeply to be a task database")
    if not isinstance(data, dict):
        return _unreadable(f"it holds a JSON {_json_kind(data)}, not a TinyDB database")
    for name, table in data.items():
        if not isinstance(table, dict):
            return _unreadable(
                f"its table {safe_snippet(name, 40)} is a JSON {_json_kind(table)}, not an object"
            )
    problem = _schema_problem(data.get(META_TABLE), path)
    if problem is not None:
        return _unreadable(problem)
    if not data.get(META_TABLE):
        data[META_TABLE] = {"1": {"schema": SCHEMA_VERSION}}
    if TASKS_TABLE not in data:
        data = {TASKS_TABLE: {}, **data}

    stored: dict[str, Any] = data[TASKS_TABLE]
    base = _meta_digest(data)
    try:
        journal = taskjournal.read(journal_raw)
    except taskjournal.JournalNewer as exc:
        raise StoreError(
            f"the task database {path} has a journal written by a newer grokdash (version {exc.args[0]}); "
            "it was left untouched: upgrade grokdash or use another --db"
        ) from None
    loaded = _Loaded(tables=data, base=base, main_as_written=as_written)
    if journal.base is not None and journal.base == base and as_written and not journal.problems:
        # On top of this very file: applied as written, by document id.
        for change in journal.changes:
            for key in change.delete:
                stored.pop(key, None)
            stored.update(change.put)
        loaded.journal_size = journal.size
    elif not journal.empty:
        applied = _apply_by_task_id(stored, journal.changes)
        if applied or journal.problems:
            loaded.journal_news = _JournalNews(applied, journal.problem)
        # Else a compaction wrote it into the file and was killed before it removed it: the next
        # append replaces it.
    loaded.total = len(stored)
    as_written = as_written and journal.checked
    if as_written and previous is None and _index_as_written(stored, loaded):
        return loaded
    good: dict[str, Any] = {}
    for key, doc in stored.items():
        problem = _read_record(key, doc, previous, loaded, checked=as_written)
        if problem is None:
            # A record read from a file the store did not write is kept in its stored form, as written
            # from now on: the form a later, unchecked read takes it in.
            good[key] = doc if as_written else _stored_form(loaded.records[loaded.last])
        else:
            loaded.dropped += 1
            loaded.problem = loaded.problem or problem
    data[TASKS_TABLE] = good
    return loaded


def _apply_by_task_id(stored: dict[str, Any], changes: list[taskjournal.Change]) -> int:
    """Apply a journal to a file it was not written on top of: each record put replaces the record of
    the same task wherever it is (or goes under a free document id), each removal removes that task.
    Returns how many changes changed something."""
    key_of: dict[str, str] = {}
    for key, doc in stored.items():
        if isinstance(doc, dict) and isinstance(doc.get("id"), str):
            key_of[doc["id"]] = key
    next_id = max((int(key) for key in stored if key.isdigit()), default=0) + 1
    applied = 0
    for change in changes:
        for task_id in change.delete.values():
            key = key_of.pop(task_id, None)
            if key is not None:
                del stored[key]
                applied += 1
        for key, doc in change.put.items():
            task_id = doc.get("id")
            if not isinstance(task_id, str):
                continue
            where = key_of.get(task_id)
            if where is None:
                where = key if key.isdigit() and key not in stored else str(next_id)
                next_id = max(next_id, int(where) + 1)
                key_of[task_id] = where
            if stored.get(where) != doc:
                stored[where] = doc
                applied += 1
    return applied


@dataclass(frozen=True)
class _JournalNews:
    """A journal that was not simply on top of the file: what it held that the file did not."""

    applied: int
    problem: str | None


def _meta_digest(data: dict[str, Any]) -> str | None:
    meta = data.get(META_TABLE)
    first = meta.get("1") if isinstance(meta, dict) else None
    digest = first.get(DIGEST_FIELD) if isinstance(first, dict) else None
    return digest if isinstance(digest, str) and digest else None


def _index_as_written(stored: dict[str, Any], loaded: _Loaded) -> bool:
    """The ids and document ids of a file as the store wrote it: every record was checked before it was
    written, under a key of its own, so only the index is made now (at 100,000 tasks, the most part of
    opening the file when `add` or `rm` needs no record). False, and nothing made, should the file not
    be what its digest says after all: then every record is read and checked."""
    records: dict[str, Held] = {}
    doc_ids: dict[str, int] = {}
    try:
        for key, doc in stored.items():
            task_id = doc["id"]
            if task_id.__class__ is not str or task_id in records:
                return False
            records[task_id] = _Unread(doc)
            doc_ids[task_id] = int(key)
    except (KeyError, TypeError, ValueError):
        return False
    loaded.records, loaded.doc_ids = records, doc_ids
    return True


def _stored_form(held: Held) -> dict[str, Any]:
    return held.doc if isinstance(held, _Unread) else held.to_json()


def _read_record(
    key: str, doc: Any, previous: _Previous | None, loaded: _Loaded, *, checked: bool
) -> str | None:
    """Add one stored record to `loaded`; or say why it cannot be read. `checked`: the file is as the
    store wrote it (see `TrackedTask.from_json`)."""
    try:
        doc_id = int(key)
    except ValueError:
        return f"record {safe_snippet(key, 20)} has no numeric document id"
    if not isinstance(doc, dict):
        return f"record {doc_id} is a JSON {_json_kind(doc)}, not an object"
    record = previous.record(key, doc) if previous is not None else None
    if record is None and checked and doc.get("id").__class__ is str:
        record = _Unread(doc)  # the store wrote it after reading it whole: built when first used
    if record is None:
        try:
            record = TrackedTask.from_json(doc, checked=checked)
        except KeyError as exc:
            return f"record {doc_id} has no {exc.args[0]!r}"
        except ApiError as exc:
            return f"record {doc_id} holds an unreadable answer: {exc.message}"
        except (TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            return f"record {doc_id} is not a task record: {safe_snippet(str(exc), 60)}"
        problem = None if checked else id_problem(record.id)
        if problem is not None:
            return f"record {doc_id} has an unusable task id {safe_snippet(record.id, 40)}: {problem}"
    if record.id in loaded.records:
        return f"record {doc_id} repeats task {safe_snippet(record.id, 40)}"
    loaded.records[record.id] = record
    loaded.doc_ids[record.id] = doc_id
    loaded.last = record.id
    return None


def _schema_problem(meta: dict[str, Any] | None, path: Path) -> str | None:
    if not meta:
        return None  # written by TinyDB alone, or an older grokdash: version 1
    versions = [doc["schema"] for doc in meta.values() if isinstance(doc, dict) and "schema" in doc]
    if not versions:
        return "its _meta table holds no schema version"
    version = versions[0]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return f"its schema version {safe_snippet(version, 20)} is not a whole number from 1"
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the task database {path} was written by a newer grokdash (schema version {version}; this one "
            f"reads up to {SCHEMA_VERSION}); it was left untouched: upgrade grokdash or use another --db"
        )
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return "object"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
