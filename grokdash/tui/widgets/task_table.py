"""The task table: one row per tracked task, drawn with Textual's line API.

Only the rows on screen are drawn, so 10,000 tasks cost what 50 do. The selection follows the task, not
the row number, so sorting, filtering and fresh answers never move it to another task.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

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
from grokdash.tui.contrast import readable_style
from grokdash.tui.view import (
    GAP,
    MAX_LABEL_WIDTH,
    Column,
    Shown,
    cell_text,
    cells,
    fit,
    fit_middle,
    layout,
    shown_state,
)

MARK = "●"
GUTTER = 2
"""Room for the mark of a marked row."""

ROLES = {
    "bright_black": "muted",
    "blue": "primary",
    "yellow": "warning",
    "green": "success",
    "red": "error",
    "magenta": "secondary",
    "cyan": "accent",
}
"""The palette's colour of a state names the theme's shade of it: each theme's own green for completed."""
SAVE_ROLES = {
    "owed": "warning",
    "partial": "warning",
    "missing": "warning",
    "failed": "trouble",
    "expired": "trouble",
}
"""The SAVED cell of a finished video not on disk: waiting, or in trouble."""
CELL_ROLES = {"error": "error", "checked": "muted", "age": "muted", "model": "muted"}
"""Columns drawn in a role of their own (the least useful ones muted, not dim: dim is unreadable)."""


class TaskTable(ScrollView, can_focus=True):
    """Tracked tasks, a row each, with a fixed header line."""

    DEFAULT_CSS = """
    TaskTable {
        height: 1fr;
        scrollbar-gutter: stable;
        overflow-x: hidden;
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
    TaskTable:ansi > .task-table--marked {
        /* An ANSI colour cannot be 20%: a full one looked like the cursor. The mark tells them. */
        background: ansi_default;
        text-style: bold;
    }
    TaskTable > .task-table--empty {
        color: $text-muted;
        text-style: italic;
    }
    TaskTable > .task-table--mark { color: $text-accent; text-style: bold; }
    TaskTable > .task-table--muted { color: $text-muted; }
    TaskTable > .task-table--primary { color: $text-primary; }
    TaskTable > .task-table--secondary { color: $text-secondary; }
    TaskTable > .task-table--accent { color: $text-accent; }
    TaskTable > .task-table--success { color: $text-success; }
    TaskTable > .task-table--warning { color: $text-warning; }
    TaskTable > .task-table--error { color: $text-error; }
    TaskTable > .task-table--trouble { color: $text-error; text-style: bold; }
    """
    """Every colour is a theme's; whatever a theme or a user's CSS makes of them, each word is drawn at
    least MIN_CONTRAST from its background (see `_style`). With NO_COLOR the table draws no colour of
    its own: bold, reverse and the icons tell the states and the cursor apart."""

    COMPONENT_CLASSES = {
        "task-table--header",
        "task-table--cursor",
        "task-table--marked",
        "task-table--empty",
        "task-table--mark",
        *(f"task-table--{role}" for role in {*ROLES.values(), *SAVE_ROLES.values(), *CELL_ROLES.values()}),
    }

    BINDINGS = [
        # Each binding has an id, so [keymap] can move it (cursor_down = "n,down").
        Binding("up,k", "cursor(-1)", "up one row", id="cursor_up", show=False),
        Binding("down,j", "cursor(1)", "down one row", id="cursor_down", show=False),
        Binding("pageup", "page(-1)", "up one page", id="page_up", show=False),
        Binding("pagedown", "page(1)", "down one page", id="page_down", show=False),
        Binding("home,g", "jump(0)", "the first row", id="top", show=False),
        Binding("end,G", "jump(-1)", "the last row", id="bottom", show=False),
        Binding("space", "toggle_mark", "Mark", id="mark", show=False),
    ]

    EMPTY_MESSAGE = "No tasks tracked yet: press a to add ids."

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class CursorMoved(Message):
        """The selected task changed (or the rows under the cursor did)."""

        def __init__(self, task_id: str | None) -> None:
            super().__init__()
            self.task_id = task_id

    class HeaderClicked(Message):
        """A click on a column's header: the user wants the rows sorted by it."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

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
        self._index: Mapping[str, int] = {}
        self._medians: dict[str, float] = {}
        self._id_width = 0
        """The longest id of the rows, in cells: the ID column grows to it when the width allows."""
        self._label_width = 0
        self._styles: dict[tuple[object, ...], Style] = {}
        """The readable style of each kind of cell, per theme (see `_cell_style`)."""
        self.marked: set[str] = set()
        self.saved_cell: Callable[[TrackedTask], str] | None = None
        """The SAVED cell, from the app's saver ("queued", "42%", "partial 43%", "missing"…); None: what
        the record alone says."""
        self.empty_message = self.EMPTY_MESSAGE
        self.chosen = False
        """The user (or the app, for a task just added) put the cursor on a task: it stays on that task
        as rows are re-sorted. Until then it stays on the top row: a dashboard just opened, its rows
        moving as the first answers come, keeps the cursor at the top, not on whichever task was first."""
        self.sort: tuple[str, bool] = ("status", False)
        """The column the rows are sorted by and whether from its largest value: the header's ▲ or ▼."""

    # ---- data -------------------------------------------------------------------------------------

    @property
    def rows(self) -> Sequence[TrackedTask]:
        return self._rows

    @property
    def selected(self) -> TrackedTask | None:
        if 0 <= self.cursor < len(self._rows):
            return self._rows[self.cursor]
        return None

    def set_rows(self, rows: list[TrackedTask] | Shown, medians: dict[str, float] | None = None) -> None:
        """Show these rows, keeping the selected task selected once one was chosen (or the nearest row
        when it is gone). `Shown` rows come with their index and longest cells worked out (in the
        rebuild's thread: over 100,000 rows that is tens of milliseconds the event loop does not spend)."""
        keep = self.selected.id if self.selected and self.chosen else None
        if not isinstance(rows, Shown):
            rows = Shown(
                rows, {tracked.id: index for index, tracked in enumerate(rows)}, *self._longest(rows)
            )
        self._rows = rows.rows
        self._index = rows.index
        if medians is not None:
            self._medians = medians
        if self.marked:
            self.marked &= self._index.keys()
        self._id_width, self._label_width = rows.id_width, rows.label_width
        self._set_virtual_size()
        if keep is not None and keep in self._index:
            self.cursor = self._index[keep]
        else:
            self.cursor = min(self.cursor, max(0, len(self._rows) - 1))
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
            self._label_width = max(self._label_width, self._longest(records)[1])
            self.refresh()

    @staticmethod
    def _longest(rows: Sequence[TrackedTask]) -> tuple[int, int]:
        """The longest id and the longest label of `rows`, in cells (a label's only as far as the LABEL
        column could grow: a 10 MB label is not measured whole)."""
        longest_id = max((cells(tracked.id) for tracked in rows), default=0)
        most = MAX_LABEL_WIDTH + 1
        longest_label = max((cells(tracked.label[:most]) for tracked in rows if tracked.label), default=0)
        return longest_id, longest_label

    def select(self, task_id: str) -> bool:
        index = self._index.get(task_id)
        if index is None:
            return False
        self.chosen = True
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
        self.chosen = True
        self.cursor += step

    def action_page(self, pages: int) -> None:
        self.chosen = True
        self.cursor += pages * self._visible_rows()

    def action_jump(self, where: int) -> None:
        self.chosen = True
        self.cursor = 0 if where == 0 else len(self._rows) - 1

    def action_toggle_mark(self) -> None:
        selected = self.selected
        if selected is None:
            return
        self.marked ^= {selected.id}
        self.chosen = True
        self.cursor += 1
        self.refresh()

    def on_click(self, event: Click) -> None:
        if event.y == 0:
            key = self.column_at(event.x)
            if key is not None:
                self.post_message(self.HeaderClicked(key))
        elif event.y >= 1:
            self.chosen = True
            self.cursor = round(self.scroll_y) + event.y - 1
            if event.chain == 2 and self.selected is not None:
                self.post_message(self.Activated(self.selected.id))

    def on_resize(self, event: Resize) -> None:
        self._set_virtual_size()

    def _set_virtual_size(self) -> None:
        # No wider than the view: the columns always fit the width, so there is nothing to scroll to
        # sideways (a horizontal scrollbar took the last row).
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._rows) + 1)

    # ---- drawing ----------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        columns = layout(width - GUTTER, self._id_width, self._label_width)
        if y == 0:
            return self._header(columns, width)
        if not self._rows:
            if y == 2:
                style = self._drawn(self.get_component_rich_style("task-table--empty"))
                return Strip([Segment(set_cell_size("  " + self.empty_message, width), style)], width)
            return Strip.blank(width, self._drawn(self.rich_style))
        index = round(self.scroll_y) + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, self._drawn(self.rich_style))
        return self._row(index, columns, width)

    def _columns(self) -> tuple[tuple[Column, int], ...]:
        return layout(self.scrollable_content_region.width - GUTTER, self._id_width, self._label_width)

    def column_keys(self) -> list[str]:
        """The keys of the columns the table's width has room for, left to right."""
        return [column.key for column, _ in self._columns()]

    def column_at(self, x: int) -> str | None:
        """The key of the column drawn at `x` (a widget's x), None between columns or in the gutter."""
        start = GUTTER
        for column, size in self._columns():
            if start <= x < start + size:
                return column.key
            start += size + GAP
        return None

    def _header(self, columns: Sequence[tuple[Column, int]], width: int) -> Strip:
        style = self._drawn(self.get_component_rich_style("task-table--header"))
        key, descending = self.sort
        titles = []
        for column, size in columns:
            title = column.title
            if column.key == key:  # the sorted column: its arrow, the title cut for it if it must be
                arrow = "▼" if descending else "▲"
                title = f"{title} {arrow}" if len(title) + 2 <= size else title[: max(0, size - 1)] + arrow
            titles.append(set_cell_size(title, size))
        text = " " * GUTTER + (" " * GAP).join(titles)
        return Strip([Segment(set_cell_size(text, width), style)], width)

    def _row(self, index: int, columns: Sequence[tuple[Column, int]], width: int) -> Strip:
        tracked = self._rows[index]
        now = self._clock()
        marked = tracked.id in self.marked
        cursor = index == self.cursor
        base = self.rich_style
        if self.app.no_color:
            # No colour to tell the cursor by: reverse video (underlined while another widget has the
            # focus), and the mark alone for a marked row.
            if cursor:
                base += Style(reverse=True, bold=True) if self.has_focus else Style(underline=True)
        else:
            if marked:
                base += self.get_component_rich_style("task-table--marked")
            if cursor:
                base += self.get_component_rich_style("task-table--cursor")
        # Under the focused cursor the whole row is in the cursor's colours (the icons still tell the
        # states apart): a failed row's red on a blue cursor was unreadable.
        uniform = cursor and self.has_focus
        between = self._cell_style(base, None, uniform)
        segments = [Segment(f"{MARK} " if marked else " " * GUTTER, self._cell_style(base, "mark", uniform))]
        for position, (column, size) in enumerate(columns):
            if position:
                segments.append(Segment(" " * GAP, between))
            if column.key == "saved" and self.saved_cell is not None:
                words = self.saved_cell(tracked)
            else:
                words = cell_text(column.key, tracked, now, self._medians)
            role, bold = self._role(column.key, tracked, words)
            text = fit_middle(words, size) if column.key == "id" else fit(words, size)
            segments.append(Segment(text, self._cell_style(base, role, uniform, bold)))
        used = GUTTER + sum(size for _, size in columns) + GAP * (len(columns) - 1)
        if used < width:
            segments.append(Segment(" " * (width - used), between))
        return Strip(segments, max(used, width)).crop(0, width)

    @staticmethod
    def _role(key: str, tracked: TrackedTask, words: str) -> tuple[str | None, bool]:
        """The colour role of a cell (a component class's suffix, or None for the row's text colour), and
        whether it is bold."""
        if key == "status":
            state = shown_state(tracked)
            return ROLES.get(palette.color(state), "secondary"), state in palette.ALARMING
        if key == "saved":
            return SAVE_ROLES.get(words.partition(" ")[0]), False
        return CELL_ROLES.get(key), False

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()  # a user's CSS or the theme changed the colours

    def _cell_style(self, base: Style, role: str | None, uniform: bool, bold: bool = False) -> Style:
        """A cell's style on a row of style `base`: its role's colour (none under the focused cursor, nor
        with NO_COLOR, where only its boldness stays), at a readable contrast."""
        key = (self.app.theme, base, role, uniform, bold)
        style = self._styles.get(key)
        if style is None:
            style = base
            if role is not None:
                component = self.get_component_rich_style(f"task-table--{role}")
                if not (uniform or self.app.no_color):
                    style += Style(color=component.color)
                bold = bold or bool(component.bold)
            if bold:
                style += Style(bold=True)
            style = self._styles[key] = self._drawn(style)
        return style

    def _drawn(self, style: Style) -> Style:
        """`style` as the terminal will show it, at a readable contrast (see `contrast.readable_style`)."""
        return readable_style(style, self.app.ansi_theme, no_color=self.app.no_color)
