"""Every word of the task table is readable: at least 4.5:1 contrast (WCAG 2 relative luminance) between
each cell's text and its background, in every theme the dashboard offers and with NO_COLOR, on every row,
with the cursor (focused, and blurred while a dialog or the filter has the focus) on each row in turn.

The colours are the screen's own: the compositor's strips after Textual's line filters (the truecolor
conversion of ANSI colours, NO_COLOR's monochrome), with reverse swapped and dim blended as a terminal
draws them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.constants import DIM_FACTOR

from grokdash.errors import NetworkError
from grokdash.store import TaskStore
from grokdash.tracked import TrackedTask
from grokdash.tui.app import GrokdashApp
from grokdash.tui.widgets.task_table import TaskTable
from tests.tui.conftest import NOT_FOUND, T0, _answers, _errors, build_app, frozen_clock

pytestmark = pytest.mark.anyio

MINIMUM = 4.5

SAVED = {
    "done-owed": "owed",
    "done-missing": "missing",
    "done-expired": "expired",
    "done-save-failed": "failed",
    "done-partial": "partial 43%",
    "done-saving": "42%",
    "done-queued-save": "queued",
    "done-saved": "saved",
}
"""The SAVED cell of each completed row: every word the column says."""


def records() -> list[TrackedTask]:
    done = {"video_url": "https://cdn.example.com/v.mp4", "actual_duration": 6.0}
    rows = [
        TrackedTask(id="fresh-new", added_at=T0 - 5),
        _answers("queued-1", "grok_video3", T0 - 40, [(T0 - 38, "queued", {})]),
        _answers("processing-1", "grok_video3_pro", T0 - 120, [(T0 - 90, "processing", {})], label="a label"),
        _answers(
            "failed-1",
            "grok_video3_max",
            T0 - 300,
            [(T0 - 270, "processing", {}), (T0 - 200, "failed", {"error": "content moderation: refused"})],
            label="dragon",
        ),
        _answers("moderated-1", "grok_video3", T0 - 600, [(T0 - 400, "moderated", {})]),
        _answers(
            "stale-1", "grok_video3", T0 - 9000, [(T0 - 8990, "processing", {}), (T0 - 20, "processing", {})]
        ),
        _errors(
            _answers("neterror-1", "grok_video3", T0 - 200, [(T0 - 198, "queued", {})]),
            [(T0 - 30, NetworkError("cannot connect to api.example.com: connection refused"))],
        ),
        _errors(
            TrackedTask(id="gone-1", added_at=T0 - 100),
            [(T0 - 99, NOT_FOUND), (T0 - 60, NOT_FOUND), (T0 - 15, NOT_FOUND)],
        ),
    ]
    for n, task_id in enumerate(SAVED):
        created = T0 - 3000 + 10 * n
        rows.append(
            _answers(
                task_id,
                "grok_video3",
                created,
                [(created + 5, "processing", {}), (created + 200, "completed", done)],
            )
        )
    return rows


MARKED = ("failed-1", "gone-1", "done-expired", "queued-1")
"""Marked rows, which the cursor crosses too."""


def luminance(color: Color) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)


def contrast(one: Color, two: Color) -> float:
    light, dark = sorted((luminance(one), luminance(two)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def drawn_colors(app: GrokdashApp, style: Style) -> tuple[Color, Color]:
    """The (text, background) a terminal shows for `style`: ANSI and default colours through the app's
    terminal theme, reverse swapped, dim blended towards the background."""
    theme = app.ansi_theme
    fg = Color.from_rich_color(style.color or RichColor.default(), theme, foreground=True, ansi=False)
    bg = Color.from_rich_color(style.bgcolor or RichColor.default(), theme, foreground=False, ansi=False)
    if style.reverse:
        fg, bg = bg, fg
    if style.dim:
        fg = bg.blend(fg, DIM_FACTOR)
    return fg, bg


def table_lines(app: GrokdashApp) -> list[list[Segment]]:
    """The table's lines as the screen shows them (header first), each as its segments with text."""
    region = app.query_one(TaskTable).content_region
    strips = app.screen._compositor.render_strips()
    return [
        [segment for segment in strips[y].crop(region.x, region.right) if segment.text.strip()]
        for y in range(region.y, region.bottom)
    ]


def low_contrast(app: GrokdashApp, lines: list[list[Segment]], where: str) -> Iterator[str]:
    for number, line in enumerate(lines):
        for text, style, _ in line:
            fg, bg = drawn_colors(app, style or Style())
            ratio = contrast(fg, bg)
            if ratio < MINIMUM:
                yield f"{where}, line {number}: {text.strip()!r}, {fg.hex} on {bg.hex}: {ratio:.2f}:1"


@pytest.fixture
def store(tmp_path: Path) -> TaskStore:
    store = TaskStore(tmp_path / "tasks.json", clock=frozen_clock)
    store.import_records(records())
    return store


def no_color_env(monkeypatch: pytest.MonkeyPatch, no_color: bool) -> None:
    """NO_COLOR as Textual reads it: once, when the app is made."""
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.mark.parametrize("no_color", [False, True], ids=["color", "NO_COLOR"])
async def test_every_cell_is_readable_in_every_theme_with_the_cursor_on_each_row(
    store: TaskStore, no_color: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_color_env(monkeypatch, no_color)
    app = build_app(store)
    assert app.no_color is no_color
    problems: list[str] = []
    async with app.run_test(size=(200, len(records()) + 6)) as pilot:
        await pilot.pause()
        table = app.query_one(TaskTable)
        table.saved_cell = lambda tracked: SAVED.get(tracked.id, "")
        assert len(table.rows) == len(records())
        table.marked = set(MARKED)
        themes = sorted(app.available_themes)  # every theme the palette's "Change theme" offers
        assert {"textual-dark", "textual-light", "nord", "ansi-dark", "ansi-light"} <= set(themes)
        for theme in themes:
            app.theme = theme
            for focused in (True, False):
                if focused:
                    table.focus()
                else:
                    app.set_focus(None)  # as when a dialog or the filter box has the focus
                await pilot.pause()
                for row, tracked in enumerate(table.rows):
                    table.cursor = row  # a repaint, no layout: the next render shows it
                    lines = table_lines(app)
                    assert len(lines) > len(records())  # every row on screen
                    assert any(tracked.id in text for text, _, _ in lines[1 + row])
                    if focused:  # the cursor stands out from a plain row and from a marked one
                        others = [index for index in range(len(table.rows)) if index != row]
                        plain = next(i for i in others if table.rows[i].id not in MARKED)
                        marked = next(i for i in others if table.rows[i].id in MARKED)
                        for other in (plain, marked):
                            assert cursor_drawn(app, lines[1 + row], lines[1 + other]), (theme, row, other)
                    where = f"{theme}, {'focused' if focused else 'blurred'} cursor on {tracked.id}"
                    problems.extend(low_contrast(app, lines, where))
    assert not problems, f"{len(problems)} cells under {MINIMUM}:1:\n" + "\n".join(problems[:60])


def cursor_drawn(app: GrokdashApp, cursor_line: list[Segment], other_line: list[Segment]) -> bool:
    """Whether the cursor's line looks unlike another line: the render shows the cursor where it is."""

    def look(line: list[Segment]) -> set[tuple[str, str]]:
        return {tuple(color.hex for color in drawn_colors(app, style or Style())) for _, style, _ in line}

    return look(cursor_line) != look(other_line)


async def test_no_color_tells_the_cursor_and_the_states_by_reverse_bold_and_icons(
    store: TaskStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_color_env(monkeypatch, True)
    app = build_app(store)
    async with app.run_test(size=(200, len(records()) + 6)) as pilot:
        await pilot.pause()
        table = app.query_one(TaskTable)
        for theme in ("textual-dark", "textual-light", "ansi-dark"):
            app.theme = theme
            await pilot.pause()
            for row, tracked in enumerate(table.rows):
                table.cursor = row
                lines = table_lines(app)
                for number, line in enumerate(lines[1 : 1 + len(table.rows)]):
                    styles = [style or Style() for _, style, _ in line]
                    assert not any(style.dim for style in styles), (theme, number)
                    assert all(bool(style.reverse) is (number == row) for style in styles), (theme, number)
                    status_text, status_style, _ = line[0]
                    icon = status_text.split()[0]
                    assert icon in "…◷▶✔✘⚠!?", status_text
                    if icon in "✘!":  # failed and gone: bold, never a dim grey
                        assert status_style and status_style.bold, (theme, status_text)
                assert any(tracked.id in text for text, _, _ in lines[1 + row])


def widget_lines(app: GrokdashApp, widget) -> list[list[Segment]]:
    """A widget's lines as the screen shows them, each as its segments with text."""
    region = widget.region
    strips = app.screen._compositor.render_strips()
    return [
        [segment for segment in strips[y].crop(region.x, region.right) if segment.text.strip()]
        for y in range(region.y, region.bottom)
    ]


@pytest.mark.parametrize("no_color", [False, True], ids=["color", "NO_COLOR"])
async def test_the_summary_line_and_the_footer_keys_are_readable_in_every_theme(
    store: TaskStore, no_color: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counts (failed and gone in red once turned a dark grey under NO_COLOR) and the footer's keys
    (black on black with NO_COLOR and an ANSI theme). Greyed-out keys, which say "not now", are left out."""
    from textual.widgets import Footer

    from grokdash.tui.widgets.summary import SummaryBar

    no_color_env(monkeypatch, no_color)
    app = build_app(store)
    problems: list[str] = []
    async with app.run_test(size=(200, len(records()) + 6)) as pilot:
        await pilot.pause()
        app.query_one(TaskTable).cursor = 0  # fresh-new: copy, open and save are greyed out
        for theme in sorted(app.available_themes):
            app.theme = theme
            await pilot.pause()
            summary = widget_lines(app, app.query_one(SummaryBar))
            assert any("failed" in text for text, _, _ in summary[0]), summary
            problems.extend(low_contrast(app, summary, f"{theme}: the summary"))
            footer = app.query_one(Footer)
            enabled = [key for key in footer.query("FooterKey") if not key.has_class("-disabled")]
            assert enabled, "no key enabled in the footer"
            for key in enabled:
                # The palette key's ▏ is a separator, not a word.
                words = [[seg for seg in line if seg.text.strip() != "▏"] for line in widget_lines(app, key)]
                problems.extend(low_contrast(app, words, f"{theme}: footer key {key.key!r}"))
    assert not problems, f"{len(problems)} under {MINIMUM}:1:\n" + "\n".join(problems[:60])
