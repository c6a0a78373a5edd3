"""A batch's journal: what became of each row, written before each create is sent and after each
answer, so a batch killed at any moment and run again never sends a row twice.

One JSON file per batch in the state folder (`batches/<name>.json`), replaced atomically. A row is
waiting, sending (the POST may be out: a run that finds one is a run after a kill, and the row becomes
"may have been created"), created (with its task id), may have been created, or refused (with the
server's words). Rows are matched to the file by what they ask for (a digest), so lines added or moved
are no new rows; a row edited after it was sent is said, and not sent again.
"""

from __future__ import annotations

import fcntl
import json
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from grokdash.batchfile import BatchFile, BatchRow
from grokdash.config import state_dir
from grokdash.errors import GrokdashError, UsageError, safe_snippet
from grokdash.files import replace_atomically

WAITING = "waiting"
SENDING = "sending"
CREATED = "created"
UNCERTAIN = "may have been created"
REFUSED = "refused"
STATES = (WAITING, SENDING, CREATED, UNCERTAIN, REFUSED)
SENT = frozenset({SENDING, CREATED, UNCERTAIN})
"""States of a row whose create may have reached the server: never sent again by itself."""
LOCK_TRIES, LOCK_PAUSE = 10, 0.05
"""A batch's lock is asked for this many times, this far apart, before it is taken as another run's."""
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class BatchBusyError(GrokdashError):
    """Another grokdash is running this batch: two runs would send the same rows."""


def batches_dir() -> Path:
    return state_dir() / "batches"


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise UsageError(
            f"a batch name is letters, digits, '.', '_' and '-' (up to 64, not starting with a sign), "
            f"not {safe_snippet(name, 40)}"
        )
    return name


def name_for(source: str) -> str:
    """The batch's name from its file: `beach.jsonl` is batch "beach"."""
    stem = Path(source).name.split(".")[0]
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", stem).strip("-.") or "batch"
    return cleaned[:64]


@dataclass(slots=True)
class JournalRow:
    line: int
    digest: str
    prompt: str
    """The start of the row's prompt, for `batch --status`."""
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
        self._lock: IO[bytes] | None = None

    # ---- reading and matching ---------------------------------------------------------------------

    @classmethod
    def open(
        cls, name: str, source: str, batch: BatchFile, *, resend_uncertain: bool = False
    ) -> tuple[Journal, list[str]]:
        """The journal of `name`, matched with the rows of `batch` (a fresh one the first time), and
        what the user should hear about the match. Raises BatchBusyError when another run holds it."""
        path = batches_dir() / f"{check_name(name)}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = _lock(path)
        try:
            old = _read(path)
            rows, notices = _match(old, batch.rows, resend_uncertain=resend_uncertain)
            journal = cls(name, path, source, rows)
            journal._lock = lock
            journal.write()
        except BaseException:
            lock.close()
            raise
        return journal, notices

    @classmethod
    def read(cls, name: str) -> Journal:
        """A journal as it is on disk, for `batch --status` (no lock: it only reads)."""
        path = batches_dir() / f"{check_name(name)}.json"
        if not path.is_file():
            raise UsageError(f"no batch called {name} (grokdash batch --status lists them)")
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(name, path, str(data.get("source", "")), [_row(item) for item in data.get("rows", [])])

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # ---- writing ----------------------------------------------------------------------------------

    def write(self) -> None:
        payload = {"name": self.name, "source": self.source, "rows": [asdict(row) for row in self.rows]}
        replace_atomically(self.path, (json.dumps(payload, indent=1, ensure_ascii=False) + "\n").encode())

    def mark(
        self, row: JournalRow, state: str, *, task_id: str | None = None, said: str | None = None
    ) -> None:
        """Record `row`'s new state, on disk before anything else happens."""
        row.state = state
        if task_id is not None:
            row.task_id = task_id
        row.said = said
        self.write()

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


def running_batches() -> list[Running]:
    """The batches being sent right now: those whose lock another process holds."""
    running = []
    for name in list_batches():
        path = batches_dir() / f"{name}.json"
        if not _held(path.with_suffix(".lock")):
            continue
        try:
            journal = Journal.read(name)
        except (GrokdashError, OSError, ValueError, KeyError, TypeError):
            continue  # being replaced this instant, or garbled: the next look sees it
        sent = sum(1 for row in journal.rows if row.state != WAITING)
        running.append(Running(name, len(journal.rows), sent, tuple(journal.created_ids())))
    return running


def _held(lock: Path) -> bool:
    """Whether another process holds this lock file (asking takes it for a moment, then lets go)."""
    try:
        handle = open(lock, "rb")  # noqa: SIM115
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


def list_batches() -> list[str]:
    folder = batches_dir()
    if not folder.is_dir():
        return []
    return sorted(path.stem for path in folder.glob("*.json") if NAME.fullmatch(path.stem))


def _lock(path: Path) -> IO[bytes]:
    handle = open(path.with_suffix(".lock"), "ab")  # noqa: SIM115 (held until close)
    for attempt in range(LOCK_TRIES):
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            # A dashboard looking whether the batch runs holds it for an instant: ask a few times.
            if attempt < LOCK_TRIES - 1:
                time.sleep(LOCK_PAUSE)
    handle.close()
    raise BatchBusyError(
        f"batch {path.stem} is running in another grokdash; two runs would send the same rows"
    )


def _read(path: Path) -> list[JournalRow]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [_row(item) for item in data["rows"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        # Never start afresh over a journal that cannot be read: its rows may have been sent.
        raise UsageError(
            f"the journal {path} cannot be read ({type(error).__name__}); move it aside to start the batch "
            "afresh, knowing that its rows may have been sent"
        ) from None


def _row(item: Any) -> JournalRow:
    row = JournalRow(
        line=int(item["line"]),
        digest=str(item["digest"]),
        prompt=str(item.get("prompt", "")),
        state=str(item["state"]),
        task_id=item.get("task_id"),
        said=item.get("said"),
    )
    if row.state not in STATES:
        raise ValueError(f"unknown state {row.state!r}")
    return row


def _prompt(row: BatchRow) -> str:
    return row.request.prompt[:60]


def _match(
    old: list[JournalRow], rows: list[BatchRow], *, resend_uncertain: bool
) -> tuple[list[JournalRow], list[str]]:
    notices: list[str] = []
    for row in old:
        if row.state == SENDING:  # the last run was stopped with this create out: it may have been made
            row.state, row.said = UNCERTAIN, "the run stopped while its create was out"
        if row.state == UNCERTAIN and resend_uncertain:
            row.state, row.said = WAITING, None
    by_digest: dict[str, list[JournalRow]] = {}
    for row in old:
        by_digest.setdefault(row.digest, []).append(row)
    matched: list[JournalRow] = []
    unmatched_files: list[BatchRow] = []
    for row in rows:
        candidates = by_digest.get(row.digest)
        if candidates:
            entry = candidates.pop(0)
            entry.line = row.line  # the file's line now, should lines have moved
            matched.append(entry)
        else:
            unmatched_files.append(row)
    leftover = [row for rows_ in by_digest.values() for row in rows_]
    sent_by_line = {row.line: row for row in leftover if row.state in SENT | {REFUSED}}
    for row in unmatched_files:
        earlier = sent_by_line.pop(row.line, None)
        if earlier is not None and earlier.state in SENT:
            notices.append(
                f"line {row.line} changed after it was sent ({earlier.state}"
                f"{' as ' + earlier.task_id if earlier.task_id else ''}): not sent again"
            )
            matched.append(earlier)
            continue
        if earlier is not None:  # refused before, edited since: the edit is what is sent now
            leftover.remove(earlier)
        matched.append(JournalRow(row.line, row.digest, _prompt(row)))
    for row in leftover:
        if row.state in SENT and row not in matched:
            notices.append(
                f"a row sent before ({row.state}{' as ' + row.task_id if row.task_id else ''}, "
                f"“{row.prompt}”) is no longer in the file"
            )
            matched.append(row)
    for row in matched:
        if row.state == UNCERTAIN:
            notices.append(
                f"line {row.line} may have been created ({row.said}): not sent again; check with the "
                "provider, then run again with --resend-uncertain to send it"
            )
    matched.sort(key=lambda row: row.line)
    return matched, notices
