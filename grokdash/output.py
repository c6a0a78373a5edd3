"""What the commands print: tables for people, JSON for scripts. Pure: text in, text out; but for the
guard on standard output at the end (`guard_output`), which makes a failure to write one `OutputError`.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import click

from grokdash import palette
from grokdash.errors import ApiError, printable
from grokdash.models import MAX_ID_LENGTH, Status, Task, format_seconds
from grokdash.pollstate import is_gone, is_stale
from grokdash.savestate import EXPIRED, FAILED, MISSING, SAVED, OnDisk, describe, save_state
from grokdash.tracked import TrackedTask

API_FIELDS = ("id", "status", "model", "created", "video_url", "actualDuration", "error")

# Lighter glyphs than the dashboard's, for plain terminals and logs; the colours are the palette's.
STATUS_MARKS = {
    "new": "…",
    Status.QUEUED: "·",
    Status.PROCESSING: "▸",
    Status.COMPLETED: "✓",
    Status.FAILED: "✗",
    "gone": "!",
}
ERROR_MARK = ("!", palette.color("gone"))


@dataclass(frozen=True, slots=True)
class QueryResult:
    """One id asked for now: the task the API gave, or why it gave none."""

    id: str
    task: Task | None = None
    error: ApiError | None = None

    @property
    def ok(self) -> bool:
        return self.task is not None and self.task.status != Status.FAILED

    def as_json(self) -> dict[str, Any]:
        fields = self.task.api_fields() if self.task else dict.fromkeys(API_FIELDS)
        fields["id"] = self.id
        fields["query_error"] = self.error.as_json() if self.error else None
        return fields


def tracked_state(tracked: TrackedTask) -> str:
    """`new` (not asked about yet), `gone` (not found again and again), or the status the API sent."""
    if is_gone(tracked):
        return "gone"
    return str(tracked.status) if tracked.status is not None else "new"


def tracked_json(
    tracked: TrackedTask, disk: OnDisk | None = None, *, now: float | None = None
) -> dict[str, Any]:
    """A tracked task for `ls --json`, `watch --json` and `export`: the API's fields, the last query's
    error, and what grokdash observed: `state` (see `tracked_state`), `stale` (far longer queued or
    processing than its model takes, at `now`), and `saved`, from `disk`, what a look at the disk found
    for it (`savestate.look_on_disk`): owed, partial, saved, missing, expired, failed, or None for a task
    with no video to save."""
    fields = tracked.task.api_fields() if tracked.task else dict.fromkeys(API_FIELDS)
    fields["id"] = tracked.id
    if fields["model"] is None:
        fields["model"] = tracked.model
    error = tracked.last_error
    fields["query_error"] = {"kind": error.kind, "message": error.message} if error else None
    fields["state"] = tracked_state(tracked)
    fields["stale"] = is_stale(tracked, time.time() if now is None else now)
    fields["label"] = tracked.label
    fields["added_at"] = tracked.added_at
    fields["checked_at"] = tracked.checked_at
    fields["local_file"] = tracked.local_file
    fields["saved"] = save_state(tracked, disk)
    failure = tracked.download_error
    fields["download_error"] = {"kind": failure.kind, "message": failure.message} if failure else None
    return fields


def status_cell(state: str | None) -> tuple[str, str]:
    """The state (a status, "new" for None, or "gone") as a mark and a word, readable without colour,
    and the colour for it."""
    state = state or "new"
    return f"{STATUS_MARKS.get(state, palette.OTHER_ICON)} {state}", palette.color(state)


def task_outcome(task: Task) -> str:
    if task.video_url:
        length = f" ({task.actual_duration:g} s of video)" if task.actual_duration else ""
        return task.video_url + length
    return task.error or ""


def status_row(result: QueryResult, now: float) -> tuple[list[str], str]:
    if result.task is None:
        assert result.error is not None
        # A refused id may be thousands of characters long: its row names it as the error does.
        shown = result.id if len(result.id) <= MAX_ID_LENGTH else result.id[:40] + "…"
        return [
            shown,
            f"{ERROR_MARK[0]} {result.error.kind}",
            "-",
            "-",
            result.error.message,
        ], ERROR_MARK[1]
    task = result.task
    status, color = status_cell(task.status)
    age = format_seconds(now - task.created) if task.created else "-"
    return [task.id, status, task.model or "-", age, task_outcome(task)], color


def save_outcome(tracked: TrackedTask, disk: OnDisk | None) -> str | None:
    """The RESULT cell for a finished video: its save state and the file, the reason or the URL
    (`saved: /dl/x.mp4`, `partial 43%: https://…`, `expired: the video URL…`); None without a video."""
    state = save_state(tracked, disk)
    if state is None:
        return None
    words = describe(state, disk)
    if state in (SAVED, MISSING) and tracked.local_file:
        return f"{words}: {tracked.local_file}"
    if state in (EXPIRED, FAILED) and tracked.download_error:
        return f"{words}: {tracked.download_error.message}"
    outcome = task_outcome(tracked.task) if tracked.task else ""
    return f"{words}: {outcome}" if outcome else words


def tracked_row(tracked: TrackedTask, now: float, disk: OnDisk | None = None) -> tuple[list[str], str]:
    status, color = status_cell("gone" if is_gone(tracked) else tracked.status)
    if is_stale(tracked, now):
        status += " (stale)"
    created = tracked.task.created if tracked.task and tracked.task.created else tracked.added_at
    outcome = task_outcome(tracked.task) if tracked.task else ""
    saving = save_outcome(tracked, disk)
    if saving is not None:
        outcome = saving
    if tracked.last_error:
        outcome = f"{tracked.last_error.kind}: {tracked.last_error.message}"
    return [
        tracked.id,
        status,
        tracked.model or "-",
        format_seconds(now - created),
        _cut(tracked.label or "", LABEL_CELLS),
        outcome,
    ], color


LABEL_CELLS = 40
"""The LABEL column of `ls` at most: a label of thousands of characters must not push RESULT off every
screen (`ls --json` and `export` keep it whole)."""


_ONE_CELL = frozenset("".join(STATUS_MARKS.values()) + "…")
"""The marks this module prints besides ASCII: one terminal cell each."""


def _plain(text: str) -> bool:
    """Printable ASCII and this module's marks: one terminal cell a character."""
    if not text.isprintable():
        return False
    return text.isascii() or all(char.isascii() or char in _ONE_CELL for char in text)


def _cell_len(text: str) -> int:
    """The terminal cells `text` takes: rich counts them (CJK two, accents none), but rich and its
    Unicode tables (~3 ms) are loaded only for text that is not plain."""
    if _plain(text):
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def _cut(text: str, cells: int) -> str:
    if _cell_len(text) <= cells:
        return text
    if _plain(text):
        return text[: cells - 1] + "…"
    from rich.cells import set_cell_size

    return set_cell_size(text, cells - 1) + "…"


def render_table(header: Sequence[str], rows: Sequence[tuple[list[str], str]], *, color: bool) -> str:
    """Columns padded to their widest cell, in terminal cells (a CJK label or an emoji takes two, an
    accent none), so every later column stays in line; the last column runs free so URLs are never cut."""
    cells = [list(header), *[[printable(cell) for cell in row] for row, _ in rows]]
    widths = [max(_cell_len(line[column]) for line in cells) for column in range(len(header) - 1)]
    lines = []
    for index, line in enumerate(cells):
        padded = [
            cell + " " * (width - _cell_len(cell)) for cell, width in zip(line[:-1], widths, strict=True)
        ]
        if color and index == 0:
            padded = [click.style(cell, bold=True) for cell in padded]
        elif color:
            padded[1] = click.style(padded[1], fg=rows[index - 1][1])
        lines.append("  ".join([*padded, line[-1]]).rstrip())
    return "\n".join(lines)


def render_status_table(
    results: Sequence[QueryResult], *, now: float | None = None, color: bool = False
) -> str:
    now = time.time() if now is None else now
    rows = [status_row(result, now) for result in results]
    return render_table(("ID", "STATUS", "MODEL", "AGE", "RESULT"), rows, color=color)


def render_tracked_table(
    tracked: Sequence[TrackedTask],
    *,
    now: float | None = None,
    color: bool = False,
    disk: Mapping[str, OnDisk] | None = None,
) -> str:
    """`disk`: what a look at the disk found, by task id (`savestate.look_on_disk`), for the save states."""
    now = time.time() if now is None else now
    disk = disk or {}
    rows = [tracked_row(task, now, disk.get(task.id)) for task in tracked]
    return render_table(("ID", "STATUS", "MODEL", "AGE", "LABEL", "RESULT"), rows, color=color)


def change_line(before: TrackedTask | None, after: TrackedTask, now: float) -> str | None:
    """One line for `watch` when a task's status or error changed; None when nothing worth saying did."""
    old_status = before.status if before else None
    old_error = before.last_error.message if before and before.last_error else None
    clock = time.strftime("%H:%M:%S", time.localtime(now))
    if after.status != old_status and after.task is not None:
        moved = f"{old_status} → {after.status}" if old_status else str(after.status)
        detail = ""
        if after.is_final:
            started = after.task.created or min(after.status_seen.values(), default=now)
            detail = f"  after {format_seconds(now - started)}"
            outcome = task_outcome(after.task)
            if outcome:
                detail += f"  {outcome}"
        return printable(f"{clock}  {after.id}  {moved}{detail}")
    new_error = after.last_error.message if after.last_error else None
    if new_error and new_error != old_error:
        return printable(f"{clock}  {after.id}  query failed ({after.last_error.kind}): {new_error}")
    return None


# ---- standard output -------------------------------------------------------------------------------


class OutputError(Exception):
    """Standard output could not take what a command printed: a full disk (`> /dev/full`), a closed pipe
    (`| head -1`), a standard output closed at the start (`>&-`). Not an OSError, so that no handler of a
    file's errors takes it for its own, and click does not turn a closed pipe into an exit of its own."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error

    @property
    def message(self) -> str:
        return f"could not write the output ({self.error.strerror or self.error})"

    @property
    def closed_pipe(self) -> bool:
        """The reader went away (`grokdash ls | head -1`): nothing worth saying, as for any Unix tool."""
        return isinstance(self.error, BrokenPipeError) or self.error.errno == errno.EPIPE


class GuardedOutput:
    """A stream whose failures to write or flush are `OutputError`s; everything else is the stream's."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, data: Any) -> Any:
        try:
            return self._stream.write(data)
        except OSError as error:
            raise OutputError(error) from error

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as error:
            raise OutputError(error) from error

    @property
    def buffer(self) -> GuardedOutput:
        """The bytes under a text stream (click writes there when it re-wraps one): guarded too."""
        return GuardedOutput(self._stream.buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class ClosedOutput:
    """What stands for a standard output closed before grokdash started (`grokdash ls >&-`, where Python
    gives None): printing to it fails as writing to a closed descriptor does; printing nothing does not."""

    encoding = "utf-8"
    errors = "strict"
    closed = False

    def write(self, data: str) -> int:
        if not isinstance(data, str):  # click asks whether this is a binary stream with a write of b""
            raise TypeError("write() argument must be str")
        if data:
            raise OSError(errno.EBADF, "standard output is closed")
        return 0

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "standard output is closed")


def guard_output(stream: TextIO | None) -> GuardedOutput:
    """`stream` (sys.stdout) guarded: what a failure to write it raises is an `OutputError`. A character
    its encoding cannot show (`PYTHONIOENCODING=latin-1` and a label "кот 🐱") comes out as "?", never as
    a UnicodeEncodeError: the rest of the line is worth more than a traceback."""
    if stream is None:
        return GuardedOutput(ClosedOutput())
    replace_unshowable(stream)
    return GuardedOutput(stream)


def replace_unshowable(stream: Any) -> None:
    """Make a strict text stream write "?" for the characters its encoding has not (Python's standard
    error does that already, with backslashes; its standard output raises)."""
    if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # one that cannot: left as it is
            stream.reconfigure(errors="replace")
