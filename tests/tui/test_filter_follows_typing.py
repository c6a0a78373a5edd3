"""Only the latest filter text is computed (issue 15): keys typed while a rebuild runs do not each start
one; when it ends, one more runs with the last text, and a result for an older text never reaches the
table. The first rebuild is held in its thread until every key is in, so the order is fixed, not raced."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual import events

from grokdash.store import TaskStore
from grokdash.tracked import TrackedTask
from grokdash.tui.view import ViewOptions, visible_tasks

from .conftest import T0, frozen_clock

pytestmark = pytest.mark.anyio

PASTED = "shot-0042"


@pytest.fixture
def shots(tmp_path: Path) -> TaskStore:
    store = TaskStore(tmp_path / "tasks.json", clock=frozen_clock)
    store.import_records([TrackedTask(id=f"shot-{n:04d}", added_at=T0 - n) for n in range(300)])
    return store


async def until(pilot, condition, pauses: int = 500) -> None:
    """Pause until `condition` holds (a bound on the pauses, so a failure fails rather than hangs)."""
    for _ in range(pauses):
        if condition():
            return
        await pilot.pause()
    raise AssertionError("the dashboard never got there")


def send_at_once(app, text: str) -> None:
    """Key events into the driver with no wait between them, as a terminal delivers a paste."""
    for char in text:
        event = events.Key(char, char)
        event.set_sender(app)
        app._driver.send_message(event)


async def test_nine_keys_typed_during_a_rebuild_cost_two_rebuilds_and_end_on_the_last_text(shots, make_app):
    app = make_app(shots)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("slash")
        computed: list[str] = []
        drawn: list[tuple[str, list[str], list[str]]] = []
        """(the filter when rows reached the table, those rows, the rows that filter shows)"""
        release = threading.Event()
        compute, set_rows = app._compute_view, app.table.set_rows

        def held_compute(options: ViewOptions, now: float):
            computed.append(options.filter_text)
            if len(computed) == 1:
                assert release.wait(10), "the test never let the first rebuild go"
            return compute(options, now)

        def watched_set_rows(rows, medians=None):
            set_rows(rows, medians)
            wanted = visible_tasks(shots.tasks(), app.options, T0)
            drawn.append((app.options.filter_text, [t.id for t in app.table.rows], [t.id for t in wanted]))

        app._compute_view = held_compute
        app.table.set_rows = watched_set_rows
        send_at_once(app, PASTED[0])
        await until(pilot, lambda: bool(computed))  # the first key's rebuild, held in its thread
        send_at_once(app, PASTED[1:])
        await until(pilot, lambda: app.options.filter_text == PASTED)  # every key in
        release.set()
        await until(pilot, lambda: bool(drawn) and app._rebuilding is None)

        assert computed == ["s", PASTED]  # the first key's, then one for everything typed meanwhile
        assert [filter_text for filter_text, _, _ in drawn] == [PASTED]  # the first one's result was dropped
        _, rows, wanted = drawn[0]
        assert rows == wanted == [f"shot-{n:04d}" for n in (42,)]


async def test_a_rebuild_asked_for_while_one_runs_waits_for_the_one_that_shows_it(shots, make_app):
    app = make_app(shots)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        release = threading.Event()
        compute = app._compute_view
        calls: list[ViewOptions] = []

        def held_compute(options: ViewOptions, now: float):
            calls.append(options)
            if len(calls) == 1:
                assert release.wait(10)
            return compute(options, now)

        app._compute_view = held_compute
        running = pilot.app.run_worker(app.rebuild())
        await until(pilot, lambda: bool(calls))
        app.options = ViewOptions(filter_text="shot-0007")
        second = pilot.app.run_worker(app.rebuild())
        third = pilot.app.run_worker(app.rebuild())
        await pilot.pause()
        release.set()
        await running.wait()
        await second.wait()
        await third.wait()
        assert [options.filter_text for options in calls] == ["", "shot-0007"]  # three asked, two ran
        assert [t.id for t in app.table.rows] == ["shot-0007"]
