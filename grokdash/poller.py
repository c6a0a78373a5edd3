"""When to ask the API about each task, and the small async engine that asks.

The schedule is plain functions of (task, now, policy), tested on a fake clock. The engine asks about
each due task with a concurrency cap, stages every answer in the store the moment it arrives, and
writes the store in batches off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grokdash.errors import ApiError, AuthError, GrokdashError, ProtocolError, RateLimitedError
from grokdash.models import Task
from grokdash.pacing import Pacer
from grokdash.pollstate import is_settled
from grokdash.tracked import TrackedTask

if TYPE_CHECKING:
    from grokdash.store import TaskStore

log = logging.getLogger(__name__)


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


def next_poll_at(tracked: TrackedTask, policy: PollPolicy, now: float | None = None) -> float | None:
    """When this task should next be asked about, or None when it should not be (settled).

    With `now`: a check stored further in the future than the wait it stands for (written by a process
    whose clock ran ahead, or before our clock was set back) is taken as due now. Otherwise such a
    record would not be asked about until the clocks caught up: hours, or a day.
    """
    if is_settled(tracked):
        return None
    if tracked.checked_at is None:
        return 0.0  # a new id is polled at once, whatever the clock of the process that added it
    if tracked.consecutive_errors:
        wait = backoff_delay(tracked.consecutive_errors, policy)
    else:
        wait = policy.interval
    if now is not None and tracked.checked_at - now > wait:
        return now
    due = tracked.checked_at + wait * jitter_factor(tracked.id, tracked.checked_at, policy.jitter)
    if tracked.retry_after is not None:
        due = max(due, tracked.retry_after)
    return due


def is_due(tracked: TrackedTask, now: float, policy: PollPolicy) -> bool:
    due = next_poll_at(tracked, policy, now)
    return due is not None and due <= now


@dataclass(slots=True)
class RoundReport:
    """What polling did: one round (`poll_round`), or a whole run (`run`)."""

    asked: int = 0
    answered: int = 0
    failed: int = 0
    skipped: int = 0
    """Due, but not asked: a rate limit arrived during the round."""
    changed: list[TrackedTask] = field(default_factory=list)
    """Records whose state changed, as each answer left them, in the order the answers came."""
    errors: list[ApiError] = field(default_factory=list)
    """Every query error, for a one-line account of what went wrong."""
    auth_error: AuthError | None = None
    rate_limited_until: float | None = None
    """On the poller's monotonic clock."""
    store_error: GrokdashError | None = None
    """Why the answers could not be written, when the last write failed: they are kept in memory."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One answer (or failed query), as soon as it came: the record before and after it."""

    before: TrackedTask
    after: TrackedTask
    error: ApiError | None = None


GetTask = Callable[[str], Awaitable[Task]]
Sleep = Callable[[float], Awaitable[None]]

FLUSH_SECONDS = 1.0
"""Answers are written at most about this often (and at the end of a round): one write per batch."""
FLUSH_BACKOFF_CAP = 60.0
"""The longest wait between two tries to write when the database cannot be written."""
REFRESH_SECONDS = 1.0
"""How often a long-running poller looks for changes made by other processes."""
SCAN_GAP = 1.0
"""A long-running poller looks for due tasks at most this often (seconds): tasks coming due within it are
asked about together, a little late, rather than each on its own look through every task."""


class Poller:
    """Asks the API about tracked tasks that are due, at most `concurrency` requests at once.

    Each answer is staged in the store the moment it arrives (so it is shown, and the schedule sees it)
    and handed to `on_outcome`; the store is written in batches, at most about once a second, and never
    waits for the slowest request. When it cannot be written, the answers stay in memory and the write
    is tried again later, backing off: nothing is asked again because of it.

    A 429 on any task pauses every task until the server's Retry-After has passed: the limit is the
    account's, not the task's. From then on requests are paced (see pacing.py): small batches, the most
    overdue tasks first, so the server never again sees every due task at once.

    Two clocks: `clock` (unix seconds) for what is stored and shared with other processes, `monotonic`
    for this process's own waits (a rate-limit pause, the pace, writes), so a clock set back or forward
    cannot stop polling. With a fake `clock` and no `monotonic`, both are the fake one.
    """

    def __init__(
        self,
        get_task: GetTask,
        store: TaskStore,
        *,
        policy: PollPolicy | None = None,
        concurrency: int = 8,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        self._get_task = get_task
        self._store = store
        self.policy = policy or PollPolicy()
        self.concurrency = concurrency
        self._clock = clock
        self._monotonic = monotonic or (time.monotonic if clock is time.time else clock)
        self.on_outcome = on_outcome
        self.paused_until: float | None = None
        """No request before this moment (monotonic): the server rate-limited us."""
        self.pacer = Pacer()
        self._forced: set[str] = set()
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._queue: deque[str] = deque()
        """Chosen to be asked about, waiting for a free request slot (`run` only)."""
        self._running = False
        self._scanned_version = -1
        self._next_scan_mono = -math.inf
        """When `run` next looks for due tasks (monotonic); infinity when every task is settled."""
        self._asked: dict[str, tuple[float, float]] = {}
        """Per task this process asked about: the `checked_at` its answer stored, and the monotonic
        moment. While the record still holds that check, its next poll is timed on the monotonic clock,
        so stepping the wall clock neither delays it nor brings it forward."""
        self._due_cache: tuple[tuple[int, frozenset[str] | None, frozenset[str]], float | None] | None = None
        self.last_answer_at: float | None = None
        """When the server last answered anything (monotonic)."""
        self.store_error: GrokdashError | None = None
        """Why the last write of the answers failed; None once a write works."""
        self.step_error: GrokdashError | None = None
        """Why the last step of `run` failed (a bug, an unreadable database); None once one works."""
        self._unsaved_since: float | None = None
        self._write_failures = 0
        self._next_write_at = 0.0
        self._writing: asyncio.Task[None] | None = None

    # ---- what is due ----------------------------------------------------------------------------------

    def force(self, ids: Iterable[str]) -> None:
        """Poll these at once, even when final, gone, backing off or paused."""
        self._forced.update(ids)

    def monotonic(self) -> float:
        """Now, on the clock this poller's own waits run on."""
        return self._monotonic()

    @property
    def in_flight(self) -> int:
        """Requests sent and not answered yet."""
        return len(self._in_flight)

    def rate_limit_left(self) -> float | None:
        """Seconds until the server's Retry-After has passed, or None when not rate limited."""
        if self.paused_until is None:
            return None
        left = self.paused_until - self._monotonic()
        return left if left > 0 else None

    def due(self, now: float, only: set[str] | None = None, limit: int | None = None) -> list[TrackedTask]:
        """The tasks to ask about now (forced ones included), not counting those already in flight or
        queued. With `limit`, at most that many: those that have waited longest, forced ones first, so a
        paced backlog is worked through in turn and no task waits behind others asked about again and
        again."""
        if self.rate_limit_left() is not None:
            return []
        return self._scan(now, only, limit)[0]

    def _due_at(self, tracked: TrackedTask, now: float, mono: float) -> float | None:
        """When (on `clock`) to ask about this task next; None when settled."""
        mine = self._asked.get(tracked.id)
        if mine is None or tracked.checked_at != mine[0]:
            return next_poll_at(tracked, self.policy, now)
        due = next_poll_at(tracked, self.policy)  # our own check: the wait it stands for is exact
        return None if due is None else now + (mine[1] + (due - mine[0]) - mono)

    def _scan(
        self, now: float, only: set[str] | None, limit: int | None, *, forced_only: bool = False
    ) -> tuple[list[TrackedTask], float | None]:
        """The due tasks (as `due`), and the earliest due time of the others (None: all settled)."""
        mono = self._monotonic()
        busy = self._busy()
        forced = self._forced
        chosen: list[tuple[float, int, TrackedTask]] = []
        later: float | None = None
        for n, tracked in enumerate(self._store.tasks()):
            if (only is not None and tracked.id not in only) or tracked.id in busy:
                continue
            if tracked.id in forced:
                chosen.append((-math.inf, n, tracked))
            elif forced_only or (due := self._due_at(tracked, now, mono)) is None:
                continue
            elif due <= now:
                chosen.append((due, n, tracked))
            elif later is None or due < later:
                later = due
        if limit is not None and len(chosen) > limit:
            chosen = heapq.nsmallest(limit, chosen)  # (due, position): ties keep the order added
            later = now  # the rest are due already
        else:
            chosen.sort()  # the longest waiting first (never asked: first of all)
        return [tracked for _, _, tracked in chosen], later

    def _busy(self) -> frozenset[str]:
        return frozenset(self._in_flight).union(self._queue)

    def next_wake(self, now: float, only: set[str] | None = None) -> float | None:
        """The earliest moment (on `clock`) a request would go out, or None when every task is settled
        and nothing is in flight or waiting to be sent."""
        if self._forced or self._queue:
            wake: float | None = now
        elif self._running:
            left = self._next_scan_mono - self._monotonic()
            wake = now + left if self._next_scan_mono != math.inf else None
        else:
            wake = self._earliest_due(now, only)
        if wake is None:
            return now if self._in_flight else None
        # A forced poll waits for a rate-limit pause and the next paced batch too: waking before them
        # would only make rounds that cannot send.
        mono = self._monotonic()
        for not_before in (self.paused_until, self.pacer.not_before):
            if not_before is not None:
                wake = max(wake, now + (not_before - mono))
        return wake

    def _earliest_due(self, now: float, only: set[str] | None) -> float | None:
        """The earliest due time of any task; remembered until the tasks change, since a dashboard asks
        every second and 10,000 tasks take milliseconds to go through."""
        key = (self._store.version, None if only is None else frozenset(only))
        if self._due_cache is not None and self._due_cache[0] == key:
            # Still right as `now` moves: a stored time taken as "due now" stays in the past.
            return self._due_cache[1]
        chosen = (t for t in self._store.tasks() if only is None or t.id in only)
        times = [due for tracked in chosen if (due := next_poll_at(tracked, self.policy, now)) is not None]
        earliest = min(times) if times else None
        self._due_cache = (key, earliest)
        return earliest

    # ---- asking ------------------------------------------------------------------------------------------

    async def poll_round(self, only: set[str] | None = None, *, everything: bool = False) -> RoundReport:
        """Ask about every due task (or, with `everything`, every unsettled one) and wait for every
        answer. Each is staged and reported as it comes; the store is written when the round ends."""
        report = RoundReport()
        budget = self.pacer.budget(self._monotonic())
        if budget == 0:  # paced, and the last batch went out less than a gap ago
            return report
        if everything:
            targets = [
                t
                for t in self._store.tasks()
                if (((only is None or t.id in only) and not is_settled(t)) or t.id in self._forced)
                and t.id not in self._in_flight
            ]
        else:
            # Going through 10,000 tasks takes milliseconds: not on the event loop.
            targets = await asyncio.to_thread(self.due, self._clock(), only, budget)
        if budget is not None:
            targets = targets[:budget]
        if targets:
            pending = iter(targets)

            async def work() -> None:
                for tracked in pending:  # one iterator shared by every worker: each target is taken once
                    await self._ask(tracked.id, report)

            # `concurrency` workers, not a task per target: creating 10,000 tasks at once holds the loop
            # for a fifth of a second.
            await asyncio.gather(*(work() for _ in range(min(self.concurrency, len(targets)))))
        await self.write(force=True)
        report.store_error = self.store_error
        return report

    async def _ask(self, task_id: str, report: RoundReport) -> None:
        """One query: its answer, or its error, staged at once and reported. Not sent when a 429 came
        after it was chosen (it is chosen again after the wait)."""
        if self.rate_limit_left() is not None:
            report.skipped += 1
            return
        self._forced.discard(task_id)
        report.asked += 1
        ticket = self.pacer.sent(self._monotonic())
        error: ApiError | None = None
        try:
            task = await self._get_task(task_id)
        except ApiError as failure:
            error = failure
        except asyncio.CancelledError:
            raise
        except Exception as failure:  # a bug or an answer nothing expected: that id's error, not the round's
            log.exception("asking about %s failed unexpectedly", task_id)
            error = ProtocolError(f"the answer could not be read ({type(failure).__name__})")
        at, mono = self._clock(), self._monotonic()
        if error is None:
            report.answered += 1
            self.pacer.answered(ticket, mono)
            self.last_answer_at = mono
            answer = task

            def change(old: TrackedTask) -> TrackedTask:
                return old.with_answer(answer, at)
        else:
            report.failed += 1
            self._note_error(error, mono, report, ticket)
            failure = error

            def change(old: TrackedTask) -> TrackedTask:
                return old.with_error(failure, at)

        before = self._store.get(task_id)
        changed = self._store.stage({task_id: change})
        if changed:
            if self._unsaved_since is None:
                self._unsaved_since = mono
            report.changed.append(changed[0])
            if changed[0].checked_at is not None:
                self._asked[task_id] = (changed[0].checked_at, mono)
            # When `run` should look again for this one (a look also finds any others due by then).
            if (due := next_poll_at(changed[0], self.policy)) is not None:
                self._next_scan_mono = min(self._next_scan_mono, mono + (due - at))
            if self.on_outcome is not None and before is not None:
                self.on_outcome(Outcome(before, changed[0], error))
        self._write_soon()

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

    # ---- writing -----------------------------------------------------------------------------------------

    def _write_due_at(self) -> float | None:
        """When (monotonic) the staged answers should be written, or None when nothing is staged."""
        if self._unsaved_since is None:
            return None
        return max(self._unsaved_since + FLUSH_SECONDS, self._next_write_at)

    def _write_soon(self) -> None:
        """Start a write in the background when one is due: answers never wait for it."""
        due = self._write_due_at()
        if due is not None and due <= self._monotonic() and self._writing is None:
            self._writing = asyncio.ensure_future(self._write_now())

    def _write_at_round_end(self) -> None:
        """Nothing in flight: write what was staged now rather than a second later (unless the disk
        failed a moment ago: its retry wait stands)."""
        idle = self._unsaved_since is not None and self._writing is None
        if idle and self._next_write_at <= self._monotonic():
            self._writing = asyncio.ensure_future(self._write_now())

    async def write(self, *, force: bool = False) -> None:
        """Write the staged answers now (`force`), or when due; never raises: a failure is kept in
        `store_error` and the write is tried again later, each wait longer."""
        if self._writing is not None:
            await asyncio.shield(self._writing)
        due = self._write_due_at()
        if due is None or (not force and due > self._monotonic()):
            return
        self._writing = asyncio.ensure_future(self._write_now())
        await asyncio.shield(self._writing)

    async def _write_now(self) -> None:
        try:
            await asyncio.to_thread(self._store.flush)
        except Exception as error:  # the disk is full, read-only or locked; or a bug: keep the answers
            self._write_failures += 1
            wait = min(2.0**self._write_failures, FLUSH_BACKOFF_CAP)
            self._next_write_at = self._monotonic() + wait
            self.store_error = _as_sentence(error)
            log.warning("could not write the answers (%s); trying again in %.0f s", error, wait)
        else:
            self._write_failures = 0
            self._next_write_at = 0.0
            self.store_error = None
            self._unsaved_since = self._monotonic() if self._store.unsaved else None
        finally:
            self._writing = None

    # ---- the long run ------------------------------------------------------------------------------------

    async def run(
        self,
        only: set[str] | None = None,
        *,
        until_settled: bool = False,
        stop_on_auth: bool = False,
        refresh: bool = True,
        is_paused: Callable[[], bool] = lambda: False,
        wake: asyncio.Event | None = None,
        on_idle: Callable[[], None] = lambda: None,
        on_wake: Callable[[], None] = lambda: None,
        sleep: Sleep = asyncio.sleep,
    ) -> RoundReport:
        """Poll while the caller wants: each due task is asked about when it is due, whatever else is in
        flight (a task that never answers holds one request slot, never the others).

        Returns, with `until_settled`, once every chosen task is settled; with `stop_on_auth`, on the first
        auth error (`auth_error` of the report says so). `on_idle` is called whenever nothing is in
        flight or waiting to be sent; `on_wake` when `wake` was set and taken (everything it asked for is
        done by the next `on_idle`); `sleep` waits while idle (tests pass one that moves a fake clock).
        A step that fails (a bug, an unreadable database) is kept in `step_error`, and the next waits
        longer each time: never a loop that asks again at once.
        """
        report = RoundReport()
        failures = 0
        last_refresh = -math.inf
        self._running = True
        self._next_scan_mono = -math.inf
        try:
            while True:
                delay = REFRESH_SECONDS
                try:
                    mono = self._monotonic()
                    if refresh and mono - last_refresh >= REFRESH_SECONDS:
                        last_refresh = mono
                        await asyncio.to_thread(self._store.refresh)
                    await self._refill(only, paused=is_paused())
                    self._send_queued(report)
                    self._write_soon()
                    failures = 0
                    self.step_error = None
                except Exception as error:  # a bug or an unreadable database: say it, wait, try again
                    failures += 1
                    delay = backoff_delay(failures, self.policy)
                    self.step_error = _as_sentence(error)
                    log.exception("a polling step failed; trying again in %.0f s", delay)
                if report.auth_error is not None and stop_on_auth:
                    return report
                if not self._in_flight and not self._queue:
                    if until_settled and self._next_scan_mono == math.inf and not self._forced:
                        return report
                    self._write_at_round_end()
                    on_idle()
                if not failures:
                    delay = min(delay, self._idle_delay(paused=is_paused()))
                if await self._wait(delay, wake, sleep):
                    on_wake()
        finally:
            self._running = False
            self._queue.clear()
            await self.write(force=True)
            report.store_error = self.store_error

    def _idle_delay(self, *, paused: bool = False) -> float:
        """Seconds until there is something to do: a task comes due (and the pace and a rate-limit
        pause let it go), or the staged answers are due to be written. A request that ends wakes the
        wait too."""
        mono = self._monotonic()
        # Paused, only a forced poll (which wakes us) sends anything: no reason to look before then.
        send_in = math.inf if paused and not self._forced else self._next_scan_mono - mono
        for not_before in (
            self.paused_until,
            self.pacer.not_before if self.pacer.budget(mono) == 0 else None,
        ):
            if not_before is not None:
                send_in = max(send_in, not_before - mono)
        moments = [send_in]
        if self._writing is None and (write_at := self._write_due_at()) is not None:
            moments.append(write_at - mono)
        return max(min(moments), 0.0)

    async def _refill(self, only: set[str] | None, *, paused: bool) -> None:
        """Choose the next tasks to send, when the queue is empty and anything may be due: a task came
        due, something else changed the tasks (an add, another process), or a poll was forced."""
        limited = self.rate_limit_left() is not None
        if limited or paused:
            kept = deque(task_id for task_id in self._queue if not limited and task_id in self._forced)
            if len(kept) < len(self._queue):
                self._queue = kept
                self._next_scan_mono = -math.inf  # chosen afresh later: the longest waiting first
            if limited:
                return
        if self._queue or (paused and not self._forced):
            return
        now, mono = self._clock(), self._monotonic()
        version = self._store.outside_version
        if not self._forced and version == self._scanned_version and mono < self._next_scan_mono:
            return
        budget = self.pacer.budget(self._monotonic())
        if budget == 0:
            return
        # Going through 10,000 tasks takes milliseconds: not on the event loop.
        chosen, later = await asyncio.to_thread(self._scan, now, only, budget, forced_only=paused)
        self._queue.extend(tracked.id for tracked in chosen)
        if paused:
            return  # only the forced ones were looked at: what is due is looked for on resuming
        self._scanned_version = version
        # Tasks coming due one after another are taken together, at most one look a second.
        gap = min(SCAN_GAP, self.policy.interval / 4)  # late by at most a quarter of the interval
        self._next_scan_mono = math.inf if later is None else mono + max(later - now, gap)

    def _send_queued(self, report: RoundReport) -> None:
        if self.rate_limit_left() is not None:  # a 429 came while the tasks were being chosen
            self._queue.clear()
            self._next_scan_mono = -math.inf
            return
        while self._queue and len(self._in_flight) < self.concurrency:
            task_id = self._queue.popleft()
            if task_id in self._store:
                self._in_flight[task_id] = asyncio.ensure_future(self._ask_in_flight(task_id, report))

    async def _ask_in_flight(self, task_id: str, report: RoundReport) -> None:
        try:
            await self._ask(task_id, report)
        finally:
            self._in_flight.pop(task_id, None)

    async def _wait(self, delay: float, wake: asyncio.Event | None, sleep: Sleep) -> bool:
        """Until a request or a write ends, the caller wakes us, or `delay` has passed. While either is
        under way the wait is a real timer: a fake `sleep` would race ahead of work that takes real time."""
        waiters: set[asyncio.Future[Any]] = set(self._in_flight.values())
        if self._writing is not None:
            waiters.add(self._writing)
        timer = asyncio.ensure_future(asyncio.sleep(delay) if waiters else sleep(delay))
        waiters.add(timer)
        waker = asyncio.ensure_future(wake.wait()) if wake is not None else None
        if waker is not None:
            waiters.add(waker)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (timer, waker):
                if future is not None and not future.done():
                    future.cancel()
        if timer.done() and not timer.cancelled() and timer.exception() is not None:
            raise timer.exception()  # type: ignore[misc]
        if waker is not None and waker.done() and not waker.cancelled():
            wake.clear()  # type: ignore[union-attr]
            return True
        return False

    async def stop(self) -> None:
        """Cancel the requests in flight (closing) and write what was staged."""
        for request in list(self._in_flight.values()):
            request.cancel()
        await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
        await self.write(force=True)


def _as_sentence(error: Exception) -> GrokdashError:
    if isinstance(error, GrokdashError):
        return error
    return GrokdashError(str(error) or f"an unexpected error ({type(error).__name__})")


async def poll_until_settled(
    poller: Poller,
    store: TaskStore,
    *,
    only: set[str] | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Sleep = asyncio.sleep,
) -> RoundReport | None:
    """Poll until every chosen task is settled (what `grokdash watch` does). Returns the report when an
    auth error stopped it (polling cannot succeed without a valid key), else None."""
    del store, clock  # the poller has both; kept so callers read as before
    report = await poller.run(only, until_settled=True, stop_on_auth=True, sleep=sleep)
    return report if report.auth_error is not None else None
