"""Where the time and the money went, from the task database alone (no request is sent): per model, the
tasks, how they ended, how long they took from created to completed, the seconds of video made and the
estimated spend; the commonest failure reasons; and tasks and spend per day.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from grokdash import spend
from grokdash.errors import UsageError
from grokdash.models import Status, format_seconds
from grokdash.tracked import TrackedTask

TOP_FAILURES = 5
COLUMNS = ("model", "tasks", "done", "failed", "moderated", "median", "p90", "video", "spend")
UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([mhdw])")


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else format_seconds(value)


def parse_since(text: str, *, option: str = "--since") -> float:
    """`7d`, `24h`, `90m`, `2w`: a span in seconds (`option` names the flag in the error: `archive
    --older-than` takes the same spans)."""
    found = _SPAN.fullmatch(text.strip().lower())
    if not found or float(found[1]) <= 0:
        raise UsageError(f"{option} takes a span like 7d, 24h, 90m or 2w, not {text[:20]!r}")
    return float(found[1]) * UNITS[found[2]]


def started_at(tracked: TrackedTask) -> float:
    """When the task began: the API's `created` when it is a plausible unix time, else when it was
    first tracked."""
    task = tracked.task
    created = task.created if task is not None else None
    if isinstance(created, int | float) and not isinstance(created, bool) and 0 < created < 1e11:
        return float(created)
    return tracked.added_at


def took(tracked: TrackedTask) -> float | None:
    """Seconds from created to completed, for a completed task whose completion was seen."""
    if tracked.status != Status.COMPLETED:
        return None
    seen = tracked.status_seen.get(Status.COMPLETED)
    if not isinstance(seen, int | float):
        return None
    seconds = seen - started_at(tracked)
    return seconds if 0 <= seconds < 1e9 else None


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `share` of them at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass(slots=True)
class ModelStats:
    model: str
    tasks: int = 0
    ended: Counter[str] = field(default_factory=Counter)
    """completed, failed, moderated, and any other ending, by count."""
    took: list[float] = field(default_factory=list)
    video_seconds: float = 0.0
    spend: float = 0.0
    unpriced: int = 0
    """Tasks created here whose model has no price: not in `spend`."""
    made_here: int = 0
    """Tasks grokdash created (the others were paid for elsewhere: no spend of theirs is known)."""

    def rate(self, ending: str) -> float | None:
        return self.ended[ending] / self.tasks if self.tasks else None

    def cells(self, priced: bool) -> list[str]:
        """The row's words, as `grokdash stats` and the stats screen show them (COLUMNS)."""
        median = statistics.median(self.took) if self.took else None
        cost = "-"  # grokdash created none of its tasks: what they cost is not known here
        if priced and self.made_here:
            cost = f"≈ {spend.money(self.spend)}" + (f" (+{self.unpriced} unpriced)" if self.unpriced else "")
        return [
            self.model,
            str(self.tasks),
            *(_percent(self.rate(ending)) for ending in (Status.COMPLETED, Status.FAILED, "moderated")),
            _seconds(median),
            _seconds(percentile(self.took, 0.9)),
            _seconds(self.video_seconds) if self.video_seconds else "-",
            cost,
        ]

    def as_json(self, priced: bool) -> dict[str, object]:
        return {
            "model": self.model,
            "tasks": self.tasks,
            "completed": self.ended[Status.COMPLETED],
            "failed": self.ended[Status.FAILED],
            "moderated": self.ended["moderated"],
            "completed_rate": self.rate(Status.COMPLETED),
            "failed_rate": self.rate(Status.FAILED),
            "moderated_rate": self.rate("moderated"),
            "median_seconds": statistics.median(self.took) if self.took else None,
            "p90_seconds": percentile(self.took, 0.9),
            "video_seconds": self.video_seconds,
            "spend": round(self.spend, 6) if priced and self.made_here else None,
        }


@dataclass(slots=True)
class Stats:
    models: dict[str, ModelStats]
    failures: list[tuple[str, int]]
    days: list[tuple[str, int, float]]
    """(YYYY-MM-DD, tasks begun that day, their estimated spend), oldest first."""
    priced: bool
    since: float | None

    def as_json(self) -> dict[str, object]:
        return {
            "since": self.since,
            "models": [stats.as_json(self.priced) for stats in self.models.values()],
            "failures": [{"reason": reason, "count": count} for reason, count in self.failures],
            "days": [
                {"day": day, "tasks": tasks, "spend": round(cost, 6) if self.priced else None}
                for day, tasks, cost in self.days
            ],
        }


def compute(
    tasks: Iterable[TrackedTask],
    prices: spend.Prices,
    *,
    since: float | None = None,
    now: float | None = None,
) -> Stats:
    """The stats of the tasks begun in the last `since` seconds (all, when None)."""
    now = time.time() if now is None else now
    models: dict[str, ModelStats] = {}
    failures: Counter[str] = Counter()
    days: dict[str, list[float]] = {}
    for tracked in tasks:
        begun = started_at(tracked)
        if since is not None and begun < now - since:
            continue
        model = tracked.model or "unknown"
        stats = models.setdefault(model, ModelStats(model))
        stats.tasks += 1
        if tracked.is_final and tracked.status:
            stats.ended[str(tracked.status)] += 1
        seconds = took(tracked)
        if seconds is not None:
            stats.took.append(seconds)
        task = tracked.task
        if tracked.status == Status.COMPLETED and task is not None and task.actual_duration:
            stats.video_seconds += task.actual_duration
        if tracked.status == Status.FAILED:
            failures[_reason(task.error if task else None)] += 1
        cost = spend.task_price(tracked, prices)
        if tracked.request:
            stats.made_here += 1
        if cost is not None:
            stats.spend += cost
        elif tracked.request:
            stats.unpriced += 1
        day = days.setdefault(time.strftime("%Y-%m-%d", time.localtime(begun)), [0, 0.0])
        day[0] += 1
        day[1] += cost or 0.0
    return Stats(
        models=dict(sorted(models.items())),
        failures=failures.most_common(TOP_FAILURES),
        days=[(day, int(count), total) for day, (count, total) in sorted(days.items())],
        priced=bool(prices),
        since=since,
    )


def _reason(error: str | None) -> str:
    """A failure's reason, short enough to count alike ones together."""
    if not error:
        return "no reason given"
    return error.strip().splitlines()[0][:120]
