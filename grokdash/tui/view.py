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
    """Cells are cut to this width; 0 means the column takes what the others leave. For ID and LABEL,
    the width they keep when room is short: they grow to their longest cell when it is not."""
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
COMFORT_FLEX_WIDTH, or to an ID column too narrow for the longest id."""
MAX_ID_WIDTH = 48
"""The ID column grows to the longest id up to this (real ids are 25 characters): one odd 200-character
id must not leave every row's error at its minimum."""
MAX_LABEL_WIDTH = 40
"""The LABEL column grows to the longest label up to this, and to at most half of what ID and the fixed
columns leave: ERROR shares the rest."""


def cells(text: str) -> int:
    """How many cells `text` takes once made printable (see `fit`)."""
    if text.isascii() and text.isprintable():  # the common case, checked in C: 10,000 ids per rebuild
        return len(text)
    return cell_len(printable(text))


@functools.lru_cache(maxsize=64)
def layout(
    width: int, id_width: int = 0, label_width: int = 0, columns: Sequence[Column] = COLUMNS
) -> tuple[tuple[Column, int], ...]:
    """The columns that fit in `width`, with their widths. The least useful are dropped first; ID grows
    to `id_width` (the longest id shown, 0 when unknown) as far as the room allows, and LABEL (towards
    `label_width`, the longest label) and the flexible column (error) share what is left. Remembered
    per width and longest cells: every line drawn asks."""
    wanted_id = min(id_width, MAX_ID_WIDTH)

    def least(column: Column) -> int:
        """The width a column keeps when room is short: ID no wider than the longest id."""
        if column.key == "id" and wanted_id:
            return min(column.width, max(wanted_id, len(column.title)))
        return column.width

    def spare(chosen: list[Column]) -> int:
        """The cells left once every column has its least width (the flexible ones MIN_FLEX_WIDTH)."""
        used = sum(least(column) if column.width else MIN_FLEX_WIDTH for column in chosen)
        return width - used - GAP * (len(chosen) - 1)

    def id_growth(chosen: list[Column]) -> tuple[int, int]:
        """(cells the ID column grows by, cells it still misses to show the longest id whole)."""
        id_column = next((column for column in chosen if column.key == "id"), None)
        if id_column is None or wanted_id <= least(id_column):
            return 0, 0
        missing = wanted_id - least(id_column)
        grown = max(0, min(missing, spare(chosen)))
        return grown, missing - grown

    kept = list(columns)
    while len(kept) > 2 and spare(kept) < 0:
        kept.remove(min(kept, key=lambda column: column.priority))

    def cramped(chosen: list[Column]) -> bool:
        """An id cut, or an error column short of its comfortable width."""
        grown, missing = id_growth(chosen)
        flexible = [column for column in chosen if not column.width]
        error_room = MIN_FLEX_WIDTH + (spare(chosen) - grown) // max(1, len(flexible))
        return missing > 0 or (bool(flexible) and error_room < COMFORT_FLEX_WIDTH)

    while cramped(kept):
        least_useful = min(kept, key=lambda column: column.priority)
        if least_useful.priority > SPARE_PRIORITY or not least_useful.width:
            break
        kept.remove(least_useful)

    widths = {column.key: least(column) for column in kept if column.width}
    room = max(0, spare(kept))
    grown, _ = id_growth(kept)
    if grown:
        widths["id"] += grown
        room -= grown
    flexible = [column for column in kept if not column.width]
    if flexible and "label" in widths and label_width > widths["label"]:
        # LABEL takes at most an even share of what it and the flexible columns have between them, and
        # only what the error can spare beyond its comfortable width.
        share = (widths["label"] + room + MIN_FLEX_WIDTH * len(flexible)) // (1 + len(flexible))
        target = min(label_width, MAX_LABEL_WIDTH, max(widths["label"], share))
        error_spare = room - (COMFORT_FLEX_WIDTH - MIN_FLEX_WIDTH) * len(flexible)
        label_grown = max(0, min(target - widths["label"], error_spare))
        widths["label"] += label_grown
        room -= label_grown
    for column in flexible:
        widths[column.key] = MIN_FLEX_WIDTH + room // len(flexible)
    return tuple((column, widths[column.key]) for column in kept)


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


def fit_middle(text: str, width: int) -> str:
    """`text` in exactly `width` cells, cut in the middle when it is too long (`task_f302…1889b`): ids
    that share a long start differ at their end, so both ends are kept and neighbours stay apart."""
    if len(text) > width * 20:  # look at no more of a long text than its two ends (see `fit`)
        text = text[: width * 10] + text[-width * 10 :]
    text = printable(text)
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    if width < 5:
        return fit(text, width)
    tail_room = width // 2  # the end, where ids differ, gets the odd cell
    tail = ""
    for char in reversed(text):
        if cell_len(char + tail) > tail_room:
            break
        tail = char + tail
    head = set_cell_size(text, width - 1 - cell_len(tail))
    return head + "…" + tail


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
