"""The line above the table: how many tasks are in each state, and what polling is doing."""

from __future__ import annotations

from collections import Counter

from rich.text import Text
from textual.widgets import Static

from grokdash import palette
from grokdash.models import Status

ORDER = ("new", "error", Status.QUEUED, Status.PROCESSING, Status.COMPLETED, Status.FAILED, "gone")


def summary_text(
    counts: Counter[str], shown: int, polling: str, problem: str | None, view: str = "", compact: bool = False
) -> Text:
    """`compact` counts with icons instead of words, for narrow terminals."""
    text = Text()
    total = sum(counts.values())
    if not total:
        text.append("no tasks", style="dim")
    for status in (*ORDER, *sorted(set(counts) - set(ORDER))):
        if counts.get(status):
            if text:
                text.append(" " if compact else "  ")
            label = f"{palette.icon(status)}{counts[status]}" if compact else f"{counts[status]} {status}"
            text.append(label, style=palette.color(status))
    if shown != total or view:
        narrowed = f"showing {shown} of {total}" if shown != total else ""
        space = " " if compact else "  "
        text.append(f"{space}({', '.join(part for part in (narrowed, view) if part)})", style="cyan")
    text.append(" │ " if compact else "   │ ", style="dim")
    if problem:
        text.append(f"⚠ {problem}", style="bold red")
        text.append(" · ", style="dim")
    text.append(polling, style="dim" if not problem else "")
    return text


class SummaryBar(Static):
    DEFAULT_CSS = """
    SummaryBar {
        height: 1;
        width: 100%;
        padding: 0 1;
        background: $panel;
    }
    """

    def show(
        self, counts: Counter[str], shown: int, polling: str, problem: str | None, view: str = ""
    ) -> None:
        text = summary_text(counts, shown, polling, problem, view)
        # The room there is: the screen's width, less the bar's padding.
        room = self.app.size.width - 2
        if text.cell_len > room:
            text = summary_text(counts, shown, polling, problem, view, compact=True)
        # Still too long: the last details of polling go first, whole ("· 1 backing off"), rather than
        # leave half a phrase at the edge.
        while text.cell_len > room and " · " in polling:
            polling = polling.rpartition(" · ")[0]
            text = summary_text(counts, shown, polling, problem, view, compact=True)
        self.update(text)
