"""The new-task form and the user's [prices] and budget_per_day (issues 13 and 14): the recap shows the
estimated price and the day's spend; a task that would pass the budget cannot be sent from the form,
and the form says why and how to send it anyway."""

from __future__ import annotations

import pytest
from textual.widgets import Button

from .board import dashboard
from .test_new_task_keyboard import open_form, posts, recap, type_text

pytestmark = pytest.mark.anyio

PRICES = {"grok_video3": 0.05}


async def test_with_prices_the_recap_shows_the_estimated_price(store, clock, sim):
    async with dashboard(store, clock, sim, prices=PRICES) as board:
        form = await open_form(board)
        await type_text(board, "a kite")
        await board.press("ctrl+s")
        assert form.in_recap
        assert "Price ≈ 0.50" in " ".join(recap(form).split())  # 10 s at 0.05


async def test_without_prices_the_recap_says_nothing_of_a_price(store, clock, sim):
    async with dashboard(store, clock, sim) as board:
        form = await open_form(board)
        await type_text(board, "a kite")
        await board.press("ctrl+s")
        assert form.in_recap and "Price" not in recap(form)


async def test_a_task_that_would_pass_the_budget_cannot_be_sent_from_the_form(store, clock, sim):
    async with dashboard(store, clock, sim, prices=PRICES, budget_per_day=0.40) as board:
        form = await open_form(board)
        await type_text(board, "a kite")
        problems = str(form.query_one("#problems").render())
        assert "would pass today's budget of 0.40" in problems
        assert "grokdash new --over-budget" in problems  # how to send it anyway
        assert form.query_one("#review", Button).disabled
        await board.press("ctrl+s")
        assert not form.in_recap and posts(sim) == []


async def test_the_days_spend_counts_what_the_form_created(store, clock, sim):
    async with dashboard(store, clock, sim, prices=PRICES, budget_per_day=0.75) as board:
        form = await open_form(board)
        await type_text(board, "a kite")
        await board.press("ctrl+s", "tab", "enter")  # 0.50 of 0.75
        await board.until(lambda: len(posts(sim)) == 1, "the first create")
        await board.until(lambda: board.app.screen is not form, "the form to close")
        again = await open_form(board)
        await type_text(board, "a second kite")
        assert "0.50 spent so far" in str(again.query_one("#problems").render())
        assert again.query_one("#review", Button).disabled


async def test_N_on_marked_rows_runs_each_again_after_one_question(store, clock, sim):
    from grokdash.tui.screens.confirm import ConfirmScreen

    store.add(["made-1"], label="kite", request={"model": "grok_video3", "prompt": "a kite", "duration": 6})
    store.add(["made-2"], label="boat", request={"model": "grok_video3", "prompt": "a boat", "duration": 6})
    store.add(["by-id-1"])
    async with dashboard(store, clock, sim, prices=PRICES) as board:
        for task_id in ("made-1", "made-2", "by-id-1"):
            await board.select(task_id)
            await board.press("space")
        await board.press("N")
        asked = board.app.screen
        assert isinstance(asked, ConfirmScreen)
        question = str(asked.query_one("#question").render())
        assert "Run 2 tasks again?" in question and "1 not created here" in question
        assert "grok_video3: 2 tasks, 12 s of video" in question and "≈ 0.60" in question
        await board.press("enter")  # the focus starts on Back: a stray enter sends nothing
        assert posts(sim) == []
        await board.press("N", "tab", "enter")
        await board.until(lambda: len(posts(sim)) == 2, "the two creates")
        await board.until(lambda: len(store.tasks()) == 5, "the new tasks tracked")
        labels = sorted(t.label for t in store.tasks() if t.id not in ("made-1", "made-2", "by-id-1"))
        assert labels == ["boat", "kite"]
