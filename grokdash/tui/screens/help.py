"""Every key, from the bindings themselves, so the help cannot drift from what the keys do."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from grokdash.tui.widgets.footer import FittingFooter

NOTES = (
    "\nSpace marks rows; copy, save, label, stop tracking and poll then act on every marked row.\n"
    'Change a key in the config file:  [keymap]  copy = "y"  (the ids are the last column)\n'
    "ctrl+p opens the command palette: every action, and the themes (the one chosen is remembered)."
)
"""Plain text, never markup: `[keymap]` is what the user types."""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 95%; height: 90%; border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
        Binding("j,down", "scroll('down')", "Down", show=False),
        Binding("k,up", "scroll('up')", "Up", show=False),
        Binding("pagedown,space", "scroll('page_down')", "Page down", show=False),
        Binding("pageup", "scroll('page_up')", "Page up", show=False),
        Binding("home,g", "scroll('home')", "Top", show=False),
        Binding("end,G", "scroll('end')", "Bottom", show=False),
    ]

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
            table.add_row(Text(keys), Text(description), Text(binding_id))  # Text: `[` is never markup
        with VerticalScroll() as scroll:
            scroll.border_title = "Keys"
            yield Static(table)
            yield Static(NOTES, markup=False, id="notes")
        yield FittingFooter()

    def action_scroll(self, where: str) -> None:
        scroll = self.query_one(VerticalScroll)
        {
            "down": scroll.scroll_down,
            "up": scroll.scroll_up,
            "page_down": scroll.scroll_page_down,
            "page_up": scroll.scroll_page_up,
            "home": scroll.scroll_home,
            "end": scroll.scroll_end,
        }[where](animate=False)
