"""Copy what people copy (issue 13): `y` offers the id, the URL, the prompt, the saved file and a line
per task; `c` in the details screen copies the task on screen, not the marked rows; inside a tmux that
keeps copies to itself the toast says so once, with the fix."""

from __future__ import annotations

import pytest

from grokdash.models import Task
from grokdash.tui.screens.copy import CopyScreen
from grokdash.tui.screens.details import DetailsScreen

from .board import dashboard

pytestmark = pytest.mark.anyio


def done(store, clock, task_id: str, prompt: str | None = None) -> None:
    store.add([task_id], request={"model": "grok_video3", "prompt": prompt} if prompt else None)
    answer = Task(id=task_id, status="completed", video_url=f"https://cdn.example/{task_id}.mp4?sig=s")
    store.update({task_id: lambda old: old.with_answer(answer, clock())})


def copied(app, monkeypatch) -> list[str]:
    texts: list[str] = []
    monkeypatch.setattr(app, "copy_to_clipboard", texts.append)
    monkeypatch.setattr(app, "copy_to_desktop", lambda text: None)
    return texts


async def test_y_copies_the_id_and_the_prompt_by_one_letter(store, clock, monkeypatch):
    done(store, clock, "task_f302a97e0d964f01889b", prompt="a cat surfing at dawn")
    async with dashboard(store, clock) as board:
        texts = copied(board.app, monkeypatch)
        await board.press("y")
        assert isinstance(board.app.screen, CopyScreen)
        await board.press("i")
        assert texts == ["task_f302a97e0d964f01889b"]
        await board.press("y", "p")
        assert texts[-1] == "a cat surfing at dawn"
        assert "the prompt" in board.toasts()[-1]


async def test_y_on_marked_rows_copies_a_line_each_with_arrows_and_enter(store, clock, monkeypatch):
    for task_id in ("a-1", "b-2"):
        done(store, clock, task_id)
    async with dashboard(store, clock) as board:
        texts = copied(board.app, monkeypatch)
        await board.select("a-1")
        await board.press("space")
        await board.select("b-2")
        await board.press("space")
        await board.press("y", "end", "enter")  # the last choice: a line per task
        lines = texts[-1].splitlines()
        assert sorted(line.split("\t")[0] for line in lines) == ["a-1", "b-2"]
        assert all("completed" in line and "https://cdn.example/" in line for line in lines)


async def test_c_in_the_details_screen_copies_the_task_on_screen_not_the_marked_rows(
    store, clock, monkeypatch
):
    for task_id in ("a-1", "b-2"):
        done(store, clock, task_id)
    async with dashboard(store, clock) as board:
        texts = copied(board.app, monkeypatch)
        await board.select("a-1")
        await board.press("space")  # a-1 marked
        await board.select("b-2")
        await board.press("enter")  # details of b-2
        assert isinstance(board.app.screen, DetailsScreen)
        await board.press("c")
        assert texts == ["https://cdn.example/b-2.mp4?sig=s"]


async def test_inside_tmux_without_set_clipboard_on_the_toast_says_so_once(store, clock, monkeypatch):
    from grokdash import desktop

    done(store, clock, "a-1")
    monkeypatch.setattr(
        desktop, "tmux_clipboard_problem", lambda: "tmux keeps copies to itself (set-clipboard is external)"
    )
    async with dashboard(store, clock) as board:
        copied(board.app, monkeypatch)
        await board.app.workers.wait_for_complete()
        await board.press("c")
        await board.press("c")
        said = [toast for toast in board.toasts() if "set-clipboard" in toast]
        assert len(said) == 1
