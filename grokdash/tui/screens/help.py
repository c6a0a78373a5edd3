"""Every key, from the bindings themselves, so the help cannot drift from what the keys do."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 95%; height: 90%; border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, keys: list[tuple[str, str, str]]) -> None:
        """`keys`: (keys as shown, what it does, binding id for the keymap)."""
        super().__init__()
        self._keys = keys

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 2), header_style="bold")
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("does")
        table.add_column("keymap id", style="dim")
        for keys, description, binding_id in self._keys:
            table.add_row(keys, description, binding_id)
        with VerticalScroll() as scroll:
            scroll.border_title = "Keys"
            yield Static(table)
            yield Static(
                "\nSpace marks rows; copy, label, stop tracking and poll then act on every marked row.\n"
                'Change a key in the config file:  [keymap]  copy = "y"\n'
                "ctrl+p opens the command palette: every action, and the themes."
            )
        yield Footer()
