"""The stats screen (S): where the time and the money went, per model and per day (`grokdash stats`)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Sparkline, Static

from grokdash import spend
from grokdash.stats import COLUMNS, Stats
from grokdash.tui.widgets.footer import FittingFooter


def models_table(stats: Stats) -> Table:
    table = Table(box=None, padding=(0, 1), header_style="bold", expand=True)
    for name in COLUMNS:
        table.add_column(name, no_wrap=True, justify="left" if name == "model" else "right")
    for model in stats.models.values():
        name, *figures = model.cells(stats.priced)
        table.add_row(Text(name), *figures)  # Text: a model name from a server is never markup
    return table


SPARKLINE_FROM = 8
"""Days from which the per-day figures are a sparkline rather than a line each."""


class StatsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    StatsScreen { align: center middle; }
    StatsScreen > VerticalScroll {
        width: 110; max-width: 98%; height: 90%; border: round $primary; background: $surface; padding: 0 1;
    }
    StatsScreen .heading { text-style: bold; margin-top: 1; }
    StatsScreen Sparkline { height: 3; margin: 0 0 0 0; }
    StatsScreen .range { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape,q,S", "dismiss", "Close"),
        Binding("j,down", "scroll_down", "Down", show=False),
        Binding("k,up", "scroll_up", "Up", show=False),
    ]

    def __init__(self, stats: Stats) -> None:
        super().__init__()
        self.stats = stats

    def compose(self) -> ComposeResult:
        stats = self.stats
        with VerticalScroll() as scroll:
            scroll.border_title = "Stats, from the task database"
            if not stats.models:
                yield Static("No tasks yet.", id="models")
            else:
                yield Static(models_table(stats), id="models")
                if stats.failures:
                    yield Label("Commonest failures", classes="heading")
                    lines = "\n".join(f"{count:>5}  {reason}" for reason, count in stats.failures)
                    yield Static(Text(lines), id="failures")
                yield from self._per_day()
        yield FittingFooter()

    def _per_day(self) -> ComposeResult:
        """Tasks (and spend) per day: a line each for a few days, a sparkline over many."""
        stats = self.stats
        days = stats.days
        yield Label("Per day", classes="heading")
        if len(days) < SPARKLINE_FROM:
            lines = [
                f"{day}  {tasks:>5} tasks" + (f"  ≈ {spend.money(cost)}" if stats.priced else "")
                for day, tasks, cost in days
            ]
            yield Static(Text("\n".join(lines)), id="days")
            return
        span = f"{days[0][0]} … {days[-1][0]}"
        yield Label(f"tasks (most {max(tasks for _, tasks, _ in days)} a day)")
        yield Sparkline([float(tasks) for _, tasks, _ in days], id="tasks-per-day")
        yield Label(span, classes="range")
        if stats.priced:
            most = max(cost for _, _, cost in days)
            yield Label(f"estimated spend (most ≈ {spend.money(most)} a day)")
            yield Sparkline([cost for _, _, cost in days], id="spend-per-day")
            yield Label(span, classes="range")

    def action_scroll_down(self) -> None:
        self.query_one(VerticalScroll).scroll_down()

    def action_scroll_up(self) -> None:
        self.query_one(VerticalScroll).scroll_up()
