"""A batch's journal: what became of each row, on disk before each create is sent and after each answer,
so a batch killed at any moment and run again never sends a row twice.

One file per batch in the state folder (`batches/<name>.json`): a header line, then one JSON line per
row state. A change appends one line and syncs it (a batch of thousands of rows does not rewrite the
file per row); the last line about a row wins, and a last line cut short by a crash is left out. Before
a run sends, the file is rewritten whole (atomically) as one line per row.

A row is waiting, sending (its POST may be out: a run that finds one follows a kill, and the row
becomes "may have been created"), created (with its task id), may have been created, or refused (with
the server's words). A row is what it asks for: rows are matched to the file by a digest of their
request and label, so lines moved, added or commented out are no new rows; a row edited after it was
sent is a new row, and the old one is said to be no longer in the file.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from grokdash.batchfile import BatchFile
from grokdash.config import state_dir
from grokdash.errors import GrokdashError, UsageError, printable, safe_snippet
from grokdash.files import replace_atomically
from grokdash.tracked import TrackedTask

WAITING = "waiting"
SENDING = "sending"
CREATED = "created"
UNCERTAIN = "may have been created"
REFUSED = "refused"
STATES = (WAITING, SENDING, CREATED, UNCERTAIN, REFUSED)
SENT = frozenset({SENDING, CREATED, UNCERTAIN})
"""States of a row whose create may have reached the server: never sent again by itself."""
STOPPED_OUT = "the run stopped while its create was out"
FORMAT = 1
LOCK_TRIES, LOCK_PAUSE = 10, 0.05
"""A batch's lock is asked for this many times, this far apart, before it is taken as another run's."""
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
STDIN = "standard input"


class BatchBusyError(GrokdashError):
    """Another grokdash is running this batch: two runs would send the same rows."""


class JournalError(GrokdashError):
    """The journal cannot be read or written: nothing more is sent (and nothing was sent twice)."""


def batches_dir() -> Path:
    return state_dir() / "batches"


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise UsageError(
            f"a batch name is letters, digits, '.', '_' and '-' (up to 64, not starting with a sign), "
            f"not {safe_snippet(name, 40)}"
        )
    return name


def name_for(source: str, text: str) -> str:
    """The batch's name: `beach.jsonl` is batch "beach"; standard input is named by what it holds, so
    two different lists piped in are two batches, and the same list piped again is the same one."""
    if source == "-":
        return f"stdin-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
    stem = Path(source).stem
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", stem).strip("-.") or "batch"
    return cleaned[:64]


def source_of(source: str) -> str:
    """How the journal names where its rows came from: the file's absolute path, or standard input."""
    return STDIN if source == "-" else str(Path(source).resolve())


@dataclass(slots=True)
class JournalRow:
    line: int
    digest: str
    prompt: str
    """The start of the row's prompt, for `batch --status` (shown through `printable`)."""
    state: str = WAITING
    task_id: str | None = None
    said: str | None = None
    """What went wrong: the server's refusal, why it may have been created."""


class Journal:
    """The journal of batch `name`; `open` holds its lock until `close` (one run at a time)."""

    def __init__(self, name: str, path: Path, source: str, rows: list[JournalRow]) -> None:
        self.name = name
        self.path = path
        self.source = source
        self.rows = rows
        self._number = {id(row): n for n, row in enumerate(rows)}
        """Each row's place, by identity: a mark costs no scan of thousands of rows."""
        self._lock: int | None = None
        self._log: Any = None

    # ---- opening ----------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        name: str,
        source: str,
        batch: BatchFile,
        *,
        resend_uncertain: bool = False,
        tasks: Iterable[TrackedTask] = (),
    ) -> tuple[Journal, list[str]]:
        """The journal of `name`, matched with the rows of `batch` (a fresh one the first time), and
        what the user should hear about the match. Nothing is written until `begin`: a dry run, or a
        no to the question, changes nothing. Raises BatchBusyError when another run holds it, and a
        UsageError when it is another file's journal or cannot be read."""
        path = batches_dir() / f"{check_name(name)}.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise JournalError(f"the batch folder {path.parent} cannot be made: {_why(error)}") from None
        lock = _lock(path)
        try:
            old_source, old = _read(path)
            if old and old_source not in (None, source):
                raise UsageError(
                    f"batch {name} holds the rows of {printable(old_source)}, not of {printable(source)}: "
                    "give --name to start another batch for this file"
                )
            rows, notices = _match(old, batch)
        except BaseException:
            os.close(lock)
            raise
        journal = cls(name, path, source, rows)
        journal._lock = lock
        requests = {row.line: row.request.to_json() for row in batch.rows}
        notices += journal.reconcile(requests, tasks)
        notices += _uncertain(journal.rows, resend=resend_uncertain)
        return journal, notices

    @classmethod
    def read(cls, name: str) -> Journal:
        """A journal as it is on disk, for `batch --status` (no lock: it only reads)."""
        path = batches_dir() / f"{check_name(name)}.json"
        if not path.exists():
            raise UsageError(f"no batch called {name} (grokdash batch --status lists them)")
        source, rows = _read(path)
        return cls(name, path, source or "", rows)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    # ---- writing ----------------------------------------------------------------------------------

    def begin(self) -> None:
        """Write the journal whole, as the run that is about to send sees it."""
        lines = [json.dumps({"journal": FORMAT, "name": self.name, "source": self.source})]
        lines += [json.dumps(asdict(row), ensure_ascii=False) for row in self.rows]
        try:
            replace_atomically(self.path, ("\n".join(lines) + "\n").encode())
            self._log = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (open for the run)
        except OSError as error:
            raise JournalError(
                f"the journal {self.path} cannot be written: {_why(error)}; nothing sent"
            ) from None

    def mark(
        self, row: JournalRow, state: str, *, task_id: str | None = None, said: str | None = None
    ) -> None:
        """Record `row`'s new state, on disk (synced) before anything else happens."""
        if self._log is None:
            self.begin()
        row.state = state
        if task_id is not None:
            row.task_id = task_id
        row.said = said
        entry = json.dumps({"n": self._number[id(row)], **asdict(row)}, ensure_ascii=False)
        try:
            self._log.write(entry + "\n")
            self._log.flush()
            os.fsync(self._log.fileno())
        except OSError as error:
            raise JournalError(
                f"the journal {self.path} cannot be written ({_why(error)}): sending stopped; no row is "
                "sent twice, and the next run goes on"
            ) from None

    def reconcile(self, requests: dict[int, dict[str, Any]], tasks: Iterable[TrackedTask]) -> list[str]:
        """A row the last run stopped on while its create was out may have been tracked meanwhile (the
        create answered, the run was killed before the journal heard): its task is in the database,
        with its request. Such rows are created, not "may have been created"."""
        claimed = {row.task_id for row in self.rows if row.task_id}
        found = []
        candidates = sorted((t for t in tasks if t.request and t.id not in claimed), key=lambda t: t.added_at)
        for row in self.rows:
            if row.state != UNCERTAIN or row.said != STOPPED_OUT or row.line not in requests:
                continue
            match = next((t for t in candidates if t.request == requests[row.line]), None)
            if match is not None:
                candidates.remove(match)
                row.state, row.task_id, row.said = CREATED, match.id, None
                found.append(f"line {row.line}: its task {match.id} was made before the last run stopped")
        return found

    # ---- what it says -----------------------------------------------------------------------------

    def waiting(self) -> list[JournalRow]:
        return [row for row in self.rows if row.state == WAITING]

    def created_ids(self) -> list[str]:
        return [row.task_id for row in self.rows if row.state == CREATED and row.task_id]

    def counts(self) -> Counter[str]:
        return Counter(row.state for row in self.rows)

    def describe(self) -> str:
        """`12 created, 1 may have been created, 27 waiting`."""
        counts = self.counts()
        shown = (CREATED, UNCERTAIN, REFUSED, SENDING, WAITING)
        return ", ".join(f"{counts[state]} {state}" for state in shown if counts[state]) or "no rows"


@dataclass(frozen=True, slots=True)
class Running:
    """A batch another grokdash is sending now, as its journal says."""

    name: str
    total: int
    sent: int
    """Rows whose create was sent (created, may have been created, or refused)."""
    created: tuple[str, ...]
    """The ids of its created tasks."""


def list_batches() -> list[str]:
    folder = batches_dir()
    if not folder.is_dir():
        return []
    return sorted(path.stem for path in folder.glob("*.json") if NAME.fullmatch(path.stem))


def running_batches() -> list[Running]:
    """The batches being sent right now: those whose lock another process holds."""
    running = []
    for name in list_batches():
        path = batches_dir() / f"{name}.json"
        if not _held(path.with_suffix(".lock")):
            continue
        try:
            journal = Journal.read(name)
        except GrokdashError:
            continue  # garbled, or not a file: the batch's own run says so
        sent = sum(1 for row in journal.rows if row.state != WAITING)
        running.append(Running(name, len(journal.rows), sent, tuple(journal.created_ids())))
    return running


# ---- the files ------------------------------------------------------------------------------------


def _why(error: OSError) -> str:
    return error.strerror or str(error)


def _regular_or_absent(path: Path, what: str) -> None:
    """A journal or lock must be a regular file of its own: a FIFO would hang a read, a symlink could
    point anywhere, a folder cannot be written."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise JournalError(f"the {what} {path} cannot be read: {_why(error)}") from None
    if not stat.S_ISREG(info.st_mode):
        raise JournalError(f"the {what} {path} is not a regular file: move it aside to run this batch")


def _lock(path: Path) -> int:
    lock_path = path.with_suffix(".lock")
    _regular_or_absent(lock_path, "batch lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    except OSError as error:
        raise JournalError(f"the batch lock {lock_path} cannot be opened: {_why(error)}") from None
    for attempt in range(LOCK_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            # A dashboard looking whether the batch runs holds it for an instant: ask a few times.
            if attempt < LOCK_TRIES - 1:
                time.sleep(LOCK_PAUSE)
        except OSError as error:
            os.close(fd)
            raise JournalError(f"the batch lock {lock_path} cannot be taken: {_why(error)}") from None
    os.close(fd)
    raise BatchBusyError(
        f"batch {path.stem} is running in another grokdash; two runs would send the same rows"
    )


def _held(lock: Path) -> bool:
    """Whether another process holds this lock file (asking takes it for an instant, then lets go)."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as error:
            return error.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _read(path: Path) -> tuple[str | None, list[JournalRow]]:
    """The journal's source and rows; (None, []) when there is none yet. A journal that cannot be read
    is never taken as empty: its rows may have been sent."""
    _regular_or_absent(path, "journal")
    if not path.exists():
        return None, []
    refuse = (
        f"the journal {path} cannot be read; move it aside to start the batch afresh, knowing that its "
        "rows may have been sent"
    )
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        raise JournalError(refuse) from None
    try:
        header = json.loads(lines[0]) if lines else {}
        if not isinstance(header, dict) or header.get("journal") != FORMAT:
            raise ValueError("no header")
        rows: list[JournalRow] = []
        for number, text in enumerate(lines[1:], start=2):
            try:
                item = json.loads(text)
            except ValueError:
                if number == len(lines):  # the last line, cut short by a crash: its change never happened
                    break
                raise
            row = _row(item)
            n = item.get("n")
            if n is None:
                rows.append(row)
            elif isinstance(n, int) and 0 <= n < len(rows):
                rows[n] = row
            else:
                raise ValueError(f"row {n!r} of {len(rows)}")
        return str(header.get("source") or "") or None, rows
    except (ValueError, KeyError, TypeError, RecursionError):
        raise JournalError(refuse) from None


def _row(item: Any) -> JournalRow:
    if not isinstance(item, dict):
        raise TypeError("not an object")
    row = JournalRow(
        line=int(item["line"]),
        digest=str(item["digest"]),
        prompt=str(item.get("prompt", "")),
        state=str(item["state"]),
        task_id=item.get("task_id") if isinstance(item.get("task_id"), str) else None,
        said=item.get("said") if isinstance(item.get("said"), str) else None,
    )
    if row.state not in STATES:
        raise ValueError(f"unknown state {row.state!r}")
    return row


def _match(old: list[JournalRow], batch: BatchFile) -> tuple[list[JournalRow], list[str]]:
    """The journal's rows for this file: each file row matched with a journal row asking the same
    (the k-th alike with the k-th), a new row for each file row with no match; the journal's rows sent
    and no longer in the file are kept, and said."""
    notices: list[str] = []
    for row in old:
        if row.state == SENDING:  # the last run stopped with this create out: it may have been made
            row.state, row.said = UNCERTAIN, STOPPED_OUT
    by_digest: dict[str, list[JournalRow]] = {}
    for row in old:
        by_digest.setdefault(row.digest, []).append(row)
    matched: list[JournalRow] = []
    for file_row in batch.rows:
        candidates = by_digest.get(file_row.digest)
        if candidates:
            entry = candidates.pop(0)
            entry.line = file_row.line  # the file's line now, should lines have moved
        else:
            entry = JournalRow(file_row.line, file_row.digest, file_row.request.prompt[:60])
        matched.append(entry)
    gone = [row for rows in by_digest.values() for row in rows if row.state in SENT]
    for row in gone:
        notices.append(
            f"a row sent before ({row.state}{' as ' + row.task_id if row.task_id else ''}, "
            f"“{printable(row.prompt)}”) is no longer in the file, or was edited: an edited row is a new "
            "row, and is sent"
        )
    rows = sorted(matched, key=lambda row: row.line) + gone
    return rows, notices


def _uncertain(rows: list[JournalRow], *, resend: bool) -> list[str]:
    """Say each row that may have been created; with `resend`, put it back to wait."""
    notices = []
    for row in rows:
        if row.state != UNCERTAIN:
            continue
        if resend:
            notices.append(f"line {row.line} may have been created: sending it again (--resend-uncertain)")
            row.state, row.said = WAITING, None
        else:
            notices.append(
                f"line {row.line} may have been created ({printable(row.said or '')}): not sent again; "
                "check with the provider, then run again with --resend-uncertain to send it"
            )
    return notices
