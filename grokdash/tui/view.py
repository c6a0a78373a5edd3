"""What the dashboard shows, as plain data: which tasks, in which order, and the text of each cell.

No textual here, so all of it is tested without a terminal; the widgets only draw what this decides.
"""

from __future__ import annotations

import bisect
import functools
import operator
import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from rich.cells import cell_len, set_cell_size

from grokdash import palette
from grokdash.errors import printable
from grokdash.models import ACTIVE_STATUSES, Status, format_seconds
from grokdash.pollstate import is_gone, is_settled, is_stale
from grokdash.savestate import EXPIRED, FAILED, MISSING, NOT_ON_DISK, OWED, PARTIAL, SAVED, save_state
from grokdash.savestate import describe as describe_save
from grokdash.tracked import TrackedTask


class SortOrder(StrEnum):
    """The column the table is sorted by (each column's key); STATUS, active first, is the default."""

    STATUS = "status"
    """Active first (processing, then queued), then the ended ones (failed, gone, other), completed last;
    newest first within."""
    ID = "id"
    LABEL = "label"
    MODEL = "model"
    AGE = "age"
    ELAPSED = "elapsed"
    ETA = "eta"
    VIDEO = "video"
    SAVED = "saved"
    CHECKED = "checked"
    ERROR = "error"

    @property
    def next(self) -> SortOrder:
        orders = list(SortOrder)
        return orders[(orders.index(self) + 1) % len(orders)]

    @property
    def descending(self) -> bool:
        """Whether this column's first order is its values from the largest: the longest running and the
        longest videos first, everything else from the smallest (the newest, the soonest, A to Z)."""
        return self in (SortOrder.ELAPSED, SortOrder.VIDEO)


@dataclass(frozen=True, slots=True)
class ViewOptions:
    sort: SortOrder = SortOrder.STATUS
    reverse: bool = False
    """The sort column's order turned round (a second press of the same sort)."""
    filter_text: str = ""
    hide_finished: bool = False
    failed_only: bool = False

    @property
    def descending(self) -> bool:
        """Whether the rows go from the sort column's largest value down: the header's ▼."""
        return self.sort.descending != self.reverse

    def sorted_by(self, order: SortOrder) -> ViewOptions:
        """Sorted by `order`: the same column again turns the order round, another starts in its own."""
        if order is self.sort:
            return replace(self, reverse=not self.reverse)
        return replace(self, sort=order, reverse=False)


STATE_RANK = {
    "new": 0,  # not asked about yet: the user just added it
    Status.PROCESSING: 1,
    Status.QUEUED: 2,
    "error": 3,  # never answered, the queries failing: polled again, but nothing is known
    Status.FAILED: 4,
    "gone": 4,
    Status.COMPLETED: 6,
}
OTHER_STATE_RANK = 5
"""An undocumented status is final: after the failed ones, before completed."""
SAVE_RANK = {"owed": 0, "partial": 1, "missing": 2, "failed": 3, "expired": 4, "saved": 5}


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


# ---- the filter -----------------------------------------------------------------------------------

FILTER_FIELDS = ("status", "id", "label", "model", "prompt", "error", "saved")
"""What `field:value` may name; a word without a field is looked for in all of them but saved."""
SAVED_WORDS = {
    "yes": frozenset({SAVED}),
    "no": NOT_ON_DISK,
    **{state: frozenset({state}) for state in (OWED, PARTIAL, SAVED, MISSING, EXPIRED, FAILED)},
    "none": frozenset({None}),
}
"""`saved:` values: yes (on disk), no (a finished video not on disk), a save state, none (no video)."""
_TERM = re.compile(r'(?:(?P<field>[A-Za-z_]+):)?(?:"(?P<quoted>[^"]*)"?|(?P<word>\S*))')


@dataclass(frozen=True, slots=True)
class Filter:
    terms: tuple[tuple[str | None, tuple[str, ...]], ...]
    """(field or None for a free word, the values any of which will do), every term must match."""
    problems: tuple[str, ...] = ()
    """What the user should be told: an unknown field (its term is looked for as a free word), an
    unknown `saved:` value."""


@functools.lru_cache(maxsize=32)
def parse_filter(text: str) -> Filter:
    """`status:failed model:max label:"beach day" saved:no sunset`: fields and free words, all ANDed;
    `status:failed,gone` takes either; a field with nothing after it yet (being typed) is no term."""
    terms: list[tuple[str | None, tuple[str, ...]]] = []
    problems: list[str] = []
    for found in _TERM.finditer(text):
        field_name = (found["field"] or "").lower() or None
        value = found["quoted"] if found["quoted"] is not None else found["word"] or ""
        value = value.lower()
        if field_name is not None and field_name not in FILTER_FIELDS:
            problems.append(f"no field “{field_name}” (fields: {', '.join(FILTER_FIELDS)})")
            terms.append((None, (found.group(0).lower().replace('"', ""),)))
            continue
        if field_name is None:
            if value:
                terms.append((None, (value,)))
            continue
        values = tuple(part.strip() for part in value.split(",") if part.strip())
        if not values:
            continue
        if field_name == "saved":
            unknown = [word for word in values if word not in SAVED_WORDS]
            if unknown:
                problems.append(f"saved: {', '.join(unknown)}? ({', '.join(SAVED_WORDS)})")
        terms.append((field_name, values))
    return Filter(tuple(terms), tuple(problems))


def filter_problems(text: str) -> tuple[str, ...]:
    return parse_filter(text).problems


def _prompt(tracked: TrackedTask) -> str:
    prompt = tracked.request.get("prompt") if tracked.request else None
    return prompt if isinstance(prompt, str) else ""


def _errors(tracked: TrackedTask) -> str:
    parts = [tracked.task.error if tracked.task else None]
    if tracked.last_error is not None:
        parts.append(f"{tracked.last_error.kind}: {tracked.last_error.message}")
    if tracked.download_error is not None:
        parts.append(f"not saved: {tracked.download_error.message}")
    return " ".join(part for part in parts if part)


def _field_text(field_name: str, tracked: TrackedTask) -> str:
    if field_name == "id":
        return tracked.id
    if field_name == "label":
        return tracked.label or ""
    if field_name == "model":
        return tracked.model or ""
    if field_name == "prompt":
        return _prompt(tracked)
    return _errors(tracked)


@dataclass(slots=True, eq=False)
class SearchKey:
    """What the filter and the order look at in one record, worked out once for that record. Never changed
    once built; not frozen only because a frozen dataclass is slower to build (100,000 at start)."""

    record: TrackedTask
    id: str
    """The record's id, here too: a pass over 100,000 keys need not reach into each record."""
    haystack: str
    """Lowercased: the id, label, model, status, prompt and error, where a free word is looked for."""
    natural_id: tuple[str | int, ...]
    natural_label: tuple[str | int, ...] | None
    state: str
    """`shown_state`."""
    started: float
    """`started_at`."""
    id_cells: int
    label_cells: int
    """The label's cells, as far as the LABEL column could grow (`MAX_LABEL_WIDTH` + 1)."""


_search_keys: dict[str, SearchKey] = {}
"""The key of each task id's record as last asked for. Records are immutable and replaced on every change,
so `key.record is record` says the key is still right; a replaced record's key is built again (and the
old record let go). Plain dict operations are atomic under the GIL: a worker thread may read and write
it while the event loop does."""


def search_key(tracked: TrackedTask) -> SearchKey:
    """The record's search key, built once per record (10,000 haystacks per keystroke took most of it)."""
    key = _search_keys.get(tracked.id)
    if key is None or key.record is not tracked:
        key = _search_keys[tracked.id] = _build_search_key(tracked)
    return key


def forget_search_keys(ids: Iterable[str]) -> None:
    """Let go of the keys of tasks no longer tracked (a key still wanted is only built again)."""
    for task_id in ids:
        _search_keys.pop(task_id, None)


def _build_search_key(tracked: TrackedTask) -> SearchKey:
    state = shown_state(tracked)
    parts = (tracked.id, tracked.label or "", tracked.model or "", state, _prompt(tracked), _errors(tracked))
    label = tracked.label
    return SearchKey(
        record=tracked,
        id=tracked.id,
        haystack=" ".join(parts).lower(),
        natural_id=natural(tracked.id),
        natural_label=natural(label) if label else None,
        state=state,
        started=started_at(tracked),
        id_cells=cells(tracked.id),
        label_cells=cells(label[: MAX_LABEL_WIDTH + 1]) if label else 0,
    )


def _term_matches(
    field_name: str | None,
    values: tuple[str, ...],
    tracked: TrackedTask,
    now: float | None,
    save_state_of: Callable[[TrackedTask], str | None],
) -> bool:
    if field_name is None:
        haystack = search_key(tracked).haystack
        return all(value in haystack for value in values)
    if field_name == "status":
        state = search_key(tracked).state
        stale = now is not None and is_stale(tracked, now)
        return any(state.startswith(value) or (value == "stale" and stale) for value in values)
    if field_name == "saved":
        state = save_state_of(tracked)
        return any(state in SAVED_WORDS.get(value, ()) for value in values)
    text = _field_text(field_name, tracked).lower()
    return any(value in text for value in values)


def matches(
    tracked: TrackedTask,
    text: str,
    now: float | None = None,
    save_state_of: Callable[[TrackedTask], str | None] | None = None,
) -> bool:
    """The filter (see `parse_filter`): free words over the id, label, model, status, prompt and error;
    `field:value` for one field. `save_state_of` gives `saved:` the saver's look at the disk; without
    it, what the record says."""
    if not text.strip():
        return True
    state_of_save = save_state_of or (lambda tracked: save_state(tracked, None))
    return all(
        _term_matches(field_name, values, tracked, now, state_of_save)
        for field_name, values in parse_filter(text).terms
    )


# ---- the order ------------------------------------------------------------------------------------

_DIGITS = re.compile(r"(\d+)")


def natural(text: str) -> tuple[str | int, ...]:
    """A key that orders `bulk-2` before `bulk-10`, and ignores case."""
    parts: list[str | int] = list(_DIGITS.split(text.casefold()))
    parts[1::2] = map(int, parts[1::2])  # the digit runs: every other part
    return tuple(parts)


def sort_value(
    order: SortOrder,
    tracked: TrackedTask,
    now: float,
    medians: dict[str, float],
    save_state_of: Callable[[TrackedTask], str | None],
) -> Any:
    """The value of `tracked` in the sort column, smallest first; None when the cell is empty (empty
    cells go last in either direction)."""
    if order is SortOrder.STATUS:
        return STATE_RANK.get(shown_state(tracked), OTHER_STATE_RANK)
    if order in (SortOrder.ID, SortOrder.LABEL, SortOrder.MODEL):
        text = tracked.id if order is SortOrder.ID else getattr(tracked, str(order))
        return natural(text) if text else None
    if order is SortOrder.AGE:
        return now - started_at(tracked)
    if order is SortOrder.ELAPSED:
        return elapsed(tracked, now)
    if order is SortOrder.ETA:
        return eta(tracked, now, medians)
    if order is SortOrder.VIDEO:
        return tracked.task.actual_duration if tracked.task and tracked.task.actual_duration else None
    if order is SortOrder.SAVED:
        state = save_state_of(tracked)
        return None if state is None else SAVE_RANK.get(state, len(SAVE_RANK))
    if order is SortOrder.CHECKED:
        return None if tracked.checked_at is None else now - tracked.checked_at
    error = cell_text("error", tracked, now, medians)
    return natural(error) if error else None


def sort_tasks(
    tasks: list[TrackedTask],
    options: ViewOptions,
    now: float,
    medians: dict[str, float] | None = None,
    save_state_of: Callable[[TrackedTask], str | None] | None = None,
) -> list[TrackedTask]:
    """`tasks` in the view's order: by the sort column, then newest first, then by id (naturally);
    the rows whose sort cell is empty last."""
    state_of_save = save_state_of or (lambda tracked: save_state(tracked, None))
    ordered = newest_first([search_key(tracked) for tracked in tasks])
    return [key.record for key in sorted_by(options, ordered, now, medians or {}, state_of_save)]


def newest_first(keys: list[SearchKey]) -> list[SearchKey]:
    """The order under every sort column's: newest first, then by id (naturally). Two stable sorts rather
    than one on a (start, id) pair: no pair made per task (100,000 of them woke the garbage collector)."""
    ordered = sorted(keys, key=operator.attrgetter("natural_id"))
    ordered.sort(key=operator.attrgetter("started"), reverse=True)  # stable: ties stay in id order
    return ordered


def sorted_by(
    options: ViewOptions,
    ordered: list[SearchKey],
    now: float,
    medians: dict[str, float],
    save_state_of: Callable[[TrackedTask], str | None],
) -> list[SearchKey]:
    """`ordered` (newest first) by the sort column; the empty cells last. The sort is stable, so ties keep
    the newest first, and sorting a subset gives the subset of the sorted whole (the filter may come
    after it)."""
    return list(map(ordered.__getitem__, sorted_places(options, ordered, now, medians, save_state_of)))


def sorted_places(
    options: ViewOptions,
    ordered: list[SearchKey],
    now: float,
    medians: dict[str, float],
    save_state_of: Callable[[TrackedTask], str | None],
) -> list[int]:
    """`sorted_by` as the places in `ordered` the rows come from, in the rows' order."""
    values = _sort_values(options.sort, ordered, now, medians, save_state_of)
    # Places sorted by their value, not (value, key) pairs: no pair made per task (see `newest_first`).
    if None not in values:  # (status and id: every cell has a value)
        return sorted(range(len(values)), key=values.__getitem__, reverse=options.descending)
    present = [place for place, value in enumerate(values) if value is not None]
    present.sort(key=values.__getitem__, reverse=options.descending)
    return present + [place for place, value in enumerate(values) if value is None]


def _sort_values(
    order: SortOrder,
    keys: list[SearchKey],
    now: float,
    medians: dict[str, float],
    save_state_of: Callable[[TrackedTask], str | None],
) -> list[Any]:
    """`sort_value` of each, taken from the search key where it holds it (the common sorts)."""
    if order is SortOrder.STATUS:
        return [STATE_RANK.get(key.state, OTHER_STATE_RANK) for key in keys]
    if order is SortOrder.ID:
        return [key.natural_id if key.id else None for key in keys]
    if order is SortOrder.LABEL:
        return [key.natural_label for key in keys]
    if order is SortOrder.MODEL:
        models = {model: natural(model) for model in {key.record.model for key in keys} if model}
        return [models.get(key.record.model or "") for key in keys]
    return [sort_value(order, key.record, now, medians, save_state_of) for key in keys]


def chosen(
    keys: list[SearchKey],
    options: ViewOptions,
    now: float | None,
    save_state_of: Callable[[TrackedTask], str | None] | None = None,
) -> list[SearchKey]:
    """The keys of the tasks the view shows (hide-finished, failed-only, the filter), in their order:
    `matches`, with each free word looked for in the cached haystacks, one pass a word."""
    if options.hide_finished:
        keys = [key for key in keys if not is_settled(key.record)]
    if options.failed_only:
        keys = [key for key in keys if ended_badly(key.record)]
    if not options.filter_text.strip():
        return list(keys)
    terms = parse_filter(options.filter_text).terms
    for needle in (value for field_name, values in terms if field_name is None for value in values):
        keys = [key for key in keys if needle in key.haystack]
    fielded = [(field_name, values) for field_name, values in terms if field_name is not None]
    if fielded:
        state_of_save = save_state_of or (lambda tracked: save_state(tracked, None))
        keys = [
            key
            for key in keys
            if all(_term_matches(name, values, key.record, now, state_of_save) for name, values in fielded)
        ]
    return list(keys)


def visible_tasks(
    tasks: Iterable[TrackedTask],
    options: ViewOptions,
    now: float,
    medians: dict[str, float] | None = None,
    save_state_of: Callable[[TrackedTask], str | None] | None = None,
) -> list[TrackedTask]:
    state_of_save = save_state_of or (lambda tracked: save_state(tracked, None))
    keys = chosen(newest_first([search_key(tracked) for tracked in tasks]), options, now, state_of_save)
    return [key.record for key in sorted_by(options, keys, now, medians or {}, state_of_save)]


def ended_badly(tracked: TrackedTask) -> bool:
    """What `f` shows: failed, or ended in any status but completed (`moderated`…), or gone, or whose
    last query failed."""
    return (
        (tracked.is_final and tracked.status != Status.COMPLETED)
        or is_gone(tracked)
        or tracked.last_error is not None
    )


def status_counts(tasks: Iterable[TrackedTask]) -> Counter[str]:
    """Tasks per state, as their STATUS cells say it (a task never answered is "error", not "new")."""
    counts: Counter[str] = Counter()
    for tracked in tasks:
        counts[shown_state(tracked)] += 1
    return counts


# ---- the dashboard's index ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shown:
    """The rows the table shows, with what it would otherwise work out from all of them on the event loop."""

    rows: list[TrackedTask]
    index: Mapping[str, int]
    """Each row's position, by task id."""
    id_width: int
    """The longest id, in cells."""
    label_width: int
    """The longest label, in cells (as far as the LABEL column could grow)."""

    @classmethod
    def of(
        cls,
        keys: list[SearchKey],
        index: Mapping[str, int] | None = None,
        widths: tuple[int, int] | None = None,
    ) -> Shown:
        """The rows of `keys`; `index` and `widths` when they are known already (the index is never
        changed once made)."""
        id_width, label_width = _widths(keys) if widths is None else widths
        return cls(
            rows=list(map(operator.attrgetter("record"), keys)),  # map: the loop runs in C
            index=_places(keys) if index is None else index,
            id_width=id_width,
            label_width=label_width,
        )


def _widths(keys: list[SearchKey]) -> tuple[int, int]:
    """The longest id and label of `keys`, in cells."""
    id_width = max(map(operator.attrgetter("id_cells"), keys), default=0)
    return id_width, max(map(operator.attrgetter("label_cells"), keys), default=0)


TIME_BOUND_SORTS = frozenset({SortOrder.AGE, SortOrder.ELAPSED, SortOrder.ETA, SortOrder.CHECKED})
"""Sorts whose values move with the clock: sorted again at each rebuild, never kept."""
_NO_DISK = object()


class ViewIndex:
    """What the dashboard derives from all its tasks (the counts, the medians, the order under the view's
    sort), kept up to date from the records that changed since the last `update`. Records are immutable and
    replaced on every change, so a record that is the same object as last time has not changed: a rebuild
    over 100,000 tasks walks them comparing objects, and sorts again only when an order may have moved.
    What a record added to the counts is worked out again from the record itself when it is replaced.

    Used from one worker thread at a time (the dashboard's rebuild runs one at a time)."""

    def __init__(self) -> None:
        self._keys: dict[str, SearchKey] = {}
        self.counts: Counter[str] = Counter()
        """Tasks per state, as their STATUS cells say it (`status_counts`)."""
        self.backing_off = 0
        """Unsettled tasks whose last queries failed."""
        self._not_on_disk: set[str] = set()
        self._not_on_disk_frozen: frozenset[str] | None = frozenset()
        self._took: dict[str, list[float]] = {}
        """Per model, the seconds its tasks took, sorted: the medians' basis (`model_medians`)."""
        self._disk: object = _NO_DISK
        self._seen: tuple[int | None, object] = (None, _NO_DISK)
        """(the store's version, the disk) of the last `update`."""
        self._tasks: list[TrackedTask] = []
        """The tasks as of the last `update`, in the store's order: ties of the order keep it."""
        self._newest_first: list[SearchKey] | None = None
        self._sorted: tuple[tuple[object, ...], list[SearchKey]] | None = None
        """(what the order was sorted for, the order)."""
        self._places: list[int] = []
        """The sorted order, as the place in `_newest_first` of each of its rows."""
        self._positions: Rows | None = None
        """Each task's row in the sorted order, made when first needed (never changed: a new order gets
        new ones)."""
        self._newest_positions: dict[str, int] | None = None
        self._all_widths: tuple[int, int] | None = None
        """The longest id and label of every task, made when first needed, forgotten on any change."""

    def update(
        self,
        tasks: list[TrackedTask],
        disk: object,
        save_state_of: Callable[[TrackedTask], str | None],
        version: int | None = None,
    ) -> None:
        """Catch up with `tasks` (all of them): only the records that changed are looked at, unless `disk`
        (what the disk says of the videos) changed, when every task's save state is looked at again. With
        the store's `version` (read before `tasks`), the same version and disk as last time skip the walk:
        a keystroke or a sort changed no record."""
        if version is not None and self.follows(version, disk):
            return
        self._seen = (version, disk)
        keys = self._keys
        if not keys:
            self._start(tasks, disk, save_state_of)
            return
        self._tasks = tasks
        changed = [
            tracked for tracked in tasks if (key := keys.get(tracked.id)) is None or key.record is not tracked
        ]
        added = sum(1 for tracked in changed if tracked.id not in keys)
        if len(keys) + added != len(tasks):  # some left the list
            self._remove(keys.keys() - {tracked.id for tracked in tasks})
        if disk != self._disk:
            self._disk = disk
            self._recount_disk(save_state_of)
        moved: list[tuple[SearchKey | None, SearchKey]] = []
        for tracked in changed:
            old, new = keys.get(tracked.id), search_key(tracked)
            keys[tracked.id] = new
            if old is not None:
                self._tally(old, -1)
            self._tally(new, 1)
            self._note_disk(tracked, save_state_of(tracked) in NOT_ON_DISK)
            moved.append((old, new))
        if moved:
            self._all_widths = None
            self._follow(moved, save_state_of)

    def follows(self, version: int, disk: object) -> bool:
        """Whether the last `update` was of this version of the tasks and of the disk."""
        return (version, disk) == self._seen

    def medians(self) -> dict[str, float]:
        return {model: _median(took) for model, took in self._took.items() if took}

    def not_on_disk(self) -> frozenset[str]:
        """The finished videos not on disk."""
        if self._not_on_disk_frozen is None:
            self._not_on_disk_frozen = frozenset(self._not_on_disk)
        return self._not_on_disk_frozen

    def shown(
        self,
        options: ViewOptions,
        now: float,
        medians: dict[str, float],
        save_state_of: Callable[[TrackedTask], str | None],
    ) -> Shown:
        """The rows `visible_tasks` gives for every task, from the order kept for the sort."""
        ordered = self._ordered(options, now, medians, save_state_of)
        keys = chosen(ordered, options, now, save_state_of)
        if len(keys) < len(ordered):
            return Shown.of(keys)
        # Every task shows (a subsequence as long as the whole is the whole): the kept places are the index.
        if self._all_widths is None:
            self._all_widths = _widths(keys)
        return Shown.of(keys, index=self._sorted_positions(), widths=self._all_widths)

    # ---- keeping it up to date ------------------------------------------------------------------------

    def _start(
        self, tasks: list[TrackedTask], disk: object, save_state_of: Callable[[TrackedTask], str | None]
    ) -> None:
        """The first look: every task at once (counted in bulk, not one by one)."""
        built = [search_key(tracked) for tracked in tasks]
        self._tasks = tasks
        self._newest_first = self._sorted = self._positions = self._all_widths = None
        self._keys = dict(zip(map(operator.attrgetter("id"), tasks), built, strict=True))
        self.counts = Counter(map(operator.attrgetter("state"), built))
        self.backing_off = sum(map(_backing_off, tasks))
        self._took = {}
        for took in filter(None, map(_took, tasks)):
            self._took.setdefault(took[0], []).append(took[1])
        for seconds in self._took.values():
            seconds.sort()
        self._disk = disk
        self._recount_disk(save_state_of)

    def _tally(self, key: SearchKey, sign: int) -> None:
        """Add a record's part to the counts and the medians' basis (`sign` 1), or take it out (-1)."""
        self.counts[key.state] += sign
        if not self.counts[key.state]:
            del self.counts[key.state]
        self.backing_off += sign * _backing_off(key.record)
        took = _took(key.record)
        if took is not None:
            seconds = self._took.setdefault(took[0], [])
            if sign > 0:
                bisect.insort(seconds, took[1])
            else:
                del seconds[bisect.bisect_left(seconds, took[1])]

    def _note_disk(self, tracked: TrackedTask, not_on_disk: bool) -> None:
        if (tracked.id in self._not_on_disk) != not_on_disk:
            (self._not_on_disk.add if not_on_disk else self._not_on_disk.discard)(tracked.id)
            self._not_on_disk_frozen = None

    def _remove(self, gone: Iterable[str]) -> None:
        gone = list(gone)
        for task_id in gone:
            self._tally(self._keys.pop(task_id), -1)
            self._not_on_disk.discard(task_id)
        self._not_on_disk_frozen = None
        forget_search_keys(gone)
        self._newest_first = self._sorted = self._all_widths = None

    def _recount_disk(self, save_state_of: Callable[[TrackedTask], str | None]) -> None:
        """What the disk says changed: every task's save state, again (the SAVED order too)."""
        self._not_on_disk = {
            task_id for task_id, key in self._keys.items() if save_state_of(key.record) in NOT_ON_DISK
        }
        self._not_on_disk_frozen = None
        if self._sorted is not None and self._sorted[0][0] is SortOrder.SAVED:
            self._sorted = None

    def _follow(
        self,
        moved: list[tuple[SearchKey | None, SearchKey]],
        save_state_of: Callable[[TrackedTask], str | None],
    ) -> None:
        """Put the changed records in the kept orders: in place where they keep their place (an answer
        that changes no sort value, as most do), else the order is sorted again when next asked for."""
        if any(
            old is None or old.started != new.started or old.natural_id != new.natural_id
            for old, new in moved
        ):
            self._newest_first = self._sorted = None
            return
        if self._newest_first is not None:  # same start and id: the same place
            places = self._newest_places()
            for _, new in moved:
                self._newest_first[places[new.id]] = new
        if self._sorted is None:
            return
        made_for, order = self._sorted
        sort = made_for[0]
        if sort in TIME_BOUND_SORTS:
            return  # sorted again anyway
        olds, news = [old for old, _ in moved if old is not None], [new for _, new in moved]
        if _sort_values(sort, olds, 0.0, {}, save_state_of) != _sort_values(
            sort, news, 0.0, {}, save_state_of
        ):
            self._sorted = None
            return
        positions = self._sorted_positions()
        for new in news:
            order[positions[new.id]] = new

    def _sorted_positions(self) -> Mapping[str, int]:
        """Each task's row in the sorted order: its place newest first (a dict kept while that order
        stands), through the sort's permutation turned round. No dict of 100,000 ids per sort."""
        if self._positions is None:
            self._positions = Rows(self._newest_places(), _inverse(self._places))
        return self._positions

    def _newest_places(self) -> dict[str, int]:
        assert self._newest_first is not None
        if self._newest_positions is None:
            self._newest_positions = _places(self._newest_first)
        return self._newest_positions

    def _ordered(
        self,
        options: ViewOptions,
        now: float,
        medians: dict[str, float],
        save_state_of: Callable[[TrackedTask], str | None],
    ) -> list[SearchKey]:
        """Every task in the view's order (before the filter): kept while nothing moved it."""
        made_for = (options.sort, options.reverse, now if options.sort in TIME_BOUND_SORTS else None)
        if self._sorted is not None and self._sorted[0] == made_for:
            return self._sorted[1]
        if self._newest_first is None:
            self._newest_first = newest_first([self._keys[tracked.id] for tracked in self._tasks])
            self._newest_positions = None
        places = sorted_places(options, self._newest_first, now, medians, save_state_of)
        order = list(map(self._newest_first.__getitem__, places))
        self._sorted, self._places, self._positions = (made_for, order), places, None
        return order


class Rows(Mapping[str, int]):
    """Each task's row in an order, by task id: its place in another order (`by_id`), and the row of each
    place (`rows`). Made of a dict kept across sorts and a list, never changed once made: the table may
    read it on the event loop while the next rebuild runs."""

    __slots__ = ("_by_id", "_rows")

    def __init__(self, by_id: dict[str, int], rows: list[int]) -> None:
        self._by_id, self._rows = by_id, rows

    def __getitem__(self, task_id: str) -> int:
        return self._rows[self._by_id[task_id]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)


def _inverse(places: list[int]) -> list[int]:
    """The row of each place, for `places` the place of each row (a loop the event loop can cut into)."""
    rows = [0] * len(places)
    for row, place in enumerate(places):
        rows[place] = row
    return rows


def _places(keys: list[SearchKey]) -> dict[str, int]:
    """Each key's position, by task id (map and zip: the loop runs in C)."""
    return dict(zip(map(operator.attrgetter("id"), keys), range(len(keys)), strict=True))


def _backing_off(tracked: TrackedTask) -> bool:
    """Polled again after errors (`consecutive_errors`), for a task not settled."""
    return bool(tracked.consecutive_errors) and not is_settled(tracked)


def _took(tracked: TrackedTask) -> tuple[str, float] | None:
    """(model, seconds) of a completed task seen running: a basis of its model's median (`model_medians`)."""
    if tracked.status == Status.COMPLETED and tracked.model and seen_running(tracked):
        seconds = elapsed(tracked, 0.0)
        if seconds is not None:
            return tracked.model, seconds
    return None


def _median(ordered: list[float]) -> float:
    """`statistics.median` of a list already sorted."""
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


# ---- cells ----------------------------------------------------------------------------------------


def status_word(tracked: TrackedTask, now: float) -> str:
    word = shown_state(tracked)
    return f"{word} (stale)" if is_stale(tracked, now) else word


def state_of(tracked: TrackedTask) -> str:
    """The state the palette knows: the status as sent, or "new", or "gone"."""
    if is_gone(tracked):
        return "gone"
    return str(tracked.status) if tracked.status else "new"


def shown_state(tracked: TrackedTask) -> str:
    """The state the STATUS cell says: `state_of`, but "error" for a task never answered whose queries
    fail (it is not new: it was asked about, and the ERROR cell says what went wrong)."""
    state = state_of(tracked)
    if state == "new" and tracked.last_error is not None:
        return "error"
    return state


def status_icon(tracked: TrackedTask) -> str:
    return palette.icon(shown_state(tracked))


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
