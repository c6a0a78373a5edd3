"""The line above the table: how many tasks are in each state, and what polling is doing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from grokdash import palette
from grokdash.models import Status
from grokdash.tui.contrast import readable_style
from grokdash.tui.widgets.task_table import ROLES

ORDER = ("new", "error", Status.QUEUED, Status.PROCESSING, Status.COMPLETED, Status.FAILED, "gone")


def summary_text(
    counts: Counter[str],
    shown: int,
    polling: str,
    problem: str | None,
    view: str = "",
    compact: bool = False,
    colour: bool = True,
    style_of: Callable[[str], Style | str] = lambda name: name,
) -> Text:
    """`compact` counts with icons instead of words, for narrow terminals. Without `colour` (NO_COLOR)
    the states that need a look are bold, and nothing is coloured: a colour turned grey is unreadable
    (red became a dark grey on the dark bar). `style_of` turns the palette's colour names ("red",
    "dim") into what is drawn: the bar gives the theme's own shade of each, made readable."""
    text = Text()
    append = text.append

    def add(words: str, style: str = "") -> None:
        append(words, style=style_of(style))

    total = sum(counts.values())
    if not total:
        add("no tasks", style="dim")
    for status in (*ORDER, *sorted(set(counts) - set(ORDER))):
        if counts.get(status):
            if text:
                add(" " if compact else "  ")
            label = f"{palette.icon(status)}{counts[status]}" if compact else f"{counts[status]} {status}"
            if colour:
                add(label, style=palette.color(status))
            else:
                add(label, style="bold" if status in palette.ALARMING else "")
    if shown != total or view:
        narrowed = f"showing {shown} of {total}" if shown != total else ""
        space = " " if compact else "  "
        shown_view = f"{space}({', '.join(part for part in (narrowed, view) if part)})"
        add(shown_view, style="cyan" if colour else "")
    add(" │ " if compact else "   │ ", style="dim")
    if problem:
        add(f"⚠ {problem}", style="bold red" if colour else "bold reverse")
        add(" · ", style="dim")
    add(polling, style="dim" if colour and not problem else "")
    return text


class SummaryBar(Static):
    DEFAULT_CSS = """
    SummaryBar {
        height: 1;
        width: 100%;
        padding: 0 1;
        background: $panel;
    }
    SummaryBar > .summary--muted { color: $text-muted; }
    SummaryBar > .summary--primary { color: $text-primary; }
    SummaryBar > .summary--secondary { color: $text-secondary; }
    SummaryBar > .summary--accent { color: $text-accent; }
    SummaryBar > .summary--success { color: $text-success; }
    SummaryBar > .summary--warning { color: $text-warning; }
    SummaryBar > .summary--error { color: $text-error; }
    """
    COMPONENT_CLASSES = {f"summary--{role}" for role in {*ROLES.values(), "muted"}}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._styles: dict[tuple[str, str], Style] = {}

    def style_of(self, name: str) -> Style:
        """The palette's `name` ("bold red", "dim") as the theme's shade of it, readable on the bar;
        "dim" is the theme's muted text (a dim colour blended into the bar fell under 4.5:1)."""
        key = (self.app.theme, name)
        style = self._styles.get(key)
        if style is None:
            asked = Style.parse(name)
            base = self.rich_style
            if self.app.no_color:
                style = base + Style(bold=asked.bold, reverse=asked.reverse)
            else:
                colour = asked.color.name if asked.color else None
                role = "muted" if asked.dim else ROLES.get(colour or "", "secondary")
                shade = self.get_component_rich_style(f"summary--{role}").color
                style = base + Style(color=shade, bold=asked.bold, reverse=asked.reverse)
            style = self._styles[key] = readable_style(style, self.app.ansi_theme, no_color=self.app.no_color)
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()  # a user's CSS or the theme changed the colours

    def show(
        self, counts: Counter[str], shown: int, polling: str, problem: str | None, view: str = ""
    ) -> None:
        colour = not self.app.no_color
        text = summary_text(counts, shown, polling, problem, view, colour=colour, style_of=self.style_of)
        # The room there is: the screen's width, less the bar's padding.
        room = self.app.size.width - 2
        if text.cell_len > room:
            text = summary_text(
                counts, shown, polling, problem, view, compact=True, colour=colour, style_of=self.style_of
            )
        # Still too long: whole phrases go, never half of one at the edge. The last details of polling
        # first ("· 1 backing off"), then the view's last parts ("· by id ▲"); what polling is doing
        # ("paused", "rate limited") stays to the last.
        while text.cell_len > room and (" · " in polling or " · " in view):
            if " · " in polling:
                polling = polling.rpartition(" · ")[0]
            else:
                view = view.rpartition(" · ")[0]
            text = summary_text(
                counts, shown, polling, problem, view, compact=True, colour=colour, style_of=self.style_of
            )
        self.update(text)
