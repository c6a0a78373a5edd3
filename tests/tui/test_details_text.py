"""The details screen shows text from the server, a file or the user as it is: never obeyed by the
terminal (escape sequences), never read as markup."""

from __future__ import annotations

import dataclasses
import io

import pytest
from rich.console import Console, Group
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from grokdash.models import Task
from grokdash.tracked import QueryFailure, TrackedTask
from grokdash.tui import details_text as details
from grokdash.tui.details_text import describe
from grokdash.tui.screens.details import DetailsScreen

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


# ---- times no clock can read, and texts of megabytes ---------------------------------------------

NS = 1_764_300_000_000_000_000
"""2025-11-28 in nanoseconds, as some servers send `created`: taken as seconds, beyond any calendar."""
BIG = 10_000_000
"""Characters of each long text: ten megabytes, what froze the dashboard for minutes."""
SHOWN_AT_MOST = 100_000
"""Characters a details screen may render, whatever the record holds: a bound, well above what the
limits of details_text.py add up to, and a hundredth of one of the texts below."""


def squeezed(text: str) -> str:
    """Rendered text without its spaces and line breaks: a cut marker folded over two lines still reads."""
    return "".join(text.split())


def more(count: int) -> str:
    return squeezed(f"… {count:,} more characters")


def odd_times_record() -> TrackedTask:
    """Every time the details show, each a value no clock reads; built directly, as no answer makes one."""
    raw = {"id": "odd-times", "status": "failed", "model": "grok_video3", "created": NS, "error": "refused"}
    task = Task(id="odd-times", status="failed", model="grok_video3", created=NS, raw=raw, error="refused")
    return TrackedTask(
        id="odd-times",
        added_at=-1e18,
        task=task,
        status_seen={"queued": float("nan"), "failed": 1e300},
        checked_at=1_764_300_000_000.0,  # milliseconds: year 57878
        last_error=QueryFailure("network", "connection refused", 1e300),
        recent_errors=(QueryFailure("network", "connection refused", 10**30),),
        consecutive_errors=1,
        retry_after=float("inf"),
    )


ODD_TIMES_SHOWN = [
    f"{NS} (not a time grokdash can read)",  # created
    "-1000000000000000000 (not a time grokdash can read)",  # tracked since
    "1764300000000 (not a time grokdash can read)",  # last checked
    "inf (not a time grokdash can read)",  # retry after
    "nan (not a time grokdash can read)",  # the timeline
    "1e+300 (not a time grokdash can read)",
    f"{10**30} (not a time grokdash can read)",  # the error's time
]


def huge_record() -> TrackedTask:
    """Ten megabytes in every text the details show; built directly, past the cuts answers get."""
    error = "\x1b[2J" + "e" * BIG  # an escape first: the slow way of making text printable
    raw = {
        "id": "huge-1",
        "status": "failed",
        "error": error,
        "frames": list(range(1_000_000)),
        "nested": {f"k{n}": {"deep": "v" * 1000} for n in range(10_000)},
    }
    task = Task(
        id="huge-1", status="failed", model="m" * BIG, created=900, raw=raw, error=error, video_url="u" * BIG
    )
    last = QueryFailure("network", "short", 960)
    object.__setattr__(last, "message", "q" * BIG)  # past the cut QueryFailure makes
    return TrackedTask(
        id="huge-1",
        added_at=950,
        task=task,
        label="l" * BIG,
        status_seen={"failed": 960.0, **{f"s{n}": 961.0 + n for n in range(100_000)}},
        checked_at=960,
        last_error=last,
        recent_errors=tuple(QueryFailure("network", "x", 900 + n) for n in range(10_000)),
        consecutive_errors=1,
        local_file="/f" * (BIG // 2),
        request={"model": "grok_video3", "prompt": "p" * BIG},
    )


def characters(renderable: object) -> int:
    """Characters held by a renderable tree of the details (Group, Table, Text, Syntax), without
    rendering it: cheap whatever it holds, so a broken build fails here at once."""
    if isinstance(renderable, Text):
        return len(renderable.plain)
    if isinstance(renderable, Syntax):
        return len(renderable.code)
    if isinstance(renderable, Group):
        return sum(characters(part) for part in renderable.renderables)
    if isinstance(renderable, Table):
        return sum(characters(cell) for column in renderable.columns for cell in column._cells)
    if isinstance(renderable, str):
        return len(renderable)
    raise AssertionError(f"unexpected renderable {type(renderable).__name__}")


def rendered(renderable: object) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None, force_terminal=False).print(renderable)
    return out.getvalue()


def test_a_time_no_clock_can_read_is_shown_as_the_number_it_is():
    text = rendered(describe(odd_times_record(), 1_000.0))
    for shown in ODD_TIMES_SHOWN:
        assert shown in text
    # No elapsed time made up from a start in nanoseconds ("0s").
    assert fact(text, "Took") == "-"


@pytest.mark.parametrize(
    ("created", "shown"),
    [
        (-(10**18), "-1000000000000000000"),
        (10**30, str(10**30)),
        (float("nan"), "nan"),
        (float("-inf"), "-inf"),
        (1.5e300, "1.5e+300"),
        (10**5000, "a number of about 5,000 digits"),  # more digits than Python prints
        ("yesterday", "yesterday"),  # not a number at all
    ],
    ids=["negative", "huge", "nan", "-inf", "float-huge", "5000-digits", "text"],
)
def test_a_created_time_no_clock_can_read_is_shown_raw(created, shown):
    record = odd_times_record()
    record = dataclasses.replace(record, task=dataclasses.replace(record.task, created=created))
    text = rendered(describe(record, 1_000.0))
    assert fact(text, "Created") == f"{shown} (not a time grokdash can read)"
    assert fact(text, "Took") == "-"


def test_every_long_text_is_cut_and_says_how_much_is_left_out():
    shown = describe(huge_record(), 1_000.0)
    assert characters(shown) < SHOWN_AT_MOST  # before rendering: a broken build fails fast here
    text = rendered(shown)
    assert len(text) < SHOWN_AT_MOST
    flat = squeezed(text)
    assert "\x1b" not in text and "\\x1b[2J" in text  # still escaped
    for name in ("Label", "Model", "Video URL", "Saved to", "Error", "Last query"):
        assert fact(text, name) and "morecharacters" in fact_block(text, name), name
    assert more(BIG - details.TEXT_LIMIT) in flat  # the label, the URL, the last query
    assert more(BIG - details.NAME_LIMIT) in flat  # the model
    assert squeezed("… 999,900 more items") in flat  # the raw answer's array
    assert squeezed("more fields") in flat  # and its object
    assert squeezed(f"… {100_001 - details.TIMELINE_ROWS:,} more statuses") in flat
    assert squeezed(f"… {10_000 - details.ERROR_ROWS:,} older errors") in flat
    assert squeezed('"prompt":"pppp') in flat  # the request, as JSON, cut like the answer


def fact(details_text: str, name: str) -> str:
    """The first line of the value beside `name` in the facts."""
    line = next((line for line in details_text.splitlines() if line.startswith(name + " ")), "")
    return line.removeprefix(name).strip()


def fact_block(details_text: str, name: str) -> str:
    """The value beside `name`, with the lines it folded onto (up to the next fact)."""
    lines = details_text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(name + " "))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if line[:1].strip():  # the next fact's name starts the line
            break
        block.append(line)
    return squeezed("".join(block))


async def open_details(board, task_id: str) -> DetailsScreen:
    """Enter on the task's row, as a user would; the screen is left open."""
    await board.select(task_id)
    await board.press("enter")
    assert board.app.is_running and board.app.crash is None, board.app.crash
    screen = board.app.screen
    assert isinstance(screen, DetailsScreen)
    return screen


def track_as_is(store, record: TrackedTask) -> None:
    """Put `record` in the store exactly as built (in memory: no file holds, or could hold, some of it)."""
    store.add([record.id])
    store.stage({record.id: lambda old: record})


@pytest.mark.anyio
# NaN and infinity are for the tests of `describe` above and the table test below.
@pytest.mark.parametrize("created", [NS, -(10**18), 10**30], ids=["ns", "negative", "huge"])
async def test_enter_on_a_task_created_at_a_time_no_clock_reads_shows_it(store, clock, created):
    from tests.tui.board import dashboard

    record = odd_times_record()
    record = dataclasses.replace(record, task=dataclasses.replace(record.task, created=created))
    track_as_is(store, record)
    async with dashboard(store, clock) as board:
        screen = await open_details(board, "odd-times")
        text = rendered(screen.query_one("#details", Static).content)
        assert f"{details._number(created)} (not a time grokdash can read)" in text
        for shown in ODD_TIMES_SHOWN[1:]:
            assert shown in text
        await board.press("escape")
        assert not isinstance(board.app.screen, DetailsScreen) and board.app.is_running


@pytest.mark.anyio
async def test_enter_on_a_task_of_megabytes_opens_its_details_cut(store, clock):
    from tests.tui.board import dashboard

    track_as_is(store, huge_record())
    async with dashboard(store, clock) as board:
        screen = await open_details(board, "huge-1")
        shown = screen.query_one("#details", Static).content
        assert characters(shown) < SHOWN_AT_MOST
        text = rendered(shown)
        assert len(text) < SHOWN_AT_MOST
        assert more(BIG + 4 - details.TEXT_LIMIT) in squeezed(text)  # the error: its escape counts
        # The screen drew it, and a second later draws it again: still up, still cut.
        screen.refresh_details()
        await board.pilot.pause()
        assert board.app.is_running and isinstance(board.app.screen, DetailsScreen)
        await board.press("escape")
        assert not isinstance(board.app.screen, DetailsScreen)


@pytest.mark.anyio
async def test_an_id_that_looks_like_markup_is_the_details_title_as_typed(store, clock):
    from tests.tui.board import dashboard

    store.add(["[/]", "[b]bold[/b]"])
    async with dashboard(store, clock) as board:
        for task_id in ("[/]", "[b]bold[/b]"):
            screen = await open_details(board, task_id)
            assert screen.query_one(VerticalScroll).border_title == Text(task_id).markup
            await board.press("escape")


@pytest.mark.parametrize("created", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_the_tables_age_cell_of_a_record_created_at_nan_or_infinity(created):
    from grokdash.tui.view import cell_text

    record = odd_times_record()
    record = dataclasses.replace(record, task=dataclasses.replace(record.task, created=created))
    assert isinstance(cell_text("age", record, 1_000.0, {}), str)


def test_the_table_looks_at_no_more_of_a_cell_than_it_shows(monkeypatch):
    from grokdash.tui import view

    looked_at: list[int] = []
    real = view.printable
    monkeypatch.setattr(view, "printable", lambda text: looked_at.append(len(text)) or real(text))
    assert view.fit("l" * BIG, 14) == "l" * 13 + "…"
    assert max(looked_at, default=0) <= 1000
