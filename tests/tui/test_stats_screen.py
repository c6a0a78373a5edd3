"""The stats screen (S, and the palette; issue 14): the per-model table and the per-day figures, from the
task database alone."""

from __future__ import annotations

import pytest
from textual.widgets import Sparkline, Static

from grokdash.tui.screens.stats import SPARKLINE_FROM, StatsScreen
from tests.integration.test_stats import fixture_tasks

from .board import dashboard, plain_text

pytestmark = pytest.mark.anyio


async def test_s_shows_the_stats_and_escape_closes_them(store, clock):
    store.import_records(fixture_tasks())
    async with dashboard(store, clock, prices={"grok_video3": 0.05}) as board:
        await board.press("S")
        await board.until(lambda: isinstance(board.app.screen, StatsScreen), "the stats screen")
        await board.pilot.pause()
        screen = board.app.screen
        table = plain_text(screen.query_one("#models", Static).content)
        video3 = next(line for line in table.splitlines() if "grok_video3 " in line).split()
        assert video3[:8] == ["grok_video3", "5", "80%", "20%", "0%", "2m", "30s", "4m"]
        assert "≈ 2.10" in table  # 4 × 0.40 + 0.50
        assert "content moderation" in plain_text(screen.query_one("#failures", Static).content)
        assert len(screen.stats.days) < SPARKLINE_FROM and not screen.query(Sparkline)  # a line a day
        await board.press("escape")
        assert not isinstance(board.app.screen, StatsScreen)


async def test_over_many_days_the_per_day_figures_are_sparklines(store, clock):
    from tests.tui.conftest import _answers

    day = 86400
    store.import_records(
        [
            _answers(f"t-{n}", "grok_video3", clock() - n * day, [(clock() - n * day + 60, "completed", {})])
            for n in range(10)
        ]
    )
    async with dashboard(store, clock) as board:
        await board.press("S")
        await board.until(lambda: isinstance(board.app.screen, StatsScreen), "the stats screen")
        await board.pilot.pause()
        [tasks] = board.app.screen.query(Sparkline)
        assert list(tasks.data) == [1.0] * 10


async def test_a_batch_being_sent_elsewhere_shows_in_the_summary(store, clock):
    from grokdash.batchfile import Defaults, read_batch
    from grokdash.batchjournal import CREATED, Journal

    parsed = read_batch("".join(f"kite {n}\n" for n in range(5)), "text", Defaults(model="grok_video3"))
    journal, _ = Journal.open("kites", "kites.txt", parsed)  # held, as a running `grokdash batch` holds it
    try:
        store.add(["task-a", "task-b"])
        journal.mark(journal.rows[0], CREATED, task_id="task-a")
        journal.mark(journal.rows[1], CREATED, task_id="task-b")
        async with dashboard(store, clock) as board:
            await board.app.look_for_batches()  # what the once-a-second tick does every other second
            board.app.update_summary()
            assert "batch kites: 2/5 sent, 2 active" in board.summary()
            journal.close()  # the batch ended
            await board.app.look_for_batches()
            board.app.update_summary()
            assert "batch kites" not in board.summary()
    finally:
        journal.close()
