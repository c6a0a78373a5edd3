"""Everything grokdash knows about one task: the raw answer, the error, the timeline, the local file."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from grokdash.errors import printable
from grokdash.tracked import TrackedTask
from grokdash.tui.view import cell_text, started_at, status_icon, status_word


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


@dataclass(frozen=True, slots=True)
class Transfer:
    """A video being saved: bytes so far, of how many, in how many seconds."""

    done: int
    total: int | None
    seconds: float

    def describe(self) -> str:
        of = f" of {self.total / 1e6:.1f} MB" if self.total else ""
        speed = f", {self.done / self.seconds / 1e6:.1f} MB/s" if self.seconds > 0 else ""
        return f"saving: {self.done / 1e6:.1f} MB{of}{speed}"


def describe(tracked: TrackedTask, now: float, transfer: Transfer | None = None) -> RenderableType:
    """The details as one renderable (also what tests and screenshots look at)."""
    task = tracked.task
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    rows: list[tuple[str, str | Text]] = [
        ("Status", _plain(f"{status_icon(tracked)} {status_word(tracked, now)}")),
        ("Model", tracked.model or "-"),
        ("Label", tracked.label or "-"),
        ("Created", _when(started_at(tracked)) if task else "-"),
        ("Took" if tracked.is_final else "Running for", cell_text("elapsed", tracked, now, {}) or "-"),
        ("Video", cell_text("video", tracked, now, {}) or "-"),
        ("Video URL", (task.video_url if task else None) or "-"),
        (
            "Saved to",
            tracked.local_file
            or (f"not saved: {tracked.download_error.message}" if tracked.download_error else "not saved"),
        ),
        ("Tracked since", _when(tracked.added_at)),
        ("Last checked", _when(tracked.checked_at)),
    ]
    if transfer is not None:
        rows.append(("Saving", transfer.describe().removeprefix("saving: ")))
    if task and task.error:
        rows.append(("Error", _plain(task.error, style="red")))
    if tracked.last_error:
        rows.append(
            ("Last query", _plain(f"{tracked.last_error.kind}: {tracked.last_error.message}", style="red"))
        )
    for name, value in rows:
        facts.add_row(name, _plain(value) if isinstance(value, str) else value)

    parts: list[RenderableType] = [facts, Text()]
    if tracked.status_seen:
        timeline = Table("first seen", "status", box=None, padding=(0, 2), header_style="bold")
        for status, seen in sorted(tracked.status_seen.items(), key=lambda item: item[1]):
            timeline.add_row(_when(seen), _plain(status))
        parts += [Text("Timeline", style="bold underline"), timeline, Text()]
    if tracked.recent_errors:
        errors = Table("when", "kind", "message", box=None, padding=(0, 2), header_style="bold")
        for failure in reversed(tracked.recent_errors):
            errors.add_row(_when(failure.at), _plain(failure.kind), _plain(failure.message))
        parts += [Text("Recent query errors", style="bold underline"), errors, Text()]
    if tracked.request:
        parts += [Text("Created here with", style="bold underline"), _json(tracked.request), Text()]
    parts.append(Text("Raw answer", style="bold underline"))
    parts.append(_json(task.raw or task.api_fields()) if task else Text("no answer yet", style="dim"))
    return Group(*parts)


def _plain(text: str, style: str = "") -> Text:
    """Text from a server, a file or the user, shown as it is: no markup read in it, and nothing a
    terminal would act on (an escape sequence in an error once blanked half of this screen)."""
    return Text(printable(text), style=style)


def _json(data: object) -> Syntax:
    # Line by line: JSON's own line breaks stay; inside its strings a line break is already "\n".
    text = "\n".join(printable(line) for line in json.dumps(data, indent=2, ensure_ascii=False).split("\n"))
    return Syntax(text, "json", word_wrap=True, theme="ansi_dark")


class DetailsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    DetailsScreen { align: center middle; }
    DetailsScreen > VerticalScroll {
        width: 90%; height: 90%; border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("c", "app.copy_url", "Copy URL"),
        Binding("o", "app.open_video", "Open"),
        Binding("n", "app.run_again", "Run again"),
    ]

    def __init__(
        self,
        task_id: str,
        lookup: Callable[[str], TrackedTask | None],
        clock: Callable[[], float],
        transfer: Callable[[str], Transfer | None] = lambda task_id: None,
    ) -> None:
        super().__init__()
        self.task_id = task_id
        self._lookup = lookup
        self._clock = clock
        self._transfer = transfer

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="details")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).border_title = self.task_id
        self.refresh_details()
        self.set_interval(1.0, self.refresh_details)

    def refresh_details(self) -> None:
        tracked = self._lookup(self.task_id)
        details = self.query_one("#details", Static)
        if tracked is None:
            details.update(Text("This task is no longer tracked.", style="italic"))
        else:
            details.update(describe(tracked, self._clock(), self._transfer(self.task_id)))
