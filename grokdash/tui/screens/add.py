"""The add dialog: paste any number of ids, Enter adds them."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, TextArea

from grokdash.transfer import split_ids
from grokdash.tui.widgets.footer import FittingFooter


class IdsArea(TextArea):
    """A text area where Enter submits: pasted text keeps its newlines, typing Enter adds."""

    BINDINGS = [Binding("enter", "submit", "Add")]
    """Shown in the footer; `on_key` does the work."""

    def on_key(self, event: events.Key) -> None:
        # Handled here, in turn with the characters typed before it: a priority binding would run
        # before this widget had inserted the keys that reached the terminal in the same read.
        if event.key == "enter":
            event.stop()
            event.prevent_default()  # skips TextArea's own key handler, which would insert a new line
            self.action_submit()

    def action_submit(self) -> None:
        self.screen.dismiss(split_ids(self.text))  # type: ignore[attr-defined]


class AddIdsScreen(ModalScreen[list[str] | None]):
    """Returns the ids as typed (validation and the report are the app's), or None when cancelled."""

    DEFAULT_CSS = """
    AddIdsScreen { align: center middle; }
    AddIdsScreen > Vertical {
        width: 72; height: auto; max-height: 80%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    AddIdsScreen IdsArea { height: 8; }
    AddIdsScreen .hint { color: $text-muted; }
    AddIdsScreen .problem { color: $error; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, text: str = "", problem: str | None = None) -> None:
        """`text` and `problem`: what was typed before, and why it could not be added (it is kept)."""
        super().__init__()
        self._text = text
        self._problem = problem

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]Add task ids[/b]")
            yield Label("Paste or type ids, separated by spaces, commas or new lines.", classes="hint")
            if self._problem:
                yield Label(Text(f"Not added: {self._problem}"), classes="problem")
            yield IdsArea(self._text, id="ids", soft_wrap=True, show_line_numbers=False)
            yield Label("enter adds · escape cancels", classes="hint")
        yield FittingFooter()

    def on_mount(self) -> None:
        area = self.query_one(IdsArea)
        area.focus()
        area.move_cursor(area.document.end)

    def action_cancel(self) -> None:
        self.dismiss(None)
