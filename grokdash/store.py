"""The task database: the only code that touches the TinyDB JSON file of tracked tasks.

The file is a real TinyDB database (`{"tasks": {"1": {…}}, "_meta": {"1": {"schema": 1}}}`), shared by
the command line and a long-running poller in other processes. Nothing a user tracked may be lost:

- every write goes to a temp file in the same folder, is fsynced and then renamed over the real file, so
  a crash at any instant leaves the old file or the new one, never a broken one;
- every read-modify-write holds a file lock (`<db>.lock`); under it the file is reloaded when another
  process changed it since we last read it, the change is applied to that fresh data, and it is written
  once;
- a file that cannot be read is moved aside (never overwritten) and the user is told where it went.

In memory the store keeps an index task id → record, so lookups never touch the disk, and `refresh()`
costs one `stat` when nothing changed. Records are immutable `TrackedTask`s: the UI thread may read them
while a worker thread writes.

Poll answers are *staged*: `stage()` applies them in memory at once (every reader sees them) and keeps
the change functions until `flush()` writes them, so answers are shown as they arrive and written in
batches. A staged change survives a failed write and a reload of the file by another process's write
(it is applied again on top of what was read), so nothing is lost while the disk is full or locked.
"""

from __future__ import annotations

import contextlib
import copy
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
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

from grokdash.errors import ApiError, GrokdashError, safe_snippet
from grokdash.files import PRIVATE_MODE, fsync_directory, replace_atomically, temp_prefix
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

Signature = tuple[int, int, int]
"""(st_mtime_ns, st_size, st_ino) of the file: when it differs, someone wrote the file."""


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
        self._file_lock = filelock.FileLock(
            f"{self._target}.lock", timeout=lock_timeout, mode=NEW_FILE_MODE, poll_interval=LOCK_POLL
        )
        self._db = TinyDB(str(self._target), storage=_AtomicJSONStorage)
        self._storage: _AtomicJSONStorage = self._db.storage  # type: ignore[assignment]
        self._table = self._db.table(TASKS_TABLE, cache_size=0)
        self._io = threading.RLock()
        """Serialises this instance's file work (and TinyDB, which is not thread-safe)."""
        self._state = threading.Lock()
        """Guards the index below, which the UI thread reads while a worker thread writes."""
        self._base: dict[str, TrackedTask] = {}
        """The records as the file holds them (last read or written)."""
        self._pending: dict[str, list[Change]] = {}
        """Staged changes not written yet, per id, in the order staged."""
        self._records: dict[str, TrackedTask] = {}
        """What every reader sees: `_base` with `_pending` applied."""
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
            return self._records.get(task_id)

    def __len__(self) -> int:
        with self._state:
            return len(self._records)

    def __contains__(self, task_id: object) -> bool:
        with self._state:
            return task_id in self._records

    def refresh(self) -> bool:
        """Pick up what other processes wrote. One `stat` when nothing changed; True when it reloaded."""
        if self._storage.is_current(_stat_signature(self._target)):
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
            gone = [self._records[task_id] for task_id in wanted if task_id in self._records]
            if gone:
                self._table.remove(doc_ids=[self._doc_ids[record.id] for record in gone])
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
                old = self._records.get(task_id)
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
                base = self._base.get(task_id)
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

                self._table.update(replace, doc_ids=[self._doc_ids[task_id] for task_id in new_docs])
            with self._state:
                for task_id in dict.fromkeys([*taken, *written]):
                    if task_id in written:
                        self._base[task_id] = written[task_id]
                    rest = self._pending.pop(task_id, [])[len(taken.get(task_id, ())) :]
                    if task_id not in self._base:
                        continue
                    record = self._base[task_id]
                    for change in rest:
                        record = _apply(change, record)
                    if rest:
                        self._pending[task_id] = rest
                    self._records[task_id] = record
                if written or taken:
                    self._changed(staged=not changes)
                changed = [self._records[task_id] for task_id in asked]
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
            try:
                yield
            except OSError as exc:
                self._storage.invalidate()
                raise StoreError(
                    f"could not save the task database {self.path} ({exc.strerror or exc}); "
                    "the file was left as it was"
                ) from exc
            except BaseException:
                # TinyDB may have changed the cached document before failing: read the file again next time.
                self._storage.invalidate()
                raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self._target.parent.mkdir(parents=True, exist_ok=True)
            self._file_lock.acquire()
        except filelock.Timeout:
            raise StoreError(
                f"the task database {self.path} is locked by another grokdash process "
                f"(waited {self._lock_timeout:g} s); try again when it has finished"
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot lock the task database {self.path} ({exc.strerror or exc})") from None
        try:
            yield
        finally:
            self._file_lock.release()

    def _reload(self) -> bool:
        """Bring memory up to the file. Without the file lock, unless the file needs moving aside."""
        signature, raw = self._read_file()
        if self._storage.is_current(signature):
            return False
        loaded = self._parse(raw)
        if loaded.problem is None:
            self._install(loaded, signature)
            return True
        with self._locked():
            return self._sync_locked()

    def _sync_locked(self) -> bool:
        """Under the file lock: reload when the file changed since we last read or wrote it."""
        signature, raw = self._read_file()
        if self._storage.is_current(signature):
            return False
        loaded = self._parse(raw)
        if loaded.problem is None:
            self._install(loaded, signature)
        else:
            self._set_aside(loaded)
        return True

    def _read_file(self) -> tuple[Signature | None, bytes]:
        try:
            with open(self._target, "rb") as handle:
                signature = _signature(os.fstat(handle.fileno()))
                return signature, handle.read()
        except FileNotFoundError:
            return None, b""
        except OSError as exc:
            raise StoreError(f"cannot read the task database {self.path} ({exc.strerror or exc})") from None

    def _parse(self, raw: bytes) -> _Loaded:
        """Read the file's bytes, reusing the records whose stored form did not change."""
        previous = None
        if self._storage.data is not None:
            previous = _Previous(self._storage.tasks_table(), self._base, self._doc_ids)
        return _parse(raw, self.path, previous)

    def _install(self, loaded: _Loaded, signature: Signature | None) -> None:
        self._storage.loaded(loaded.tables, signature)
        with self._state:
            self._base = loaded.records
            self._doc_ids = loaded.doc_ids
            # Staged changes go on top of what was read: another process's write does not undo them.
            records = dict(loaded.records)
            for task_id in list(self._pending):
                record = records.get(task_id)
                if record is None:  # no longer tracked: removed by another process
                    del self._pending[task_id]
                    continue
                for change in self._pending[task_id]:
                    record = _apply(change, record)
                records[task_id] = record
            self._records = records
            self._changed()

    def _set_aside(self, loaded: _Loaded) -> None:
        """Under the file lock: move an unreadable file aside, keep what can be kept, tell the user."""
        aside = self._aside_path()
        try:
            os.rename(self._target, aside)
        except OSError as exc:
            raise StoreError(
                f"the task database {self.path} is not readable ({loaded.problem}) and could not be moved "
                f"aside ({exc.strerror or exc}); move or repair it by hand"
            ) from None
        fsync_directory(self._target.parent)
        # A running process still holds the last good state: keep it rather than lose it with the file.
        kept_before = [record for task_id, record in self._base.items() if task_id not in loaded.records]
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

    def _aside_path(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self._clock()))
        base = self._target.with_name(f"{self._target.name}.corrupt-{stamp}")
        candidate, counter = base, 1
        while os.path.lexists(candidate):
            counter += 1
            candidate = base.with_name(f"{base.name}-{counter}")
        return candidate


# ---- the file ----------------------------------------------------------------------------------------


class _AtomicJSONStorage(Storage):
    """TinyDB storage for one JSON file: atomic writes, and the document as last read or written.

    TinyDB reads the whole document before each change; `read` hands it the copy in memory, which the
    store keeps current (it reloads the file under the lock when another process changed it). `write`
    must only be called with the store's file lock held.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = Path(path)
        self.data: dict[str, Any] | None = None
        self.signature: Signature | None = None
        self.writes = 0
        self._swept = False

    def read(self) -> dict[str, Any]:
        if self.data is None:
            # Never let TinyDB take "nothing loaded" for "empty" and write an empty database.
            raise RuntimeError("the task database was used before it was loaded")
        return self.data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        payload = _encode(data)
        previous = self.signature
        try:
            if not self._swept:
                self._sweep_temp_files()
            signature = _write_atomically(self.path, payload, previous[0] if previous else None)
        except BaseException:
            self.invalidate()
            raise
        self.data = data
        self.signature = signature
        self.writes += 1

    def loaded(self, data: dict[str, Any], signature: Signature | None) -> None:
        self.data = data
        self.signature = signature

    def invalidate(self) -> None:
        """Forget the document: the next transaction reads the file again."""
        self.data = None
        self.signature = None

    def is_current(self, signature: Signature | None) -> bool:
        """Whether the file with this signature is the document we hold."""
        return self.data is not None and signature == self.signature

    def tasks_table(self) -> dict[str, Any]:
        return self.read().get(TASKS_TABLE, {})

    def _sweep_temp_files(self) -> None:
        """Temp files of writers killed mid-write (we hold the lock, so no live writer owns one)."""
        self._swept = True
        prefix = temp_prefix(self.path)
        with contextlib.suppress(OSError), os.scandir(self.path.parent) as entries:
            for entry in entries:
                if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def _write_atomically(target: Path, payload: bytes, after_mtime_ns: int | None) -> Signature:
    """Replace `target` with `payload` atomically, keeping its mode (a new file is owner-only).

    The new file's mtime is set past `after_mtime_ns` (the file it replaces), so each write changes the
    signature even when the filesystem reuses the inode and the clock's tick is coarse.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    mtime = time.time_ns()
    if after_mtime_ns is not None:
        mtime = max(mtime, after_mtime_ns + 1)
    return _signature(replace_atomically(target, payload, mode=mode, mtime_ns=mtime))


# Compact; ASCII-only, so any label survives; the data is never circular (it came from JSON).
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def _encode(data: dict[str, dict[str, Any]]) -> bytes:
    """The same bytes as one `json.dumps`, but encoded a document at a time: the C encoder holds the
    GIL for as long as one call lasts, and a single call over 10,000 tasks stalls the dashboard's event
    loop for 50-150 ms while this runs in a worker thread."""
    encode = _ENCODER.encode
    tables = (
        encode(name) + ":{" + ",".join(f"{encode(key)}:{encode(doc)}" for key, doc in table.items()) + "}"
        for name, table in data.items()
    )
    return ("{" + ",".join(tables) + "}").encode("ascii")


def _apply(change: Change, old: TrackedTask) -> TrackedTask:
    new = change(old)
    if new.id != old.id:
        raise ValueError(f"a change for task {old.id!r} returned a record for {new.id!r}")
    return new


def _signature(result: os.stat_result) -> Signature:
    return (result.st_mtime_ns, result.st_size, result.st_ino)


def _stat_signature(path: Path) -> Signature | None:
    try:
        return _signature(os.stat(path))
    except OSError:
        return None


# ---- parsing -----------------------------------------------------------------------------------------


@dataclass
class _Loaded:
    tables: dict[str, Any]
    """The document as TinyDB reads it, without the unreadable records."""
    records: dict[str, TrackedTask] = field(default_factory=dict)
    doc_ids: dict[str, int] = field(default_factory=dict)
    problem: str | None = None
    """Why the file, or some of its records, could not be read."""
    dropped: int = 0
    """Unreadable records left out of a file that was otherwise readable."""
    total: int = 0


def _empty_tables() -> dict[str, Any]:
    return {TASKS_TABLE: {}, META_TABLE: {"1": {"schema": SCHEMA_VERSION}}}


def _unreadable(problem: str) -> _Loaded:
    return _Loaded(tables=_empty_tables(), problem=problem)


@dataclass(frozen=True)
class _Previous:
    """What was loaded before: a stored record that did not change is not parsed again."""

    stored: Mapping[str, Any]
    records: Mapping[str, TrackedTask]
    doc_ids: Mapping[str, int]

    def record(self, key: str, doc: dict[str, Any]) -> TrackedTask | None:
        """The record loaded before from exactly this stored form under this document id, if any."""
        if self.stored.get(key) != doc:
            return None
        task_id = str(doc.get("id"))
        record = self.records.get(task_id)
        if record is None or str(self.doc_ids.get(task_id)) != key:
            return None
        return record


def _parse(raw: bytes, path: Path, previous: _Previous | None) -> _Loaded:
    """The file's bytes as tables and records, reusing the unchanged records of `previous`.

    Raises StoreError for a file written by a newer grokdash: that one must not be touched.
    """
    if not raw:
        return _Loaded(tables=_empty_tables())  # TinyDB itself creates empty files
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _unreadable("it is not UTF-8 text")
    try:
        data = json.loads(text)
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
    loaded = _Loaded(tables=data, total=len(stored))
    good: dict[str, Any] = {}
    for key, doc in stored.items():
        problem = _read_record(key, doc, previous, loaded)
        if problem is None:
            good[key] = doc
        else:
            loaded.dropped += 1
            loaded.problem = loaded.problem or problem
    if loaded.dropped:
        data[TASKS_TABLE] = good
    return loaded


def _read_record(key: str, doc: Any, previous: _Previous | None, loaded: _Loaded) -> str | None:
    """Add one stored record to `loaded`; or say why it cannot be read."""
    try:
        doc_id = int(key)
    except ValueError:
        return f"record {safe_snippet(key, 20)} has no numeric document id"
    if not isinstance(doc, dict):
        return f"record {doc_id} is a JSON {_json_kind(doc)}, not an object"
    record = previous.record(key, doc) if previous is not None else None
    if record is None:
        try:
            record = TrackedTask.from_json(doc)
        except KeyError as exc:
            return f"record {doc_id} has no {exc.args[0]!r}"
        except ApiError as exc:
            return f"record {doc_id} holds an unreadable answer: {exc.message}"
        except (TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            return f"record {doc_id} is not a task record: {safe_snippet(str(exc), 60)}"
        problem = id_problem(record.id)
        if problem is not None:
            return f"record {doc_id} has an unusable task id {safe_snippet(record.id, 40)}: {problem}"
    if record.id in loaded.records:
        return f"record {doc_id} repeats task {safe_snippet(record.id, 40)}"
    loaded.records[record.id] = record
    loaded.doc_ids[record.id] = doc_id
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
