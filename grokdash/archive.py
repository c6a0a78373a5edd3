"""The archive: finished tasks moved out of the live list into a database of the same format beside it,
and back (`grokdash archive`, `unarchive`, the dashboard's palette). One job: choosing and moving.

A user who makes 300 videos a day has 100,000 tasks after a year; the live list (and every write of it)
should hold only what is still worth watching. The archive is a TinyDB file opened with the same
`TaskStore`, at `archive_path(db)`: `X/tasks.json` -> `X/tasks.archive.json`.

A move never loses a task, whatever instant the process is killed: the task is copied into the other
database first, then removed from the one it leaves. A kill between the two leaves it in both; the next
archive or unarchive run settles that, the live copy winning (the archive copy is dropped, and the task is
archived again when it still qualifies). Moves take a lock of their own, so two of them (a cron job and
the dashboard) never settle what the other is halfway through.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import filelock

from grokdash.errors import UsageError, safe_snippet
from grokdash.files import PRIVATE_MODE
from grokdash.models import ACTIVE_STATUSES, Status
from grokdash.savestate import FAILED, MISSING, OWED, PARTIAL, SAVED, look_on_disk, save_state
from grokdash.store import Change, StoreError, TaskStore
from grokdash.tracked import TrackedTask

ARCHIVE_MARK = ".archive"
"""Put between the database's name and its suffix: `tasks.json` -> `tasks.archive.json`."""
DEFAULT_OLDER_THAN = 30 * 86400.0
"""Seconds since a task became final before it is archived, unless told otherwise (30 days)."""
SPAN_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
"""--older-than's units: stats --since's (`30d`, `12h`, `90m`, `2w`)."""
_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([mhdw])")
MOVE_LOCK_TIMEOUT = 60.0
"""Seconds to wait for another grokdash's archive or unarchive (rewriting a big archive takes a few)."""
KEPT_FOR_SAVING = frozenset({OWED, PARTIAL, MISSING, FAILED})
"""Save states of a video some grokdash will still save by itself: archived, it never would be (no saver
looks at the archive). An expired video is given up on already, so it may go."""


def archive_path(db: Path) -> Path:
    """The archive of the task database `db`, beside it: `X/tasks.json` -> `X/tasks.archive.json`."""
    db = Path(db)
    return db.with_name(f"{db.stem}{ARCHIVE_MARK}{db.suffix}")


def open_archive(db: Path) -> TaskStore:
    """The archive of `db`, opened as a task database (nothing is written until something moves)."""
    return TaskStore(archive_path(db))


def final_at(tracked: TrackedTask) -> float:
    """When the task became final: when its final status was first seen; else its last check; else when
    it was added."""
    seen = tracked.status_seen.get(str(tracked.status)) if tracked.status is not None else None
    if isinstance(seen, int | float) and not isinstance(seen, bool):
        return float(seen)
    return tracked.checked_at if tracked.checked_at is not None else tracked.added_at


# ---- choosing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Which finished tasks to archive."""

    older_than: float = DEFAULT_OLDER_THAN
    """Seconds since the task became final (`final_at`)."""
    statuses: frozenset[str] | None = None
    """Only these final statuses (lower case); None: any."""
    saved_only: bool = False
    """Only tasks whose video is saved."""


def parse_older_than(text: str) -> float:
    """`30d`, `12h`, `90m`, `2w` as seconds. `0d` (or `0`) is 0: every finished task, whatever its age
    (stats --since refuses 0; here it is what a user means by "no minimum age"). Raises UsageError for a
    negative span or anything else."""
    spoken = text.strip().lower()
    found = _SPAN.fullmatch(spoken)
    if found is not None:
        return float(found[1]) * SPAN_UNITS[found[2]]
    if re.fullmatch(r"0+(?:\.0*)?", spoken):
        return 0.0
    raise UsageError(
        f"--older-than takes a span like 30d, 12h, 90m or 2w (0d: any age), not {safe_snippet(text, 20)}"
    )


def parse_statuses(text: str, tasks: Iterable[TrackedTask]) -> frozenset[str]:
    """`completed,failed` as a set of final statuses. Raises UsageError for a state that is not final or
    that no task has: a typo must not read as "nothing to archive"."""
    words = [word.strip().lower() for word in text.split(",") if word.strip()]
    seen = {str(tracked.status).lower() for tracked in tasks if tracked.is_final}
    known = [str(Status.COMPLETED), str(Status.FAILED), *sorted(seen - {Status.COMPLETED, Status.FAILED})]
    choices = f"--status takes final states separated by commas: {', '.join(known)}"
    if not words:
        raise UsageError(choices)
    for word in words:
        if word in ACTIVE_STATUSES:
            raise UsageError(f"{word} is not a final state and is never archived; {choices}")
        if word not in known:
            raise UsageError(f"no final state called {safe_snippet(word, 40)}; {choices}")
    return frozenset(words)


@dataclass(frozen=True)
class Plan:
    """What an archive run would move, and what it keeps back."""

    selection: Selection
    chosen: list[TrackedTask] = field(default_factory=list)
    kept_unsaved: list[TrackedTask] = field(default_factory=list)
    """Chosen but for their video, which is owed a save: they stay in the live list."""
    tracked: int = 0
    """Tasks in the live list."""

    def kept_sentence(self) -> str | None:
        """Why the videos not saved yet stay (one sentence), or None when there are none."""
        n = len(self.kept_unsaved)
        if not n:
            return None
        videos, stay, them = (
            ("1 completed video", "stays", "it") if n == 1 else (f"{n} completed videos", "stay", "them")
        )
        return (
            f"{videos} not saved yet {stay} in the live list, since archived grokdash would never save "
            f"{them} (grokdash download --all saves {them} now)"
        )

    def nothing_sentence(self, span: str) -> str:
        """Why nothing is to be archived (`span`: the age as the user gave it, `30d`)."""
        kept = self.kept_sentence()
        if kept is not None:
            return kept
        if not self.tracked:
            return "no tracked tasks"
        statuses = self.selection.statuses
        what = " or ".join(sorted(statuses)) + " task" if statuses else "task"
        if self.selection.saved_only:
            what += " with its video saved"
        if not self.selection.older_than:
            return f"no {what} in the live list has finished"
        return f"no {what} finished more than {span} ago"


def choose(
    tasks: Iterable[TrackedTask], selection: Selection, now: float, folder: Path, *, with_label: bool
) -> Plan:
    """The final tasks of the live list that `selection` archives. Looks at the disk (a stat or two for
    each old enough completed task) to tell a saved video from one owed a save: call it off the event loop."""
    chosen: list[TrackedTask] = []
    kept: list[TrackedTask] = []
    tracked = 0
    for task in tasks:
        tracked += 1
        if not task.is_final:  # never archived: something may still happen to it
            continue
        if selection.statuses is not None and str(task.status).lower() not in selection.statuses:
            continue
        if selection.older_than > 0 and now - final_at(task) < selection.older_than:
            continue  # with 0, even a task "final in the future" (a clock set back) goes
        state = save_state(task, look_on_disk(task, folder, with_label=with_label))
        if selection.saved_only:
            if state == SAVED:
                chosen.append(task)
        elif state in KEPT_FOR_SAVING:
            kept.append(task)
        else:
            chosen.append(task)
    return Plan(selection, chosen, kept, tracked)


# ---- moving -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Archived:
    moved: list[TrackedTask]
    """The tasks now in the archive and out of the live list, as they were when they left it."""
    settled: list[str]
    """Ids found in both databases (a move cut short): their live copy was kept."""


@dataclass(frozen=True)
class Unarchived:
    moved: list[TrackedTask]
    """The tasks back in the live list, with all their fields."""
    already: list[str]
    """Ids in the live list already (never archived, or settled: found in both)."""
    unknown: list[str]
    """Ids in neither database."""
    settled: list[str]


def move_to_archive(live: TaskStore, archive: TaskStore, ids: Iterable[str]) -> Archived:
    """Move the tasks `ids` (those still tracked and final) into the archive: copied first, then removed
    from the live list. Settles any task found in both first. Raises StoreError (nothing lost)."""
    wanted = list(dict.fromkeys(ids))
    with _moving(archive):
        settled = _settle(live, archive)
        records = [tracked for task_id in wanted if (tracked := live.get(task_id)) is not None]
        records = [tracked for tracked in records if tracked.is_final]  # as the file holds it now
        if not records:
            return Archived([], settled)
        copied = {tracked.id: tracked for tracked in records}
        outcome = archive.import_records(records)
        if outcome.already:  # put in the archive meanwhile by another hand: the live copy wins
            archive.update({task_id: _replace_with(copied[task_id]) for task_id in outcome.already})
        gone = live.remove(list(copied))
        # A change the live list took between the copy and the removal (a save recorded, a label) goes
        # to the archive too. A kill right here loses that change, never the task.
        changed = {t.id: t for t in gone if t.to_json() != copied[t.id].to_json()}
        if changed:
            archive.update({task_id: _replace_with(tracked) for task_id, tracked in changed.items()})
        return Archived(gone, settled)


def move_to_live(live: TaskStore, archive: TaskStore, ids: Iterable[str]) -> Unarchived:
    """Bring the tasks `ids` back from the archive: into the live list first, then out of the archive.
    Settles any task found in both first. Raises StoreError (nothing lost)."""
    wanted = list(dict.fromkeys(ids))
    with _moving(archive):
        settled = _settle(live, archive)
        records = [tracked for task_id in wanted if (tracked := archive.get(task_id)) is not None]
        added = set(live.import_records(records).added) if records else set()
        # Only what reached the live list leaves the archive; an id tracked again meanwhile keeps both
        # copies until the next run settles them.
        if added:
            archive.remove(added)
    return Unarchived(
        moved=[tracked for tracked in records if tracked.id in added],
        already=[task_id for task_id in wanted if task_id not in added and task_id in live],
        unknown=[task_id for task_id in wanted if task_id not in live and task_id not in archive],
        settled=settled,
    )


def archived_tasks(live: TaskStore, archive: TaskStore) -> list[TrackedTask]:
    """The archive's tasks but those in the live list too (a move cut short: the live copy counts), for
    `ls --archived` and `stats`. Reads only."""
    return [tracked for tracked in archive.tasks() if tracked.id not in live]


def _settle(live: TaskStore, archive: TaskStore) -> list[str]:
    """Under the move lock: a task in both databases keeps its live copy (never older than the archive's:
    no one changes archived records), and its archive copy is dropped."""
    live.refresh()
    archive.refresh()
    both = [tracked.id for tracked in archive.tasks() if tracked.id in live]
    if both:
        archive.remove(both)
    return both


def _replace_with(record: TrackedTask) -> Change:
    """A change that makes the stored record `record`, whatever it was."""
    return lambda _old: record


@contextlib.contextmanager
def _moving(archive: TaskStore) -> Iterator[None]:
    """Hold the lock every archive and unarchive run holds while it moves tasks (`<archive>.moving.lock`):
    settling a task in both databases must not meet another run that copied it a moment ago."""
    target = Path(os.path.realpath(archive.path))
    lock = filelock.FileLock(f"{target}.moving.lock", timeout=MOVE_LOCK_TIMEOUT, mode=PRIVATE_MODE)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except filelock.Timeout:
        raise StoreError(
            f"another grokdash is moving tasks to or from the archive {archive.path} (waited "
            f"{MOVE_LOCK_TIMEOUT:g} s); try again when it has finished"
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot lock the archive {archive.path} ({exc.strerror or exc})") from None
    try:
        yield
    finally:
        lock.release()
