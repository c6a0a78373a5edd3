"""The fault matrix on the command line: every fault of tests/faults.py against `grokdash status`,
`grokdash watch --once`, and many rounds of the watch engine on a fake clock.

What a user checks: the right error kind, one readable sentence, the exit status of the contract, no
traceback; while watching, the healthy task still completes, the faulty one is asked at growing gaps (the
simulator's request log, on the fake clock), and every tracked id is still tracked afterwards.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from grokdash.api import GrokClient, Timeouts
from grokdash.models import Status
from grokdash.poller import Poller, PollPolicy, RoundReport, backoff_delay, poll_until_settled
from grokdash.pollstate import NOT_FOUND_GIVE_UP, is_gone
from grokdash.secret import Secret
from grokdash.sim import SCENARIOS, RequestLog, SimServer, scenario_for
from grokdash.store import TaskStore
from grokdash.tracked import TrackedTask
from tests.conftest import FakeClock
from tests.faults import (
    FAULT_IDS,
    FAULTS,
    HEALTHY,
    READ_TIMEOUT,
    WRONG_KEY,
    Course,
    Fault,
    LateServer,
    Scope,
    assert_one_sentence,
)

from .cli import CliResult, run_cli

INTERVAL = 5.0
POLICY = PollPolicy(interval=INTERVAL, backoff_cap=60)
HORIZON = 150.0
"""Fake seconds a watch of a fault that never clears runs for: the healthy task completes in 30."""
OUTAGE_SECONDS = 60.0
"""How long the server is away in the connection-refused row, in fake seconds."""
LIFETIME = 35.0
"""Fake seconds after which a task the simulator has seen is final (queued 10 s, processing 20 s)."""


@pytest.fixture
def late(sim: SimServer):
    with LateServer(sim) as server:
        yield server


def base_url(fault: Fault, sim: SimServer, late: LateServer) -> str:
    return late.base_url if fault.scope is Scope.SERVER else sim.base_url


def key_for(fault: Fault, sim_key: str) -> str:
    return WRONG_KEY if fault.scope is Scope.KEY else sim_key


@pytest.fixture
def env(fault: Fault, sim: SimServer, late: LateServer, sim_key: str, tmp_path: Path) -> dict[str, str]:
    return {
        "GROKDASH_BASE_URL": base_url(fault, sim, late),
        "GROKDASH_API_KEY": key_for(fault, sim_key),
        "GROKDASH_TIMEOUT": str(READ_TIMEOUT),
        "GROKDASH_DB": str(tmp_path / "tasks.json"),
        "GROKDASH_DOWNLOAD_DIR": str(tmp_path / "videos"),
    }


def assert_clean_exit(result: CliResult, code: int) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr


def by_id(result: CliResult) -> dict[str, dict]:
    return {item["id"]: item for item in json.loads(result.stdout)}


def twin(task_id: str) -> str:
    """Another id of the same scenario that the simulator has not seen yet (flaky fails every other query
    of one id, so a second command about the same id would see it recover)."""
    return task_id.removesuffix("-1") + "-2"


def test_the_matrix_covers_every_simulator_scenario() -> None:
    """So "every fault" stays true when the simulator learns a new one."""
    covered = {scenario_for(fault.task_id) for fault in FAULTS}
    assert set(SCENARIOS) - covered == set()
    assert len(FAULT_IDS) == len(set(FAULT_IDS))


# ---- grokdash status ------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
def test_status(fault: Fault, env: dict[str, str], clock: FakeClock) -> None:
    result = run_cli(["status", "--json", *fault.ids], env)
    answers = by_id(result)
    if fault.kind is None:
        # Tolerated: read as a task, like the healthy one. Its outcome shows once it is final.
        assert {answers[i]["status"] for i in fault.ids} == {Status.QUEUED}
        assert_clean_exit(result, 0)
        assert result.stderr == ""
        clock.advance(LIFETIME)
        result = run_cli(["status", "--json", *fault.ids], env)
        answer = by_id(result)[fault.task_id]
        assert answer["status"] == fault.final_status and answer["query_error"] is None
        if fault.final_status == Status.FAILED:
            assert_one_sentence(answer["error"], fault.says)
        if fault.final_status == Status.COMPLETED:
            # An expiring URL looks like any other here: status fetches no video (see the watch test).
            assert answer["video_url"].startswith("http://127.0.0.1:")
        assert_clean_exit(result, 1 if fault.final_status == Status.FAILED else 0)
        return

    for task_id in fault.hit:
        error = answers[task_id]["query_error"]
        assert error["kind"] == fault.kind
        assert_one_sentence(error["message"], fault.says)
        assert answers[task_id]["status"] is None
    if fault.scope is Scope.TASK:
        assert answers[HEALTHY]["status"] == Status.QUEUED and answers[HEALTHY]["query_error"] is None
    assert_clean_exit(result, 1)
    assert result.stderr == ""

    # The table a person reads: the faulty id's line holds the kind and the same sentence.
    faulty = twin(fault.task_id) if fault.scope is Scope.TASK else fault.task_id
    result = run_cli(["status", faulty, HEALTHY], env)
    assert_clean_exit(result, 1)
    line = next(line for line in result.stdout.splitlines() if line.startswith(faulty + " "))
    assert fault.kind in line
    assert fault.says.replace(fault.task_id, faulty) in line


# ---- grokdash watch --once --------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
def test_watch_once(fault: Fault, env: dict[str, str]) -> None:
    result = run_cli(["watch", "--once", *fault.ids], env)
    lines = result.stdout.splitlines()
    if fault.scope is Scope.KEY:
        # No key, no polling: said once, on standard error, exit 1 (the watch cannot go on).
        assert_clean_exit(result, 1)
        assert result.stderr.count("\n") == 1
        assert_one_sentence(result.stderr.strip(), fault.says)
    else:
        assert_clean_exit(result, 0)
        assert result.stderr == ""
    for task_id in fault.hit:
        if fault.kind is not None:
            said = next(line for line in lines if f"  {task_id}  query failed ({fault.kind}): " in line)
            assert_one_sentence(said.partition("): ")[2], fault.says)
    if fault.scope is Scope.TASK:
        assert any(line.endswith(f"  {HEALTHY}  queued") for line in lines)

    # What was stored, as `ls --json` shows it: the error kind and sentence, and every id.
    listed = run_cli(["ls", "--json"], env)
    assert_clean_exit(listed, 0)
    stored = by_id(listed)
    assert set(stored) == set(fault.ids), "a tracked id was lost"
    for task_id in fault.hit:
        error = stored[task_id]["query_error"]
        if fault.kind is None:
            assert error is None and stored[task_id]["status"] == Status.QUEUED
        else:
            assert error["kind"] == fault.kind
            assert_one_sentence(error["message"], fault.says)
    if fault.scope is Scope.TASK:
        assert stored[HEALTHY]["status"] == Status.QUEUED


# ---- watching for many rounds, on a fake clock -------------------------------------------------------


class Horizon(Exception):
    """The fake clock reached the end of the watch while a task was still unsettled."""


async def watch_rounds(
    url: str,
    key: str,
    store: TaskStore,
    clock: FakeClock,
    on_tick: Callable[[], object] = lambda: None,
    horizon: float = HORIZON,
) -> RoundReport | Horizon | None:
    """The engine `grokdash watch` runs (poll_until_settled), with its sleeps moving the fake clock:
    None when every task settled, the round that saw an auth error, or Horizon."""
    end = clock.now + horizon

    async def fake_sleep(seconds: float) -> None:
        clock.advance(seconds)
        on_tick()
        if clock.now >= end:
            raise Horizon

    async with GrokClient(url, Secret(key), timeouts=Timeouts(connect=2, read=READ_TIMEOUT)) as client:
        poller = Poller(client.get_task, store, policy=POLICY, concurrency=4, clock=clock)
        try:
            return await poll_until_settled(poller, store, clock=clock, sleep=fake_sleep)
        except Horizon as reached:
            return reached


def times(log: RequestLog, task_id: str) -> list[float]:
    return [record.time for record in log.for_task(task_id)]


def gaps(stamps: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(stamps)]


def assert_backs_off(stamps: list[float]) -> None:
    """Asked again only after the backoff of its error count (twice the interval, then doubling up to the
    cap), so the gaps grow. Jitter stretches each wait a little, so two capped waits may differ: the
    doubling lower bounds are what is checked, not an exact order."""
    waits = gaps(stamps)
    assert len(waits) >= 2, stamps
    for attempt, wait in enumerate(waits, start=1):
        assert wait >= backoff_delay(attempt, POLICY), f"asked again too soon: {waits}"
    assert waits[-1] > waits[0] > INTERVAL, f"the waits did not grow: {waits}"


def assert_completed(tracked: TrackedTask | None) -> None:
    assert tracked is not None and tracked.status == Status.COMPLETED, tracked
    assert tracked.last_error is None


async def logged(log: RequestLog, task_id: str, count: int) -> list[float]:
    """The simulator logs a slow request when it answers, after the client gave up on it: wait for the
    log to hold all `count` (a condition, bounded; a no-op for every other fault)."""
    with anyio.fail_after(5):
        while len(log.for_task(task_id)) < count:
            await anyio.sleep(0.02)
    return times(log, task_id)


@pytest.mark.anyio
@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
async def test_watch_many_rounds(
    fault: Fault, sim: SimServer, late: LateServer, sim_key: str, clock: FakeClock, env: dict[str, str]
) -> None:
    store = TaskStore(Path(env["GROKDASH_DB"]), clock=clock)
    store.add(fault.ids)
    started = clock.now

    def server_returns() -> None:
        if fault.scope is Scope.SERVER and late.sim is None and clock.now - started >= OUTAGE_SECONDS:
            late.start()

    outcome = await watch_rounds(
        base_url(fault, sim, late), key_for(fault, sim_key), store, clock, server_returns
    )
    log = late.sim.log if fault.scope is Scope.SERVER and late.sim else sim.log
    store.refresh()
    assert [tracked.id for tracked in store.tasks()] == fault.ids, "a tracked id was lost"
    faulty, healthy = store.get(fault.task_id), store.get(HEALTHY)
    assert faulty is not None and healthy is not None

    match fault.course:
        case Course.BACKS_OFF:
            assert isinstance(outcome, Horizon), "a fault that never clears never settles"
            assert_completed(healthy)
            assert faulty.task is None and faulty.last_error is not None
            assert faulty.last_error.kind == fault.kind
            assert_one_sentence(faulty.last_error.message, fault.says)
            asked = await logged(log, fault.task_id, faulty.consecutive_errors)
            assert len(asked) == faulty.consecutive_errors
            assert_backs_off(asked)
            healthy_asked = times(log, HEALTHY)
            assert healthy_asked[-1] == healthy.status_seen[Status.COMPLETED]
            while_healthy_ran = [at for at in asked if at <= healthy_asked[-1]]
            assert len(while_healthy_ran) < len(healthy_asked), "the faulty task was not asked less often"

        case Course.GONE:
            assert outcome is None, "not found three times running settles the watch"
            assert_completed(healthy)
            assert is_gone(faulty) and faulty.last_error.kind == fault.kind
            assert_one_sentence(faulty.last_error.message, fault.says)
            asked = times(log, fault.task_id)
            assert len(asked) == NOT_FOUND_GIVE_UP
            assert_backs_off(asked)

        case Course.RECOVERS:
            assert outcome is None
            assert_completed(healthy)
            assert_completed(faulty)
            assert {failure.kind for failure in faulty.recent_errors} == {fault.kind}
            for failure in faulty.recent_errors:
                assert_one_sentence(failure.message, fault.says)
            records = log.for_task(fault.task_id)
            for earlier, later in itertools.pairwise(records):
                wait = later.time - earlier.time
                assert wait >= (backoff_delay(1, POLICY) if earlier.status >= 500 else INTERVAL), records

        case Course.FINAL:
            assert outcome is None
            assert_completed(healthy)
            assert faulty.status == fault.final_status
            assert faulty.recent_errors == (), "a tolerated answer is not an error"
            assert times(log, fault.task_id)[-1] == faulty.status_seen[fault.final_status], (
                "asked after final"
            )
            if fault.final_status == Status.FAILED:
                assert_one_sentence(faulty.task.error, fault.says)
            if fault.expired_url is not None:
                await assert_saving_after_expiry(fault, env, store)

        case Course.STOPS:
            assert isinstance(outcome, RoundReport) and outcome.auth_error is not None
            assert_one_sentence(outcome.auth_error.message, fault.says)
            for tracked in store.tasks():
                assert tracked.last_error is not None and tracked.last_error.kind == fault.kind
            assert sorted(record.task_id for record in log.records()) == sorted(fault.ids), (
                "asked again with a key the server refused"
            )

        case Course.OUTAGE:
            assert outcome is None, "once the server is back, every task completes"
            for tracked in (faulty, healthy):
                assert_completed(tracked)
                assert {failure.kind for failure in tracked.recent_errors} == {fault.kind}
                assert_one_sentence(tracked.recent_errors[-1].message, fault.says)
                # Refused connections never reach a server's log: the client's own record shows the backoff.
                tried = [failure.at for failure in tracked.recent_errors]
                assert len(tried) >= 2 and all(at < started + OUTAGE_SECONDS for at in tried)
                assert_backs_off(tried)
                assert times(log, tracked.id)[0] >= started + OUTAGE_SECONDS


async def assert_saving_after_expiry(fault: Fault, env: dict[str, str], store: TaskStore) -> None:
    """The user's next step after the watch, `grokdash download`: an expired URL is asked for again once;
    a URL that stays expired is said plainly (exit 1), one that is renewed is saved."""
    # In a thread: the command runs its own event loop, as it does in a shell.
    result = await anyio.to_thread.run_sync(run_cli, ["download", fault.task_id], env)
    store.refresh()
    tracked = store.get(fault.task_id)
    assert tracked is not None
    if fault.expired_url == "always":
        assert_clean_exit(result, 1)
        assert result.stderr.count("\n") == 1
        assert_one_sentence(result.stderr.strip(), fault.says)
        assert tracked.local_file is None
        assert tracked.download_error is not None and tracked.download_error.kind == "url_expired"
    else:
        assert_clean_exit(result, 0)
        assert tracked.local_file is not None and Path(tracked.local_file).is_file()
        assert re.fullmatch(rf"saved {re.escape(fault.task_id)}: .+\.mp4\n", result.stdout)


# ---- every fault of one task at once ------------------------------------------------------------------

TASK_FAULTS = [fault for fault in FAULTS if fault.scope is Scope.TASK]
MORE_HEALTHY = ["good-2", "good-3"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "horizon",
    # Every 429 teaches the poller to pace all requests (pacing.py), so with 19 tasks each is asked
    # about less often than alone: 150 s leaves the healthy ones room to complete. The hour is the soak.
    [pytest.param(HORIZON, id="150s"), pytest.param(3600.0, id="an-hour", marks=pytest.mark.soak)],
)
async def test_watch_every_fault_at_once(
    sim: SimServer, sim_key: str, clock: FakeClock, tmp_path: Path, horizon: float
) -> None:
    """A user's real list: every kind of trouble in one watch. A rate limit pausing everyone, a hung request
    holding a slot and a stream of errors must not keep the healthy tasks from completing."""
    ids = [fault.task_id for fault in TASK_FAULTS] + [HEALTHY, *MORE_HEALTHY]
    store = TaskStore(tmp_path / "tasks.json", clock=clock)
    store.add(ids)
    outcome = await watch_rounds(sim.base_url, sim_key, store, clock, horizon=horizon)
    assert isinstance(outcome, Horizon)
    store.refresh()
    assert [tracked.id for tracked in store.tasks()] == ids, "a tracked id was lost"
    for task_id in [HEALTHY, *MORE_HEALTHY]:
        assert_completed(store.get(task_id))
    for fault in TASK_FAULTS:
        tracked = store.get(fault.task_id)
        assert tracked is not None
        if fault.course is Course.BACKS_OFF:
            assert tracked.last_error is not None and tracked.last_error.kind == fault.kind, fault.name
            assert_one_sentence(tracked.last_error.message, fault.says)
        elif fault.course is Course.GONE:
            assert is_gone(tracked), fault.name
        else:
            assert tracked.status == fault.final_status, fault.name
