"""What the dashboard shows, as plain data: which tasks, in which order, and the text of each cell.

No textual here, so all of it is tested without a terminal; the widgets only draw what this decides.
"""

from __future__ import annotations

import functools
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from rich.cells import cell_len, set_cell_size

from grokdash import palette
from grokdash.errors import printable
from grokdash.models import ACTIVE_STATUSES, Status, format_seconds
from grokdash.poller import is_gone, is_stale
from grokdash.savestate import describe as describe_save
from grokdash.savestate import save_state
from grokdash.tracked import TrackedTask


class SortOrder(StrEnum):
    STATUS = "status"
    """Active first (processing, then queued), then failed, other, completed; newest first within."""
    CREATED = "created"
    ELAPSED = "elapsed"

    @property
    def next(self) -> SortOrder:
        orders = list(SortOrder)
        return orders[(orders.index(self) + 1) % len(orders)]


@dataclass(frozen=True, slots=True)
class ViewOptions:
    sort: SortOrder = SortOrder.STATUS
    filter_text: str = ""
    hide_finished: bool = False
    failed_only: bool = False


STATUS_RANK = {
    None: 0,  # not asked about yet: the user just added it
    Status.PROCESSING: 1,
    Status.QUEUED: 2,
    Status.FAILED: 3,
    Status.COMPLETED: 5,
}
OTHER_STATUS_RANK = 4


def started_at(tracked: TrackedTask) -> float:
    """When the task began: the API's `created`, else when grokdash first heard of it."""
    if tracked.task is not None and tracked.task.created:
        return float(tracked.task.created)
    return tracked.added_at


def finished_at(tracked: TrackedTask) -> float | None:
    """When grokdash first saw it final, or None while it is not."""
    if not tracked.is_final or tracked.task is None:
        return None
    return tracked.status_seen.get(str(tracked.task.status))


def elapsed(tracked: TrackedTask, now: float) -> float | None:
    """Seconds it has been running (ticking while active), or took (once final). For a task first
    seen already final this is an upper bound: see `seen_running`."""
    if tracked.task is None:
        return None
    end = finished_at(tracked)
    return max(0.0, (end if end is not None else now) - started_at(tracked))


def seen_running(tracked: TrackedTask) -> bool:
    """Whether grokdash saw it queued or processing, so that its end time is known, not a bound."""
    return any(status in ACTIVE_STATUSES for status in tracked.status_seen)


def model_medians(tasks: Iterable[TrackedTask]) -> dict[str, float]:
    """The median time each model took on this user's completed tasks: the basis of the ETA."""
    took: dict[str, list[float]] = {}
    for tracked in tasks:
        if tracked.status == Status.COMPLETED and tracked.model and seen_running(tracked):
            seconds = elapsed(tracked, 0.0)
            if seconds is not None:
                took.setdefault(tracked.model, []).append(seconds)
    return {model: statistics.median(values) for model, values in took.items()}


def eta(tracked: TrackedTask, now: float, medians: dict[str, float]) -> float | None:
    """Seconds left for a running task, from the median of its model; None when there is no basis."""
    if tracked.task is None or tracked.task.status not in ACTIVE_STATUSES or not tracked.model:
        return None
    median = medians.get(tracked.model)
    if median is None:
        return None
    return median - (now - started_at(tracked))


def matches(tracked: TrackedTask, text: str) -> bool:
    """The filter: every word must appear in the id, label, model, status or error."""
    if not text.strip():
        return True
    error = tracked.task.error if tracked.task else None
    haystack = " ".join(
        part
        for part in (
            tracked.id,
            tracked.label,
            tracked.model,
            str(tracked.status) if tracked.status else "new",
            error,
            tracked.last_error.message if tracked.last_error else None,
        )
        if part
    ).lower()
    return all(word in haystack for word in text.lower().split())


def sort_key(order: SortOrder, now: float):
    if order is SortOrder.CREATED:
        return lambda tracked: (-started_at(tracked), tracked.id)
    if order is SortOrder.ELAPSED:
        return lambda tracked: (-(elapsed(tracked, now) or -1.0), tracked.id)
    return lambda tracked: (
        STATUS_RANK.get(tracked.status, OTHER_STATUS_RANK),
        -started_at(tracked),
        tracked.id,
    )


def visible_tasks(tasks: Iterable[TrackedTask], options: ViewOptions, now: float) -> list[TrackedTask]:
    chosen = [
        tracked
        for tracked in tasks
        if matches(tracked, options.filter_text)
        and not (options.hide_finished and tracked.is_final)
        and not (options.failed_only and not _ended_badly(tracked))
    ]
    chosen.sort(key=sort_key(options.sort, now))
    return chosen


def _ended_badly(tracked: TrackedTask) -> bool:
    return tracked.status == Status.FAILED or is_gone(tracked) or tracked.last_error is not None


def status_counts(tasks: Iterable[TrackedTask]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for tracked in tasks:
        counts[state_of(tracked)] += 1
    return counts


# ---- cells ----------------------------------------------------------------------------------------


def status_word(tracked: TrackedTask, now: float) -> str:
    word = state_of(tracked)
    return f"{word} (stale)" if is_stale(tracked, now) else word


def state_of(tracked: TrackedTask) -> str:
    """The state the palette knows: the status as sent, or "new", or "gone"."""
    if is_gone(tracked):
        return "gone"
    return str(tracked.status) if tracked.status else "new"


def status_icon(tracked: TrackedTask) -> str:
    return palette.icon(state_of(tracked))


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    width: int
    """Cells are cut to this width; 0 means the column takes what the others leave."""
    priority: int
    """Lower is dropped first when the terminal is too narrow."""


COLUMNS: Sequence[Column] = (
    Column("status", "STATUS", 12, 100),
    Column("id", "ID", 22, 99),
    Column("label", "LABEL", 14, 60),
    Column("model", "MODEL", 11, 30),
    Column("age", "AGE", 7, 20),
    Column("elapsed", "ELAPSED", 8, 90),
    Column("eta", "ETA", 8, 40),
    Column("video", "VIDEO", 5, 25),
    Column("saved", "SAVED", 11, 50),  # "partial 43%" whole
    Column("checked", "CHECKED", 8, 10),
    Column("error", "ERROR", 0, 70),
)
GAP = 1
MIN_FLEX_WIDTH = 16
COMFORT_FLEX_WIDTH = 24
"""The error column's room before the least useful columns (see SPARE_PRIORITY) are kept: an error is
read by its start, and a time since the last check or the video's length can wait for the details."""
SPARE_PRIORITY = 25
"""Columns of this priority or less (CHECKED, AGE, VIDEO) give way to an error column narrower than
COMFORT_FLEX_WIDTH."""


@functools.lru_cache(maxsize=16)
def layout(width: int, columns: Sequence[Column] = COLUMNS) -> tuple[tuple[Column, int], ...]:
    """The columns that fit in `width`, with their widths: the least useful are dropped first, and the
    flexible column (error) takes the rest. Remembered per width: every line drawn asks."""
    kept = list(columns)

    def needed(chosen: list[Column]) -> int:
        fixed = sum(column.width for column in chosen if column.width)
        flex = sum(MIN_FLEX_WIDTH for column in chosen if not column.width)
        return fixed + flex + GAP * (len(chosen) - 1)

    while len(kept) > 2 and needed(kept) > width:
        kept.remove(min(kept, key=lambda column: column.priority))

    def flex_room(chosen: list[Column]) -> int:
        fixed = sum(column.width for column in chosen if column.width)
        return width - fixed - GAP * (len(chosen) - 1)

    while any(not column.width for column in kept) and flex_room(kept) < COMFORT_FLEX_WIDTH:
        least = min(kept, key=lambda column: column.priority)
        if least.priority > SPARE_PRIORITY or not least.width:
            break
        kept.remove(least)
    spare = width - (sum(column.width for column in kept) + GAP * (len(kept) - 1))
    flexible = [column for column in kept if not column.width]
    return tuple(
        (column, column.width or max(MIN_FLEX_WIDTH, spare // max(1, len(flexible)))) for column in kept
    )


def fit(text: str, width: int) -> str:
    """`text` in exactly `width` cells: padded, or cut with an ellipsis so a cut never looks whole.
    Control characters (from a server's status or error, or an imported label) are shown escaped:
    a terminal would obey them."""
    # A cell shows at most `width` cells of text, and an escape is at most 10 characters: look at no
    # more than that (a 10 MB label would otherwise be escaped and measured on every redraw).
    text = printable(text[: width * 10 + 1])
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "…"


def _short_model(model: str | None) -> str:
    if not model:
        return ""
    return model.removeprefix("grok_video3_").replace("grok_video3", "video3")


def _ago(seconds: float | None) -> str:
    return "" if seconds is None else f"{format_seconds(seconds)} ago"


def cell_text(key: str, tracked: TrackedTask, now: float, medians: dict[str, float]) -> str:
    task = tracked.task
    if key == "status":
        # The column is narrow: a stale task says so in one word; the icon still tells which state.
        word = "stale" if is_stale(tracked, now) else status_word(tracked, now)
        return f"{status_icon(tracked)} {word}"
    if key == "id":
        return tracked.id
    if key == "label":
        return tracked.label or ""
    if key == "model":
        return _short_model(tracked.model)
    if key == "age":
        return format_seconds(now - started_at(tracked))
    if key == "elapsed":
        seconds = elapsed(tracked, now)
        if seconds is None:
            return ""
        bound = "≤" if tracked.is_final and not seen_running(tracked) else ""
        return bound + format_seconds(seconds)
    if key == "eta":
        left = eta(tracked, now, medians)
        if left is None:
            return ""
        return f"~{format_seconds(left)}" if left > 0 else "any time"
    if key == "video":
        return f"{task.actual_duration:g}s" if task and task.actual_duration else ""
    if key == "saved":
        # Without a look at the disk (the dashboard's saver looks, and says more: see `saved_cell`).
        return describe_save(save_state(tracked, None), None)
    if key == "checked":
        return "" if tracked.checked_at is None else format_seconds(now - tracked.checked_at)
    if key == "error":
        if tracked.last_error is not None:
            return f"{tracked.last_error.kind}: {tracked.last_error.message}"
        if task and task.error:
            return task.error
        return f"not saved: {tracked.download_error.message}" if tracked.download_error else ""
    raise KeyError(key)
