"""The details beside the list (issue 13): `v` opens a pane that follows the cursor, beside the list on a
wide terminal and under it on a narrow one (`V` moves it, and the place is remembered); tab moves into it,
and the keys there act on the task it shows, not on the marked rows."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from grokdash.models import Task
from grokdash.tui import prefs
from grokdash.tui.screens.copy import CopyScreen
from grokdash.tui.widgets.task_details import TaskDetails

from .board import dashboard, plain_text, screen_lines
from .test_copy_menu import copied, done

pytestmark = pytest.mark.anyio


def pane_of(board) -> TaskDetails:
    return board.app.query_one("#pane", TaskDetails)


def pane_text(board) -> str:
    return plain_text(pane_of(board).query_one("#details", Static).content)


async def test_v_opens_a_pane_that_follows_the_cursor_and_v_closes_it(store, clock):
    done(store, clock, "beach-1", prompt="waves at dawn")
    done(store, clock, "forest-2", prompt="a walk under pines")
    async with dashboard(store, clock) as board:
        pane = pane_of(board)
        assert not pane.display
        await board.select("beach-1")
        await board.press("v")
        assert pane.display and pane.region.width > 0
        assert "waves at dawn" in pane_text(board)
        assert str(pane.border_title) == "beach-1"
        await board.select("forest-2")
        assert "a walk under pines" in pane_text(board) and "waves at dawn" not in pane_text(board)
        assert str(pane.border_title) == "forest-2"
        await board.press("v")
        assert not pane.display
        assert board.app.focused is board.table


async def test_wide_beside_narrow_under_and_V_moves_it(store, clock):
    done(store, clock, "beach-1")
    async with dashboard(store, clock) as board:
        await board.pilot.resize_terminal(180, 40)
        await board.press("v")
        table, pane = board.table.region, pane_of(board).region
        assert pane.x >= table.right and pane.y == table.y  # beside
        await board.pilot.resize_terminal(100, 30)
        await board.pilot.pause()
        table, pane = board.table.region, pane_of(board).region
        assert pane.y >= table.bottom and pane.width > table.width // 2  # under, as wide as the list
        await board.press("V")  # beside, even here: the user asked
        table, pane = board.table.region, pane_of(board).region
        assert pane.x >= table.right
        assert "Details beside the list." in board.toasts()[-1]


async def test_the_pane_and_its_place_are_remembered(store, clock):
    done(store, clock, "beach-1")
    async with dashboard(store, clock) as board:
        await board.press("v", "V")
    remembered = prefs.load()
    assert remembered.pane and remembered.pane_place in ("right", "bottom")
    async with dashboard(store, clock) as board:
        assert pane_of(board).display
        assert board.app.pane_place == remembered.pane_place
        assert "beach-1" in str(pane_of(board).border_title)


async def test_in_the_pane_c_and_y_act_on_the_task_it_shows_not_on_the_marked_rows(store, clock, monkeypatch):
    for task_id in ("a-1", "b-2"):
        done(store, clock, task_id)
    async with dashboard(store, clock) as board:
        texts = copied(board.app, monkeypatch)
        await board.select("a-1")
        await board.press("space")  # a-1 marked
        await board.select("b-2")
        await board.press("space")  # b-2 marked too
        await board.press("v", "tab")
        assert board.app.focused is pane_of(board)
        await board.press("c")
        assert texts == ["https://cdn.example/b-2.mp4?sig=s"]
        await board.press("y")
        assert isinstance(board.app.screen, CopyScreen)
        await board.press("i")
        assert texts[-1] == "b-2"
        # Back in the list, the marks are what c acts on.
        await board.press("escape")
        assert board.app.focused is board.table
        await board.press("c")
        assert sorted(texts[-1].splitlines()) == [
            "https://cdn.example/a-1.mp4?sig=s",
            "https://cdn.example/b-2.mp4?sig=s",
        ]


async def test_d_in_the_pane_untracks_the_task_it_shows_and_keeps_the_marks(store, clock):
    for task_id in ("a-1", "b-2", "c-3"):
        done(store, clock, task_id)
    async with dashboard(store, clock) as board:
        await board.select("a-1")
        await board.press("space")
        await board.select("c-3")
        await board.press("space")
        await board.select("b-2")
        await board.press("v", "tab", "d")
        await board.until(lambda: store.get("b-2") is None, "b-2 to be untracked")
        assert store.get("a-1") is not None and store.get("c-3") is not None
        assert board.table.marked == {"a-1", "c-3"}


async def test_the_pane_scrolls_from_the_keyboard(store, clock):
    store.add(["long-1"], request={"model": "grok_video3", "prompt": "\n".join(["line"] * 5)})
    answer = Task(id="long-1", status="failed", error="x" * 4000)
    store.update({"long-1": lambda old: old.with_answer(answer, clock())})
    async with dashboard(store, clock) as board:
        await board.pilot.resize_terminal(100, 24)
        await board.press("v", "tab")
        pane = pane_of(board)
        assert pane.max_scroll_y > 0
        await board.press("pagedown")
        assert pane.scroll_y > 0
        await board.press("home")
        assert pane.scroll_y == 0


async def test_at_80_by_24_the_pane_sits_under_the_list_and_the_footer_keeps_help_and_quit(store, clock):
    done(store, clock, "beach-1")
    async with dashboard(store, clock) as board:
        await board.pilot.resize_terminal(80, 24)
        await board.press("v")
        table, pane = board.table.region, pane_of(board).region
        assert pane.y >= table.bottom and table.height >= 5
        footer = screen_lines(board.app)[-1]
        assert "? Help" in footer and "q Quit" in footer, footer


async def test_escape_in_the_pane_goes_back_to_the_list_and_keeps_the_filter(store, clock):
    done(store, clock, "beach-1")
    done(store, clock, "forest-2")
    async with dashboard(store, clock) as board:
        await board.press("slash")
        await board.pilot.press(*"beach", "enter")
        await board.pilot.pause()
        assert board.row_ids() == ["beach-1"]
        await board.press("v", "tab")
        assert board.app.focused is pane_of(board)
        await board.press("escape")
        assert board.app.focused is board.table
        assert board.row_ids() == ["beach-1"] and board.app.options.filter_text == "beach"


async def test_j_k_g_and_G_scroll_the_focused_pane_as_they_move_in_the_list(store, clock):
    store.add(["long-1"], request={"model": "grok_video3", "prompt": "x"})
    answer = Task(id="long-1", status="failed", error="y" * 4000)
    store.update({"long-1": lambda old: old.with_answer(answer, clock())})
    async with dashboard(store, clock) as board:
        await board.pilot.resize_terminal(100, 24)
        await board.press("v", "tab")
        pane = pane_of(board)
        await board.press("j")
        assert pane.scroll_y == 1
        await board.press("G")
        assert pane.scroll_y == pane.max_scroll_y > 1
        await board.press("k")
        assert pane.scroll_y == pane.max_scroll_y - 1
        await board.press("g")
        assert pane.scroll_y == 0
