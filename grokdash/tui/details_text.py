"""Everything grokdash knows about one task, as one renderable: the raw answer, the error, the timeline,
the local file. The details screen and the pane beside the list both show it.

What is shown comes from a server, a file or the user, and is shown whatever it holds: a time no clock
can read is shown as the number it is, and a long text (an error, an answer, a label) is cut to a few KiB
with a count of what is left out, so a record of megabytes opens as fast as any other.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from grokdash.errors import printable, safe_snippet
from grokdash.savestate import EXPIRED, FAILED, MISSING, OWED, PARTIAL, SAVED, save_state
from grokdash.savestate import describe as describe_save
from grokdash.sidecar import sidecar_path
from grokdash.tracked import TrackedTask
from grokdash.tui.view import cell_text, status_icon, status_word

TEXT_LIMIT = 4096
"""Characters shown of one text (an error, a label, a URL, a path). Above the 4000 that errors are cut
to when they are stored, so a text cut there is shown as stored, with its one count."""
NAME_LIMIT = 200
"""Characters shown of a name: a status, a model, an error's kind, an id, a number shown raw."""
JSON_LIMIT = 8192
"""Characters of pretty-printed JSON shown of the raw answer, and of the request a task was created with."""
JSON_ITEMS = 100
"""Fields of an object, or items of an array, shown at each level of that JSON."""
JSON_DEPTH = 12
"""Levels of that JSON shown; deeper values are shown as "…"."""
TIMELINE_ROWS = 50
"""Statuses shown in the timeline (an answer has one status, so a real task has a handful)."""
ERROR_ROWS = 10
"""Query errors shown, the latest first (the store keeps as many)."""
ERROR_ROW_LIMIT = 1000
"""Characters shown of each of those errors: the last one is shown whole (to TEXT_LIMIT) above them."""
UNREADABLE_TIME = "not a time grokdash can read"
FIRST_YEAR, LAST_YEAR = 1, 9999
"""The years a time is shown as a date in (Python's datetime's range): a time in milliseconds or
nanoseconds taken as seconds lands far beyond them."""


def _more(count: int) -> str:
    """The count of what a cut left out; the same words `errors.shorten` stores."""
    return f"… {count:,} more characters"


def _cut(text: str, limit: int = TEXT_LIMIT) -> str:
    """`text` made printable (see `_plain`) in at most about `limit` characters: when longer, its start
    and "… N more characters". Only the start is ever looked at, so ten megabytes cost what 4 KiB do."""
    if len(text) <= limit and text.isprintable():
        return text
    head = text[:limit]
    if head.isprintable():
        shown, used = head, len(head)
    else:
        # An escape takes up to ten characters: count them against the limit, not after it.
        pieces: list[str] = []
        size = used = 0
        for char in head:
            piece = char if char.isprintable() else printable(char)
            if size + len(piece) > limit:
                break
            pieces.append(piece)
            size += len(piece)
            used += 1
        shown = "".join(pieces)
    left = len(text) - used
    return shown + _more(left) if left else shown


def _number(value: object) -> str:
    """A number as it was stored, for a time that cannot be shown as a date: all its digits, not
    1.7643e+18, so a time in nanoseconds reads as one."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
        return f"{value:.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return _cut(str(value), NAME_LIMIT)
        except ValueError:  # more digits than Python turns into text (4300)
            return f"a number of about {int(value.bit_length() * math.log10(2)):,} digits"
    if isinstance(value, float):
        return repr(value)  # nan, inf, 1e+300, 1000000000000000.5
    if isinstance(value, str):
        return _cut(value, NAME_LIMIT)
    return safe_snippet(value, NAME_LIMIT)


def _when(stamp: object) -> str:
    """A local date and time; a value that is none (nanoseconds, NaN, out of any clock's range, not a
    number) as the raw value, saying so: never an exception, which would close the dashboard."""
    if stamp is None:
        return "-"
    try:
        moment = time.localtime(stamp)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        moment = None
    if moment is None or not FIRST_YEAR <= moment.tm_year <= LAST_YEAR:
        return f"{_number(stamp)} ({UNREADABLE_TIME})"
    return time.strftime("%Y-%m-%d %H:%M:%S", moment)


def _readable(stamp: object) -> bool:
    return stamp is not None and not _when(stamp).endswith(f"({UNREADABLE_TIME})")


def _created(tracked: TrackedTask) -> object:
    """When the task began, as stored: the API's `created`, else when grokdash started tracking it.
    (`view.started_at` turns it into a float first, which a number too large for one cannot be.)"""
    task = tracked.task
    return task.created if task is not None and task.created else tracked.added_at


def _elapsed(tracked: TrackedTask, now: float) -> str:
    """How long it ran, or has been running; "-" when its start or its end is a time no clock can read
    (a made-up "0s" from a start in nanoseconds would look like a fact)."""
    task = tracked.task
    if task is None:
        return "-"
    ends = [_created(tracked)]
    if tracked.is_final and (end := tracked.status_seen.get(str(task.status))) is not None:
        ends.append(end)
    if not all(_readable(stamp) for stamp in ends):
        return "-"
    return _cell("elapsed", tracked, now)


def _cell(key: str, tracked: TrackedTask, now: float) -> str:
    """A cell of the table, for a fact shown here; "-" when the record's numbers cannot make one."""
    try:
        return cell_text(key, tracked, now, {}) or "-"
    except (ArithmeticError, ValueError, TypeError):
        return "-"


@dataclass(frozen=True, slots=True)
class Transfer:
    """A video being saved: bytes so far, of how many, in how many seconds."""

    done: int
    total: int | None
    seconds: float

    def describe(self) -> str:
        of = f" of {self.total / 1e6:.1f} MB" if self.total else ""
        speed = f", {self.done / self.seconds / 1e6:.1f} MB/s" if self.seconds > 0 else ""
        return f"saving: {self.done / 1e6:.1f} MB{of}{speed}"


@dataclass(frozen=True, slots=True)
class SaveView:
    """What the dashboard's saver says about one task's video (see `GrokdashApp.save_view`)."""

    state: str | None
    """The save state (`savestate`: owed, partial, saved, missing, expired, failed), or None: no video."""
    words: str
    """The SAVED cell: `queued`, `42%` while this dashboard saves it, else the state (`partial 43%`)."""
    transfer: Transfer | None = None
    """The running save's bytes and speed."""
    sidecar: bool = False
    """Saves write a sidecar (`<video>.json`) beside the video."""


SAVE_SENTENCES = {
    OWED: "owed: finished, not on disk yet",
    PARTIAL: "an interrupted save kept part of it; the next save resumes it",
    SAVED: "saved",
    MISSING: "missing: the saved file is gone or was changed; it is owed again",
    EXPIRED: "expired: its URL has expired and the API had no working one; s tries again",
    FAILED: "failed: the last save did not finish; it is tried again later, s tries now",
}


def _size(size: int) -> str:
    """`30,625 bytes (30.6 kB)`: the exact count, and the size a file manager shows."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size:,} bytes ({size / scale:.1f} {unit})"
    return f"{size:,} bytes"


def _save_sentence(save: SaveView) -> str:
    if save.transfer is not None:
        return save.transfer.describe()
    if save.words == "queued":
        return "queued: saved when a download slot is free"
    sentence = SAVE_SENTENCES.get(save.state or "", save.words)
    return f"{save.words}: {sentence}" if save.state == PARTIAL else sentence


def describe(tracked: TrackedTask, now: float, save: SaveView | None = None) -> RenderableType:
    """The details as one renderable (also what tests and screenshots look at). Bounded whatever the
    record holds: every text is cut (see TEXT_LIMIT and the limits beside it). `save`: what the saver
    says of its video; None: what the record alone says."""
    task = tracked.task
    if save is None:
        state = save_state(tracked, None)
        save = SaveView(state, describe_save(state, None))
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    rows: list[tuple[str, str | Text]] = [
        ("Status", Text(f"{status_icon(tracked)} {_cut(status_word(tracked, now), NAME_LIMIT)}")),
        ("Model", _cut(tracked.model, NAME_LIMIT) if tracked.model else "-"),
        ("Label", tracked.label or "-"),
        ("Created", _when(_created(tracked)) if task else "-"),
        ("Took" if tracked.is_final else "Running for", _elapsed(tracked, now)),
        ("Video", _cell("video", tracked, now)),
        ("Video URL", (task.video_url if task else None) or "-"),
    ]
    if save.state is not None or save.transfer is not None:
        rows.append(("Save", _save_sentence(save)))
    rows += [
        (
            "Saved to",
            tracked.local_file
            or (
                Text(f"not saved: {_cut(tracked.download_error.message)}")
                if tracked.download_error
                else "not saved"
            ),
        ),
    ]
    # The provenance the sidecar beside the video carries (and `grokdash export`): the file, its size,
    # the prompt and (below) the request, when grokdash created the task.
    if tracked.saved_size is not None:
        rows.append(("Size", _size(tracked.saved_size)))
    if tracked.local_file and save.sidecar:
        rows.append(("Sidecar", str(sidecar_path(Path(tracked.local_file)))))
    prompt = tracked.request.get("prompt") if tracked.request else None
    if isinstance(prompt, str) and prompt:
        rows.append(("Prompt", prompt))
    rows += [
        ("Tracked since", _when(tracked.added_at)),
        ("Last checked", _when(tracked.checked_at)),
    ]
    if tracked.retry_after is not None:
        rows.append(("Retry after", _when(tracked.retry_after)))  # the server asked us to wait
    if task and task.error:
        rows.append(("Error", _plain(task.error, style="red")))
    if tracked.last_error:
        failure = tracked.last_error
        sentence = f"{_cut(failure.kind, NAME_LIMIT)}: {_cut(failure.message)}"
        rows.append(("Last query", Text(sentence, style="red")))
    for name, value in rows:
        facts.add_row(name, _plain(value) if isinstance(value, str) else value)

    parts: list[RenderableType] = [facts, Text()]
    if tracked.status_seen:
        parts += [Text("Timeline", style="bold underline"), _timeline(tracked.status_seen), Text()]
    if tracked.recent_errors:
        errors = Table("when", "kind", "message", box=None, padding=(0, 2), header_style="bold")
        shown = tracked.recent_errors[-ERROR_ROWS:]
        for failure in reversed(shown):
            errors.add_row(
                _when(failure.at),
                _plain(failure.kind, limit=NAME_LIMIT),
                _plain(failure.message, limit=ERROR_ROW_LIMIT),
            )
        parts += [Text("Recent query errors", style="bold underline"), errors]
        if len(tracked.recent_errors) > len(shown):
            parts.append(Text(f"… {len(tracked.recent_errors) - len(shown):,} older errors", style="dim"))
        parts.append(Text())
    if tracked.request:
        parts += [Text("Created here with", style="bold underline"), _json(tracked.request), Text()]
    parts.append(Text("Raw answer", style="bold underline"))
    parts.append(_json(task.raw or task.api_fields()) if task else Text("no answer yet", style="dim"))
    return Group(*parts)


def _timeline(status_seen: dict[str, Any]) -> Table:
    """Each status and when it was first seen, in that order; a time that is not a number goes last."""

    def order(item: tuple[str, Any]) -> tuple[int, float]:
        seen = item[1]
        if isinstance(seen, int | float) and not isinstance(seen, bool) and not math.isnan(seen):
            try:
                return (0, float(seen))
            except OverflowError:
                return (1, 0.0)
        return (1, 0.0)

    # Sorted when there are a handful (always, for a real task); else the first ones, in the order seen.
    chosen = list(itertools.islice(status_seen.items(), TIMELINE_ROWS))
    if len(status_seen) <= TIMELINE_ROWS:
        chosen.sort(key=order)
    timeline = Table("first seen", "status", box=None, padding=(0, 2), header_style="bold")
    for status, seen in chosen:
        timeline.add_row(_when(seen), _plain(str(status), limit=NAME_LIMIT))
    if len(status_seen) > len(chosen):
        timeline.add_row("", Text(f"… {len(status_seen) - len(chosen):,} more statuses", style="dim"))
    return timeline


def _plain(text: str, style: str = "", limit: int = TEXT_LIMIT) -> Text:
    """Text from a server, a file or the user, shown as it is: no markup read in it, and nothing a
    terminal would act on (an escape sequence in an error once blanked half of this screen); cut to
    `limit` characters."""
    return Text(_cut(text, limit), style=style)


def _json(data: object) -> Syntax:
    """JSON pretty-printed and highlighted, of a bounded preview of `data`: a ten-megabyte answer is
    neither printed nor highlighted whole (that froze the dashboard for minutes)."""
    text = json.dumps(_Preview().of(data), indent=2, ensure_ascii=False)
    # Line by line: JSON's own line breaks stay; inside its strings a line break is already "\n".
    text = "\n".join(printable(line) for line in text.split("\n"))
    if len(text) > 2 * JSON_LIMIT:  # escapes made it longer than the preview counted: cut it anyway
        text = text[: 2 * JSON_LIMIT] + "\n" + _more(len(text) - 2 * JSON_LIMIT)
    return Syntax(text, "json", word_wrap=True, theme="ansi_dark")


class _Preview:
    """What is shown of some JSON: at most about JSON_LIMIT characters once pretty-printed, spent as it
    is walked. Long strings are cut with their count, long objects and arrays with theirs, levels past
    JSON_DEPTH are shown as "…", and anything JSON cannot write as a short repr. Only what is shown is
    walked, so an answer of ten megabytes costs what one of ten kilobytes does."""

    def __init__(self) -> None:
        self.left = JSON_LIMIT

    def of(self, value: object, level: int = 0) -> object:
        if value is None or isinstance(value, bool | float):
            self.left -= 24
            return value
        if isinstance(value, int):
            text = _number(value)  # an int of more digits than Python prints would stop json.dumps
            self.left -= len(text)
            return value if len(text) <= NAME_LIMIT and text.lstrip("-").isdigit() else text
        if isinstance(value, str):
            # Cut, not escaped: json escapes what it must, and `_json` the rest, line by line.
            text = _head(value, max(min(TEXT_LIMIT, self.left), 40))
            self.left -= len(text) + 2
            return text
        if not isinstance(value, dict | list | tuple):
            text = safe_snippet(value, NAME_LIMIT)  # a short repr: the whole one may be megabytes
            self.left -= len(text)
            return text
        if level >= JSON_DEPTH:
            self.left -= 3
            return "…"
        indent = 2 * (level + 1) + 2  # each item's line: its indent, the comma and the line break
        if isinstance(value, dict):
            fields: dict[str, object] = {}
            for n, (key, item) in enumerate(value.items()):
                if n >= JSON_ITEMS or self.left <= 0:
                    fields[f"… {len(value) - n:,} more fields"] = "…"
                    break
                name = _head(key, NAME_LIMIT) if isinstance(key, str) else _number(key)
                self.left -= indent + len(name) + 4
                fields[name] = self.of(item, level + 1)
            return fields
        items: list[object] = []
        for n, item in enumerate(value):
            if n >= JSON_ITEMS or self.left <= 0:
                items.append(f"… {len(value) - n:,} more items")
                break
            self.left -= indent
            items.append(self.of(item, level + 1))
        return items


def _head(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + _more(len(text) - limit)
