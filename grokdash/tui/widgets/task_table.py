"""The task table: one row per tracked task, drawn with Textual's line API.

Only the rows on screen are drawn, so 10,000 tasks cost what 50 do. The selection follows the task, not
the row number, so sorting, filtering and fresh answers never move it to another task.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click, Resize
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from grokdash import palette
from grokdash.tracked import TrackedTask
from grokdash.tui.view import GAP, Column, cell_text, fit, layout, state_of

MARK = "●"
SAVE_STYLES = {
    "owed": Style(color="yellow"),
    "partial": Style(color="yellow"),
    "missing": Style(color="yellow"),
    "failed": Style(color="red", bold=True),
    "expired": Style(color="red", bold=True),
}
"""The SAVED cell of a finished video not on disk: waiting (yellow), or in trouble (red)."""
GUTTER = 2
"""Room for the mark of a marked row."""


class TaskTable(ScrollView, can_focus=True):
    """Tracked tasks, a row each, with a fixed header line."""

    DEFAULT_CSS = """
    TaskTable {
        height: 1fr;
        scrollbar-gutter: stable;
        background: $surface;
    }
    TaskTable > .task-table--header {
        text-style: bold;
        color: $text-muted;
        background: $panel;
    }
    TaskTable > .task-table--cursor {
        background: $block-cursor-blurred-background;
    }
    TaskTable:focus > .task-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    TaskTable > .task-table--marked {
        background: $primary 20%;
    }
    TaskTable > .task-table--empty {
        color: $text-muted;
        text-style: italic;
    }
    """

    COMPONENT_CLASSES = {
        "task-table--header",
        "task-table--cursor",
        "task-table--marked",
        "task-table--empty",
    }

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
        Binding("space", "toggle_mark", "Mark", id="mark", show=False),
    ]

    EMPTY_MESSAGE = "No tasks tracked yet: press a to add ids."

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class CursorMoved(Message):
        """The selected task changed (or the rows under the cursor did)."""

        def __init__(self, task_id: str | None) -> None:
            super().__init__()
            self.task_id = task_id

    class Activated(Message):
        """A double click on a row: the user wants its details (Enter is the app's binding)."""

        def __init__(self, task_id: str) -> None:
            super().__init__()
            self.task_id = task_id

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._clock = clock
        self._rows: list[TrackedTask] = []
        self._index: dict[str, int] = {}
        self._medians: dict[str, float] = {}
        self.marked: set[str] = set()
        self.saved_cell: Callable[[TrackedTask], str] | None = None
        """The SAVED cell, from the app's saver ("queued", "42%", "partial 43%", "missing"…); None: what
        the record alone says."""
        self.empty_message = self.EMPTY_MESSAGE

    # ---- data -------------------------------------------------------------------------------------

    @property
    def rows(self) -> Sequence[TrackedTask]:
        return self._rows

    @property
    def selected(self) -> TrackedTask | None:
        if 0 <= self.cursor < len(self._rows):
            return self._rows[self.cursor]
        return None

    def set_rows(self, rows: list[TrackedTask], medians: dict[str, float] | None = None) -> None:
        """Show these rows, keeping the selected task selected (or the nearest row when it is gone)."""
        keep = self.selected.id if self.selected else None
        self._rows = rows
        self._index = {tracked.id: index for index, tracked in enumerate(rows)}
        if medians is not None:
            self._medians = medians
        self.marked &= self._index.keys()
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        if keep is not None and keep in self._index:
            self.cursor = self._index[keep]
        else:
            self.cursor = min(self.cursor, max(0, len(rows) - 1))
        self.refresh()

    def update_rows(self, records: list[TrackedTask]) -> None:
        """Fresh records for rows already shown, in place: an answer is drawn the moment it arrives, and
        the order and filter catch up at the next rebuild."""
        changed = False
        for record in records:
            index = self._index.get(record.id)
            if index is not None:
                self._rows[index] = record
                changed = True
        if changed:
            self.refresh()

    def select(self, task_id: str) -> bool:
        index = self._index.get(task_id)
        if index is None:
            return False
        self.cursor = index
        return True

    def targets(self) -> list[TrackedTask]:
        """What a bulk action acts on: the marked rows, else the selected one."""
        if self.marked:
            return [tracked for tracked in self._rows if tracked.id in self.marked]
        return [self.selected] if self.selected else []

    def refresh_running(self) -> None:
        """Redraw the rows on screen whose cells tick with the clock (elapsed, ETA, age)."""
        self.refresh()

    # ---- cursor -----------------------------------------------------------------------------------

    def watch_cursor(self, cursor: int) -> None:
        self._scroll_cursor_into_view()
        self.refresh()
        self.post_message(self.CursorMoved(self.selected.id if self.selected else None))

    def validate_cursor(self, cursor: int) -> int:
        return max(0, min(cursor, len(self._rows) - 1))

    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_cursor_into_view(self) -> None:
        top = round(self.scroll_y)
        visible = self._visible_rows()
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def action_cursor(self, step: int) -> None:
        self.cursor += step

    def action_page(self, pages: int) -> None:
        self.cursor += pages * self._visible_rows()

    def action_jump(self, where: int) -> None:
        self.cursor = 0 if where == 0 else len(self._rows) - 1

    def action_toggle_mark(self) -> None:
        selected = self.selected
        if selected is None:
            return
        self.marked ^= {selected.id}
        self.cursor += 1
        self.refresh()

    def on_click(self, event: Click) -> None:
        if event.y >= 1:
            self.cursor = round(self.scroll_y) + event.y - 1
            if event.chain == 2 and self.selected is not None:
                self.post_message(self.Activated(self.selected.id))

    def on_resize(self, event: Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self._rows) + 1)

    # ---- drawing ----------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        columns = layout(width - GUTTER)
        if y == 0:
            return self._header(columns, width)
        if not self._rows:
            if y == 2:
                style = self.get_component_rich_style("task-table--empty")
                return Strip([Segment(set_cell_size("  " + self.empty_message, width), style)], width)
            return Strip.blank(width, self.rich_style)
        index = round(self.scroll_y) + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        return self._row(index, columns, width)

    def _header(self, columns: Sequence[tuple[Column, int]], width: int) -> Strip:
        style = self.get_component_rich_style("task-table--header")
        text = " " * GUTTER + (" " * GAP).join(set_cell_size(column.title, size) for column, size in columns)
        return Strip([Segment(set_cell_size(text, width), style)], width)

    def _row(self, index: int, columns: Sequence[tuple[Column, int]], width: int) -> Strip:
        tracked = self._rows[index]
        now = self._clock()
        base = self.rich_style
        if tracked.id in self.marked:
            base += self.get_component_rich_style("task-table--marked")
        if index == self.cursor:
            base += self.get_component_rich_style("task-table--cursor")
        marked = tracked.id in self.marked
        segments = [Segment(f"{MARK} " if marked else " " * GUTTER, base + Style(color="cyan", bold=True))]
        for position, (column, size) in enumerate(columns):
            if position:
                segments.append(Segment(" " * GAP, base))
            if column.key == "saved" and self.saved_cell is not None:
                words = self.saved_cell(tracked)
            else:
                words = cell_text(column.key, tracked, now, self._medians)
            style = self._cell_style(column.key, tracked)
            if column.key == "saved":
                style = SAVE_STYLES.get(words.partition(" ")[0], style)
            segments.append(Segment(fit(words, size), base + style))
        used = GUTTER + sum(size for _, size in columns) + GAP * (len(columns) - 1)
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        return Strip(segments, max(used, width)).crop(0, width)

    @staticmethod
    def _cell_style(key: str, tracked: TrackedTask) -> Style:
        if key == "status":
            state = state_of(tracked)
            return Style(color=palette.color(state), bold=state in palette.ALARMING)
        if key == "error":
            return Style(color="red")
        if key in ("checked", "age", "model"):
            return Style(dim=True)
        return Style()
