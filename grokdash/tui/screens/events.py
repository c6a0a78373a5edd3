"""The events screen: everything that happened since the dashboard opened, newest first, with the time."""

from __future__ import annotations

import time

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from grokdash.tui.events import Event

STYLES = {"completed": "green", "saved": "green", "fixed": "green", "failed": "red", "not saved": "red"}


class EventsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    EventsScreen { align: center middle; }
    EventsScreen > VerticalScroll {
        width: 110; max-width: 98%; height: 90%; border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q,e", "dismiss", "Close"),
        Binding("j,down", "scroll_down", "Down", show=False),
        Binding("k,up", "scroll_up", "Up", show=False),
    ]

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self._events = events

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = f"Events since the dashboard opened ({len(self._events)})"
            yield Static(self._table() if self._events else "Nothing has happened yet.", id="events")
        yield Footer()

    def _table(self) -> Table:
        table = Table(box=None, padding=(0, 1), header_style="bold", expand=True)
        table.add_column("time", no_wrap=True)
        table.add_column("what", no_wrap=True)
        table.add_column("task", no_wrap=True, max_width=32, overflow="ellipsis")
        table.add_column("details", ratio=1, overflow="fold")
        for event in self._events:
            table.add_row(
                time.strftime("%H:%M:%S", time.localtime(event.at)),
                Text(event.kind, style=STYLES.get(event.kind, "yellow")),
                Text(event.task_id or ""),  # Text: ids and the server's words are never markup
                Text(event.text),
            )
        return table

    def action_scroll_down(self) -> None:
        self.query_one(VerticalScroll).scroll_down()

    def action_scroll_up(self) -> None:
        self.query_one(VerticalScroll).scroll_up()
