"""The dashboard started on a task database that is truncated or garbage: the file is moved aside (kept),
a warning says in one sentence where it went, and the dashboard opens on a working database. A folder where
the database should be is named and left alone, and the dashboard stays up."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events

from grokdash.store import TaskStore
from grokdash.tui.app import DashboardConfig, GrokdashApp
from grokdash.tui.screens.add import AddIdsScreen
from tests.integration.test_crash_safety import BAD_DATABASES, assert_one_clear_sentence, write_bad_database

from .board import SIZE, Dashboard

pytestmark = pytest.mark.anyio


def dashboard_on(db: Path, clock) -> GrokdashApp:
    """The app as `grokdash` builds it: the database is opened after the first frame, no API key."""
    config = DashboardConfig.of(
        store=None,
        open_store=lambda: TaskStore(db),
        make_client=None,
        clock=clock,
        desktop_notifications=False,
    )
    return GrokdashApp(config)


async def add_ids(board: Dashboard, text: str) -> None:
    await board.press("a")
    assert isinstance(board.app.screen, AddIdsScreen)
    await board.pilot.press(*text)
    await board.press("enter")


@pytest.mark.parametrize("kind", BAD_DATABASES)
async def test_a_bad_database_is_moved_aside_said_and_the_dashboard_works(
    kind: str, tmp_path: Path, clock
) -> None:
    db = tmp_path / "tasks.json"
    content = write_bad_database(kind, db)
    kept = ["kept-1"] if kind == "one-record-unreadable" else []

    app = dashboard_on(db, clock)
    async with app.run_test(size=SIZE) as pilot:
        board = Dashboard(app, pilot, clock)
        await board.until(lambda: app.ready and board.row_ids() == kept, "the database to open")

        asides = sorted(tmp_path.glob("tasks.json.corrupt-*"))
        assert len(asides) == 1 and asides[0].read_bytes() == content
        # A toast is a message to the app: it is handled on a later turn of the loop than the open.
        await board.until(lambda: bool(app._notifications), "the warning to show")
        told = [n for n in app._notifications if str(asides[0]) in n.message]
        assert len(told) == 1 and told[0].severity == "warning"
        assert_one_clear_sentence(told[0].message, db, asides[0])
        assert app.problem is None

        await add_ids(board, "after-1")
        # Sorted: the kept task was added on the real clock, the new one on the test's frozen clock.
        await board.until(lambda: sorted(board.row_ids()) == ["after-1", *kept], "the added id to show")
        assert sorted(t.id for t in TaskStore(db).tasks()) == ["after-1", *kept]  # on disk, for others
        assert sorted(tmp_path.glob("tasks.json.corrupt-*")) == asides
        await pilot.pause()


async def test_a_folder_where_the_database_should_be_is_said_and_the_dashboard_stays_up(
    tmp_path: Path, clock
) -> None:
    folder = tmp_path / "tasks.json"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")

    app = dashboard_on(folder, clock)
    async with app.run_test(size=SIZE) as pilot:
        board = Dashboard(app, pilot, clock)
        sentence = f"cannot read the task database {folder} (Is a directory)"
        await board.until(lambda: app.problem == sentence, "the problem to be said")
        await board.press("d", "r", "slash", "escape")  # nothing to act on: no crash
        assert app.is_running and not app.ready
    assert (folder / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name) == []


async def test_ids_typed_with_enter_in_one_burst_are_added(tmp_path: Path, clock) -> None:
    """Keys that reach the terminal in one read (a slow ssh link, a paste without bracketed paste, tmux
    send-keys) arrive as one burst of key events: Enter must see the characters typed before it. Found
    while typing into the dashboard in a real terminal on a recovered database."""
    db = tmp_path / "tasks.json"
    app = dashboard_on(db, clock)
    async with app.run_test(size=SIZE) as pilot:
        board = Dashboard(app, pilot, clock)
        await board.until(lambda: app.ready, "the database to open")
        await board.press("a")
        assert isinstance(app.screen, AddIdsScreen)
        for key, character in [*((c, c) for c in "burst-1"), ("enter", "\r")]:
            app.post_message(events.Key(key, character))  # what the driver does with one read
        await board.until(lambda: not isinstance(app.screen, AddIdsScreen), "the dialog to close")
        await board.until(lambda: board.row_ids() == ["burst-1"], "the typed id to be added")
        await pilot.pause()  # let the table's messages settle before the test closes the app
