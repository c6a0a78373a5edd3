"""The dashboard under faults, driven by its keys as a user would (Pilot), against the simulator on the
fake clock both share: a task database that cannot be written (the disk is full, or another process holds
its lock), a task that never answers, polling paused, the clock set back.

What a user must be able to count on: nothing typed is lost (a dialog opens again with it, and says why),
nothing tracked is lost (a row stays, a created id is said), answers keep showing while they cannot be
saved and are saved once the disk works, no task is asked about more often because of any of it, and one
task that never answers holds up no other.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import filelock
import pytest
from textual.widgets import Label, Static, TextArea

from grokdash.models import Status
from grokdash.poller import FLUSH_BACKOFF_CAP, Poller
from grokdash.sim import SimServer, Timings
from grokdash.sim.log import NO_ANSWER
from grokdash.store import TaskStore
from grokdash.tui.screens.add import AddIdsScreen
from grokdash.tui.screens.help import HelpScreen
from grokdash.tui.screens.label import LabelScreen
from grokdash.tui.screens.new_task import NewTaskScreen
from tests.conftest import FakeClock

from .board import INTERVAL, Dashboard, dashboard

pytestmark = pytest.mark.anyio

LOCK_TIMEOUT = 0.2
"""Seconds the dashboard's store waits for a lock another process holds, before it says so."""


class Disk:
    """The task database's disk, which a test breaks and mends.

    "full": renaming the new file over the database fails with ENOSPC (the last step of every write);
    "locked": another grokdash process holds the database's lock (a store waits LOCK_TIMEOUT for it).
    """

    SAYS: ClassVar[dict[str, str]] = {
        "full": "No space left on device",
        "locked": "is locked by another grokdash process",
    }

    def __init__(self, kind: str, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.kind = kind
        self.db = db
        self.says = self.SAYS[kind]
        self.broken = False
        self._other_process = filelock.FileLock(f"{os.path.realpath(db)}.lock")
        real_replace = os.replace
        target = os.path.realpath(db)

        def replace(src, dst, *args, **kwargs):
            if self.broken and kind == "full" and os.path.realpath(dst) == target:
                raise OSError(28, "No space left on device")
            return real_replace(src, dst, *args, **kwargs)

        monkeypatch.setattr("grokdash.store.os.replace", replace)  # the os module: files.py's too

    def fail(self) -> None:
        self.broken = True
        if self.kind == "locked":
            self._other_process.acquire()

    def work(self) -> None:
        self.broken = False
        if self.kind == "locked" and self._other_process.is_locked:
            self._other_process.release()

    def on_file(self) -> TaskStore:
        """The database as another process would open it now: what was written, only."""
        return TaskStore(self.db)


@pytest.fixture(params=["full", "locked"])
def disk(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    broken = Disk(request.param, tmp_path / "tasks.json", monkeypatch)
    yield broken
    broken.work()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> TaskStore:
    """The dashboard's database (overrides conftest's): it gives up on a held lock after LOCK_TIMEOUT."""
    return TaskStore(tmp_path / "tasks.json", clock=clock, lock_timeout=LOCK_TIMEOUT)


def shown(widget) -> str:
    return str(widget.render())


def row_text(board: Dashboard, task_id: str) -> str:
    """The task's line in the table, as drawn."""
    index = next(n for n, tracked in enumerate(board.table.rows) if tracked.id == task_id)
    return board.table.render_line(index + 1).text  # line 0 is the header


def toasted(board: Dashboard, *words: str) -> bool:
    return any(all(word in toast for word in words) for toast in board.toasts())


async def type_keys(board: Dashboard, text: str) -> None:
    await board.pilot.press(*("space" if char == " " else char for char in text))


async def reopened(board: Dashboard, before, kind: type):
    """The dialog that opened again after `before` was submitted."""
    await board.until(
        lambda: isinstance(board.app.screen, kind) and board.app.screen is not before, "the dialog again"
    )
    await board.pilot.pause()
    return board.app.screen


# ---- a. a store error never loses what was typed -------------------------------------------------


async def test_ids_typed_into_add_stay_in_the_dialog_until_the_disk_takes_them(store, clock, disk):
    async with dashboard(store, clock) as board:
        disk.fail()
        await board.press("a")
        first = board.app.screen
        assert isinstance(first, AddIdsScreen)
        await type_keys(board, "new-1 new-2")
        await board.press("enter")
        again = await reopened(board, first, AddIdsScreen)
        assert again.query_one(TextArea).text.split() == ["new-1", "new-2"]
        problem = shown(again.query_one(".problem", Label))
        assert problem.startswith("Not added: ") and disk.says in problem and str(disk.db) in problem
        assert store.tasks() == [] and board.row_ids() == []
        assert disk.on_file().tasks() == []

        disk.work()
        await board.press("enter")  # the same ids, as they are in the dialog
        await board.until(lambda: sorted(board.row_ids()) == ["new-1", "new-2"], "the ids to go in")
        assert not isinstance(board.app.screen, AddIdsScreen)
        assert [t.id for t in disk.on_file().tasks()] == ["new-1", "new-2"]


async def test_a_label_typed_stays_in_the_dialog_until_the_disk_takes_it(store, clock, disk):
    store.add(["t1"])
    async with dashboard(store, clock) as board:
        disk.fail()
        await board.press("l")
        first = board.app.screen
        assert isinstance(first, LabelScreen)
        await type_keys(board, "sunset cats")
        await board.press("enter")
        again = await reopened(board, first, LabelScreen)
        assert again.query_one("#label").value == "sunset cats"
        problem = shown(again.query_one(".problem", Label))
        assert problem.startswith("Not saved: ") and disk.says in problem
        assert store.get("t1").label is None and disk.on_file().get("t1").label is None

        disk.work()
        await board.press("enter")
        await board.until(lambda: not isinstance(board.app.screen, LabelScreen), "the dialog to close")
        await board.until(lambda: store.get("t1").label == "sunset cats", "the label")
        assert disk.on_file().get("t1").label == "sunset cats"
        await board.until(lambda: "sunset cats" in row_text(board, "t1"), "the row to show the label")


async def test_d_that_cannot_be_saved_says_so_and_the_task_stays_tracked(store, clock, disk):
    store.add(["keep", "drop"])
    async with dashboard(store, clock) as board:
        disk.fail()
        await board.select("drop")
        await board.press("d")
        await board.until(lambda: toasted(board, "Still tracked", disk.says), "the toast")
        assert sorted(board.row_ids()) == ["drop", "keep"] and "drop" in store
        assert "drop" in disk.on_file()
        assert not toasted(board, "u undoes")


async def test_u_that_cannot_be_saved_says_so_and_u_again_restores(store, clock, disk):
    store.add(["keep", "drop"], label="mine")
    async with dashboard(store, clock) as board:
        await board.select("drop")
        await board.press("d")
        await board.until(lambda: toasted(board, "Untracked", "u undoes"), "the untrack")
        assert "drop" not in disk.on_file()

        disk.fail()
        await board.press("u")
        await board.until(lambda: toasted(board, "Not undone", disk.says, "u tries again"), "the toast")
        assert board.row_ids() == ["keep"] and "drop" not in disk.on_file()

        disk.work()
        await board.press("u")
        await board.until(lambda: toasted(board, "Undone"), "the undo")
        assert sorted(board.row_ids()) == ["drop", "keep"]
        assert disk.on_file().get("drop").label == "mine"


async def test_a_task_created_when_the_disk_cannot_take_it_is_named_not_lost(store, clock, sim, disk):
    async with dashboard(store, clock, sim) as board:
        disk.fail()
        await board.press("n")
        form = board.app.screen
        assert isinstance(form, NewTaskScreen)
        await type_keys(board, "a red fox in fresh snow")
        await board.press("ctrl+s")  # asks
        await board.press("tab", "enter")  # "Yes, create it": spends
        posts = lambda: [record for record in sim.log.records() if record.method == "POST"]  # noqa: E731
        await board.until(lambda: toasted(board, "Created "), "the created id to be said")
        assert len(posts()) == 1
        created = posts()[0].task_id
        assert created
        # Said where it stays (the toast, for a minute) and in the form, with how to track it.
        assert toasted(board, f"Created {created}", f"grokdash add {created}", disk.says)
        problems = shown(form.query_one("#problems", Static))
        assert created in problems and f"grokdash add {created}" in problems
        assert board.app.screen is form  # the form stays, and sends nothing more
        await board.press("ctrl+s", "ctrl+s")
        assert len(posts()) == 1
        assert created not in store and created not in disk.on_file()

        # The user does what the sentence says, once the disk works: the task is not lost.
        disk.work()
        await board.press("escape")
        assert not isinstance(board.app.screen, NewTaskScreen)
        await board.press("a")
        await type_keys(board, created)
        await board.press("enter")
        await board.until(lambda: created in board.row_ids(), "the created id to be tracked")
        await board.until(lambda: board.status(created) == Status.QUEUED, "it to be polled")
        assert created in disk.on_file()


# ---- b. answers keep coming while the database cannot be written ---------------------------------

ROUNDS = 14
"""Intervals the database stays unwritable: longer than the tasks take, and than the write's backoff."""


@pytest.fixture
def long_sim(clock: FakeClock) -> Iterator[SimServer]:
    """Tasks queued 10 s, then processing for many intervals, so each is asked about again and again."""
    with SimServer(clock=clock, timings=Timings(queued_seconds=10, processing_seconds=50)) as server:
        yield server


def assert_never_asked_twice_within_an_interval(sim: SimServer, ids: list[str]) -> None:
    for task_id in ids:
        times = [record.time for record in sim.log.for_task(task_id)]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert gaps and min(gaps) >= INTERVAL, f"{task_id} asked at {times}"


async def test_answers_show_while_the_database_cannot_be_written_and_are_written_after(
    store, clock, long_sim, disk
):
    ids = ["t1", "t2", "t3"]
    store.add(ids)
    disk.fail()
    async with dashboard(store, clock, long_sim) as board:

        def says_not_saved() -> bool:
            summary = board.summary()
            return "not saved (3 kept in memory): " in summary and disk.says in summary

        for _ in range(ROUNDS):
            await board.next_round(advance=INTERVAL)
            await board.until(says_not_saved, "the summary to say the answers are not saved, and why")
        for task_id in ids:
            assert board.status(task_id) == Status.COMPLETED
            assert " completed " in f" {row_text(board, task_id)} "
        assert all(tracked.status is None for tracked in disk.on_file().tasks()), "written while broken?"
        assert_never_asked_twice_within_an_interval(long_sim, ids)
        asked = len(long_sim.log)

        disk.work()
        poller = board.app._poller
        await board.next_round(advance=FLUSH_BACKOFF_CAP)  # the longest wait between two tries
        await board.until(lambda: poller.store_error is None and store.unsaved == 0, "the write")
        await board.until(lambda: "not saved" not in board.summary(), "the summary to clear")
        assert {tracked.status for tracked in disk.on_file().tasks()} == {Status.COMPLETED}
        assert len(long_sim.log) == asked, "the tasks were final: nothing to ask again"


# ---- c. a task that never answers holds up no other -----------------------------------------------


async def test_a_task_that_never_answers_holds_up_no_other(store, clock, sim):
    store.add(["good-1"])
    # The client waits a minute of real time for an answer: hang-1's request stays open all the test.
    async with dashboard(store, clock, sim, read_timeout=60.0) as board:
        await board.press("a")
        await type_keys(board, "hang-1")
        await board.press("enter")
        poller = board.app._poller
        await board.until(lambda: len(sim.log.for_task("hang-1")) == 1, "hang-1's request")
        await board.until(lambda: "1 waiting for an answer" in board.summary(), "the summary to say it")

        # No round "ends" while hang-1 waits: each step waits for good-1's own answer.
        for _ in range(3):  # queued for 10 s, processing for 20 s: completed at the third step
            clock.advance(2 * INTERVAL)
            board.app.wake_poller()
            await board.until(lambda: store.get("good-1").checked_at == clock(), "good-1's answer")
            await board.until(
                lambda: f" {board.status('good-1')} " in row_text(board, "good-1"), "the row to show it"
            )
            assert poller.in_flight == 1 and store.get("hang-1").checked_at is None
        assert board.status("good-1") == Status.COMPLETED
        hang = sim.log.for_task("hang-1")
        assert [record.status for record in hang] == [NO_ANSWER], "asked once, and still waiting"
        assert "1 waiting for an answer" in board.summary()
        assert board.app.is_running


# ---- d. r and R while paused -----------------------------------------------------------------------


async def test_r_and_capital_r_ask_now_while_paused_and_it_stays_paused(store, clock, sim):
    store.add(["t1", "t2"])
    async with dashboard(store, clock, sim) as board:
        await board.press("p")
        assert "paused" in board.summary()
        sim.log.clear()
        clock.advance(INTERVAL * 3)  # both are due: only the keys may ask

        await board.select("t1")
        await board.press("r")
        await board.polled()
        assert [record.task_id for record in sim.log.records()] == ["t1"]
        assert "paused" in board.summary() and board.app.paused

        sim.log.clear()
        await board.press("R")
        await board.polled()
        assert sorted(record.task_id for record in sim.log.records()) == ["t1", "t2"]
        assert "paused" in board.summary() and board.app.paused

        sim.log.clear()
        await board.next_round(advance=INTERVAL * 3)
        assert sim.log.records() == [], "still paused: time passing asks nothing"


async def test_a_paused_dashboard_waits_for_a_key_instead_of_spinning(store, clock, sim):
    store.add(["t1"])
    async with dashboard(store, clock, sim) as board:
        await board.press("p")
        clock.advance(INTERVAL * 3)  # t1 comes due while paused
        await board.polled(board.app.wake_poller())
        passes = board.app.idle_passes
        for _ in range(5):  # turns of the event loop with nothing to do: nothing is asked, or done
            await board.pilot.pause()
        assert board.app.idle_passes - passes <= 2
        assert len(sim.log.for_task("t1")) == 1


# ---- e. the clock set back -------------------------------------------------------------------------

STEP = INTERVAL * 1.1
"""The longest a task waits between two polls: the interval, stretched by the jitter (at most 10%)."""


class SteadyClock:
    """The poller's monotonic clock, as the real dashboard has it (`time.monotonic` beside `time.time`):
    it moves as the fake wall clock moves, but a step of the wall clock does not move it."""

    def __init__(self, wall: FakeClock) -> None:
        self.wall = wall
        self.offset = 0.0

    def __call__(self) -> float:
        return self.wall() + self.offset

    def set_wall_clock_back(self, seconds: float) -> None:
        self.wall.now -= seconds
        self.offset += seconds


@pytest.fixture
def steady(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> SteadyClock:
    """The dashboard's poller on a monotonic clock of its own. Without one, a poller given a fake clock
    uses it for both, and the test's step would set back what no real monotonic clock ever goes back."""
    steady = SteadyClock(clock)
    monkeypatch.setattr("grokdash.tui.app.Poller", functools.partial(Poller, monotonic=steady))
    return steady


async def test_polling_carries_on_at_the_interval_after_the_clock_is_set_back_an_hour(
    store, clock, long_sim, steady
):
    sim = long_sim
    store.add(["t1"])
    async with dashboard(store, clock, sim) as board:
        await board.next_round(advance=STEP)
        assert len(sim.log.for_task("t1")) == 2
        steady.set_wall_clock_back(3600)  # NTP, or the user, set the clock back an hour
        before = len(sim.log.for_task("t1"))

        def asked_since_the_step() -> list[float]:
            return [record.time for record in sim.log.for_task("t1")[before:]]

        for step in range(1, 5):
            clock.advance(STEP)
            board.app.wake_poller()
            await board.until(lambda: len(asked_since_the_step()) >= step, f"request {step} after the step")  # noqa: B023
            await board.polled()
        times = asked_since_the_step()
        assert [later - earlier for earlier, later in itertools.pairwise(times)] == [STEP] * 3, times
        assert board.app.store.get("t1").checked_at == clock()  # the last answer, at the new time
        assert board.app.is_running and "polling failed" not in board.summary()


async def test_the_keys_stay_live_while_d_waits_for_a_locked_database(tmp_path, clock, monkeypatch):
    """`d` while another process holds the lock for long: the store waits, the keys do not (`?` opens the
    help at once, and `q` would quit), and the row stays tracked once the wait gives up."""
    store = TaskStore(tmp_path / "tasks.json", clock=clock, lock_timeout=30.0)
    store.add(["keep-1", "keep-2"])
    held = Disk("locked", tmp_path / "tasks.json", monkeypatch)
    async with dashboard(store, clock) as board:
        await board.select("keep-1")
        held.fail()
        try:
            await board.press("d")
            await board.press("question_mark")
            assert isinstance(board.app.screen, HelpScreen), "the keys waited for the lock"
            await board.press("escape")
        finally:
            held.work()
        await board.until(lambda: "keep-1" not in board.row_ids(), "the untrack, once the lock is free")
    assert [t.id for t in TaskStore(tmp_path / "tasks.json").tasks()] == ["keep-2"]
