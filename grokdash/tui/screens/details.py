"""The details screen: everything grokdash knows about one task, over the whole window (enter); the pane
beside the list (v) shows the same."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen

from grokdash.tracked import TrackedTask
from grokdash.tui.details_text import SaveView
from grokdash.tui.widgets.footer import FittingFooter
from grokdash.tui.widgets.task_details import TaskDetails


class DetailsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    DetailsScreen { align: center middle; }
    DetailsScreen > TaskDetails {
        width: 90%; height: 90%; border: round $primary; background: $surface;
    }
    """
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("c", "app.copy_url", "Copy URL"),
        Binding("y", "app.copy_menu", "Copy…"),
        Binding("o", "app.open_video", "Open"),
        Binding("n", "app.run_again", "Run again"),
    ]

    def __init__(
        self,
        task_id: str,
        lookup: Callable[[str], TrackedTask | None],
        clock: Callable[[], float],
        save: Callable[[TrackedTask], SaveView | None] = lambda tracked: None,
    ) -> None:
        super().__init__()
        self.task_id = task_id
        self._details = TaskDetails(lookup, clock, save, task_id)

    def compose(self) -> ComposeResult:
        yield self._details
        yield FittingFooter()

    def refresh_details(self) -> None:
        self._details.refresh_details()
