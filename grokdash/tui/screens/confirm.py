"""A yes-or-no question, by keys alone: y or n, escape for no, enter for the focused button; tab, shift+tab
and the arrows move between the buttons."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from grokdash.tui.widgets.footer import FittingFooter


class ConfirmScreen(ModalScreen[bool]):
    """Returns True for yes, False for no (or escape). The yes button has the focus: the key that opened
    the question said what the user wants, and enter confirms it.

    With `safe_default`, for a question a stray key must not answer yes (escape pressed by habit while
    typing, then more typing): the focus starts on no and `y` does nothing; yes is tab, then enter."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 72; max-width: 95%; height: auto;
        border: round $warning; background: $surface; padding: 0 1;
    }
    ConfirmScreen #question { width: 100%; margin-bottom: 1; }
    ConfirmScreen #buttons { height: auto; }
    ConfirmScreen Button { margin-right: 2; width: auto; }
    ConfirmScreen .hint { color: $text-muted; width: 100%; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
        Binding("left", "app.focus_previous", show=False),
        Binding("right", "app.focus_next", show=False),
    ]

    def __init__(
        self, question: str, *, yes: str = "Yes", no: str = "No", safe_default: bool = False
    ) -> None:
        super().__init__()
        self._question = question
        self._yes = yes
        self._no = no
        self._safe_default = safe_default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self._question), id="question")  # Text: no markup read in it
            with Horizontal(id="buttons"):
                if self._safe_default:
                    yield Button(f"{self._no} (esc)", id="no")
                    yield Button(self._yes, variant="warning", id="yes")
                else:
                    yield Button(f"{self._yes} (y)", variant="warning", id="yes")
                    yield Button(f"{self._no} (n)", id="no")
            hint = (
                "tab moves · enter presses the focused button · n or escape no"
                if self._safe_default
                else "y yes · n or escape no · enter presses the focused button"
            )
            yield Label(hint, classes="hint")
        yield FittingFooter()

    def on_mount(self) -> None:
        self.query_one("#no" if self._safe_default else "#yes", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # With a safe default there is no y key: yes only by its button.
        return not (action == "answer" and parameters == (True,) and self._safe_default)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
