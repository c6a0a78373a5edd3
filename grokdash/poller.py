"""When to ask the API about each task, and the small async engine that asks.

The schedule is plain functions of (task, now, policy), tested on a fake clock. The engine polls the
due tasks with a concurrency cap, then hands every answer of the round to the store as one batch,
written off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from grokdash.errors import ApiError, AuthError, RateLimitedError
from grokdash.models import Status, Task
from grokdash.pacing import Pacer
from grokdash.tracked import TrackedTask

if TYPE_CHECKING:
    from grokdash.store import TaskStore

log = logging.getLogger(__name__)

# How long each model usually takes, start to finish (seconds); a task far beyond it is stale.
TYPICAL_SECONDS = {
    "grok_video3": 300.0,
    "grok_video3_pro": 300.0,
    "grok_video3_max": 600.0,
    "grok_video3_stable": 300.0,
}
DEFAULT_TYPICAL_SECONDS = 300.0
STALE_FACTOR = 3.0
NOT_FOUND_GIVE_UP = 3
"""A task not found this many times in a row is taken as gone: it is no longer polled by itself."""


@dataclass(frozen=True, slots=True)
class PollPolicy:
    interval: float = 30.0
    """Seconds between two polls of one active task."""
    jitter: float = 0.1
    """Each wait is stretched by up to this fraction, so tasks added together drift apart."""
    backoff_cap: float = 600.0
    """The longest wait after errors, in seconds (never shorter than the interval)."""
    rate_limit_wait: float = 30.0
    """How long everything waits after a 429 that did not say how long."""


def is_gone(tracked: TrackedTask) -> bool:
    """Not found several times running: a mistyped id or a task the provider has dropped."""
    recent = tracked.recent_errors[-NOT_FOUND_GIVE_UP:]
    return (
        tracked.consecutive_errors >= NOT_FOUND_GIVE_UP
        and len(recent) == NOT_FOUND_GIVE_UP
        and all(failure.kind == "not_found" for failure in recent)
    )


def is_settled(tracked: TrackedTask) -> bool:
    """Nothing more will happen to it unless the user asks: final, or gone."""
    return tracked.is_final or is_gone(tracked)


def jitter_factor(task_id: str, checked_at: float, spread: float) -> float:
    """A factor in [1, 1 + spread], fixed for one task and one check, so the schedule stays a pure
    function while tasks polled together drift apart. It only stretches: a task is never asked about
    twice within one interval."""
    digest = hashlib.blake2b(f"{task_id}@{checked_at!r}".encode(), digest_size=4).digest()
    unit = int.from_bytes(digest, "big") / 0xFFFFFFFF
    return 1.0 + spread * unit


def backoff_delay(consecutive_errors: int, policy: PollPolicy) -> float:
    """The wait after `consecutive_errors` failures in a row: the interval doubled each time, capped."""
    cap = max(policy.backoff_cap, policy.interval)
    exponent = min(consecutive_errors, 32)
    return min(policy.interval * 2.0**exponent, cap)


def next_poll_at(tracked: TrackedTask, policy: PollPolicy) -> float | None:
    """When this task should next be asked about, or None when it should not be (settled)."""
    if is_settled(tracked):
        return None
    if tracked.checked_at is None:
        return 0.0  # a new id is polled at once, whatever the clock of the process that added it
    if tracked.consecutive_errors:
        wait = backoff_delay(tracked.consecutive_errors, policy)
    else:
        wait = policy.interval
    due = tracked.checked_at + wait * jitter_factor(tracked.id, tracked.checked_at, policy.jitter)
    if tracked.retry_after is not None:
        due = max(due, tracked.retry_after)
    return due


def is_due(tracked: TrackedTask, now: float, policy: PollPolicy) -> bool:
    due = next_poll_at(tracked, policy)
    return due is not None and due <= now


def is_stale(tracked: TrackedTask, now: float) -> bool:
    """Queued or processing for far longer than its model usually takes to finish."""
    if tracked.task is None or tracked.task.status not in (Status.QUEUED, Status.PROCESSING):
        return False
    since = tracked.status_seen.get(str(tracked.task.status))
    if since is None:
        return False
    typical = TYPICAL_SECONDS.get(tracked.model or "", DEFAULT_TYPICAL_SECONDS)
    return now - since > typical * STALE_FACTOR


@dataclass(slots=True)
class RoundReport:
    """What one poll round did."""

    asked: int = 0
    answered: int = 0
    failed: int = 0
    skipped: int = 0
    """Due, but not asked: a rate limit arrived during the round."""
    changed: list[TrackedTask] = field(default_factory=list)
    """Records whose stored state changed, as they are now."""
    errors: list[ApiError] = field(default_factory=list)
    """Every query error of the round, for a one-line account of what went wrong."""
    auth_error: AuthError | None = None
    rate_limited_until: float | None = None


GetTask = Callable[[str], Awaitable[Task]]


class Poller:
    """Polls the tracked tasks that are due, at most `concurrency` requests at once.

    A 429 on any task pauses every task until the server's Retry-After has passed: the limit is the
    account's, not the task's. From then on requests are paced (see pacing.py): small batches, the most
    overdue tasks first, so the server never again sees every due task at once.
    """

    def __init__(
        self,
        get_task: GetTask,
        store: TaskStore,
        *,
        policy: PollPolicy | None = None,
        concurrency: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._get_task = get_task
        self._store = store
        self.policy = policy or PollPolicy()
        self.concurrency = concurrency
        self._clock = clock
        self.paused_until: float | None = None
        """No request before this time (unix seconds): the server rate-limited us."""
        self.pacer = Pacer()
        self._forced: set[str] = set()
        self._due_cache: tuple[tuple[int, frozenset[str] | None], float | None] | None = None

    def force(self, ids: Iterable[str]) -> None:
        """Poll these at the next round, even when final, gone or backing off."""
        self._forced.update(ids)

    def due(self, now: float, only: set[str] | None = None, limit: int | None = None) -> list[TrackedTask]:
        """The tasks to ask about now (forced ones included). With `limit`, at most that many: those that
        have waited longest, forced ones first, so a paced backlog is worked through in turn and no task
        waits behind others asked about again and again."""
        if self.paused_until is not None and now < self.paused_until:
            return []
        chosen: list[tuple[float, int, TrackedTask]] = []
        for n, tracked in enumerate(self._store.tasks()):
            if only is not None and tracked.id not in only:
                continue
            if tracked.id in self._forced:
                chosen.append((-math.inf, n, tracked))
            elif (due := next_poll_at(tracked, self.policy)) is not None and due <= now:
                chosen.append((due, n, tracked))
        if limit is not None and len(chosen) > limit:
            chosen = heapq.nsmallest(limit, chosen)  # (due, position): ties keep the order added
        return [tracked for _, _, tracked in chosen]

    def next_wake(self, now: float, only: set[str] | None = None) -> float | None:
        """The earliest moment a round would ask about something, or None when every task is settled."""
        wake = now if self._forced else self._earliest_due(only)
        if wake is None:
            return None
        # A forced poll waits for a rate-limit pause and the next paced batch too: waking before them
        # would only make rounds that cannot send.
        for not_before in (self.paused_until, self.pacer.not_before):
            if not_before is not None:
                wake = max(wake, not_before)
        return wake

    def _earliest_due(self, only: set[str] | None) -> float | None:
        """The earliest due time of any task; remembered until the tasks change, since a dashboard asks
        every second and 10,000 tasks take milliseconds to go through."""
        key = (self._store.version, None if only is None else frozenset(only))
        if self._due_cache is not None and self._due_cache[0] == key:
            return self._due_cache[1]
        chosen = (t for t in self._store.tasks() if only is None or t.id in only)
        times = [due for tracked in chosen if (due := next_poll_at(tracked, self.policy)) is not None]
        earliest = min(times) if times else None
        self._due_cache = (key, earliest)
        return earliest

    async def poll_round(self, only: set[str] | None = None, *, everything: bool = False) -> RoundReport:
        """Ask about every due task (or, with `everything`, every unsettled one), then store the answers
        in one write, off the event loop."""
        now = self._clock()
        budget = self.pacer.budget(now)
        if budget == 0:  # paced, and the last batch went out less than a gap ago
            return RoundReport()
        if everything:
            targets = [
                t
                for t in self._store.tasks()
                if ((only is None or t.id in only) and not is_settled(t)) or t.id in self._forced
            ]
        else:
            # Going through 10,000 tasks takes milliseconds: not on the event loop.
            targets = await asyncio.to_thread(self.due, now, only, budget)
        if budget is not None:
            targets = targets[:budget]
        self._forced.difference_update(t.id for t in targets)
        report = RoundReport()
        if not targets:
            return report

        changes: dict[str, Callable[[TrackedTask], TrackedTask]] = {}

        async def ask(task_id: str) -> None:
            report.asked += 1
            ticket = self.pacer.sent(self._clock())
            try:
                task = await self._get_task(task_id)
            except ApiError as error:
                report.failed += 1
                at = self._clock()
                changes[task_id] = lambda old, error=error, at=at: old.with_error(error, at)
                self._note_error(error, at, report, ticket)
                return
            report.answered += 1
            at = self._clock()
            self.pacer.answered(ticket, at)
            changes[task_id] = lambda old, task=task, at=at: old.with_answer(task, at)

        pending = iter(targets)

        async def work() -> None:
            for tracked in pending:  # one iterator shared by every worker: each target is taken once
                if self.paused_until is not None and self._clock() < self.paused_until:
                    report.skipped += 1
                else:
                    await ask(tracked.id)

        # `concurrency` workers, not a task per target: creating 10,000 tasks at once holds the loop
        # for a fifth of a second.
        await asyncio.gather(*(work() for _ in range(min(self.concurrency, len(targets)))))
        report.changed = await asyncio.to_thread(self._store.update, changes)
        return report

    def _note_error(self, error: ApiError, at: float, report: RoundReport, ticket: int) -> None:
        report.errors.append(error)
        if isinstance(error, RateLimitedError):
            wait = error.retry_after if error.retry_after is not None else self.policy.rate_limit_wait
            until = at + wait
            self.paused_until = max(self.paused_until or 0.0, until)
            report.rate_limited_until = self.paused_until
            pace = self.pacer.limited(ticket, at, wait)
            log.info("rate limited: every task waits %.1fs", wait)
            if pace is not None:
                log.info("rate limited: from now on %s", pace.describe())
        else:
            self.pacer.answered(ticket, at, error.kind)
            if isinstance(error, AuthError):
                report.auth_error = error


Sleep = Callable[[float], Awaitable[None]]
REFRESH_SECONDS = 1.0
"""How often a long-running poller looks for changes made by other processes."""


async def poll_until_settled(
    poller: Poller,
    store: TaskStore,
    *,
    only: set[str] | None = None,
    on_round: Callable[[RoundReport], None] = lambda report: None,
    clock: Callable[[], float] = time.time,
    sleep: Sleep = asyncio.sleep,
) -> RoundReport | None:
    """Poll round after round until every chosen task is settled. Returns the round that saw an auth
    error (polling cannot succeed without a valid key), or None when everything settled."""
    while True:
        await asyncio.to_thread(store.refresh)  # a changed file is parsed: keep that off the loop
        report = await poller.poll_round(only)
        on_round(report)
        if report.auth_error is not None:
            return report
        now = clock()
        wake = poller.next_wake(now, only)
        if wake is None:
            return None
        await sleep(min(max(wake - now, 0.0), REFRESH_SECONDS))
