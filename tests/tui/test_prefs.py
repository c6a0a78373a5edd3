"""The remembered view (issue 13): theme, sort, hide-finished and failed-only survive a restart; the theme
setting wins over the remembered theme; a garbled file is the defaults, never a crash. And the help
screen's defects: `[keymap]` shown as typed, `s` in the marked-rows line, j/k scroll it, ctrl+c's hint
plain, and navigation keys the keymap can move."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from grokdash.tui import prefs
from grokdash.tui.screens.help import HelpScreen
from grokdash.tui.view import SortOrder, ViewOptions
from grokdash.tui.widgets.task_table import TaskTable

from .board import plain_text

pytestmark = pytest.mark.anyio

SIZE = (120, 32)


# ---- the file ------------------------------------------------------------------------------------


def test_the_file_lives_in_the_state_folder(home):
    assert prefs.prefs_path() == home / "state" / "grokdash" / prefs.PREFS_FILE


def every_option_changed() -> ViewOptions:
    """Every remembered field of ViewOptions away from its default (a sort direction too, once there)."""
    changes = {
        item.name: True
        for item in dataclasses.fields(ViewOptions)
        if isinstance(getattr(ViewOptions(), item.name), bool)
    }
    return ViewOptions(sort=SortOrder.STATUS.next, **changes)


def test_what_is_saved_is_read_back_without_the_filter(home):
    view = every_option_changed()
    assert prefs.save(prefs.Prefs(theme="nord", view=dataclasses.replace(view, filter_text="beach")))
    assert prefs.load() == prefs.Prefs(theme="nord", view=view)
    assert "filter_text" not in json.loads(prefs.prefs_path().read_text())["view"]


def test_no_file_is_the_defaults(home):
    assert prefs.load() == prefs.Prefs()


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe garbage",
        b"[1, 2]",
        b'"text"',
        b"null",
        b"{" * 100_000,
    ],
)
def test_a_garbled_file_is_the_defaults_and_a_log_line(home, caplog, content):
    path = prefs.prefs_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="grokdash.tui.prefs"):
        assert prefs.load() == prefs.Prefs()
    assert str(path) in caplog.text


def test_a_folder_where_the_file_should_be_is_the_defaults_and_saving_says_so_in_the_log(home, caplog):
    prefs.prefs_path().mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="grokdash.tui.prefs"):
        assert prefs.load() == prefs.Prefs()
        assert prefs.save(prefs.Prefs(theme="nord")) is False
    assert "not a regular file" in caplog.text and "could not be remembered" in caplog.text


def test_each_value_that_does_not_fit_is_dropped_alone(home):
    path = prefs.prefs_path()
    path.parent.mkdir(parents=True)
    view = {"sort": "by-colour", "hide_finished": 1, "failed_only": True, "filter_text": "x", "new": 3}
    path.write_text(json.dumps({"theme": 7, "view": view}))
    assert prefs.load() == prefs.Prefs(theme=None, view=ViewOptions(failed_only=True))
    path.write_text(json.dumps({"theme": "nord", "view": "status"}))
    assert prefs.load() == prefs.Prefs(theme="nord")


# ---- the dashboard -------------------------------------------------------------------------------


async def test_theme_sort_hide_and_failed_only_are_restored_on_the_next_start(every_state_store, make_app):
    app = make_app(every_state_store)
    async with app.run_test(size=SIZE) as pilot:
        assert app.options == ViewOptions() and app.theme == "textual-dark"
        await pilot.press("t", "h", "f")
        app.theme = "nord"  # what ctrl+p's theme picker does
        await pilot.pause()
        chosen = app.options
    assert chosen.sort is not SortOrder.STATUS and chosen.hide_finished and chosen.failed_only

    again = make_app(every_state_store)
    async with again.run_test(size=SIZE):
        assert again.options == chosen
        assert again.theme == "nord"
        assert "failed only" in str(again.query_one("SummaryBar").render())


async def test_the_filter_is_not_remembered(every_state_store, make_app):
    app = make_app(every_state_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"dragon", "enter", "t")
        assert app.options.filter_text == "dragon"
        chosen = app.options.sort
    again = make_app(every_state_store)
    async with again.run_test(size=SIZE):
        assert again.options.filter_text == "" and again.options.sort is chosen is not SortOrder.STATUS


async def test_the_theme_setting_wins_over_the_remembered_theme_and_is_not_remembered(
    every_state_store, make_app
):
    prefs.save(prefs.Prefs(theme="dracula", view=ViewOptions(hide_finished=True)))
    app = make_app(every_state_store, theme="gruvbox")
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "gruvbox"
        assert app.options.hide_finished
        await pilot.press("f")
    remembered = prefs.Prefs(theme="dracula", view=ViewOptions(hide_finished=True, failed_only=True))
    assert prefs.load() == remembered


async def test_a_garbled_file_opens_the_dashboard_at_its_defaults(every_state_store, make_app):
    path = prefs.prefs_path()
    path.parent.mkdir(parents=True)
    path.write_text('{"theme": "no-such-theme", "view": {"sort": "elapsed"}}')
    app = make_app(every_state_store)
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "textual-dark" and app.options.sort is SortOrder.ELAPSED
        await pilot.press("h")  # saving over it works
    assert prefs.load().view.hide_finished


async def test_starting_without_changing_anything_writes_nothing(every_state_store, make_app):
    app = make_app(every_state_store)
    async with app.run_test(size=SIZE):
        pass
    assert not prefs.prefs_path().exists()


# ---- the help screen -----------------------------------------------------------------------------


async def open_help(app, pilot) -> HelpScreen:
    await pilot.press("question_mark")
    assert isinstance(app.screen, HelpScreen)
    return app.screen


async def test_help_shows_keymap_as_typed_and_names_s_among_the_marked_row_keys(every_state_store, make_app):
    app = make_app(every_state_store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_help(app, pilot)
        notes = plain_text(screen.query_one("#notes").render())
        assert '[keymap]  copy = "y"' in notes
        assert "copy, save, label" in notes


async def test_j_k_and_the_arrows_scroll_the_help(every_state_store, make_app):
    app = make_app(every_state_store)
    async with app.run_test(size=(100, 16)) as pilot:
        screen = await open_help(app, pilot)
        scroll = screen.query_one("VerticalScroll")
        assert scroll.max_scroll_y > 2
        await pilot.press("j", "j")
        assert scroll.scroll_y == 2
        await pilot.press("k")
        assert scroll.scroll_y == 1
        await pilot.press("down")
        assert scroll.scroll_y == 2
        await pilot.press("up", "up")
        assert scroll.scroll_y == 0
        await pilot.press("end")
        assert scroll.scroll_y == scroll.max_scroll_y
        await pilot.press("g")
        assert scroll.scroll_y == 0


async def test_ctrl_c_says_plainly_how_to_quit(every_state_store, make_app):
    app = make_app(every_state_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+c")
        await pilot.pause()
        messages = [note.message for note in app._notifications]
        assert messages == ["Press ctrl+q to quit."]


def test_every_navigation_key_has_a_keymap_id():
    ids = [binding.id for binding in TaskTable.BINDINGS]
    assert all(ids), ids
    assert {"cursor_up", "cursor_down", "page_up", "page_down", "top", "bottom", "mark"} <= set(ids)


async def test_the_keymap_moves_a_navigation_key(every_state_store, make_app):
    app = make_app(every_state_store, keymap={"cursor_down": "n,down"})  # n was "new task"
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(TaskTable)
        before = table.cursor
        await pilot.press("n")
        assert table.cursor == before + 1
        assert not [note for note in app._notifications if "keymap" in note.message]
        assert ("n, ↓", "cursor_down") in {(row[0], row[2]) for row in app.key_help()}


@pytest.mark.parametrize(
    ("pane", "place"), [("yes", "right"), (1, "bottom"), (True, "left"), (True, ["right"]), (None, None)]
)
def test_a_pane_value_that_does_not_fit_is_dropped_alone(home, pane, place):
    path = prefs.prefs_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"theme": "nord", "pane": pane, "pane_place": place}))
    loaded = prefs.load()
    assert loaded.theme == "nord"
    assert loaded.pane is (pane if isinstance(pane, bool) else False)
    assert loaded.pane_place == (place if place in prefs.PANE_PLACES else "auto")
