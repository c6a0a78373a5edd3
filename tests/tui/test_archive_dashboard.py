"""The palette's archive (issue 15): one question with the count, the focus on Back; once confirmed the
finished tasks older than 30 days leave the table for the archive beside the database, and a video still
owed a save stays."""

from __future__ import annotations

import pytest
from textual.widgets import Button

from grokdash.archive import open_archive
from grokdash.tui.screens.confirm import ConfirmScreen

from .board import dashboard
from .conftest import _answers
from .test_owed_saves_dashboard import palette_offers

pytestmark = pytest.mark.anyio

DAY = 86400
TITLE = "Archive finished tasks older than 30 days"
ENDED = {"old-failed": (40, "failed"), "old-moderated": (40, "moderated"), "old-owed": (40, "completed")}
"""id: (days since it reached the status, the status)."""
ENDED |= {"old-running": (40, "processing"), "new-failed": (1, "failed")}


async def test_the_palette_archives_old_finished_tasks_after_one_question(store, clock):
    video = {"video_url": "https://cdn.example/v.mp4"}  # not on disk: owed a save
    records = []
    for task_id, (days, status) in ENDED.items():
        at = clock() - days * DAY
        records.append(
            _answers(task_id, "grok_video3", at - 60, [(at, status, video if status == "completed" else {})])
        )
    store.import_records(records)
    async with dashboard(store, clock) as board:
        assert set(board.row_ids()) == set(ENDED)
        await board.press("ctrl+p")
        await board.pilot.press(*"Archi")
        await board.until(lambda: palette_offers(board, TITLE), "the palette to offer the archive")
        await board.press("down", "enter")
        await board.until(lambda: isinstance(board.app.screen, ConfirmScreen), "the question")
        question = str(board.app.screen.query_one("#question").render())
        assert question.startswith("Archive 2 finished tasks that ended more than 30 days ago?")
        assert "1 completed video not saved yet stays in the live list" in question
        assert board.app.focused is board.app.screen.query_one("#no", Button)  # the safe answer

        await board.press("tab", "enter")  # yes
        await board.until(lambda: "old-failed" not in board.row_ids(), "the archived rows to leave")
        assert set(board.row_ids()) == {"old-owed", "old-running", "new-failed"}
        assert {tracked.id for tracked in open_archive(store.path).tasks()} == {"old-failed", "old-moderated"}
        assert any(
            "Archived 2 tasks. 1 completed video not saved yet stays" in toast for toast in board.toasts()
        )

        # Again (the palette's callback, without the typing): nothing left to archive, and why.
        board.app.action_archive()
        await board.until(
            lambda: any("Nothing to archive: 1 completed video" in toast for toast in board.toasts()),
            "the toast saying why nothing moved",
        )
        assert not isinstance(board.app.screen, ConfirmScreen)
