"""Label a task: free text, shown in the table and found by the filter."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from grokdash.tui.widgets.footer import FittingFooter


class LabelScreen(ModalScreen[str | None]):
    """Returns the new label ("" clears it), or None when cancelled."""

    DEFAULT_CSS = """
    LabelScreen { align: center middle; }
    LabelScreen > Vertical {
        width: 64; height: auto; border: round $primary; background: $surface; padding: 0 1;
    }
    LabelScreen .hint { color: $text-muted; }
    LabelScreen .problem { color: $error; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, what: str, current: str | None, problem: str | None = None) -> None:
        """`problem`: why the label typed before (`current`) could not be saved; it is kept."""
        super().__init__()
        self._what = what
        self._current = current or ""
        self._problem = problem

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text.assemble(("Label ", "bold"), self._what))
            if self._problem:
                yield Label(Text(f"Not saved: {self._problem}"), classes="problem")
            yield Input(value=self._current, placeholder="a few words; empty clears the label", id="label")
            yield Label("enter saves · escape cancels", classes="hint")
        yield FittingFooter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
