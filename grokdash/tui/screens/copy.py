"""The copy menu (`y`): the id, the video URL, the prompt, the saved file or a line per task, of the
marked rows (else the selected one, or the task the details screen shows). A letter or Enter copies."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from grokdash.tracked import TrackedTask
from grokdash.tui.widgets.footer import FittingFooter
from grokdash.videofile import saved_file


@dataclass(frozen=True, slots=True)
class CopyChoice:
    key: str
    what: str
    """What the toast says was copied: "2 ids", "the prompt"."""
    label: str
    text: str


def _prompt(tracked: TrackedTask) -> str | None:
    prompt = tracked.request.get("prompt") if tracked.request else None
    return prompt if isinstance(prompt, str) and prompt else None


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else f"{count} {many}"


def copy_choices(tasks: list[TrackedTask]) -> list[CopyChoice]:
    """What can be copied of these tasks, each choice with the text it puts on the clipboard. A choice
    none of the tasks has (no URL yet, no prompt known, nothing saved) is left out."""
    count = len(tasks)
    urls = [t.task.video_url for t in tasks if t.task and t.task.video_url]
    prompts = [prompt for t in tasks if (prompt := _prompt(t))]
    files = [str(path) for t in tasks if (path := saved_file(t)) is not None]
    choices = [CopyChoice("i", _plural(count, "the id", "ids"), "id", "\n".join(t.id for t in tasks))]
    if urls:
        choices.append(
            CopyChoice("u", _plural(len(urls), "the video URL", "URLs"), "video URL", "\n".join(urls))
        )
    if prompts:
        choices.append(
            CopyChoice("p", _plural(len(prompts), "the prompt", "prompts"), "prompt", "\n".join(prompts))
        )
    if files:
        choices.append(
            CopyChoice(
                "f", _plural(len(files), "the saved file's path", "paths"), "saved file", "\n".join(files)
            )
        )
    lines = [
        "\t".join(
            [
                t.id,
                str(t.status or "new"),
                (t.task.video_url if t.task else None) or "",
                str(saved_file(t) or ""),
            ]
        )
        for t in tasks
    ]
    choices.append(
        CopyChoice(
            "l",
            _plural(count, "a line", "lines"),
            "a line per task (id, status, URL, file)",
            "\n".join(lines),
        )
    )
    return choices


class CopyScreen(ModalScreen[CopyChoice | None]):
    DEFAULT_CSS = """
    CopyScreen { align: center middle; }
    CopyScreen > Vertical {
        width: 72; max-width: 95%; height: auto; border: round $primary; background: $surface; padding: 0 1;
    }
    CopyScreen OptionList { height: auto; max-height: 12; }
    """
    BINDINGS = [Binding("escape,q", "dismiss(None)", "Close")]

    def __init__(self, choices: list[CopyChoice], of: str) -> None:
        super().__init__()
        self._choices = choices
        self._of = of

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Copy, of {self._of}"
            yield Label("a letter, or arrows and enter:")
            yield OptionList(
                *(
                    Option(Text.assemble((choice.key, "bold"), "  ", choice.label), id=choice.key)
                    for choice in self._choices
                )
            )
        yield FittingFooter()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_key(self, event: events.Key) -> None:
        for choice in self._choices:
            if event.key == choice.key:
                event.stop()
                self.dismiss(choice)
                return

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(next(choice for choice in self._choices if choice.key == event.option.id))
