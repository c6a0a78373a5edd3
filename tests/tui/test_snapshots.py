"""Snapshots of the dashboard: a task in every state, a frozen clock, no polling, no network.

Regenerate after a deliberate change of the look with
`pytest tests/tui/test_snapshots.py --snapshot-update`, and look at the SVGs in __snapshots__/.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import Input, Select, TextArea

from grokdash.store import TaskStore
from grokdash.tui.app import GrokdashApp
from grokdash.tui.widgets.task_table import TaskTable
from tests.tui.conftest import Ids

WIDE = (120, 32)
NARROW = (80, 24)

MakeApp = Callable[..., GrokdashApp]


async def type_text(pilot: Pilot, text: str) -> None:
    await pilot.press(*("space" if char == " " else char for char in text))


def test_main_view(snap_compare, every_state_store: TaskStore, make_app: MakeApp) -> None:
    assert snap_compare(make_app(every_state_store), terminal_size=WIDE)


def test_main_view_narrow(snap_compare, every_state_store: TaskStore, make_app: MakeApp) -> None:
    """At 80 columns the least useful columns are dropped; status, id and elapsed stay."""
    assert snap_compare(make_app(every_state_store), terminal_size=NARROW)


def test_details_of_failed_task(snap_compare, every_state_store: TaskStore, make_app: MakeApp) -> None:
    def select_failed(pilot: Pilot) -> None:
        assert pilot.app.query_one(TaskTable).select(Ids.FAILED)

    assert snap_compare(
        make_app(every_state_store), press=["enter"], terminal_size=WIDE, run_before=select_failed
    )


def test_add_dialog_with_text(snap_compare, every_state_store: TaskStore, make_app: MakeApp) -> None:
    async def open_and_type(pilot: Pilot) -> None:
        await pilot.press("a")
        await pilot.pause()
        pilot.app.screen.query_one(TextArea).cursor_blink = False
        await type_text(pilot, "video-123 video-456, fail-7")

    assert snap_compare(make_app(every_state_store), terminal_size=WIDE, run_before=open_and_type)


def test_help_screen(snap_compare, every_state_store: TaskStore, make_app: MakeApp) -> None:
    assert snap_compare(make_app(every_state_store), press=["question_mark"], terminal_size=WIDE)


def test_filter_active(snap_compare, every_state_store: TaskStore, make_app: MakeApp) -> None:
    async def filter_fail(pilot: Pilot) -> None:
        pilot.app.query_one("#filter", Input).cursor_blink = False
        await pilot.press("slash")
        await type_text(pilot, "fail")

    assert snap_compare(make_app(every_state_store), terminal_size=WIDE, run_before=filter_fail)


def test_marked_rows(snap_compare, every_state_store: TaskStore, make_app: MakeApp) -> None:
    """Space marks the row under the cursor and moves down: the first two rows are marked."""
    assert snap_compare(make_app(every_state_store), press=["space", "space"], terminal_size=WIDE)


def test_new_task_form_for_the_max_model(
    snap_compare, every_state_store: TaskStore, make_app: MakeApp
) -> None:
    async def fill_in(pilot: Pilot) -> None:
        await pilot.press("n")
        await pilot.pause()
        form = pilot.app.screen
        for area in form.query(TextArea):
            area.cursor_blink = False
        form.query_one("#model", Select).value = "grok_video3_max"
        form.query_one("#prompt", TextArea).text = "a lighthouse in a storm, waves crashing, 35mm film"
        await pilot.pause()

    assert snap_compare(make_app(every_state_store), terminal_size=(120, 40), run_before=fill_in)
