"""The wall clock steps (NTP, a laptop waking up, a user setting the date) while a watch runs, or a
record was written by a process whose clock ran ahead: polling carries on at the interval.

Two fake clocks: the monotonic one, which only goes forward and is what "every 5 s" means, and the wall
clock (monotonic + an offset the test steps), which is what is stored. The server here is a function
that logs when it was asked on the monotonic clock; the schedule rule is checked on its own first.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grokdash.errors import RateLimitedError, ServerError
from grokdash.models import Status, Task
from grokdash.poller import SCAN_GAP, Poller, PollPolicy, backoff_delay, is_due, next_poll_at
from grokdash.store import TaskStore
from grokdash.tracked import TrackedTask
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio

T0 = 1_764_300_000.0
HOUR = 3600.0
DAY = 86_400.0
POLICY = PollPolicy(interval=30, jitter=0.1, backoff_cap=600)


def tracked(**changes) -> TrackedTask:
    return dataclasses.replace(TrackedTask(id="task_1", added_at=T0), **changes)


def checked(at: float, status: str = Status.PROCESSING) -> TrackedTask:
    return tracked().with_answer(Task(id="task_1", status=status), at)


# ---- the rule: a check stored in the future --------------------------------------------------------


def test_a_check_stored_a_day_ahead_is_due_now():
    task = checked(T0 + DAY)
    assert next_poll_at(task, POLICY, T0) == T0
    assert is_due(task, T0, POLICY)


def test_without_now_the_stored_time_is_taken_as_it_is():
    """The pure schedule (what a display of "next check" reads) is unchanged by the rule."""
    assert next_poll_at(checked(T0 + DAY), POLICY) >= T0 + DAY + POLICY.interval


@pytest.mark.parametrize("ahead", [0.0, 1.0, 29.0, 30.0])
def test_a_check_ahead_by_no_more_than_the_interval_keeps_its_schedule(ahead):
    """A clock a little ahead (or a check just made) is not "in the future": the task waits its
    interval from the stored check, so it is never asked twice within one."""
    task = checked(T0 + ahead)
    assert next_poll_at(task, POLICY, T0) == next_poll_at(task, POLICY)
    assert next_poll_at(task, POLICY, T0) >= T0 + ahead + POLICY.interval
    assert not is_due(task, T0, POLICY)


def test_just_over_the_interval_ahead_is_due_now():
    assert next_poll_at(checked(T0 + 30.001), POLICY, T0) == T0


def test_after_errors_the_wait_it_stands_for_is_the_backoff():
    """Two errors: the wait is 120 s, so a check 100 s ahead is a backoff under way, 130 s ahead is not."""
    failed = tracked()
    for _ in range(2):
        failed = failed.with_error(ServerError("the server failed (HTTP 500)", 500), T0)
    assert backoff_delay(2, POLICY) == 120
    behind = dataclasses.replace(failed, checked_at=T0 + 100)
    assert next_poll_at(behind, POLICY, T0) >= T0 + 100 + 120
    ahead = dataclasses.replace(failed, checked_at=T0 + 130)
    assert next_poll_at(ahead, POLICY, T0) == T0


def test_a_retry_after_stored_by_a_clock_a_day_ahead_does_not_hold_the_task_for_a_day():
    task = tracked().with_error(RateLimitedError("rate limited", retry_after=900), T0 + DAY)
    assert task.retry_after == T0 + DAY + 900
    assert next_poll_at(task, POLICY, T0) == T0


def test_a_retry_after_written_by_our_own_clock_is_honoured():
    task = tracked().with_error(RateLimitedError("rate limited", retry_after=900), T0)
    assert next_poll_at(task, POLICY, T0 + 1) == T0 + 900


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.FAILED])
def test_a_final_task_stays_unpolled_whatever_its_stored_time(status):
    assert next_poll_at(checked(T0 + DAY, status), POLICY, T0) is None


@given(
    offset=st.floats(min_value=-10 * DAY, max_value=10 * DAY, allow_nan=False),
    errors=st.integers(min_value=0, max_value=6),
)
def test_whatever_the_stored_time_a_task_never_waits_much_more_than_its_wait(offset, errors):
    """Due now when the stored check is further ahead than its wait; else on its schedule, unchanged by
    the rule: at most the wait ahead, plus the (stretched) wait itself."""
    task = tracked()
    for _ in range(errors):
        task = task.with_error(ServerError("x", 500), T0)
    task = dataclasses.replace(task, checked_at=T0 + offset)
    wait = backoff_delay(errors, POLICY) if errors else POLICY.interval
    due = next_poll_at(task, POLICY, T0)
    assert due is not None
    if offset > wait:
        assert due == T0
    else:
        assert due == next_poll_at(task, POLICY)
        assert due - T0 <= wait + wait * (1 + POLICY.jitter)


# ---- a running poller whose wall clock steps ------------------------------------------------------

INTERVAL = 5.0
RUN_POLICY = PollPolicy(interval=INTERVAL, backoff_cap=60)
HORIZON = 400.0
"""Monotonic seconds each watch runs for."""
IDS = ["good-1", "good-2", "good-3"]
LONGEST_GAP = INTERVAL * (1 + RUN_POLICY.jitter) + SCAN_GAP
"""The longest a task should wait between two asks: its stretched interval and one look for due tasks."""


class Clocks:
    """A monotonic fake clock and a wall clock that is it plus an offset the test steps."""

    def __init__(self) -> None:
        self.monotonic = FakeClock(1_000.0)
        self.offset = T0 - self.monotonic.now

    def wall(self) -> float:
        return self.monotonic.now + self.offset


class Horizon(Exception):
    """The end of the watch on the monotonic clock."""


async def watch(
    tmp_path: Path,
    steps: dict[float, float],
    *,
    prepare: Callable[[TaskStore, Clocks], None] = lambda store, clocks: None,
) -> dict[str, list[float]]:
    """`Poller.run` over IDS for HORIZON monotonic seconds; at each monotonic second of `steps` the wall
    clock jumps by its value. Returns, per id, the monotonic times it was asked at."""
    clocks = Clocks()
    store = TaskStore(tmp_path / "tasks.json", clock=clocks.wall)
    store.add(IDS)
    prepare(store, clocks)
    asked: dict[str, list[float]] = defaultdict(list)
    start = clocks.monotonic.now
    pending = sorted(steps.items())

    async def get_task(task_id: str) -> Task:
        asked[task_id].append(clocks.monotonic.now - start)
        return Task(id=task_id, status=Status.PROCESSING)

    async def fake_sleep(seconds: float) -> None:
        clocks.monotonic.advance(seconds)
        while pending and clocks.monotonic.now - start >= pending[0][0]:
            clocks.offset += pending.pop(0)[1]
        if clocks.monotonic.now - start >= HORIZON:
            raise Horizon

    poller = Poller(get_task, store, policy=RUN_POLICY, clock=clocks.wall, monotonic=clocks.monotonic)
    with pytest.raises(Horizon):
        await poller.run(sleep=fake_sleep)
    return dict(asked)


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


STEPS = [
    pytest.param({100.0: -HOUR}, id="back-an-hour"),
    pytest.param({100.0: DAY}, id="forward-a-day"),
    pytest.param({100.0: -HOUR, 200.0: DAY}, id="back-an-hour-then-forward-a-day"),
]


@pytest.mark.parametrize("steps", STEPS)
async def test_polling_carries_on_at_the_interval_when_the_wall_clock_steps(tmp_path, steps):
    asked = await watch(tmp_path, steps)
    for task_id in IDS:
        times = asked[task_id]
        assert times[0] == 0.0 and times[-1] >= HORIZON - LONGEST_GAP, times
        assert max(gaps(times)) <= 2 * INTERVAL, f"{task_id} went unasked for too long: {times}"


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param({100.0: -HOUR}, id="back-an-hour"),
        pytest.param({100.0: DAY}, id="forward-a-day"),
        pytest.param({100.0: -HOUR, 200.0: DAY}, id="back-an-hour-then-forward-a-day"),
    ],
)
async def test_nothing_is_asked_twice_within_an_interval_of_the_monotonic_clock(tmp_path, steps):
    asked = await watch(tmp_path, steps)
    for task_id in IDS:
        assert min(gaps(asked[task_id])) >= INTERVAL, f"{task_id} was asked twice within an interval"


async def test_a_record_checked_by_a_process_whose_clock_ran_a_day_ahead_is_polled_at_the_interval(tmp_path):
    """Another process, its clock a day ahead, wrote good-1's last check: good-1 is asked at once, then
    every interval like the others, not a day later."""

    def checked_a_day_ahead(store: TaskStore, clocks: Clocks) -> None:
        answer = Task(id="good-1", status=Status.PROCESSING)
        store.update({"good-1": lambda old: old.with_answer(answer, clocks.wall() + DAY)})

    asked = await watch(tmp_path, {}, prepare=checked_a_day_ahead)
    for task_id in IDS:
        times = asked[task_id]
        assert times[0] == 0.0 and times[-1] >= HORIZON - LONGEST_GAP, times
        assert min(gaps(times)) >= INTERVAL and max(gaps(times)) <= LONGEST_GAP, times
