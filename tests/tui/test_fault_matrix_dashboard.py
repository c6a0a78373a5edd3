"""The fault matrix in the dashboard: every fault of tests/faults.py, with a healthy task beside it, polled
by the real app (Pilot) against the simulator on a fake clock shared by both.

What a user checks: the faulty task's row says what went wrong (kind and the start of the sentence), its
details say all of it, the healthy task keeps updating to completion, no task leaves the list, and the
dashboard is still up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from grokdash.models import Status
from grokdash.pollstate import is_gone
from grokdash.sim import SimServer
from grokdash.store import TaskStore
from grokdash.tui.view import state_of
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

from .board import Dashboard, dashboard, details_text

pytestmark = pytest.mark.anyio

STEP = 15.0
"""Fake seconds between two rounds the test asks for: a healthy task goes queued, processing, completed in
two of them (the simulator's 10 s queued and 20 s processing), and the first backoff (10 s) is over."""
MOST_ROUNDS = 12


def row_text(board: Dashboard, task_id: str) -> str:
    """The task's line in the table, as drawn on the screen."""
    index = next(i for i, tracked in enumerate(board.table.rows) if tracked.id == task_id)
    return board.table.render_line(index + 1).text  # line 0 is the header


def fact(details: str, name: str) -> str:
    """The value beside `name` in the details' facts ("Last query", "Saved to"): its first line."""
    line = next((line for line in details.splitlines() if line.startswith(name + " ")), "")
    return line.removeprefix(name).strip()


async def rounds_until(board: Dashboard, condition: Callable[[], bool], what: str) -> None:
    """Poll round after round, STEP fake seconds apart, until `condition` holds."""
    for _ in range(MOST_ROUNDS):
        if condition():
            return
        await board.next_round(advance=STEP)
    assert condition(), f"{what} did not happen within {MOST_ROUNDS} rounds"


def final(store: TaskStore, *ids: str) -> Callable[[], bool]:
    return lambda: all((tracked := store.get(i)) is not None and tracked.is_final for i in ids)


def assert_error_shown(board: Dashboard, fault: Fault, task_id: str) -> None:
    tracked = board.app.store.get(task_id)
    assert tracked is not None and tracked.last_error is not None
    assert tracked.last_error.kind == fault.kind
    assert_one_sentence(tracked.last_error.message, fault.says)
    # The row is narrow: the kind and the start of the sentence; the details hold the rest.
    shown = f"{fault.kind}: {tracked.last_error.message}"
    assert shown[:20] in row_text(board, task_id)


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
async def test_dashboard(
    fault: Fault, store: TaskStore, clock: FakeClock, sim: SimServer, sim_key: str, tmp_path: Path
) -> None:
    store.add(fault.ids)
    key = WRONG_KEY if fault.scope is Scope.KEY else sim_key
    with LateServer(sim) as late:
        server = late if fault.scope is Scope.SERVER else sim
        async with dashboard(
            store, clock, server, key=key, read_timeout=READ_TIMEOUT, download_dir=tmp_path / "videos"
        ) as board:
            await CHECKS[fault.course](board, fault, sim, late)
            # Whatever happened: still up, nothing lost, no polling crash.
            assert board.app.is_running
            assert sorted(board.row_ids()) == sorted(fault.ids)
            assert sorted(tracked.id for tracked in store.tasks()) == sorted(fault.ids)
            assert "polling failed" not in board.summary()


async def backs_off(board: Dashboard, fault: Fault, sim: SimServer, late: LateServer) -> None:
    assert_error_shown(board, fault, fault.task_id)  # from the first round on
    store = board.app.store
    await rounds_until(board, final(store, HEALTHY), "the healthy task completing")
    assert board.status(HEALTHY) == Status.COMPLETED
    assert_error_shown(board, fault, fault.task_id)
    assert "1 backing off" in board.summary()
    details = await details_text(board, fault.task_id)
    assert fact(details, "Last query").startswith(f"{fault.kind}: {fault.says}")
    assert "Recent query errors" in details


async def gone(board: Dashboard, fault: Fault, sim: SimServer, late: LateServer) -> None:
    assert_error_shown(board, fault, fault.task_id)
    store = board.app.store

    def settled() -> bool:
        faulty = store.get(fault.task_id)
        return final(store, HEALTHY)() and faulty is not None and is_gone(faulty)

    await rounds_until(board, settled, "the healthy task completing and the missing one given up")
    assert row_text(board, fault.task_id).lstrip().split()[1] == "gone"
    assert_error_shown(board, fault, fault.task_id)
    assert "1 gone" in board.summary()
    details = await details_text(board, fault.task_id)
    assert fact(details, "Last query").startswith(f"{fault.kind}: {fault.says}")


async def recovers(board: Dashboard, fault: Fault, sim: SimServer, late: LateServer) -> None:
    assert_error_shown(board, fault, fault.task_id)
    await rounds_until(board, final(board.app.store, *fault.ids), "both tasks completing")
    assert board.status(fault.task_id) == board.status(HEALTHY) == Status.COMPLETED
    assert f"{fault.kind}:" not in row_text(board, fault.task_id), "a cleared error still shown"
    details = await details_text(board, fault.task_id)
    assert fact(details, "Last query") == ""
    assert "Recent query errors" in details and fault.says in details


async def ends_final(board: Dashboard, fault: Fault, sim: SimServer, late: LateServer) -> None:
    store = board.app.store
    await rounds_until(board, final(store, *fault.ids), "both tasks ending")
    assert board.status(HEALTHY) == Status.COMPLETED
    tracked = store.get(fault.task_id)
    assert tracked is not None and tracked.status == fault.final_status and tracked.recent_errors == ()
    row = row_text(board, fault.task_id)
    assert str(fault.final_status) in row  # shown as it is, even a status the API does not document
    if fault.final_status == Status.FAILED:
        assert fault.says[:20] in row
        assert fact(await details_text(board, fault.task_id), "Error") == fault.says
    if fault.expired_url is not None:
        await board.select(fault.task_id)
        await board.press("s")

        def save_ended() -> bool:
            # Ended, and the table redrawn with the outcome (the rebuild after a save runs in a thread).
            shown = next(t for t in board.table.rows if t.id == fault.task_id)
            ended = shown.local_file is not None or shown.download_error is not None
            return ended and fault.task_id not in board.app.saving

        await board.until(save_ended, "the save to end and show in the table")
        tracked = store.get(fault.task_id)
        assert tracked is not None
        if fault.expired_url == "always":
            assert tracked.local_file is None and tracked.download_error is not None
            assert_one_sentence(tracked.download_error.message, fault.says)
            # The SAVED cell says "expired"; the error cell starts the sentence, the details end it.
            row = row_text(board, fault.task_id)
            assert " expired " in row and "not saved: the video" in row
            # The toast is a message to the app, handled a turn after the table shows the outcome.
            await board.until(lambda: any(fault.says in toast for toast in board.toasts()), "the toast")
            saved_to = fact(await details_text(board, fault.task_id), "Saved to")
            assert saved_to.startswith("not saved: ") and fault.says in saved_to
        else:
            assert tracked.local_file is not None and Path(tracked.local_file).is_file()
            row = row_text(board, fault.task_id)
            assert " saved " in row and "not saved" not in row


async def stops(board: Dashboard, fault: Fault, sim: SimServer, late: LateServer) -> None:
    summary = board.summary()
    assert fault.says in summary and "paused" in summary
    for task_id in fault.hit:
        assert_error_shown(board, fault, task_id)
    assert board.toasts() == [], "one line in the summary, not a toast per task"
    # Paused: time passes, nothing more is asked with a key the server refused.
    asked = len(sim.log.records())
    board.clock.advance(STEP * 6)
    board.app.wake_poller()
    await board.app.tick()
    await board.pilot.pause()
    assert len(sim.log.records()) == asked == len(fault.ids)


async def outage(board: Dashboard, fault: Fault, sim: SimServer, late: LateServer) -> None:
    assert fault.says in board.summary(), "the connection problem is said once, in the summary"
    for task_id in fault.hit:
        assert_error_shown(board, fault, task_id)
        assert state_of(board.app.store.get(task_id)) == "new"
    late.start()  # the server is back
    await rounds_until(board, final(board.app.store, *fault.ids), "both tasks completing")
    assert board.status(fault.task_id) == board.status(HEALTHY) == Status.COMPLETED
    assert fault.says not in board.summary(), "the problem is cleared once the server answers"


CHECKS = {
    Course.BACKS_OFF: backs_off,
    Course.GONE: gone,
    Course.RECOVERS: recovers,
    Course.FINAL: ends_final,
    Course.STOPS: stops,
    Course.OUTAGE: outage,
}
