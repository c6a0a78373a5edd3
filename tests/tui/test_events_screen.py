"""The events screen (`e`): what happened since the dashboard opened, newest first, with the time, so
a user back from lunch can read what finished, what was saved and what went wrong (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grokdash.tui.screens.events import EventsScreen

from .board import dashboard, screen_lines

pytestmark = pytest.mark.anyio


async def test_e_lists_what_finished_and_what_was_saved_newest_first(store, clock, sim, tmp_path: Path):
    store.add(["job-1", "fail-1"])
    async with dashboard(store, clock, sim, download_dir=tmp_path / "videos", auto_download=True) as board:
        await board.next_round(advance=35)  # both finish: one completes, one fails
        await board.until(lambda: store.get("job-1").local_file is not None, "the video saved")
        await board.until(lambda: any(e.kind == "saved" for e in board.app.events.newest_first()), "news")
        await board.press("e")
        assert isinstance(board.app.screen, EventsScreen)
        await board.pilot.pause()
        lines = [line for line in screen_lines(board.app) if "job-1" in line or "fail-1" in line]
        kinds = [next(word for word in ("saved", "completed", "failed") if word in line) for line in lines]
        assert kinds.index("saved") < kinds.index("completed")  # newest first
        assert "failed" in kinds
        await board.press("escape")
        assert not isinstance(board.app.screen, EventsScreen)


async def test_e_before_anything_happened_says_so_and_what_happens_while_it_is_open_shows(store, clock):
    async with dashboard(store, clock) as board:
        await board.press("e")
        await board.pilot.pause()
        assert any("Nothing has happened yet." in line for line in screen_lines(board.app))
        board.app.events.add(clock(), "completed", "late-1", "a kite")
        screen = board.app.screen
        assert isinstance(screen, EventsScreen)
        screen.refresh_events()  # what its once-a-second redraw does
        await board.pilot.pause()
        assert any("late-1" in line and "completed" in line for line in screen_lines(board.app))


async def test_at_80_columns_the_footer_shows_help_and_quit(store, clock):
    store.add(["t1"])
    async with dashboard(store, clock) as board:
        await board.pilot.resize_terminal(80, 24)
        await board.pilot.pause()
        footer = screen_lines(board.app)[-1]
        assert "? Help" in footer and "q Quit" in footer, footer
        # Each key shown is whole: the last one before the palette's ends with its word, not a bare key.
        keys_part = footer.split("▏")[0].rstrip()
        descriptions = {b.description for b in board.app.BINDINGS if b.show}
        assert any(keys_part.endswith(f" {word}") for word in descriptions), footer
        for width in (90, 100, 110):
            await board.pilot.resize_terminal(width, 24)
            await board.pilot.pause()
            keys_part = screen_lines(board.app)[-1].split("▏")[0].rstrip()
            assert any(keys_part.endswith(f" {word}") for word in descriptions), (width, keys_part)
