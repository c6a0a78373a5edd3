"""The events screen: everything that happened since the dashboard opened, newest first, with the time."""

from __future__ import annotations

import time

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from grokdash.tui.events import EventLog
from grokdash.tui.widgets.footer import FittingFooter

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

    def __init__(self, log: EventLog) -> None:
        super().__init__()
        self._log = log
        self._shown = -1
        """`log.added` when the list was last drawn: it is drawn again only when something happened."""

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="events")
        yield FittingFooter()

    def on_mount(self) -> None:
        self.refresh_events()
        self.set_interval(1.0, self.refresh_events)  # live: what happens while it is open shows too

    def refresh_events(self) -> None:
        if self._log.added == self._shown:
            return
        self._shown = self._log.added
        self._events = self._log.newest_first()
        scroll = self.query_one(VerticalScroll)
        scroll.border_title = f"Events since the dashboard opened ({len(self._events)})"
        self.query_one("#events", Static).update(
            self._table() if self._events else "Nothing has happened yet."
        )

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
