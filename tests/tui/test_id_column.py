"""Ids whole: the ID column grows to the longest id when the width allows; when it cannot, ids are cut in
the middle so that neighbours still differ; ERROR and LABEL take what is left. And the table never
scrolls sideways (its columns fit the width), so no horizontal scrollbar takes the last row.

Real ids are 25 characters (task_f302a97e0d964f01889b); those of a bulk import share a long start.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grokdash.models import Task
from grokdash.store import TaskStore
from grokdash.tracked import TrackedTask
from grokdash.tui.app import GrokdashApp
from grokdash.tui.view import fit_middle, layout
from grokdash.tui.widgets.task_table import TaskTable
from tests.tui.board import screen_lines
from tests.tui.conftest import T0, build_app, frozen_clock

pytestmark = pytest.mark.anyio

PREFIX = "task_f302a97e0d964f01"
IDS = [f"{PREFIX}{n:03d}b" for n in range(40)]
"""40 ids of 25 characters that differ only in their last four."""
ERROR = "content moderation: the prompt was refused by the safety system"


def records() -> list[TrackedTask]:
    rows = []
    for n, task_id in enumerate(IDS):
        task = Task(id=task_id, status="failed", model="grok_video3", created=int(T0 - 600 + n), error=ERROR)
        rows.append(
            TrackedTask(id=task_id, added_at=T0 - 600 + n, label="beach at dusk, wide").with_answer(
                task, T0 - 60
            )
        )
    return rows


@pytest.fixture
def store(tmp_path: Path) -> TaskStore:
    store = TaskStore(tmp_path / "tasks.json", clock=frozen_clock)
    store.import_records(records())
    return store


def table_lines(app: GrokdashApp) -> list[str]:
    """The table's lines on screen, header first."""
    region = app.query_one(TaskTable).region
    return [line[region.x : region.right] for line in screen_lines(app)[region.y : region.bottom]]


def id_cells(app: GrokdashApp) -> list[str]:
    """What the ID column shows on each row on screen."""
    header, *rows = table_lines(app)
    start = header.index("ID")
    end = header.index("LABEL")
    return [row[start:end].strip() for row in rows if row.strip()]


@pytest.mark.parametrize("width", [120, 200])
async def test_every_id_is_whole_when_the_width_allows(store: TaskStore, width: int) -> None:
    app = build_app(store)
    async with app.run_test(size=(width, 30)) as pilot:
        await pilot.pause()
        table = app.query_one(TaskTable)
        shown = id_cells(app)
        assert len(shown) == table.scrollable_content_region.height - 1
        visible = {tracked.id for tracked in table.rows[: len(shown)]}
        assert set(shown) == visible  # every id on screen, whole
        header = table_lines(app)[0]
        assert "LABEL" in header and "ERROR" in header  # which take what is left
        assert any(ERROR[:16] in line for line in table_lines(app)[1:])


async def test_cut_ids_keep_both_ends_and_stay_apart_at_80_columns(store: TaskStore) -> None:
    app = build_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(TaskTable)
        shown = id_cells(app)
        assert len(shown) == table.scrollable_content_region.height - 1
        assert len(set(shown)) == len(shown)  # neighbours differ
        for cell, tracked in zip(shown, table.rows, strict=False):
            head, cut, tail = cell.partition("…")
            assert cut, cell
            assert tracked.id.startswith(head) and len(head) >= len("task_f302")
            assert tracked.id.endswith(tail) and len(tail) >= len("1000b")
        header = table_lines(app)[0]
        assert "LABEL" in header and "ERROR" in header


@pytest.mark.parametrize("size", [(80, 24), (120, 35)])
async def test_no_horizontal_scrollbar_and_the_last_row_is_on_screen(store: TaskStore, size) -> None:
    app = build_app(store)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        table = app.query_one(TaskTable)
        assert not table.show_horizontal_scrollbar
        assert table.max_scroll_x == 0
        await pilot.press("end")
        await pilot.pause()
        assert table.selected is not None and table.selected.id == table.rows[-1].id
        rows_shown = table.scrollable_content_region.height - 1
        assert rows_shown == table.region.height - 1  # nothing under the rows but the table's own lines
        last_line = table_lines(app)[-1]
        assert table.rows[-1].id[-5:] in last_line  # the last row, on the table's last line


async def test_the_id_column_shrinks_to_short_ids(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.json", clock=frozen_clock)
    store.import_records([TrackedTask(id=task_id, added_at=T0) for task_id in ("hello", "fail-1")])
    app = build_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        header = table_lines(app)[0]
        assert header.index("LABEL") - header.index("ID") == len("fail-1") + 1


def test_layout_gives_the_id_its_longest_then_label_and_error_share_the_rest() -> None:
    for width in (116, 140, 196):
        widths = {column.key: size for column, size in layout(width, 25, 30)}
        assert widths["id"] == 25
        assert widths["label"] >= 14 and widths["error"] >= 16
        assert sum(widths.values()) + len(widths) - 1 == width
    narrow = {column.key: size for column, size in layout(76, 25, 30)}
    assert narrow["id"] < 25 and {"status", "id", "label", "elapsed", "error"} <= narrow.keys()
    assert layout(196, 200)[1][1] == 48  # one absurd id does not take every row's error


@pytest.mark.parametrize(
    ("text", "width", "shown"),
    [
        ("task_f302a97e0d964f01889b", 25, "task_f302a97e0d964f01889b"),
        ("task_f302a97e0d964f01889b", 30, "task_f302a97e0d964f01889b     "),
        ("task_f302a97e0d964f01889b", 15, "task_f3…f01889b"),
        ("task_f302a97e0d964f01889b", 22, "task_f302a…d964f01889b"),
        ("日本語の説明日本語の説明", 9, "日本…説明"),
        ("a\x1b[31mb" * 4, 12, "a\\x1b…b[31mb"),
    ],
)
def test_fit_middle_keeps_both_ends_in_exactly_the_width(text: str, width: int, shown: str) -> None:
    assert fit_middle(text, width) == shown
