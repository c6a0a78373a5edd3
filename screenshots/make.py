"""Screenshots of the real dashboard against the simulator, for the README.

    python screenshots/make.py

Starts the demo (`grokdash --demo`: the simulator in this process, a throwaway database, sample tasks),
builds the dashboard the way `grokdash --demo` does with polling on, runs it headless at 120x32, waits
until the first poll round has answered (a condition with a deadline, never a fixed sleep), and writes
main.svg, details.svg, pane.svg (the details pane beside the list, at 160x40), add.svg, help.svg,
stats.svg and recap.svg (the new-task form's recap) next to this script. Takes about 10 seconds. The
state folder is a throwaway one: the view you left in your own dashboard (sort, theme, pane) is neither
used nor changed.

The demo's flaky-… task fails its first query and notfound-… needs three 404s in a row to be taken as
gone; left alone, the poller's back-off takes some 13 s for both, by when no sample task is queued any
more. So the script presses R (poll every unfinished task now), as a user would, until both have
happened: the main screenshot then shows every state at once.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from textual.pilot import Pilot

from grokdash.api import GrokClient
from grokdash.demo import DEMO_INTERVAL, DEMO_KEY, Demo, start_demo
from grokdash.pollstate import is_gone
from grokdash.secret import Secret
from grokdash.tracked import TrackedTask
from grokdash.tui.app import DashboardConfig, GrokdashApp
from grokdash.tui.screens.stats import StatsScreen
from grokdash.tui.widgets.task_table import TaskTable

HERE = Path(__file__).resolve().parent
SIZE = (120, 32)
PANE_SIZE = (160, 40)
"""Wide enough for the details pane to sit beside the list."""
DEADLINE = 15.0
"""Seconds to wait for the first round, and then for the rounds that R starts."""
MAX_FORCED_ROUNDS = 5
DETAILS_OF = "sunset-bay-4k"
TYPED_IDS = "my-video-1 my-video-2, my-video-3"


RECAP_PROMPT = "a paper boat sailing down a rainy street"


def build_app(demo: Demo) -> GrokdashApp:
    """As `run_dashboard(demo=True)` in grokdash/cli.py, with default settings (so no local config file
    changes the keys in the footer) and no desktop notifications while the screenshots are taken."""

    def make_client() -> GrokClient:
        return GrokClient(demo.base_url, Secret(DEMO_KEY))

    config = DashboardConfig.of(
        store=demo.store,
        make_client=make_client,
        interval=DEMO_INTERVAL,
        download_dir=demo.folder / "videos",  # the demo's own folder, as `grokdash --demo` has it
        subtitle="demo: the simulated API",
        desktop_notifications=False,
    )
    return GrokdashApp(config)


def answered(tracked: TrackedTask) -> bool:
    return tracked.task is not None or tracked.id.startswith("notfound-")


def settled_for_the_picture(tasks: Sequence[TrackedTask]) -> bool:
    """Every sample has an answer but the not-found one, which is taken as gone."""
    return all(answered(t) for t in tasks) and any(is_gone(t) for t in tasks)


async def wait_until(pilot: Pilot, condition: Callable[[], bool], deadline: float, what: str) -> bool:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            print(f"gave up waiting for {what} after {deadline:g} s", file=sys.stderr)
            return False
        await pilot.pause(0.1)
    return True


async def take(app: GrokdashApp, pilot: Pilot, name: str) -> None:
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    path = app.save_screenshot(filename=f"{name}.svg", path=str(HERE))
    print(f"wrote {Path(path).relative_to(HERE.parent)}")


async def make(demo: Demo) -> bool:
    app = build_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(TaskTable)
        complete = await wait_until(
            pilot,
            lambda: app.idle_passes >= 1 and all(t.checked_at is not None for t in demo.store.tasks()),
            DEADLINE,
            "the first poll round",
        )
        for _ in range(MAX_FORCED_ROUNDS):
            if not complete or settled_for_the_picture(demo.store.tasks()):
                break
            await pilot.press("R")
            complete = await wait_until(
                pilot, lambda wake=app.wake_seq: app.polled_through >= wake, DEADLINE, "a poll round"
            )
        # The store holds the answers; the table must have drawn them too.
        complete = complete and await wait_until(
            pilot, lambda: settled_for_the_picture(table.rows), DEADLINE, "every state in the table"
        )
        await take(app, pilot, "main")

        assert table.select(DETAILS_OF), f"{DETAILS_OF} is not in the table"
        await pilot.press("enter")
        await take(app, pilot, "details")
        await pilot.press("escape")

        await pilot.resize_terminal(*PANE_SIZE)
        await pilot.press("v")
        await take(app, pilot, "pane")
        await pilot.press("v")
        await pilot.resize_terminal(*SIZE)

        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*("space" if char == " " else char for char in TYPED_IDS))
        await take(app, pilot, "add")
        await pilot.press("escape")

        await pilot.press("question_mark")
        await take(app, pilot, "help")
        await pilot.press("escape")

        await pilot.press("S")  # the stats screen, computed in a worker: wait for it
        await wait_until(pilot, lambda: isinstance(app.screen, StatsScreen), DEADLINE, "the stats screen")
        await take(app, pilot, "stats")
        await pilot.press("escape")

        # The new-task form's recap: what will be sent, before anything is.
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*("space" if char == " " else char for char in RECAP_PROMPT))
        await pilot.press("ctrl+s")
        await take(app, pilot, "recap")
        await pilot.press("escape", "escape", "tab", "enter")  # back, discard? (tab to Discard, enter)
    return complete


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grokdash-screenshots-") as state:
        os.environ["XDG_STATE_HOME"] = state  # no remembered view of the user's comes in, none goes out
        demo = start_demo()
        try:
            complete = asyncio.run(make(demo))
        finally:
            demo.close()
    print(f"done in {time.monotonic() - started:.1f} s")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
