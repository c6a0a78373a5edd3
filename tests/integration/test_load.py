"""Thousands of tasks against a simulator that rate-limits the key, on one fake clock shared by both.

What a user (or the provider) would check: once the server has said "too many requests", grokdash waits
as long as it was told, then never sends more than the server allows in any window; and every task
still ends final, none lost. The server's request log is the record, exact on the fake clock.
"""

from __future__ import annotations

import bisect

import pytest

from grokdash.api import GrokClient
from grokdash.models import Status
from grokdash.poller import Poller, PollPolicy, poll_until_settled
from grokdash.secret import Secret
from grokdash.sim import RateLimit, RequestRecord, SimServer
from grokdash.store import TaskStore
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio

LIMIT = RateLimit(requests=500, seconds=10)
CONCURRENCY = 8
POLICY = PollPolicy(interval=30)


def busiest_window(records: list[RequestRecord], ending_after: float, seconds: float) -> int:
    """The most requests the server saw in any `seconds` (a window open at its start, as the server's
    own), among the windows that end after `ending_after`."""
    times = sorted(record.time for record in records)
    ends = times[bisect.bisect_right(times, ending_after) :]
    return max(
        (bisect.bisect_right(times, end) - bisect.bisect_right(times, end - seconds) for end in ends),
        default=0,
    )


async def track_and_watch(
    sim: SimServer, clock: FakeClock, store: TaskStore, key: str, count: int
) -> list[str]:
    ids = [f"load-{n:05d}" for n in range(count)]
    store.add(ids)

    async def fake_sleep(seconds: float) -> None:
        clock.advance(seconds)

    async with GrokClient(sim.base_url, Secret(key), max_connections=CONCURRENCY) as client:
        poller = Poller(client.get_task, store, policy=POLICY, concurrency=CONCURRENCY, clock=clock)
        stopped_by = await poll_until_settled(poller, store, clock=clock, sleep=fake_sleep)
    assert stopped_by is None
    return ids


@pytest.mark.parametrize("count", [2_000, pytest.param(10_000, marks=pytest.mark.soak)])
async def test_thousands_of_tasks_stay_under_the_servers_limit_and_all_end_final(
    sim: SimServer, clock: FakeClock, sim_key: str, tmp_path, count: int
) -> None:
    sim.rate_limit = LIMIT
    store = TaskStore(tmp_path / "tasks.json", clock=clock)
    ids = await track_and_watch(sim, clock, store, sim_key, count)

    # Nothing lost: every task is tracked still, and completed with its video.
    store.refresh()
    assert sorted(tracked.id for tracked in store.tasks()) == ids
    assert {tracked.status for tracked in store.tasks()} == {Status.COMPLETED}
    assert all(tracked.task and tracked.task.video_url for tracked in store.tasks())

    records = sim.log.records()
    refused = [record for record in records if record.status == 429]
    assert refused, "the test means nothing if the limit was never reached"
    first = refused[0]
    # The only refusals are of requests already on their way when the first 429 came back.
    assert len(refused) <= CONCURRENCY
    assert {record.time for record in refused} == {first.time}
    later = [record for record in records if record.time > first.time]
    # The wait the server asked for (a whole window: the burst filled it at once) was honoured...
    assert min(record.time for record in later) >= first.time + LIMIT.seconds
    # ...and after it, no window ever held more requests than the server allows.
    assert busiest_window(records, first.time, LIMIT.seconds) <= LIMIT.requests
    # Not by crawling either: while tasks the burst never reached were waiting, it used most of the
    # allowance.
    resumed = min(record.time for record in later)
    first_answer: dict[str | None, float] = {}
    for record in records:
        if record.status == 200:
            first_answer.setdefault(record.task_id, record.time)
    all_asked = max(first_answer.values())
    backlog = [record for record in later if record.time <= all_asked]
    assert len(backlog) / (all_asked - resumed) >= 0.8 * LIMIT.requests / LIMIT.seconds


async def test_after_a_429_a_round_asks_about_one_batch_the_longest_waiting_first(
    sim: SimServer, clock: FakeClock, sim_key: str, tmp_path
) -> None:
    sim.rate_limit = RateLimit(requests=10, seconds=4)
    store = TaskStore(tmp_path / "tasks.json", clock=clock)
    store.add([f"early-{n}" for n in range(30)])
    async with GrokClient(sim.base_url, Secret(sim_key)) as client:
        poller = Poller(client.get_task, store, policy=POLICY, concurrency=1, clock=clock)
        burst = await poller.poll_round()
        assert (burst.answered, burst.failed, burst.skipped) == (10, 1, 19)
        store.add([f"late-{n}" for n in range(5)])
        clock.advance(4)
        paced = await poller.poll_round()  # 10 per 4 s: batches of 5 every 2.1 s
        assert paced.asked == 5
        assert not (await poller.poll_round()).asked, "a second batch within the gap"
        assert poller.next_wake(clock.now) == pytest.approx(clock.now + 2.1)
    asked_after_the_wait = [record.task_id for record in sim.log.records() if record.time > clock.now - 1]
    # The 19 that the burst never reached had waited longest; the ids added since wait their turn.
    assert all(task_id.startswith("early-") for task_id in asked_after_the_wait)


async def test_a_poll_asked_for_during_the_wait_waits_for_it(
    sim: SimServer, clock: FakeClock, sim_key: str, tmp_path
) -> None:
    sim.rate_limit = RateLimit(requests=1, seconds=30)
    store = TaskStore(tmp_path / "tasks.json", clock=clock)
    store.add(["one", "two"])
    async with GrokClient(sim.base_url, Secret(sim_key)) as client:
        poller = Poller(client.get_task, store, policy=POLICY, concurrency=1, clock=clock)
        await poller.poll_round()
        poller.force(["one"])  # `r` pressed in the dashboard meanwhile
        wake = poller.next_wake(clock.now)
        assert wake >= clock.now + 30, "not a busy loop of empty rounds"
        assert (await poller.poll_round()).asked == 0
        clock.advance(wake - clock.now)
        assert (await poller.poll_round()).asked == 1
    assert [record.status for record in sim.log.records()] == [200, 429, 200]
