"""Sorting like k9s and filters that know fields (issue 13), driven through the dashboard's keys, its
filter box and clicks on the table's header. The clock is frozen and nothing polls."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.cells import cell_len as cells
from textual.widgets import Input

from grokdash.store import TaskStore
from grokdash.tracked import TrackedTask
from grokdash.tui.widgets.task_table import TaskTable

from .conftest import T0, Ids, frozen_clock

pytestmark = pytest.mark.anyio

SIZE = (200, 40)


def shown(app) -> list[str]:
    return [tracked.id for tracked in app.table.rows]


def header(app) -> str:
    return app.table.render_line(0).text


@pytest.fixture
def bulk_store(tmp_path: Path) -> TaskStore:
    store = TaskStore(tmp_path / "tasks.json", clock=frozen_clock)
    store.import_records(
        [TrackedTask(id=f"bulk-{n}", added_at=T0 - n, label=f"shot {n}") for n in (10, 2, 1, 33, 3)]
    )
    return store


async def test_t_sorts_by_the_next_column_naturally_and_capital_t_reverses(bulk_store, make_app):
    app = make_app(bulk_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "STATUS ▲" in header(app)  # active first, the default
        await pilot.press("t")
        assert shown(app) == ["bulk-1", "bulk-2", "bulk-3", "bulk-10", "bulk-33"]
        assert "ID ▲" in header(app) and "STATUS ▲" not in header(app)
        assert "by id ▲" in app.view_state()
        await pilot.press("T")
        assert shown(app) == ["bulk-33", "bulk-10", "bulk-3", "bulk-2", "bulk-1"]
        assert "ID ▼" in header(app)


async def test_at_80_columns_t_steps_through_the_columns_shown_only(bulk_store, make_app):
    app = make_app(bulk_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        shown_keys = app.table.column_keys()
        assert "model" not in shown_keys and "checked" not in shown_keys  # 80 columns leave them out
        seen = []
        for _ in shown_keys:
            await pilot.press("t")
            seen.append(str(app.options.sort))
            assert re.search(rf"{seen[-1].upper()} ?[▲▼]", header(app)), header(app)  # its arrow shows
        assert seen == [*shown_keys[1:], shown_keys[0]]  # round every shown column, back to status


async def test_a_click_on_a_header_sorts_by_its_column_and_a_second_click_reverses(bulk_store, make_app):
    app = make_app(bulk_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.table
        x = next(x for x in range(SIZE[0]) if table.column_at(x) == "label")
        await pilot.click(TaskTable, offset=(x, 0))
        await pilot.pause()
        assert app.options.sort == "label" and not app.options.reverse
        assert shown(app) == ["bulk-1", "bulk-2", "bulk-3", "bulk-10", "bulk-33"]
        assert "LABEL ▲" in header(app)
        await pilot.click(TaskTable, offset=(x, 0))
        await pilot.pause()
        assert shown(app) == ["bulk-33", "bulk-10", "bulk-3", "bulk-2", "bulk-1"]
        assert "LABEL ▼" in header(app)
        assert table.column_at(0) is None  # the gutter sorts nothing


async def test_active_first_puts_gone_after_running_and_h_and_f_see_every_ending(every_state_store, make_app):
    app = make_app(every_state_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        order = shown(app)
        assert order.index(Ids.GONE) > max(order.index(Ids.PROCESSING), order.index(Ids.QUEUED))
        assert order.index(Ids.GONE) > order.index(Ids.STALE)  # stale is still running
        await pilot.press("h")
        assert Ids.GONE not in shown(app) and Ids.MODERATED not in shown(app)
        assert Ids.QUEUED in shown(app)
        await pilot.press("h", "f")
        assert {Ids.FAILED, Ids.MODERATED, Ids.GONE, Ids.NETWORK_ERROR} <= set(shown(app))
        assert Ids.COMPLETED not in shown(app) and Ids.QUEUED not in shown(app)


async def test_fields_in_the_filter_box_and_an_unknown_field_is_said(every_state_store, make_app):
    app = make_app(every_state_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"status:failed")
        assert shown(app) == [Ids.FAILED]
        box = app.query_one("#filter", Input)
        box.value = 'model:max label:"drone over"'
        await pilot.pause()
        assert shown(app) == [Ids.SAVED]
        box.value = "saved:yes"
        await pilot.pause()
        assert shown(app) == [Ids.SAVED]
        box.value = "colour:red"
        await pilot.pause()
        assert "no field “colour”" in app.view_state()
        assert box.has_class("-invalid") and "colour" in str(box.tooltip)
        box.value = "sunset"
        await pilot.pause()
        assert shown(app) == [Ids.COMPLETED] and not box.has_class("-invalid")


async def test_at_80_columns_the_summary_drops_whole_phrases_and_keeps_paused(every_state_store, make_app):
    app = make_app(every_state_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("p", "t", "t", "slash", *"saved:no", "enter")
        await pilot.pause()
        app.update_summary()
        line = str(app.query_one("#summary").render()).strip()
        assert "paused" in line, line  # what polling is doing outlasts the view's details
        assert cells(line) <= 78, line
        inside = re.sub(r"^showing \d+ of \d+, ", "", line.partition("(")[2].partition(")")[0])
        whole = app.view_state().split(" · ")
        assert all(part in whole for part in inside.split(" · ")), (inside, whole)  # no half phrase


async def test_the_cursor_stays_on_top_as_rows_move_until_a_task_is_chosen(bulk_store, make_app):
    app = make_app(bulk_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.table
        rows = list(table.rows)
        table.set_rows(list(reversed(rows)))  # the first answers re-sort the rows
        assert table.cursor == 0 and table.selected.id == rows[-1].id  # still the top row
        await pilot.press("j")  # the user chose a task: it is followed from now on
        chosen = table.selected.id
        table.set_rows(rows)
        assert table.selected.id == chosen
