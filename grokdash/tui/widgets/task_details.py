"""One task's details, kept current: the body of the details screen, and the pane beside the list."""

from __future__ import annotations

import logging
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from grokdash.tracked import TrackedTask
from grokdash.tui.details_text import NAME_LIMIT, SaveView, _cut, describe

log = logging.getLogger(__name__)

REDRAW_SECONDS = 1.0
"""How often the shown task is drawn again: its running time ticks, its answers and saves come."""


class TaskDetails(VerticalScroll, can_focus=True):
    """The details of `task_id` (none: a hint), read from the store at each redraw, so they are as fresh
    as the table's row. Scrolls with the arrows and page keys once focused (tab)."""

    BINDINGS = [  # the list's own moves, for a user who just used them there
        Binding("j", "scroll_down", show=False),
        Binding("k", "scroll_up", show=False),
        Binding("g", "scroll_home", show=False),
        Binding("G", "scroll_end", show=False),
    ]
    DEFAULT_CSS = """
    TaskDetails { padding: 0 1; }
    TaskDetails > Static { width: 1fr; }
    """

    def __init__(
        self,
        lookup: Callable[[str], TrackedTask | None],
        clock: Callable[[], float],
        save: Callable[[TrackedTask], SaveView | None] = lambda tracked: None,
        task_id: str | None = None,
        *,
        empty: str = "No task selected.",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.task_id = task_id
        self._lookup = lookup
        self._clock = clock
        self._save = save
        self._empty = empty

    def compose(self) -> ComposeResult:
        yield Static(id="details")

    def on_mount(self) -> None:
        self._title()
        self.refresh_details()
        self.set_interval(REDRAW_SECONDS, self._tick)

    def show(self, task_id: str | None) -> None:
        """Show another task, from its top (the same one again: only redrawn)."""
        if task_id != self.task_id:
            self.task_id = task_id
            self._title()
            self.scroll_home(animate=False)
        self.refresh_details()

    @property
    def shown(self) -> TrackedTask | None:
        """The task on show, as the store has it now; None when none is, or it is no longer tracked."""
        return None if self.task_id is None else self._lookup(self.task_id)

    def _title(self) -> None:
        # Text, not a string: a string title is read as markup, and an id "[/]" would stop the dashboard.
        self.border_title = Text(_cut(self.task_id, NAME_LIMIT)) if self.task_id else None  # type: ignore[assignment]

    def _tick(self) -> None:
        if self.display and self.screen.is_current:  # a hidden pane costs nothing
            self.refresh_details()

    def refresh_details(self) -> None:
        details = self.query_one("#details", Static)
        if self.task_id is None:
            details.update(Text(self._empty, style="italic"))
            return
        tracked = self._lookup(self.task_id)
        if tracked is None:
            details.update(Text("This task is no longer tracked.", style="italic"))
            return
        try:
            shown = describe(tracked, self._clock(), self._save(tracked))
        except Exception as error:  # a record nothing here expected: say so, never close the dashboard
            log.exception("the details of %s cannot be shown", _cut(self.task_id, NAME_LIMIT))
            shown = Text(
                f"The details of this task cannot be shown ({type(error).__name__}); the log file has why.",
                style="italic",
            )
        details.update(shown)
