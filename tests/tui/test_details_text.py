"""The details screen shows text from the server, a file or the user as it is: never obeyed by the
terminal (escape sequences), never read as markup."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from grokdash.models import Task
from grokdash.tracked import TrackedTask
from grokdash.tui.screens.details import describe

HOSTILE_ERROR = "bad \x1b[41mRED\x1b[0m then \x1b[2J and \u202eevil"


def shown(tracked: TrackedTask) -> str:
    out = io.StringIO()
    Console(file=out, width=120, color_system=None, force_terminal=False).print(describe(tracked, 1_000.0))
    return out.getvalue()


def hostile_task() -> TrackedTask:
    raw = {"id": "esc-1", "status": "fail\x1b[2Jed", "model": "m[/]", "created": 900, "error": HOSTILE_ERROR}
    task = Task(id="esc-1", status="fail\x1b[2Jed", model="m[/]", created=900, raw=raw, error=HOSTILE_ERROR)
    tracked = TrackedTask(id="esc-1", added_at=950, label="[red]not markup[/red] [/]")
    return tracked.with_answer(task, 960)


def test_control_characters_are_shown_escaped_and_markup_is_shown_as_typed():
    text = shown(hostile_task())
    assert "\x1b" not in text and "\u202e" not in text
    assert "bad \\x1b[41mRED\\x1b[0m then \\x1b[2J and \\u202eevil" in text  # the Error fact
    assert '"error": "bad \\u001b[41mRED' in text  # the raw answer
    assert "[red]not markup[/red] [/]" in text
    assert "m[/]" in text
    assert "fail\\x1b[2Jed" in text  # the timeline's status


@pytest.mark.anyio
async def test_ids_and_labels_that_look_like_markup_are_shown_as_typed_in_messages(store, clock):
    from tests.tui.board import dashboard

    async with dashboard(store, clock) as board:
        await board.press("a")
        await board.pilot.press(*"[/] [b]bold[/b]")
        await board.press("enter")
        await board.until(lambda: len(board.row_ids()) == 2, "the ids to go in")
        assert sorted(board.row_ids()) == ["[/]", "[b]bold[/b]"]
        notes = list(board.app._notifications)
        assert any("[/], [b]bold[/b]" in note.message for note in notes)
        assert not any(note.markup for note in notes)  # shown as typed: "[b]" is not bold
        assert board.app.is_running and board.app.crash is None
