"""The dashboard under Pilot against the simulator, on a fake clock shared by both: the app factory and the
moves a test makes (select a row, press a key, wait for the next poll round). Shared by the Pilot tests.

Polling runs for real; a test moves the clock and wakes the poller, then waits for the round it started to
finish (a condition, never a fixed sleep).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from rich.console import Console

from grokdash.api import GrokClient, Timeouts
from grokdash.secret import Secret
from grokdash.store import TaskStore
from grokdash.tui.app import DashboardConfig, GrokdashApp
from grokdash.tui.widgets.summary import SummaryBar
from grokdash.tui.widgets.task_table import TaskTable

INTERVAL = 5.0
SIZE = (140, 36)


class Server(Protocol):
    """Where the dashboard's client sends its requests: a running `SimServer`, or one not up yet."""

    @property
    def base_url(self) -> str: ...


class Dashboard:
    """The app under test, with the moves a test makes."""

    def __init__(self, app: GrokdashApp, pilot, clock) -> None:
        self.app, self.pilot, self.clock = app, pilot, clock
        self.screenshots: list[str] = []
        """SVGs taken by `screenshot`, in order."""

    @property
    def table(self) -> TaskTable:
        return self.app.query_one(TaskTable)

    def row_ids(self) -> list[str]:
        return [tracked.id for tracked in self.table.rows]

    def status(self, task_id: str) -> str | None:
        tracked = self.app.store.get(task_id)
        return None if tracked is None else tracked.status

    def summary(self) -> str:
        return str(self.app.query_one(SummaryBar).render())

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await self.pilot.pause(0.02)

    async def next_round(self, advance: float = 0.0) -> None:
        """Let `advance` seconds pass on the shared clock, then wait for one more poll round."""
        self.clock.advance(advance)
        await self.polled(self.app.wake_poller())

    async def polled(self, wake: int | None = None) -> None:
        """Wait until the poller has done what wake number `wake` (default: the latest) asked for, and
        the table shows it."""
        wake = self.app.wake_seq if wake is None else wake
        await self.until(lambda: self.app.polled_through >= wake, "a poll round")
        await self.pilot.pause()

    async def press(self, *keys: str) -> None:
        await self.pilot.press(*keys)
        await self.pilot.pause()

    async def select(self, task_id: str) -> None:
        assert self.table.select(task_id), f"{task_id} is not in the table"
        await self.pilot.pause()

    async def screenshot(self) -> None:
        await self.pilot.pause()
        self.screenshots.append(self.app.export_screenshot())

    def toasts(self) -> list[str]:
        return [f"{n.title} {n.message}" for n in self.app._notifications]


@asynccontextmanager
async def dashboard(
    store: TaskStore,
    clock,
    sim: Server | None = None,
    key: str = "test-key",
    read_timeout: float = 2.0,
    **overrides,
) -> AsyncIterator[Dashboard]:
    def make_client() -> GrokClient:
        base = sim.base_url if sim else "http://127.0.0.1:9/x"
        return GrokClient(base, Secret(key), timeouts=Timeouts(connect=2, read=read_timeout))

    settings = {
        "store": store,
        "make_client": make_client,
        "interval": INTERVAL,
        "clock": clock,
        "desktop_notifications": False,
        "auto_download": False,  # a test of saving turns it on; the user's default is on
        "start_polling": sim is not None,
        **overrides,
    }
    app = GrokdashApp(DashboardConfig.of(**settings))
    async with app.run_test(size=SIZE) as pilot:
        board = Dashboard(app, pilot, clock)
        if sim is not None and settings["start_polling"]:
            await board.until(lambda: app.idle_passes >= 1, "the first poll round")
        await pilot.pause()
        yield board


def screen_lines(app) -> list[str]:
    """The app's screen as drawn, one string a line."""
    return ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]


def plain_text(renderable) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


async def details_text(board: Dashboard, task_id: str) -> str:
    """What the details screen (enter) shows about the task; the screen is closed again."""
    from textual.widgets import Static

    from grokdash.tui.screens.details import DetailsScreen

    await board.select(task_id)
    await board.press("enter")
    screen = board.app.screen
    assert isinstance(screen, DetailsScreen)
    text = plain_text(screen.query_one("#details", Static).content)
    await board.press("escape")
    assert not isinstance(board.app.screen, DetailsScreen)
    return text
