"""`grokdash watch` when things go wrong: a hostile server, a task that never answers, a database that
cannot be written.

What a user checks is checked. Against a hostile server (tests/hostile.py) the real command ends, in
little memory, with that id's error and nothing of the answer stored. A task that hangs does not hold
the others back: their JSON lines arrive, and are written to the database, while its request is still
open. When the database cannot be written (read-only, full, locked by another process) polling goes on at
the interval without asking anything twice, the reason is kept, the answers are shown from memory, and
they are written once the disk works again.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grokdash.api import GrokClient, Timeouts
from grokdash.models import Status
from grokdash.poller import FLUSH_BACKOFF_CAP, SCAN_GAP, Poller, PollPolicy, RoundReport
from grokdash.secret import Secret
from grokdash.sim import SimServer, Timings
from grokdash.sim.log import NO_ANSWER
from grokdash.store import StoreError, TaskStore
from tests.conftest import SIM_KEY, FakeClock
from tests.faults import assert_one_sentence
from tests.hostile import (
    BOUND,
    HOSTILE,
    HOSTILE_IDS,
    ONCE,
    SMALL_FILE,
    HostileServer,
    Run,
    assert_bounded,
    assert_nothing_large_written,
    child_env,
    grokdash,
)

pytestmark = pytest.mark.anyio

INTERVAL = 0.5
"""`--interval` of the real commands (seconds)."""


@pytest.fixture
def server() -> Iterator[HostileServer]:
    hostile = HostileServer()
    yield hostile
    hostile.close()


def json_lines(run: Run) -> list[dict]:
    return [json.loads(line) for line in run.stdout.splitlines()]


def on_disk(db: Path) -> TaskStore:
    """The database as another process opens it: what is on disk, not what the watch holds."""
    return TaskStore(db)


# ---- a hostile server ------------------------------------------------------------------------------


@pytest.mark.parametrize(("behaviour", "kind", "says"), HOSTILE, ids=HOSTILE_IDS)
def test_watch_once_against_a_hostile_server_ends_with_that_ids_error(
    server, tmp_path, behaviour, kind, says
):
    hostile = f"{behaviour}-1"
    run = grokdash(
        tmp_path, server.base_url, "watch", "--once", "--json", "--interval", "0.5", hostile, "healthy-1"
    )

    assert run.exit_code == 0, run.stderr  # a query error is the task's outcome, not the command's
    assert_bounded(run)
    assert run.stderr == ""
    by_id = {item["id"]: item for item in json.loads(run.stdout)}
    assert by_id[hostile]["status"] is None
    assert by_id[hostile]["query_error"]["kind"] == kind
    assert_one_sentence(by_id[hostile]["query_error"]["message"], says)
    assert by_id["healthy-1"]["status"] == Status.COMPLETED and by_id["healthy-1"]["query_error"] is None
    assert server.queries == {hostile: 1, "healthy-1": 1}
    stored = on_disk(tmp_path / "tasks.json")
    assert stored.get(hostile).last_error.kind == kind
    assert stored.get("healthy-1").status == Status.COMPLETED
    assert (tmp_path / "tasks.json").stat().st_size < SMALL_FILE
    assert_nothing_large_written(tmp_path)


@pytest.mark.parametrize(("behaviour", "kind", "says"), HOSTILE, ids=HOSTILE_IDS)
def test_watch_gets_past_a_hostile_answer_and_ends_when_all_are_final(
    server, tmp_path, behaviour, kind, says
):
    """The long-running watch: the id is hostile on its first query only, so the watch asks again after
    the backoff and the task completes; the hostile answer cost one error line and nothing else."""
    hostile = f"{behaviour}{ONCE}-1"
    run = grokdash(tmp_path, server.base_url, "watch", "--json", "--interval", "0.5", hostile, "healthy-1")

    assert run.exit_code == 0, run.stderr
    # The timeout, one backoff (two intervals) and a second answer: a bound with room, not a benchmark.
    assert_bounded(run, bound=BOUND + 5)
    assert run.stderr == ""
    lines = json_lines(run)
    seen = [
        (line["status"], (line["query_error"] or {}).get("kind")) for line in lines if line["id"] == hostile
    ]
    assert seen == [(None, kind), (Status.COMPLETED, None)], seen
    [said] = [
        line["query_error"]["message"] for line in lines if line["id"] == hostile and line["query_error"]
    ]
    assert_one_sentence(said, says)
    assert [line["status"] for line in lines if line["id"] == "healthy-1"] == [Status.COMPLETED]
    # Asked again only after the error, never once more after each was final.
    assert server.queries == {hostile: 2, "healthy-1": 1}
    stored = on_disk(tmp_path / "tasks.json")
    assert {tracked.id: tracked.status for tracked in stored.tasks()} == {
        hostile: Status.COMPLETED,
        "healthy-1": Status.COMPLETED,
    }
    assert (tmp_path / "tasks.json").stat().st_size < SMALL_FILE
    assert_nothing_large_written(tmp_path)


# ---- a task that never answers ----------------------------------------------------------------------

HANG_TIMEOUT = 30.0
"""GROKDASH_TIMEOUT of the streaming test: nothing the test waits for may take as long."""


class Child:
    """`grokdash ARGS` running as a child process, its standard output read line by line as it comes."""

    def __init__(self, args: list[str], env: dict[str, str], stderr: Path) -> None:
        self._stderr = stderr.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grokdash", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.started = time.monotonic()
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def running(self) -> bool:
        return self.process.poll() is None

    def line(self, deadline: float) -> dict:
        """The next JSON line; fails when none comes by `deadline` (monotonic) or the child ended."""
        try:
            line = self._lines.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            raise AssertionError("no line came in time") from None
        assert line is not None, f"the watch ended: exit {self.process.wait()}"
        return json.loads(line)

    def close(self) -> None:
        if self.running():
            self.process.kill()
        self.process.wait(10)
        self._stderr.close()


def wait_for(condition: Callable[[], bool], deadline: float, what: str) -> None:
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen in time"
        time.sleep(0.05)


def test_a_healthy_task_streams_and_is_stored_while_another_hangs(tmp_path):
    """`watch --json hang-1 good-1` with a 30 s timeout: good-1 goes queued → completed, its lines printed
    and its answers written, while hang-1's one request is still open; Ctrl-C then ends the watch."""
    timings = Timings(queued_seconds=0.5, processing_seconds=0.5)
    with SimServer(timings=timings) as sim:
        env = child_env(tmp_path, sim.base_url, timeout=HANG_TIMEOUT)
        args = ["watch", "--json", "--interval", str(INTERVAL), "hang-1", "good-1"]
        watch = Child(args, env, tmp_path / "stderr")
        try:
            # Everything below must happen before hang-1's timeout could have passed.
            deadline = watch.started + HANG_TIMEOUT - 5
            statuses = []
            while not statuses or statuses[-1] != Status.COMPLETED:
                line = watch.line(deadline)
                assert line["id"] == "good-1", f"a line about hang-1 before its timeout: {line}"
                assert line["query_error"] is None
                statuses.append(line["status"])
            assert statuses[0] == Status.QUEUED and len(set(statuses)) == len(statuses), statuses
            assert watch.running()

            # On disk, not only printed: another process sees good-1 completed while the watch runs.
            store = on_disk(tmp_path / "tasks.json")

            def stored_completed() -> bool:
                store.refresh()
                return store.get("good-1").status == Status.COMPLETED

            wait_for(stored_completed, deadline, "writing good-1's answer")
            assert store.get("hang-1").checked_at is None  # never answered
            assert watch.running()

            # What the server saw: hang-1 asked once and left open; good-1 asked at the interval meanwhile.
            [hang] = sim.log.for_task("hang-1")
            assert hang.status == NO_ANSWER
            asked = [record.time for record in sim.log.for_task("good-1")]
            assert len(asked) >= len(statuses) >= 2  # a status seen twice prints no line
            assert hang.time <= asked[1]  # good-1 was asked again and again while hang-1 was open
            for gap in (later - earlier for earlier, later in itertools.pairwise(asked)):
                assert INTERVAL * 0.95 <= gap <= INTERVAL * 1.1 + SCAN_GAP + 2, asked
            assert time.monotonic() < deadline

            # Ctrl-C: the watch stops, says so in one line, and keeps what it wrote.
            watch.process.send_signal(signal.SIGINT)
            assert watch.process.wait(10) == 130
        finally:
            watch.close()
    stderr = (tmp_path / "stderr").read_text()
    assert stderr.strip() == "grokdash: interrupted", stderr  # after a new line: the terminal shows ^C
    assert on_disk(tmp_path / "tasks.json").get("good-1").status == Status.COMPLETED


# ---- a database that cannot be written, on a fake clock --------------------------------------------

FAKE_INTERVAL = 5.0
POLICY = PollPolicy(interval=FAKE_INTERVAL, backoff_cap=60)
HEALED_AT = 300.0
"""Fake seconds into the watch when the disk works again."""
HORIZON = 420.0
"""Fake seconds the watch runs for: the failed write's longest wait (60 s) twice over after healing."""
IDS = ["good-1", "good-2", "good-3"]


class Horizon(Exception):
    """The fake clock reached the end of the watch."""


class Fault:
    """The database cannot be written from `start()` until `heal()`."""

    says: str
    """Words of the StoreError the poller keeps."""

    def start(self) -> None:
        raise NotImplementedError

    def heal(self) -> None:
        raise NotImplementedError


class Unwritable(Fault):
    """Replacing the file fails with `code` (a read-only file system, a full disk): what the kernel says
    then, made at the Python level, since no mode bit stops root."""

    def __init__(self, code: int) -> None:
        self.says = os.strerror(code)
        self._code = code
        self._monkeypatch = pytest.MonkeyPatch()  # its own: healing undoes this patch only

    def start(self) -> None:
        def refuse(target: Path, payload: bytes, **_: object) -> os.stat_result:
            raise OSError(self._code, os.strerror(self._code), str(target))

        self._monkeypatch.setattr("grokdash.store.replace_atomically", refuse)
        # A database past store.JOURNAL_FROM appends to its journal instead: refused the same way.
        self._monkeypatch.setattr("grokdash.taskjournal.replace_atomically", refuse)
        self._monkeypatch.setattr("grokdash.taskjournal.append", lambda path, size, text: refuse(path, text))

    def heal(self) -> None:
        self._monkeypatch.undo()


HOLD_LOCK = """
import sys, filelock
lock = filelock.FileLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
sys.stdin.read()
"""


class LockedByAnotherProcess(Fault):
    """Another process holds the database's lock, as a long write by another grokdash would."""

    says = "is locked by another grokdash process"

    def __init__(self, db: Path) -> None:
        self._lock = f"{db}.lock"
        self._holder: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self._holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, self._lock],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._holder.stdout is not None and self._holder.stdout.readline() == "locked\n"

    def heal(self) -> None:
        if self._holder is not None:
            self._holder.communicate(timeout=10)  # stdin closes: it lets go and ends
            self._holder = None


FAULTS = ["read-only", "disk-full", "locked"]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "tasks.json"


@pytest.fixture
def fault(request: pytest.FixtureRequest, db: Path) -> Iterator[Fault]:
    made: Fault
    match request.param:
        case "read-only":
            made = Unwritable(errno.EROFS)
        case "disk-full":
            made = Unwritable(errno.ENOSPC)
        case _:
            made = LockedByAnotherProcess(db)
    yield made
    made.heal()


@pytest.fixture
def long_sim(clock: FakeClock) -> Iterator[SimServer]:
    """Tasks stay processing for an hour of the fake clock: every one is active for the whole watch."""
    with SimServer(
        clock=clock, key=SIM_KEY, timings=Timings(queued_seconds=10, processing_seconds=3600)
    ) as sim:
        yield sim


class Flushes:
    """Every write the poller tried (its fake time) and whether it worked."""

    def __init__(self, store: TaskStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tries: list[tuple[float, bool]] = []
        flush = store.flush

        def counted() -> int:
            at = clock.now
            try:
                written = flush()
            except StoreError:
                self.tries.append((at, False))
                raise
            self.tries.append((at, True))
            return written

        monkeypatch.setattr(store, "flush", counted)


async def watch_for(
    sim: SimServer,
    store: TaskStore,
    clock: FakeClock,
    poller_made: Callable[[Poller], None],
    on_tick: Callable[[float], None],
    *,
    horizon: float,
    until_settled: bool = False,
) -> RoundReport | None:
    """`Poller.run` as `grokdash watch` runs it, its sleeps moving the fake clock; `on_tick(elapsed)`
    after each. None when the horizon ended it."""
    start = clock.now

    async def fake_sleep(seconds: float) -> None:
        clock.advance(seconds)
        on_tick(clock.now - start)
        if clock.now - start >= horizon:
            raise Horizon

    async with GrokClient(sim.base_url, Secret(SIM_KEY), timeouts=Timeouts(total=5)) as client:
        poller = Poller(client.get_task, store, policy=POLICY, concurrency=4, clock=clock)
        poller_made(poller)
        try:
            return await poller.run(until_settled=until_settled, stop_on_auth=True, sleep=fake_sleep)
        except Horizon:
            return None


def times_asked(sim: SimServer, task_id: str) -> list[float]:
    return [record.time for record in sim.log.for_task(task_id)]


@pytest.mark.parametrize("fault", FAULTS, indirect=True)
async def test_an_unwritable_database_keeps_polling_at_the_interval_and_is_written_once_it_works(
    long_sim, clock, db, fault, monkeypatch
):
    store = TaskStore(db, clock=clock, lock_timeout=0.05)
    store.add(IDS)
    flushes = Flushes(store, clock, monkeypatch)
    start = clock.now
    fault.start()
    pollers: list[Poller] = []
    seen: dict[str, object] = {}

    def on_tick(elapsed: float) -> None:
        [poller] = pollers
        if "failing" not in seen and elapsed >= HEALED_AT - 10:
            # Before healing: the reason is kept, the answers are shown, the file holds none of them.
            seen["failing"] = (poller.store_error, [store.get(i) for i in IDS], on_disk(db))
        if elapsed >= HEALED_AT and "healed" not in seen:
            seen["healed"] = store.writes
            fault.heal()
        if "written" not in seen and elapsed >= HEALED_AT + FLUSH_BACKOFF_CAP + 2 * SCAN_GAP:
            seen["written"] = (poller.store_error, store.writes, on_disk(db))

    report = await watch_for(long_sim, store, clock, pollers.append, on_tick, horizon=HORIZON)
    assert report is None  # the horizon ended it, not an error

    # Polling went on at the interval all along, and nothing was asked twice within one.
    for task_id in IDS:
        asked = times_asked(long_sim, task_id)
        assert asked[0] == start and asked[-1] >= start + HORIZON - 2 * FAKE_INTERVAL
        for gap in (later - earlier for earlier, later in itertools.pairwise(asked)):
            assert FAKE_INTERVAL <= gap <= FAKE_INTERVAL * (1 + POLICY.jitter) + SCAN_GAP, asked

    error, shown, stored = seen["failing"]
    assert isinstance(error, StoreError), error
    assert fault.says in error.message and str(db) in error.message
    assert_one_sentence(error.message, fault.says)
    for tracked in shown:
        assert tracked.status == Status.PROCESSING and tracked.checked_at >= start + HEALED_AT - 20
    assert [tracked.checked_at for tracked in stored.tasks()] == [None] * len(IDS)

    # The failed writes were tried again at growing waits (2, 4, 8 … 60 s), not once a second.
    failed = [at - start for at, ok in flushes.tries if not ok]
    assert failed and max(failed) < HEALED_AT
    waits = [later - earlier for earlier, later in itertools.pairwise(failed)]
    for attempt, wait in enumerate(waits, start=1):
        assert wait >= min(2.0**attempt, FLUSH_BACKOFF_CAP), waits
    assert 5 <= len(failed) <= 12, failed
    assert max(waits) <= FLUSH_BACKOFF_CAP + 2 * SCAN_GAP, waits  # and kept trying, once a minute at most

    # Once the disk works, the next try writes every answer, and the reason is cleared.
    error, writes, stored = seen["written"]
    assert error is None and writes > seen["healed"]
    for task_id in IDS:
        assert stored.get(task_id).status == Status.PROCESSING
        assert stored.get(task_id).checked_at >= start + HEALED_AT - FAKE_INTERVAL * 2
    # And at the end everything shown is what the file holds.
    final = on_disk(db)
    assert [tracked.to_json() for tracked in final.tasks()] == [
        tracked.to_json() for tracked in store.tasks()
    ]


def database_now(db: Path) -> TaskStore:
    return TaskStore(db)


@pytest.mark.parametrize("fault", FAULTS, indirect=True)
async def test_a_watch_that_ends_while_the_database_cannot_be_written_says_why(sim, clock, db, fault):
    """Every task final, the disk still failing: the run's report keeps the reason (what `watch` prints
    as its warning), and the answers are the ones shown."""
    store = TaskStore(db, clock=clock, lock_timeout=0.05)
    store.add(["good-1", "fail-1"])
    fault.start()
    report = await watch_for(
        sim, store, clock, lambda _: None, lambda _: None, horizon=HORIZON, until_settled=True
    )

    assert report is not None, "the watch did not end by itself"
    assert isinstance(report.store_error, StoreError)
    assert_one_sentence(report.store_error.message, fault.says)
    assert {tracked.id: tracked.status for tracked in store.tasks()} == {
        "good-1": Status.COMPLETED,
        "fail-1": Status.FAILED,
    }
    assert [tracked.checked_at for tracked in on_disk(db).tasks()] == [None, None]


@pytest.mark.parametrize("fault", ["disk-full"], indirect=True)
async def test_a_watch_that_ends_after_the_disk_works_again_writes_its_answers(clock, db, fault):
    """The disk is full at first and freed before the last task is final: the watch ends at once (every
    task is final), and what it ends with must be on disk, not only on the screen."""
    timings = Timings(queued_seconds=10, processing_seconds=12)
    with SimServer(clock=clock, key=SIM_KEY, timings=timings) as sim:
        store = TaskStore(db, clock=clock)
        store.add(["good-1"])
        fault.start()
        healed = False

        def on_tick(elapsed: float) -> None:
            nonlocal healed
            if not healed and elapsed >= 16:  # after the 4th failed write (at about 15 s; next try at 31)
                healed = True
                fault.heal()

        report = await watch_for(
            sim, store, clock, lambda _: None, on_tick, horizon=HORIZON, until_settled=True
        )
    assert healed and report is not None, "the watch did not end by itself"
    assert store.get("good-1").status == Status.COMPLETED  # shown
    assert report.store_error is None, report.store_error
    assert on_disk(db).get("good-1").status == Status.COMPLETED


# ---- the real command on a folder that cannot be written --------------------------------------------


def _chattr(flag: str, path: Path) -> bool:
    """chattr +i/-i: an immutable folder refuses new files even to root (a mode does not)."""
    try:
        done = subprocess.run(["chattr", flag, str(path)], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.fixture
def frozen_folder(tmp_path: Path) -> Iterator[Callable[[], None]]:
    """`freeze()` makes tmp_path/db immutable: nothing in it can be created, renamed or removed."""
    folder = tmp_path / "db"
    folder.mkdir()
    frozen = []

    def freeze() -> None:
        if not _chattr("+i", folder):
            pytest.skip("chattr +i is not available here (needs root and a file system that has it)")
        frozen.append(folder)

    yield freeze
    if frozen:
        assert _chattr("-i", folder)


def test_watch_on_a_database_that_cannot_be_written_polls_at_the_interval_and_says_so(
    tmp_path, frozen_folder
):
    """The real command, its database in a folder that refuses new files (so no write can go through):
    it polls on at the interval, ends when the task is final, says in one line that the answers were
    not saved and exits 1; the file is left as it was and nothing tracked is lost."""
    db = tmp_path / "db" / "tasks.json"
    TaskStore(db).add(["good-1", "good-2"])  # the lock file exists: only writing the database fails
    before = db.read_bytes()
    frozen_folder()
    with SimServer(timings=Timings(queued_seconds=0.5, processing_seconds=1.0)) as sim:
        env = child_env(tmp_path, sim.base_url) | {"GROKDASH_DB": str(db)}
        run = grokdash(tmp_path, sim.base_url, "watch", "--json", "--interval", str(INTERVAL), env=env)
        asked = {task_id: times_asked(sim, task_id) for task_id in ("good-1", "good-2")}

    assert run.exit_code == 1, "what it saw is lost with it: a script must not take that as done"
    assert_bounded(run, bound=30)
    finals = {line["id"]: line["status"] for line in json_lines(run)}
    assert finals == {"good-1": Status.COMPLETED, "good-2": Status.COMPLETED}
    [warning] = run.stderr.splitlines()
    assert warning.startswith("grokdash: the answers were not saved: could not save the task database")
    assert "Operation not permitted" in warning
    for times in asked.values():
        assert len(times) >= 3
        for gap in (later - earlier for earlier, later in itertools.pairwise(times)):
            assert gap >= INTERVAL * 0.95, times
    assert db.read_bytes() == before
    assert [tracked.id for tracked in TaskStore(db).tasks()] == ["good-1", "good-2"]
