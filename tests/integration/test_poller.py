"""The polling engine against the simulator, on one fake clock shared by both: what the server sees
(its request log) is exact, and no test waits for real time to pass."""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest

from grokdash.api import GrokClient, Timeouts
from grokdash.models import Status
from grokdash.poller import Poller, PollPolicy, backoff_delay, poll_until_settled
from grokdash.secret import Secret
from grokdash.sim import SimServer
from grokdash.store import TaskStore

pytestmark = pytest.mark.anyio

INTERVAL = 5.0
POLICY = PollPolicy(interval=INTERVAL, backoff_cap=60)


@pytest.fixture
def store(tmp_path, clock) -> TaskStore:
    return TaskStore(tmp_path / "tasks.json", clock=clock)


async def watch(sim: SimServer, store: TaskStore, clock, key: str, **kwargs):
    async def fake_sleep(seconds: float) -> None:
        clock.advance(seconds)

    async with GrokClient(sim.base_url, Secret(key), timeouts=Timeouts(read=2)) as client:
        outcomes = []
        poller = Poller(
            client.get_task, store, policy=POLICY, concurrency=4, clock=clock, on_outcome=outcomes.append
        )
        stopped_by = await poll_until_settled(poller, store, clock=clock, sleep=fake_sleep, **kwargs)
        return poller, outcomes, stopped_by


def requests_by_task(sim: SimServer) -> dict[str, list[float]]:
    times: dict[str, list[float]] = defaultdict(list)
    for record in sim.log.records():
        times[record.task_id].append(record.time)
    return times


async def test_tasks_are_polled_until_final_and_never_after(sim, store, clock, sim_key):
    store.add(["good-1", "good-2", "fail-1", "unknown-1"])
    _, _, stopped_by = await watch(sim, store, clock, sim_key)
    assert stopped_by is None
    statuses = {tracked.id: tracked.status for tracked in store.tasks()}
    assert statuses == {
        "good-1": Status.COMPLETED,
        "good-2": Status.COMPLETED,
        "fail-1": Status.FAILED,
        "unknown-1": "moderated",
    }
    for task_id, times in requests_by_task(sim).items():
        final_at = store.get(task_id).status_seen[str(store.get(task_id).status)]
        assert times[-1] == final_at, f"{task_id} was asked about after it went final"
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert min(gaps) >= INTERVAL, f"{task_id} was asked twice within one interval"


async def test_a_new_id_is_polled_at_once(sim, store, clock, sim_key):
    store.add(["hello"])
    async with GrokClient(sim.base_url, Secret(sim_key)) as client:
        report = await Poller(client.get_task, store, policy=POLICY, clock=clock).poll_round()
    assert report.asked == 1
    assert store.get("hello").status == Status.QUEUED
    assert store.get("hello").status_seen == {"queued": clock.now}


async def test_errors_back_off_and_the_other_tasks_carry_on(sim, store, clock, sim_key):
    store.add(["html-1", "good-1"])
    async with GrokClient(sim.base_url, Secret(sim_key)) as client:
        poller = Poller(client.get_task, store, policy=POLICY, clock=clock)
        for _ in range(40):
            await poller.poll_round()
            clock.advance(1)
    html_times = requests_by_task(sim)["html-1"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(html_times)]
    assert gaps == sorted(gaps), "the waits after errors should only grow"
    for attempt, gap in enumerate(gaps, start=1):
        assert gap >= backoff_delay(attempt, POLICY)
    assert store.get("good-1").status == Status.COMPLETED
    html = store.get("html-1")
    assert html.last_error.kind == "server" and html.consecutive_errors == len(html_times)


async def test_a_rate_limit_slows_every_task_for_the_time_the_server_asked(sim, store, clock, sim_key):
    store.add(["good-1", "good-2", "good-3", "ratelimit-1"])
    async with GrokClient(sim.base_url, Secret(sim_key)) as client:
        poller = Poller(client.get_task, store, policy=POLICY, concurrency=1, clock=clock)
        first = await poller.poll_round()
        assert first.rate_limited_until == clock.now + sim.retry_after_seconds
        sim.log.clear()
        clock.advance(sim.retry_after_seconds - 0.5)
        paused = await poller.poll_round()
        assert paused.asked == 0 and sim.log.records() == []
        clock.advance(INTERVAL)
        resumed = await poller.poll_round()
        assert resumed.asked > 0


async def test_a_task_removed_by_another_process_is_not_brought_back(sim, store, clock, sim_key, tmp_path):
    store.add(["good-1", "good-2"])
    other_process = TaskStore(tmp_path / "tasks.json", clock=clock)

    async def get_and_remove(task_id):
        other_process.remove(["good-2"])  # `grokdash rm` in another terminal, mid-round
        async with GrokClient(sim.base_url, Secret(sim_key)) as client:
            return await client.get_task(task_id)

    await Poller(get_and_remove, store, policy=POLICY, clock=clock).poll_round()
    store.refresh()
    assert [tracked.id for tracked in store.tasks()] == ["good-1"]


async def test_a_round_writes_the_database_once_and_not_at_all_when_nothing_changed(
    sim, store, clock, sim_key
):
    store.add([f"good-{n}" for n in range(20)])
    async with GrokClient(sim.base_url, Secret(sim_key)) as client:
        poller = Poller(client.get_task, store, policy=POLICY, clock=clock)
        before = store.writes
        await poller.poll_round()
        assert store.writes == before + 1
        await poller.poll_round()  # nothing is due: no request, no write
        assert store.writes == before + 1


async def test_a_wrong_key_stops_the_watch_with_an_auth_error(sim, store, clock):
    store.add(["good-1"])
    _, _, stopped_by = await watch(sim, store, clock, "wrong-key")
    assert stopped_by is not None and stopped_by.auth_error.kind == "auth"


async def test_forcing_a_poll_asks_about_a_final_task_again(sim, store, clock, sim_key):
    store.add(["fail-1"])
    await watch(sim, store, clock, sim_key)
    asked_before = len(sim.log.for_task("fail-1"))
    async with GrokClient(sim.base_url, Secret(sim_key)) as client:
        poller = Poller(client.get_task, store, policy=POLICY, clock=clock)
        assert (await poller.poll_round()).asked == 0
        poller.force(["fail-1"])
        assert (await poller.poll_round()).asked == 1
    assert len(sim.log.for_task("fail-1")) == asked_before + 1
