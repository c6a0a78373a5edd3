"""The dashboard: tracked tasks, live, with a key for everything a user does with them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, ComposeResult, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.color import Color, ColorParseError
from textual.containers import Container
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Input

from grokdash import core, desktop, spend
from grokdash.api import GrokClient, preload_transport
from grokdash.archive import (
    DEFAULT_OLDER_THAN,
    Archived,
    Plan,
    Selection,
    archive_path,
    choose,
    move_to_archive,
    open_archive,
)
from grokdash.batchjournal import Running, running_batches
from grokdash.batchrun import summary_lines
from grokdash.config import Settings, default_settings
from grokdash.downloads import Downloader
from grokdash.errors import AuthError, GrokdashError
from grokdash.logs import log_path
from grokdash.models import ACTIVE_STATUSES, Status, Task
from grokdash.poller import Outcome, Poller, PollPolicy, is_settled
from grokdash.rules import CreateRequest, request_problems
from grokdash.saver import Saver, saver_settings
from grokdash.savestate import MISSING, NOT_ON_DISK, OWED, describe, has_video, save_state
from grokdash.stats import compute as compute_stats
from grokdash.store import TaskStore
from grokdash.tracked import TrackedTask
from grokdash.tui import prefs
from grokdash.tui.contrast import readable
from grokdash.tui.details_text import SaveView, Transfer
from grokdash.tui.events import EventLog
from grokdash.tui.screens.add import AddIdsScreen
from grokdash.tui.screens.confirm import ConfirmScreen
from grokdash.tui.screens.copy import CopyChoice, CopyScreen, copy_choices
from grokdash.tui.screens.details import DetailsScreen
from grokdash.tui.screens.events import EventsScreen
from grokdash.tui.screens.help import HelpScreen
from grokdash.tui.screens.label import LabelScreen
from grokdash.tui.screens.new_task import NewTaskScreen
from grokdash.tui.screens.stats import StatsScreen
from grokdash.tui.view import (
    FILTER_FIELDS,
    Shown,
    SortOrder,
    ViewIndex,
    ViewOptions,
    filter_problems,
    status_counts,
)
from grokdash.tui.widgets.footer import FittingFooter
from grokdash.tui.widgets.summary import SummaryBar
from grokdash.tui.widgets.task_details import TaskDetails
from grokdash.tui.widgets.task_table import TaskTable

log = logging.getLogger(__name__)
FILTER_PLACEHOLDER = f"filter: words, or field:value ({', '.join(FILTER_FIELDS)}), e.g. saved:no"

CONNECTION_KINDS = frozenset({"network", "timeout"})
CONNECTION_FAILURES_SHOWN = 2
"""Connection failures in a row, with no answer between, that make the summary say so."""
NEWS_SECONDS = 1.0
"""Tasks finishing within this many seconds of each other share one pop-up; saves ending so too."""
SAVE_LOOK_SECONDS = 30.0
"""How often the dashboard looks at the disk for owed saves by itself: a failed save's retry is due, or
a saved file was deleted meanwhile (completions and other processes' changes are looked at at once)."""
NAMED_IN_TOAST = 5
"""Ids a pop-up names at most (then "…")."""
BATCH_LOOK_TICKS = 2
"""Every how many seconds the dashboard looks for batches being sent (a folder listing)."""
NO_COLOR_TWINS = {"ansi-dark": "textual-dark", "ansi-light": "textual-light"}
"""The truecolor theme each ANSI theme is drawn as under NO_COLOR (see `validate_theme`)."""
ARCHIVE_AFTER_DAYS = round(DEFAULT_OLDER_THAN / 86400)
"""The palette's archive takes the finished tasks that ended more than this many days ago (30, the default
of `grokdash archive --older-than`)."""
PANE_BESIDE_FROM = 150
"""Columns from which the details pane (placed `auto`) sits beside the list rather than under it: the
list keeps about 90, enough for its id, status, age and elapsed columns whole."""


@dataclass(frozen=True)
class DashboardConfig:
    """Everything the dashboard needs from outside: the user's settings as they were loaded, and the
    wiring (where the tasks and the client come from), so tests can build one around a simulator."""

    store: TaskStore | None
    """The tracked tasks; or None with `open_store`, to open them after the first frame."""
    make_client: Callable[[], GrokClient] | None
    """None when there is no API key: the dashboard shows the list but does not poll."""
    settings: Settings = field(default_factory=default_settings)
    """Interval, concurrency, keymap, downloads, notifications…: the same object every command gets."""
    save_videos: bool = True
    """False: `s` and the saving of owed videos are off (no download folder to write to)."""
    make_downloader: Callable[[], Downloader] = Downloader
    """The video downloader (tests reach a test host through their own)."""
    no_poll_reason: str | None = None
    subtitle: str = ""
    clock: Callable[[], float] = time.time
    notices: tuple[str, ...] = ()
    """Sentences to show once at start (a database moved aside, a config warning)."""
    start_polling: bool = True
    """False leaves the poller idle until a key asks for a round: for snapshots and key tests."""
    open_store: Callable[[], TaskStore] | None = None
    """Opens the task database in a worker thread once the screen is up: a big database then never
    keeps the dashboard from appearing."""

    @classmethod
    def of(cls, settings: Settings | None = None, **values: Any) -> DashboardConfig:
        """A config from keyword values: those naming a setting change `settings` (default: every
        setting at its default), the others are the wiring. `download_dir=None` turns saving off."""
        names = {item.name for item in fields(Settings)}
        changes = {name: value for name, value in values.items() if name in names}
        wiring = {name: value for name, value in values.items() if name not in names}
        save_videos = changes.get("download_dir") is not None
        changes = {
            name: value for name, value in changes.items() if value is not None or name != "download_dir"
        }
        chosen = replace(settings or default_settings(), **changes)
        return cls(settings=chosen, save_videos=save_videos, **wiring)


def _named(ids: list[str]) -> str:
    """The first few ids, and "…" when there are more."""
    return ", ".join(ids[:NAMED_IN_TOAST]) + (" …" if len(ids) > NAMED_IN_TOAST else "")


def _save_fields(tracked: TrackedTask) -> tuple[object, ...]:
    """What a record says about its video: a change of any of it changes the save state."""
    task = tracked.task
    return (
        tracked.status,
        task.video_url if task else None,
        tracked.local_file,
        tracked.saved_size,
        tracked.download_error,
    )


def _count(tasks: list[TrackedTask]) -> tuple[Counter[str], int]:
    backing_off = sum(1 for t in tasks if t.consecutive_errors and not is_settled(t))
    return status_counts(tasks), backing_off


class GrokdashApp(App[None]):
    TITLE = "grokdash"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (PANE_BESIDE_FROM, "-wide")]
    """The screen's width class: where the details pane placed `auto` sits (app.tcss)."""

    BINDINGS = [
        # Help and quit first: on a narrow terminal the footer is cut at the right (at 80 columns after
        # Untrack), and ? explains the rest.
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("a", "add", "Add", id="add"),
        Binding("n", "new_task", "New", id="new"),
        Binding("N", "run_again", "Run again", id="run_again", show=False),
        Binding("enter", "details", "Details", id="details"),
        Binding("c", "copy_url", "Copy", id="copy"),
        Binding("y", "copy_menu", "Copy…", id="copy_menu", show=False),
        Binding("s", "save", "Save", id="save"),
        Binding("o", "open_video", "Open", id="open"),
        Binding("d", "remove", "Untrack", id="remove"),
        Binding("v", "pane", "Pane", id="pane"),
        Binding("V", "pane_place", "Move pane", id="pane_place", show=False),
        Binding("u", "undo", "Undo", id="undo", show=False),
        Binding("l", "label", "Label", id="label", show=False),
        Binding("r", "poll", "Poll", id="poll", show=False),
        Binding("R", "poll_all", "Poll all", id="poll_all", show=False),
        Binding("p", "pause", "Pause", id="pause"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("t", "sort", "Sort", id="sort", show=False),
        Binding("T", "sort_reverse", "Reverse sort", id="sort_reverse", show=False),
        Binding("h", "hide_finished", "Hide done", id="hide_finished", show=False),
        Binding("f", "failed_only", "Failed", id="failed_only", show=False),
        Binding("escape", "clear", "Clear", show=False, id="clear"),
        Binding("e", "events", "Events", id="events", show=False),
        Binding("S", "stats", "Stats", id="stats", show=False),
    ]

    def __init__(self, config: DashboardConfig) -> None:
        super().__init__()
        self.config = config
        self.settings = config.settings
        self.download_dir: Path | None = config.settings.download_dir if config.save_videos else None
        """Where `s` and the saver put videos; None: saving is off."""
        if config.store is not None:
            self.store = config.store
        self.clock = config.clock
        self.options = ViewOptions()
        self.paused = False
        self.problem: str | None = None
        self._client: GrokClient | None = None
        self._poller: Poller | None = None
        self._wake = asyncio.Event()
        self._downloader: Downloader | None = None
        self.saver: Saver | None = None
        """Takes every owed save (with `auto_download`) and the `s` key's; None without a download folder
        or an API key."""
        self.save_looks = 0
        """Looks at the disk for owed saves done (tests wait on it)."""
        self._saved_news: list[tuple[str, Path]] = []
        self._failed_news: list[tuple[str, GrokdashError]] = []
        """Saves that ended since the last pop-up about saves (of those a pop-up tells: see _save_ended)."""
        self.saved_ids: set[str] = set()
        """Videos saved since the dashboard opened: the summary counts them (a save nobody asked for
        makes no pop-up; the events screen lists each). A set: `s` on a video already on disk ends
        in a save too, and must not count it again."""
        self._failure_told: set[str] = set()
        """Videos whose failure was said: a retry by itself that fails again is not said again."""
        self._asked: set[str] = set()
        """Videos `s` asked for whose end is not said yet (one another grokdash is saving is said to them
        only)."""
        self._not_on_disk: frozenset[str] = frozenset()
        """Finished videos not on disk, as of the last rebuild (the summary counts those not saving)."""
        self._opened = asyncio.Event()
        """Set once the task database is open."""
        self._undo: list[list[TrackedTask]] = []
        self._known_status: dict[str, str | None] = {}
        self._known_save: dict[str, tuple[object, ...]] = {}
        """What each record said about its video at the last look for another process's changes."""
        self.wake_seq = 0
        """How many times the poller was woken (a key, a change by another process)."""
        self._wake_taken = 0
        self.polled_through = 0
        """The last wake whose polling is done: what it asked for was sent and answered (tests wait on
        it; the summary does not show it)."""
        self.idle_passes = 0
        """Times the poller had nothing in flight and nothing waiting: the first means the first round
        of answers is in."""
        self._shown_version = -1
        """The store's version the table's order, filter and counts were last computed from."""
        self._connection_failures = 0
        """Connection failures (network, timeout) since the last answer."""
        self._news: list[TrackedTask] = []
        """Tasks that finished since the last pop-up."""
        self._counts_cache: tuple[int, Counter[str], int] | None = None
        self._view_index = ViewIndex()
        """What the view derives from all the tasks, kept up to date by each rebuild (in its thread)."""
        self._footer_state: tuple[bool | None, ...] = ()
        self.sub_title = config.subtitle
        self.crash: str | None = None
        self.clipboard_problem: str | None = None
        """Why a copy may not reach the terminal's clipboard (tmux without set-clipboard on), or None."""
        self._clipboard_told = False
        self.events = EventLog()
        """What happened since the dashboard opened (`e`): every pop-up's news, one line each."""
        self._problem_logged: str | None = None
        self.batches: list[Running] = []
        """The batches another grokdash is sending now (`grokdash batch`), as of the last look."""
        self._batch_look = 0
        self.pane_shown = False
        """The details pane (v) is open: it shows the selected task, beside or under the list."""
        self.pane_place = "auto"
        """Where it sits (V moves it): `right`, `bottom`, or `auto` by the terminal's width."""
        """The sentence for the terminal after an unexpected error stopped the dashboard."""

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Textual's notify, with markup off: messages carry ids, labels and the server's words, which
        are shown as they are ("[b]" in an id is not bold)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    # ---- an unexpected error -------------------------------------------------------------------------

    # Private, but Textual 8.2 has no public hook for an unhandled error; tests/tui/test_crash.py guards it.
    def _handle_exception(self, error: Exception) -> None:
        # Textual's own handling prints a traceback with local variables (which may hold the key) on the
        # terminal. It goes to the log file instead, through the formatter that masks the key.
        log.error("the dashboard stopped on an unexpected error", exc_info=error)
        super()._handle_exception(error)

    # Private, but the only way to keep Textual's traceback off the terminal; test_crash.py guards it.
    def _fatal_error(self) -> None:
        self.bell()
        self.crash = (
            f"grokdash stopped on an unexpected error ({type(self._exception).__name__}); every "
            f"tracked task is kept, and the details are in {log_path()}"
        )
        self.panic()  # closes the app, with nothing for Textual to print: `run` says what happened

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Run the dashboard; after an unexpected error, say so in one line (on standard error, plain
        and unwrapped, so the log file's path can be copied whole)."""
        result = super().run(*args, **kwargs)
        if self.crash is not None:
            print(self.crash, file=sys.stderr)
        return result

    # ---- layout -----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield SummaryBar(id="summary")
        with Container(id="workspace"):
            table = TaskTable(id="tasks", clock=self.clock)
            table.saved_cell = self.saved_cell
            yield table
            yield TaskDetails(self._lookup, self.clock, self.save_view, id="pane", empty="No task selected.")
        yield Input(placeholder=FILTER_PLACEHOLDER, id="filter")
        yield FittingFooter()

    @property
    def table(self) -> TaskTable:
        return self.query_one(TaskTable)

    @property
    def pane(self) -> TaskDetails:
        return self.query_one("#pane", TaskDetails)

    def _lookup(self, task_id: str) -> TrackedTask | None:
        return self.store.get(task_id) if self.ready else None

    @property
    def ready(self) -> bool:
        """Whether the task database is open (see DashboardConfig.open_store)."""
        return hasattr(self, "store")

    async def on_mount(self) -> None:
        self._apply_prefs()
        if self.settings.keymap:
            self._apply_keymap(self.settings.keymap)
        self.table.focus()
        for notice in self.config.notices:
            self.notify(notice, severity="warning", timeout=15)
        if self.ready:
            self._opened.set()
            await self._start()
        else:
            self.table.empty_message = "Opening the task database…"
            self.update_summary()
            self.call_after_refresh(self.open_store)

    _prefs: prefs.Prefs | None = None
    """The view as last remembered (prefs.py); None until `_apply_prefs` has restored it."""

    def _apply_prefs(self) -> None:
        """The view the user left: sort, hide-finished, failed-only, the details pane; the theme
        setting, else the remembered theme."""
        remembered = prefs.load()
        self.options = replace(remembered.view, filter_text=self.options.filter_text)
        self.pane_shown, self.pane_place = remembered.pane, remembered.pane_place
        self._place_pane()
        theme = self.settings.theme or remembered.theme
        if theme is not None:
            if theme in self.available_themes:
                self.theme = theme
            else:  # a theme of another Textual version: the default, and no word on screen
                log.info("remembered theme %r is not one of Textual's: the default is used", theme)
        self._prefs = remembered

    def get_css_variables(self) -> dict[str, str]:
        """The theme's variables, and `$readable-footer`: its text colour, moved where it must be to read
        at MIN_CONTRAST on the footer (atom-one-dark's own text is 3.4:1 on its panel)."""
        variables = super().get_css_variables()
        text, background = variables.get("foreground", ""), variables.get("footer-background", "")
        shown = text or "ansi_default"
        if not (text.startswith("ansi_") or background.startswith("ansi_")):  # ANSI: the terminal's own
            with contextlib.suppress(ColorParseError):
                fore, back = Color.parse(text), Color.parse(background)
                if self.no_color:  # the greys Textual's NO_COLOR filter will draw them as
                    fore, back = fore.monochrome, back.monochrome
                shown = readable(fore, back).hex
        variables["readable-footer"] = shown
        return variables

    def validate_theme(self, theme: str) -> str:
        """With NO_COLOR, an ANSI theme is drawn as its truecolor twin: Textual picks its NO_COLOR filter
        once, for the theme it starts with, and that filter turns ANSI colours black (the summary and the
        footer read black on black). No colour shows either way; only the greys differ."""
        if self.no_color and theme in NO_COLOR_TWINS:
            log.info("NO_COLOR: theme %s is drawn as %s", theme, NO_COLOR_TWINS[theme])
            return NO_COLOR_TWINS[theme]
        return theme

    def watch_theme(self, theme: str) -> None:
        """A theme chosen here (ctrl+p) is remembered; one the theme setting imposed is not."""
        self._remember(theme=theme)

    def _remember(self, *, theme: str | None = None) -> None:
        """Keep the view (and `theme`, when one was just chosen) for the next start, if it changed."""
        if self._prefs is None:
            return
        now = prefs.Prefs(
            theme=theme or self._prefs.theme,
            view=replace(self.options, filter_text=""),
            pane=self.pane_shown,
            pane_place=self.pane_place,
        )
        if now != self._prefs:
            prefs.save(now)
            self._prefs = now

    def action_help_quit(self) -> None:
        """ctrl+c: Textual's hint, in plain text (notify here has markup off, so its `[b]` showed)."""
        for key, active in self.active_bindings.items():
            if active.binding.action in ("quit", "app.quit"):
                self.notify(f"Press {key} to quit.", title="Do you want to quit?")
                return

    def _open_and_read(self) -> TaskStore:
        """In a worker thread: open the database and build every record (at 100,000 tasks about a
        second, which the event loop must not wait for; a record that cannot be built is said here)."""
        assert self.config.open_store is not None
        store = self.config.open_store()
        store.tasks()
        return store

    @work(group="open", exit_on_error=False)
    async def open_store(self) -> None:
        assert self.config.open_store is not None
        try:
            store = await asyncio.to_thread(self._open_and_read)
        except Exception as error:  # an unreadable or locked database: say so, stay up
            log.exception("opening the task database failed")
            self.problem = getattr(error, "message", None) or str(error)
            self.table.empty_message = "The task database could not be opened (see the line above)."
            self.table.refresh()
            self.update_summary()
            return
        self.store = store
        self._opened.set()
        for notice in store.notices:
            self.notify(notice, severity="warning", timeout=15)
        self.table.empty_message = TaskTable.EMPTY_MESSAGE
        await self._start()

    async def _start(self) -> None:
        """The database is open: show it, then start polling and the clock."""
        self.check_clipboard()
        self._known_status = {tracked.id: tracked.status for tracked in self.store.tasks()}
        self._known_save = {tracked.id: _save_fields(tracked) for tracked in self.store.tasks()}
        await self.rebuild()
        # The records live as long as the dashboard: keep the collector from walking them again and
        # again (a full collection over 10,000 tasks stalls the screen for tens of milliseconds).
        gc.freeze()
        if self.config.make_client is not None:
            self._client = self.config.make_client()
            if self.download_dir is not None:
                self._downloader = self.config.make_downloader()
                self.saver = Saver(
                    self.store,
                    self._client,
                    self._downloader,
                    saver_settings(self.settings, self.download_dir),
                    clock=self.clock,
                    on_change=self._saves_changed,
                    on_done=self._save_ended,
                    on_notice=self._save_notice,
                    on_busy=self._save_busy,
                )
            self._poller = Poller(
                self._client.get_task,
                self.store,
                policy=PollPolicy(interval=self.settings.interval),
                concurrency=self.settings.concurrency,
                clock=self.clock,
                on_outcome=self.on_outcome,
            )
            if self.config.start_polling:
                self.call_after_refresh(self.poll_forever)  # the first frame does not wait for a round
        self.set_interval(1.0, self.tick)
        if self.saver is not None:
            # Owed saves of an earlier run: tasks added already completed, a partial file of a save cut
            # short, a completion another process saw while the dashboard was closed.
            self.look_for_saves()
            self.set_interval(SAVE_LOOK_SECONDS, self.look_for_saves)
        self.update_summary()
        self.refresh_footer()

    async def on_unmount(self) -> None:
        if self.saver is not None:
            await self.saver.aclose()  # running saves stop; their partial files stay, for a resume
        if self._downloader is not None:
            await self._downloader.aclose()
        if self._client is not None:
            await self._client.aclose()

    def _apply_keymap(self, keymap: dict[str, str]) -> None:
        known = {binding.id for binding in self.BINDINGS if isinstance(binding, Binding) and binding.id}
        known |= {binding.id for binding in TaskTable.BINDINGS if isinstance(binding, Binding) and binding.id}
        unknown = sorted(set(keymap) - known)
        if unknown:
            self.notify(
                f"keymap: no action called {', '.join(unknown)} (see ? for the ids)", severity="warning"
            )
        self.set_keymap({name: keys for name, keys in keymap.items() if name in known})

    # ---- the view ---------------------------------------------------------------------------------

    async def rebuild(self) -> None:
        """Recompute which tasks show, in which order, and the counts, off the event loop, then hand the
        result to the table. One rebuild runs at a time: a call while one runs waits for it, and when it
        ends one more runs for everything asked meanwhile. Nine keys pasted into the filter cost two
        rebuilds, not nine, and the last shows the last text."""
        self._rebuild_wanted = True
        if self._rebuilding is not None:
            await asyncio.shield(self._rebuilding)
            return
        done = self._rebuilding = asyncio.get_running_loop().create_future()
        try:
            shown_for = None
            while self._rebuild_wanted and self._view_inputs() != shown_for:
                self._rebuild_wanted = False
                shown_for = self._view_inputs()
                await self._rebuild_once()
        finally:
            self._rebuilding = None
            done.set_result(None)

    _rebuilding: asyncio.Future[None] | None = None
    """Resolved when the running rebuild (and the ones asked for meanwhile) is done; None when none runs."""
    _rebuild_wanted = False
    """Something changed since the running rebuild began: it runs once more."""

    def _view_inputs(self) -> tuple[object, ...]:
        """What a rebuild's result follows from: a pass asked for when none of it changed would show the
        same (keys typed while a rebuild begins ask again for what it already takes)."""
        disk = self.saver.disk_version if self.saver is not None else None
        return (self.options, self.store.version if self.ready else None, disk)

    async def _rebuild_once(self) -> None:
        options, now = self.options, self.clock()
        version, shown, medians, counts = await asyncio.to_thread(self._compute_view, options, now)
        if options != self.options:  # the user changed the view meanwhile: dropped, the next pass shows it
            self._rebuild_wanted = True
            return
        self._counts_cache = (version, counts[0], counts[1])
        self._not_on_disk = counts[2]
        self._shown_version = version
        if not shown.rows and sum(counts[0].values()):  # tasks tracked, none shown: the view hides them
            self.table.empty_message = "No task matches what the view shows (escape clears the filter)."
        elif self.table.empty_message != TaskTable.EMPTY_MESSAGE and self.ready:
            self.table.empty_message = TaskTable.EMPTY_MESSAGE
        self.table.sort = (str(options.sort), options.descending)
        self.table.set_rows(shown, medians)
        self.update_summary()
        self.refresh_footer()

    def _compute_view(
        self, options: ViewOptions, now: float
    ) -> tuple[int, Shown, dict[str, float], tuple[Counter[str], int, frozenset[str]]]:
        """In a worker thread: everything the screen derives from all the tasks at once, from the index,
        which looks only at the records that changed since the last rebuild (and the order again only when
        the sort or a record's place in it changed): a keystroke costs a pass of the filter over the kept
        order, not a sort of every task."""
        version = self.store.version
        index = self._view_index
        disk = self.saver.disk_version if self.saver is not None else None
        if not index.follows(version, disk):  # (a keystroke or a sort asks nothing of the store)
            index.update(self.store.tasks(), disk, self.save_state, version)
        medians = index.medians()
        counts = (Counter(index.counts), index.backing_off, index.not_on_disk())
        if self._poller is not None:
            # A poller not running yet works its next due time out from every task, remembered per version
            # of them: here, in the thread, so the summary's `polling_state` after this finds it remembered.
            self._poller.next_wake(now)
        return version, index.shown(options, now, medians, self.save_state), medians, counts

    def _count(self, tasks: list[TrackedTask]) -> tuple[Counter[str], int, frozenset[str]]:
        """Tasks per status, how many are backing off, and the finished videos not on disk."""
        counts, backing_off = _count(tasks)
        not_on_disk = frozenset(t.id for t in tasks if self.save_state(t) in NOT_ON_DISK)
        return counts, backing_off, not_on_disk

    def update_summary(self) -> None:
        if not self.ready:
            self.query_one(SummaryBar).show(Counter(), 0, "opening the task database…", self.problem)
            return
        problem = self.current_problem()
        self._log_problem(problem)
        self.query_one(SummaryBar).show(
            self._counts()[0],
            len(self.table.rows),
            self.polling_state(),
            problem,
            self.view_state(),
        )

    def _log_problem(self, problem: str | None) -> None:
        """The events list gets each new problem of the summary line, and its end."""
        if problem == self._problem_logged:
            return
        if problem is not None:
            self.events.add(self.clock(), "problem", None, problem)
        else:
            self.events.add(self.clock(), "fixed", None, f"no longer: {self._problem_logged}")
        self._problem_logged = problem

    def current_problem(self) -> str | None:
        """The one thing wrong that the summary says: the key or the connection, else polling itself,
        else the database (answers are then kept in memory until it can be written)."""
        if self.problem:
            return self.problem
        poller = self._poller
        if poller is not None and poller.step_error is not None:
            return f"polling failed: {poller.step_error.message}"
        if poller is not None and poller.store_error is not None:
            kept = self.store.unsaved
            return f"not saved ({kept} kept in memory): {poller.store_error.message}"
        return None

    def _counts(self) -> tuple[Counter[str], int]:
        """Tasks per status, and how many are backing off after errors, as of the last rebuild (every
        change of the tasks leads to one; the summary is redrawn every second)."""
        if self._counts_cache is None:
            counts, backing_off, self._not_on_disk = self._count(self.store.tasks())
            self._counts_cache = (self.store.version, counts, backing_off)
        return self._counts_cache[1], self._counts_cache[2]

    def polling_state(self) -> str:
        if self._poller is None:
            return f"polling off: {self.config.no_poll_reason or 'no API key'}"
        if self.paused:
            return "paused · p resumes · r asks now"
        now = self.clock()
        if (left := self._poller.rate_limit_left()) is not None:
            return f"rate limited · waiting {left:.0f} s"
        wake = self._poller.next_wake(now)
        if wake is None:
            return "every task is final"
        state = f"polling every {self.settings.interval:g} s · next in {max(0.0, wake - now):.0f} s"
        if self._poller.in_flight:  # a long round: say it is still waiting, and how fresh the news is
            state += f" · {self._poller.in_flight} waiting for an answer"
            if self._poller.last_answer_at is not None:
                ago = self._poller.monotonic() - self._poller.last_answer_at
                state += f", last answer {ago:.0f} s ago"
        if self._poller.pacer.pace is not None:  # why answers now come in small batches
            state += f" · paced to {self._poller.pacer.pace.describe()}"
        backing_off = self._counts()[1]
        return state + (f" · {backing_off} backing off" if backing_off else "")

    def view_state(self) -> str:
        """What narrows or orders the table, when it is not the default; videos being saved, and the
        finished ones not on disk that nothing is saving now."""
        parts = [self._batch_state(batch) for batch in self.batches]
        saver = self.saver
        busy: set[str] = set()
        if saver is not None and saver.busy:
            busy = saver.queued | saver.progress.keys()
            queued = len(saver.queued)
            if saver.running:
                parts.append(f"saving {saver.running}" + (f", {queued} queued" if queued else ""))
            elif queued:  # (a save that just ended is neither: nothing to say)
                parts.append(f"{queued} queued to save")
        if self.saved_ids:
            parts.append(f"{len(self.saved_ids)} saved")
        if not_saved := len(self._not_on_disk) - len(busy & self._not_on_disk):  # not a walk of 90,000 ids
            parts.append(f"{not_saved} not on disk")
        if self.options.filter_text:
            parts.append(f"filter “{self.options.filter_text}”")
            parts.extend(filter_problems(self.options.filter_text))
        if self.options.hide_finished:
            parts.append("finished hidden")
        if self.options.failed_only:
            parts.append("failed only")
        if self.options != replace(self.options, sort=SortOrder.STATUS, reverse=False):
            parts.append(f"by {self.sort_text()}")
        return " · ".join(parts)

    async def look_for_batches(self) -> None:
        """Which batches another grokdash is sending now, for the summary line."""
        try:
            self.batches = await asyncio.to_thread(running_batches)
        except OSError:  # an unreadable state folder: no batch to show, never a crash
            self.batches = []

    def _batch_state(self, batch: Running) -> str:
        """`batch beach: 12/40 sent, 4 active`."""
        active = sum(
            1 for task_id in batch.created if (t := self.store.get(task_id)) is not None and not is_settled(t)
        )
        return f"batch {batch.name}: {batch.sent}/{batch.total} sent, {active} active"

    async def tick(self) -> None:
        """Once a second: pick up other processes' changes, and let the live cells tick."""
        self._batch_look += 1
        if self._batch_look % BATCH_LOOK_TICKS == 1:
            await self.look_for_batches()
        try:
            changed = await asyncio.to_thread(self.store.refresh)
        except Exception as error:  # a database trouble is shown, never a crash
            log.exception("refreshing the task database failed")
            self.problem = str(error)
            changed = False
        try:
            if changed:
                # Every task: in a thread (with notify off it only remembers each status).
                await asyncio.to_thread(self._note_new_statuses, self.store.tasks(), notify=False)
                await self.rebuild()
                gc.freeze()
                self.wake_poller()
                # Another process's change: a task it saw complete is owed here too; one it saved, or a
                # file it recorded, changes what the disk says. Those tasks only: `watch` writes every
                # second, and the disk of 10,000 tasks is looked at every SAVE_LOOK_SECONDS anyway.
                if self.saver is not None:
                    changed_videos = await asyncio.to_thread(self._changed_videos)
                    if changed_videos:
                        self.look_for_saves(changed_videos)
            elif self.store.version != self._shown_version:  # answers came: order and counts catch up
                await self.rebuild()
            else:
                self.table.refresh_running()
                self.update_summary()
        except (NoMatches, ScreenStackError):  # the dashboard closed while the file was checked
            return

    # ---- polling ----------------------------------------------------------------------------------

    @work(exclusive=True, group="poll", exit_on_error=False)
    async def poll_forever(self) -> None:
        """Poll while the dashboard is open: each answer is shown as it arrives (`on_outcome`); a failure
        is shown in the summary and polling goes on, waiting longer each time."""
        assert self._poller is not None
        await asyncio.to_thread(preload_transport)
        await self._poller.run(
            refresh=False,  # the once-a-second tick looks for other processes' changes and wakes us
            is_paused=lambda: self.paused,
            wake=self._wake,
            on_idle=self._poller_idle,
            on_wake=self._poller_woke,
        )

    def _poller_woke(self) -> None:
        self._wake_taken = self.wake_seq

    def _poller_idle(self) -> None:
        """Nothing in flight: what every wake so far asked for is done, once the table shows it."""
        self.idle_passes += 1
        self._announce_news()  # the round is over: say now what it brought
        done = self._wake_taken
        if self.store.version != self._shown_version:
            self._show_then_mark(done)
        else:
            self.polled_through = max(self.polled_through, done)
            self.update_summary()

    @work(group="view", exit_on_error=False)
    async def _show_then_mark(self, done: int) -> None:
        await self.rebuild()
        self.polled_through = max(self.polled_through, done)

    def on_outcome(self, outcome: Outcome) -> None:
        """One answer (or failed query), the moment it came: its row, the news, what the summary says."""
        after, error = outcome.after, outcome.error
        try:
            table = self.table
        except (NoMatches, ScreenStackError):  # an answer that came as the app closed: no screen now
            return
        table.update_rows([after])
        self._note_new_statuses([after], notify=True)
        if self.saver is not None and has_video(after) and not has_video(outcome.before):
            self.look_for_saves([after])  # it just completed: owed a save, however it was first seen
        if isinstance(error, AuthError):
            self.paused = True
            self.problem = f"{error.message}: polling paused (p resumes)"
        elif error is not None and error.kind in CONNECTION_KINDS:
            # The summary's one line once it is not one slow task among answers that still come (that
            # one shows in its row).
            self._connection_failures += 1
            if self._connection_failures >= CONNECTION_FAILURES_SHOWN or self.no_answer_yet():
                self.problem = error.message
        elif error is None:
            self._connection_failures = 0
            if not self.paused:
                self.problem = None

    def no_answer_yet(self) -> bool:
        """No task has had an answer yet (every query so far failed)."""
        return self._poller is None or self._poller.last_answer_at is None

    def _note_new_statuses(self, tasks: Iterable[TrackedTask], *, notify: bool) -> None:
        finished = []
        for tracked in tasks:
            before = self._known_status.get(tracked.id)
            self._known_status[tracked.id] = tracked.status
            # Only what finished while we watched: a task first seen finished is no news.
            if notify and before in ACTIVE_STATUSES and tracked.status in (Status.COMPLETED, Status.FAILED):
                finished.append(tracked)
                failed = tracked.status == Status.FAILED
                detail = (tracked.task.error if failed and tracked.task else None) or tracked.label or ""
                self.events.add(self.clock(), "failed" if failed else "completed", tracked.id, detail)
        if finished:
            # One pop-up for what finished close together, not one each: forty completions in a few
            # seconds would cover the table.
            if not self._news:
                self.set_timer(NEWS_SECONDS, self._announce_news)
            self._news.extend(finished)

    def _announce_news(self) -> None:
        news, self._news = self._news, []
        if news:
            self.announce(news)

    def announce(self, finished: list[TrackedTask]) -> None:
        failed = [t for t in finished if t.status == Status.FAILED]
        if len(finished) == 1:
            tracked = finished[0]
            name = tracked.label or tracked.id
            if failed:
                title, body = f"✘ {name} failed", (tracked.task.error if tracked.task else None) or ""
            else:
                title, body = f"✔ {name} completed", "c copies its URL, o opens it"
        else:
            counts = [(len(finished) - len(failed), "completed"), (len(failed), "failed")]
            title = ", ".join(f"{count} {word}" for count, word in counts if count)
            body = ", ".join(t.label or t.id for t in finished[:5])
        self.notify(body or title, title=title, severity="error" if failed else "information")
        if self.settings.bell:
            self.bell()
        if self.settings.desktop_notifications:
            desktop.notify_desktop(f"grokdash: {title}", body)

    def wake_poller(self) -> int:
        """Wake the poller now (a key, another process's change); returns this wake's number."""
        self.wake_seq += 1
        self._wake.set()
        return self.wake_seq

    # ---- saving videos ----------------------------------------------------------------------------

    @work(group="saves", exit_on_error=False)
    async def look_for_saves(self, tasks: list[TrackedTask] | None = None) -> None:
        """Look at the disk for these tasks (all by default) and, with `auto_download`, start every save
        they are owed; without it, only bring what the SAVED column says up to date (`s` saves)."""
        saver = self.saver
        if saver is None:
            return
        try:
            seen = saver.disk_version
            await saver.look(tasks, take=self.settings.auto_download)
            if tasks is None and saver.disk_version != seen:
                # Every task's state, and the count of videos not on disk with them: redone only when
                # the disk said something new (this runs every 30 s, over every task).
                await self.rebuild()
            elif tasks is None:
                self.update_summary()
            else:
                self._recount(tasks)
                self.table.refresh()
                self.update_summary()
                self.refresh_footer()
        except (NoMatches, ScreenStackError):  # the dashboard closed meanwhile
            return
        except Exception:  # a look that fails is tried again at the next; the dashboard stays up
            log.exception("looking for videos owed a save failed")
        finally:
            self.save_looks += 1

    def _changed_videos(self) -> list[TrackedTask]:
        """The tasks whose record says something new about their video since the last call (in a worker
        thread: it reads every record)."""
        changed = []
        for tracked in self.store.tasks():
            fields = _save_fields(tracked)
            if self._known_save.get(tracked.id) != fields:
                self._known_save[tracked.id] = fields
                changed.append(tracked)
        return changed

    def save_state(self, tracked: TrackedTask) -> str | None:
        """Where its video stands (`savestate`), as of the saver's last look at the disk."""
        return save_state(tracked, None) if self.saver is None else self.saver.state(tracked)

    def saved_cell(self, tracked: TrackedTask) -> str:
        """The SAVED column: `queued`, `42%` while saving, else the state (`partial 43%`, `missing`…)."""
        saver = self.saver
        if saver is None:
            return describe(save_state(tracked, None), None)
        return saver.cell(tracked) or describe(saver.state(tracked), saver.disk.get(tracked.id))

    def save_view(self, tracked: TrackedTask) -> SaveView:
        """What the details screen says about saving this task's video."""
        saver = self.saver
        progress = saver.progress.get(tracked.id) if saver is not None else None
        transfer = Transfer(progress.done, progress.total, progress.seconds) if progress else None
        sidecar = saver is not None and saver.settings.sidecar
        return SaveView(self.save_state(tracked), self.saved_cell(tracked), transfer, sidecar)

    @property
    def saving(self) -> dict[str, str]:
        """The videos this dashboard is saving, with what their SAVED cell says ("queued", "42%")."""
        saver = self.saver
        if saver is None:
            return {}
        shown = dict.fromkeys(saver.queued, "queued")
        shown.update((task_id, progress.cell()) for task_id, progress in saver.progress.items())
        return shown

    def _can_save(self, tracked: TrackedTask) -> bool:
        return bool(tracked.task and tracked.task.video_url) or self.save_state(tracked) in (MISSING, OWED)

    def _recount(self, tasks: Iterable[TrackedTask]) -> None:
        """The videos not on disk, for these tasks, between rebuilds (which count every task)."""
        not_on_disk = set(self._not_on_disk)
        for tracked in tasks:
            if self.save_state(tracked) in NOT_ON_DISK:
                not_on_disk.add(tracked.id)
            else:
                not_on_disk.discard(tracked.id)
        self._not_on_disk = frozenset(not_on_disk)

    def _saves_changed(self) -> None:
        """The saver queued, moved on or ended a save: redraw the SAVED cells and the summary."""
        try:
            self.table.refresh()
            self.update_summary()
            self.refresh_footer()
        except (NoMatches, ScreenStackError):  # closing
            return

    def _save_ended(self, task_id: str, result: Path | GrokdashError) -> None:
        """A save ended: its row shows the record as it is now, the summary counts it, and the news waits
        a moment for others (one pop-up for the saves that end close together). A pop-up says a save
        `s` asked for, and a failure; a save the dashboard took by itself is counted, not announced:
        forty completions would otherwise bring forty pop-ups about saves."""
        fresh = self.store.get(task_id)
        if fresh is not None:
            try:
                self.table.update_rows([fresh])
            except (NoMatches, ScreenStackError):
                return
            self._recount([fresh])
        asked = task_id in self._asked
        self._asked.discard(task_id)
        quiet = not (self._saved_news or self._failed_news)
        self.events.add(
            self.clock(),
            "saved" if isinstance(result, Path) else "not saved",
            task_id,
            str(result) if isinstance(result, Path) else result.message,
        )
        if isinstance(result, Path):
            self._failure_told.discard(task_id)
            self.saved_ids.add(task_id)
            if asked:  # `s` was pressed for it: its end is said; the others are counted in the summary
                self._saved_news.append((task_id, result))
        elif asked or task_id not in self._failure_told:
            # A retry by itself that fails the same way again is not news: the row says "failed".
            self._failure_told.add(task_id)
            self._failed_news.append((task_id, result))
        if quiet and (self._saved_news or self._failed_news):
            self.set_timer(NEWS_SECONDS, self._announce_saves)
        self._saves_changed()  # the summary's count

    def _save_busy(self, task_id: str) -> None:
        """Another grokdash is saving it (and records the file): news only to whoever pressed s."""
        if task_id in self._asked:
            self._asked.discard(task_id)
            self.notify(
                f"another grokdash is saving the video of {task_id} right now; its row shows it when done",
                title="Saving elsewhere",
                severity="warning",
            )

    def _announce_saves(self) -> None:
        saved, self._saved_news = dict(self._saved_news), []
        failed, self._failed_news = dict(self._failed_news), []
        if len(saved) == 1:
            ((task_id, path),) = saved.items()
            self.notify(str(path), title=f"Saved {task_id}")
        elif saved:
            self.notify(_named(list(saved)), title=f"Saved {len(saved)} videos")
        if len(failed) == 1:
            ((task_id, error),) = failed.items()
            self.notify(error.message, title=f"Not saved: {task_id}", severity="error", timeout=15)
        elif failed:
            shown = list(failed.items())[:NAMED_IN_TOAST]
            lines = [f"{task_id}: {error.message}" for task_id, error in shown]
            if len(failed) > NAMED_IN_TOAST:
                lines.append(f"… and {len(failed) - NAMED_IN_TOAST} more")
            title = f"{len(failed)} videos not saved"
            self.notify("\n".join(lines), title=title, severity="error", timeout=15)

    def _save_notice(self, sentence: str) -> None:
        """Once: the on_saved program could not be started."""
        self.notify(sentence, title="on_saved", severity="warning", timeout=15)

    # ---- actions: the keys ------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Greys out in the footer what cannot apply to the selected task."""
        try:
            return self._action_state(action)
        except NoMatches:  # closing: the table is already gone
            return False

    def _action_state(self, action: str) -> bool | None:
        if action in ("focus_next", "focus_previous", "command_palette"):
            return True  # tab, shift+tab and ctrl+p work everywhere: in every dialog, before the database
        if not self.ready:
            # Adding can start at once: the dialog's ids go in once the database is open.
            return action in ("add", "quit", "help")
        if len(self.screen_stack) > 1:
            # A dialog is open: its keys are its own (tab moves between its fields and buttons);
            # details borrows copy and open, for its task.
            if not isinstance(self.screen, DetailsScreen):
                return False
            if action == "run_again":  # greyed out for a task not created here
                shown = self.store.get(self.screen.task_id)
                return True if shown is not None and shown.request else None
            return action in ("copy_url", "copy_menu", "open_video")
        selected = self._selected()
        if action == "copy_url":
            return True if any(t.task and t.task.video_url for t in self._targets()) else None
        if action == "copy_menu":
            return True if self._targets() else None
        if action == "save":
            can = self.saver is not None and any(self._can_save(t) for t in self._targets())
            return True if can else None
        if action == "open_video":
            has = selected is not None and (
                selected.local_file or (selected.task and selected.task.video_url)
            )
            return True if has else None
        if action in ("details", "remove", "label", "poll"):
            return True if selected is not None else None
        if action == "undo":
            return True if self._undo else None
        if action == "new_task":
            return True if self._client is not None else None
        if action == "run_again":  # the selected task, or every marked one created here
            return True if any(t.request for t in self._targets()) else None
        if action in ("poll_all", "pause"):
            return True if self._poller is not None else None
        return True

    def _selected(self) -> TrackedTask | None:
        try:
            return self.table.selected
        except Exception:  # before the table is mounted
            return None

    FOOTER_ACTIONS = ("copy_url", "save", "open_video", "details", "remove", "label", "poll", "undo")

    def refresh_footer(self) -> None:
        """Redraw the footer's keys only when one of them changed state: rebuilding it costs tens of
        milliseconds, and the cursor moves often."""
        try:
            state = tuple(self.check_action(action, ()) for action in self.FOOTER_ACTIONS)
            if state != self._footer_state:
                self._footer_state = state
                self.refresh_bindings()
        except (NoMatches, ScreenStackError):  # the dashboard is closing: its table or screens are gone
            return

    def on_task_table_cursor_moved(self, message: TaskTable.CursorMoved) -> None:
        self.refresh_footer()
        if self.pane_shown:
            self.pane.show(message.task_id)

    # ---- the details pane ---------------------------------------------------------------------------

    def _pane_beside(self) -> bool:
        if self.pane_place == "auto":
            return self.size.width >= PANE_BESIDE_FROM
        return self.pane_place == "right"

    def _place_pane(self) -> None:
        """Open or close the pane, beside the list or under it, as `pane_shown` and `pane_place` say."""
        body = self.query_one("#workspace")
        body.set_class(self.pane_shown, "-pane")
        for place in prefs.PANE_PLACES:  # `auto`: the screen's width class (-wide, -narrow) decides
            body.set_class(place == self.pane_place, f"-{place}")
        if self.pane_shown:
            self.pane.show(self._selected().id if self._selected() else None)
        elif self.focused is not None and self.pane in self.focused.ancestors_with_self:
            self.table.focus()  # a closed pane keeps no focus: the keys go back to the list

    def action_pane(self) -> None:
        """Open or close the details pane; it follows the cursor, and tab moves into it to scroll."""
        self.pane_shown = not self.pane_shown
        self._place_pane()
        self._remember()

    def action_pane_place(self) -> None:
        """Move the pane from beside the list to under it, or back (and open it, if it was closed)."""
        self.pane_place = "bottom" if self._pane_beside() else "right"
        self.pane_shown = True
        self._place_pane()
        self._remember()
        self.notify("Details beside the list." if self.pane_place == "right" else "Details under the list.")

    def _in_pane(self) -> bool:
        """The focus is on the pane: the keys act on the task it shows, not on the marked rows."""
        focused = self.focused
        return self.pane_shown and focused is not None and self.pane in focused.ancestors_with_self

    def _targets(self) -> list[TrackedTask]:
        """What a key that acts on tasks acts on: the task the pane shows, when it has the focus; else
        the marked rows, else the selected one."""
        if self._in_pane():
            shown = self.pane.shown
            return [shown] if shown is not None else []
        return self.table.targets()

    def on_task_table_activated(self, message: TaskTable.Activated) -> None:
        self.show_details(message.task_id)

    def action_details(self) -> None:
        if self._selected() is not None:
            self.show_details(self._selected().id)

    def show_details(self, task_id: str) -> None:
        self.push_screen(DetailsScreen(task_id, self.store.get, self.clock, self.save_view))

    def action_new_task(self, request: CreateRequest | None = None) -> None:
        if self._client is None:
            self.notify(f"Creating tasks needs an API key: {self.polling_state()}", severity="warning")
            return
        self.push_screen(NewTaskScreen(self.create_task, request, self.estimate), self._created)

    _day_spend: tuple[int, tuple[int, int, int], spend.DaySpend] | None = None
    """(store version, day, what that day's created tasks cost): the form asks at every key typed."""

    def estimate(self, request: CreateRequest) -> spend.Estimate | None:
        """What `request` would cost by the user's [prices], and the day's spend and budget; None when
        neither prices nor a budget are set (the form then says nothing of a price)."""
        settings = self.settings
        if not settings.prices and settings.budget_per_day is None:
            return None
        now = self.clock()
        key = (self.store.version, spend.day_of(now))
        if self._day_spend is None or self._day_spend[:2] != key:
            self._day_spend = (*key, spend.spent_on(self.store.tasks(), settings.prices, now))
        today = self._day_spend[2]
        return spend.Estimate(spend.request_price(request, settings.prices), today, settings.budget_per_day)

    def action_run_again(self) -> None:
        if not isinstance(self.screen, DetailsScreen) and len(self._targets()) > 1:
            self.run_marked_again(self._targets())
            return
        selected = self._selected()
        if selected is None or not selected.request:
            self.notify("Only tasks created here can be run again.", severity="warning")
            return
        try:
            request = CreateRequest.from_json(selected.request)
        except (KeyError, TypeError, ValueError):
            self.notify("The request this task was created with cannot be read.", severity="error")
            return
        if len(self.screen_stack) > 1:
            self.pop_screen()  # from the details screen
        self.action_new_task(request)

    def run_marked_again(self, targets: list[TrackedTask]) -> None:
        """Every marked task again, from its request: one question with what will be sent and what it
        costs (as `grokdash rerun` and `grokdash batch` sum it up), then each create, within the budget."""
        wanted = [(t, request) for t in targets if (request := spend.sent_request(t)) is not None]
        skipped = len(targets) - len(wanted)
        problems = [f"{t.id}: {p}" for t, request in wanted for p in request_problems(request)]
        if not wanted or problems:
            why = problems[0] if problems else "none of them was created here"
            self.notify(f"Nothing run again: {why}.", severity="warning")
            return
        lines = summary_lines(
            [request for _, request in wanted],
            self.settings.prices,
            self.settings.budget_per_day,
            self.store.tasks(),
            self.clock(),
        )
        count = len(wanted)
        head = f"Run {count} tasks again? Each is a new, billed task."
        if skipped:
            head += f" ({skipped} not created here are left out.)"
        question = "\n".join([head, *(line.strip() for line in lines)])

        def answered(yes: bool | None) -> None:
            if yes:
                self.send_again(wanted)

        self.push_screen(
            ConfirmScreen(question, yes=f"Create {count} (billed)", no="Back", safe_default=True), answered
        )

    @work(group="create", exit_on_error=False)
    async def send_again(self, wanted: list[tuple[TrackedTask, CreateRequest]]) -> None:
        assert self._client is not None
        made: list[str] = []
        for tracked, request in wanted:
            estimated = self.estimate(request)
            over = spend.budget_problem(estimated, request.model) if estimated is not None else None
            if over is not None:
                self.notify(
                    f"{tracked.id} not run again: {over}", title="Budget", severity="error", timeout=15
                )
                break
            try:
                task = await core.create_and_track(
                    self._client, self.store, request, label=tracked.label, clock=self.clock
                )
            except GrokdashError as error:
                self.notify(
                    f"{tracked.id}: {error.message}", title="Not run again", severity="error", timeout=15
                )
                continue
            self._known_status[task.id] = task.status
            made.append(task.id)
        if made:
            self.table.marked.clear()
            await self.rebuild()
            self.notify(_named(made), title=f"Created {len(made)} again")
            self.wake_poller()

    async def create_task(self, request: CreateRequest) -> Task:
        """Send the create request once and track the new task at once, with its request (the form shows
        what went wrong; a request that may have made a task is kept, as `grokdash new` keeps it)."""
        assert self._client is not None
        try:
            return await core.create_and_track(self._client, self.store, request, clock=self.clock)
        except core.CreatedNotTrackedError as error:
            # Paid for, and the id is on screen only: keep it where the user can find it.
            log.error("%s", error.message)
            self.notify(error.message, title=f"Created {error.task.id}", severity="error", timeout=60)
            raise

    async def _created(self, task: Task | None) -> None:
        if task is None:
            return
        self._known_status[task.id] = task.status
        await self.rebuild()
        self.table.select(task.id)
        self.notify(f"{task.id} ({task.status}); tracking it.", title="Created")
        self.wake_poller()

    def action_add(self) -> None:
        self.push_screen(AddIdsScreen(), self._added)

    def _added(self, ids: list[str] | None) -> None:
        if ids is not None:
            self.add_ids(ids)

    @work(group="add", exit_on_error=False)
    async def add_ids(self, ids: list[str]) -> None:
        """Track `ids`, in a worker: while the database is still opening they wait for it, and the
        screen does not. When the database cannot take them, the dialog opens again with them."""
        await self._opened.wait()
        if not ids:
            self.notify("No ids to add.", severity="warning")
            return
        try:
            outcome = await asyncio.to_thread(core.track, self.store, ids)
        except GrokdashError as error:
            self.push_screen(AddIdsScreen("\n".join(ids), problem=error.message), self._added)
            return
        if outcome.already:
            self.notify(f"Already tracked: {', '.join(outcome.already[:5])}", severity="warning")
        for _, refusal in outcome.refused:
            self.notify(refusal.message, title="Not added", severity="error", timeout=10)
        added = outcome.added
        if added:
            self.notify(f"Tracking {len(added)}: {', '.join(added[:5])}{' …' if len(added) > 5 else ''}")
            self._known_status.update(dict.fromkeys(added))
            await self.rebuild()
            self.table.select(added[0])
            self.wake_poller()

    def _copy_targets(self) -> tuple[list[TrackedTask], str]:
        """What a copy key acts on: the task the details screen shows, else the marked rows, else the
        selected one; and how to name them."""
        if isinstance(self.screen, DetailsScreen):
            shown = self.store.get(self.screen.task_id)
            return ([shown] if shown else []), f"task {self.screen.task_id}"
        targets = self._targets()
        if self._in_pane() and targets:
            return targets, f"task {targets[0].id}"
        return targets, (f"{len(targets)} marked tasks" if len(targets) > 1 else "the selected task")

    def action_copy_url(self) -> None:
        targets, _ = self._copy_targets()
        urls = [t.task.video_url for t in targets if t.task and t.task.video_url]
        if not urls:
            self.notify("No video URL yet: it comes when the task completes.", severity="warning")
            return
        self.copy_text("\n".join(urls), urls[0] if len(urls) == 1 else f"{len(urls)} URLs")

    def action_copy_menu(self) -> None:
        targets, of = self._copy_targets()
        if not targets:
            self.notify("Nothing to copy: no task is selected.", severity="warning")
            return

        def chosen(choice: CopyChoice | None) -> None:
            if choice is not None:
                self.copy_text(choice.text, choice.what)

        self.push_screen(CopyScreen(copy_choices(targets), of), chosen)

    def copy_text(self, text: str, what: str) -> None:
        """Put `text` on the clipboard (OSC 52, which works over SSH, and the system's where there is one)
        and say what was copied; inside a tmux that keeps copies to itself, say so once, with the fix."""
        self.copy_to_clipboard(text)
        self.copy_to_desktop(text)
        note = self.clipboard_problem
        if note and not self._clipboard_told:
            self._clipboard_told = True
            self.notify(f"{what}\n{note}", title="Copied, maybe", severity="warning", timeout=20)
        else:
            self.notify(what, title="Copied")

    @work(thread=True, group="clipboard", exit_on_error=False)
    def check_clipboard(self) -> None:
        """Whether a copy reaches the terminal's clipboard (tmux's set-clipboard), once, off the loop."""
        self.clipboard_problem = desktop.tmux_clipboard_problem()

    @work(thread=True, group="clipboard", exit_on_error=False)
    def copy_to_desktop(self, text: str) -> None:
        """The system clipboard too, where there is one; a stuck clipboard tool must not freeze the screen."""
        desktop.copy_to_system_clipboard(text)

    def action_save(self) -> None:
        saver = self.saver
        if saver is None:
            self.notify("Saving needs a download folder and an API key.", severity="warning")
            return
        targets = [t for t in self._targets() if self._can_save(t)]
        if not targets:
            self.notify("No video yet: it comes when the task completes.", severity="warning")
            return
        ids = [t.id for t in targets]
        self._asked.update(ids)
        self._failure_told.difference_update(ids)  # asked for: its end is news again
        started = saver.save_now(ids)  # an expired or failed one is tried again
        what = ids[0] if len(ids) == 1 else f"{len(ids)} videos"
        if started:
            self.notify(f"Saving {what} to {self.download_dir}.")
        else:
            self.notify(f"Already saving {what}.")

    async def action_quit(self) -> None:
        """Quit; with a prompt typed in the form and not sent, or with saves running, ask once first
        (the partial files of saves stay, for a resume)."""
        if isinstance(self.screen, ConfirmScreen):
            return  # asked already
        if any(isinstance(screen, NewTaskScreen) and screen.typed_prompt() for screen in self.screen_stack):

            def answered_form(quit_now: bool | None) -> None:
                if quit_now:
                    self.call_later(self._quit_unless_saving)

            question = "The prompt typed in the form is not sent. Quit and lose it?"
            self.push_screen(ConfirmScreen(question, yes="Quit", no="Stay", safe_default=True), answered_form)
            return
        await self._quit_unless_saving()

    async def _quit_unless_saving(self) -> None:
        busy = self.saver.busy if self.saver is not None else 0
        if not busy:
            self.exit()
            return
        if isinstance(self.screen, ConfirmScreen):
            return  # asked already
        auto = self.settings.auto_download
        assert self.saver is not None
        running, waiting = self.saver.running, busy - self.saver.running
        said = []
        if running:
            said.append("1 video is saving" if running == 1 else f"{running} videos are saving")
        if waiting and running:  # queued ones are not "saving": the number must mean what it says
            said.append("1 more is waiting" if waiting == 1 else f"{waiting} more are waiting")
        elif waiting:
            said.append(
                "1 video is waiting to save" if waiting == 1 else f"{waiting} videos are waiting to save"
            )
        what = " and ".join(said)
        if busy == 1:
            resume = "it resumes" if auto else "s resumes it"
        else:
            resume = "they resume" if auto else "s resumes them"

        def answered(quit_now: bool | None) -> None:
            if quit_now:
                self.exit()

        self.push_screen(ConfirmScreen(f"{what}; {resume} next time. Quit?", yes="Quit", no="Stay"), answered)

    def action_open_video(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        target, why_not = core.video_to_open(selected)
        if target is None:
            self.notify(why_not or "Nothing to open.", severity="warning")
            return
        problem = desktop.open_target(target, self.settings.player)
        if problem:
            self.notify(problem, severity="error")
        else:
            self.notify(target, title="Opening")

    def action_remove(self) -> None:
        targets = self._targets()
        if targets:
            self.untrack([t.id for t in targets])

    @work(group="store", exit_on_error=False)
    async def untrack(self, ids: list[str]) -> None:
        """In a worker: a database another process holds locked must not freeze the keys (q included)."""
        targets = ids
        try:
            removed = await asyncio.to_thread(core.untrack, self.store, targets)
        except GrokdashError as error:
            self.notify(error.message, title="Still tracked", severity="error", timeout=15)
            return
        if removed:
            self._undo.append(removed)
            self.table.marked.difference_update(ids)
            await self.rebuild()
            what = removed[0].id if len(removed) == 1 else f"{len(removed)} tasks"
            self.notify(f"Stopped tracking {what}. u undoes.", title="Untracked")

    def action_undo(self) -> None:
        if not self._undo:
            self.notify("Nothing to undo.")
            return
        self.restore(self._undo[-1])

    @work(group="store", exit_on_error=False)
    async def restore(self, records: list[TrackedTask]) -> None:
        try:
            await asyncio.to_thread(core.restore, self.store, records)
        except GrokdashError as error:
            self.notify(f"{error.message}; u tries again", title="Not undone", severity="error", timeout=15)
            return
        if self._undo and self._undo[-1] is records:
            self._undo.pop()
        await self.rebuild()
        self.table.select(records[0].id)
        self.notify(f"Tracking {len(records)} again.", title="Undone")

    def action_label(self) -> None:
        targets = self._targets()
        if not targets:
            return
        what = targets[0].id if len(targets) == 1 else f"{len(targets)} tasks"
        current = targets[0].label if len(targets) == 1 else None
        self.ask_label([t.id for t in targets], what, current)

    def ask_label(self, ids: list[str], what: str, current: str | None, problem: str | None = None) -> None:
        """The label dialog; when the label cannot be saved, it opens again with the text typed."""

        def save(text: str | None) -> None:
            if text is not None:
                self.save_label(ids, what, text)

        self.push_screen(LabelScreen(what, current, problem), save)

    @work(group="store", exit_on_error=False)
    async def save_label(self, ids: list[str], what: str, text: str) -> None:
        """In a worker, like every store write a key makes: the keys stay live while the disk is slow."""
        try:
            await asyncio.to_thread(core.label, self.store, ids, text)
        except GrokdashError as error:
            self.ask_label(ids, what, text, error.message)
            return
        await self.rebuild()

    def action_poll(self) -> None:
        if self._poller is None:
            self.notify(self.polling_state(), severity="warning")
            return
        targets = self._targets()
        self._poller.force(t.id for t in targets)
        self.wake_poller()
        self.notify(f"Asking about {targets[0].id if len(targets) == 1 else f'{len(targets)} tasks'} now.")

    def action_poll_all(self) -> None:
        if self._poller is None:
            self.notify(self.polling_state(), severity="warning")
            return
        unsettled = [t.id for t in self.store.tasks() if not is_settled(t)]
        self._poller.force(unsettled)
        self._poller.paused_until = None
        self.wake_poller()
        count = len(unsettled)
        self.notify(f"Asking about {'1 unfinished task' if count == 1 else f'{count} unfinished tasks'} now.")

    def action_pause(self) -> None:
        if self._poller is None:
            return
        self.paused = not self.paused
        if not self.paused:
            self.problem = None
            self.wake_poller()
        self.notify("Polling paused." if self.paused else "Polling resumed.")
        self.update_summary()

    def action_filter(self) -> None:
        field_ = self.query_one("#filter", Input)
        field_.display = True
        field_.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.options = replace(self.options, filter_text=event.value)
            # A field the filter does not know is said where the user types, and in the summary.
            problems = filter_problems(event.value)
            event.input.placeholder = FILTER_PLACEHOLDER
            event.input.tooltip = "; ".join(problems) or None
            event.input.set_class(bool(problems), "-invalid")
            # Not awaited: the next key's change is taken at once, so a rebuild already running just runs
            # once more with the latest text (waiting here made each key of a paste a rebuild of its own).
            self._rebuild_soon()

    @work(group="view", exit_on_error=False)
    async def _rebuild_soon(self) -> None:
        await self.rebuild()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.input.display = bool(event.value)
            self.table.focus()

    async def action_clear(self) -> None:
        field_ = self.query_one("#filter", Input)
        if self._in_pane():  # out of the pane, back to the list; the filter stays
            self.table.focus()
        elif field_.value or field_.display:
            field_.value = ""
            field_.display = False
            self.options = replace(self.options, filter_text="")
            self.table.focus()
            await self.rebuild()
        elif self.table.marked:
            self.table.marked.clear()
            self.table.refresh()
            self.refresh_footer()

    def sort_text(self) -> str:
        """The sort column and its direction, as the header shows them: `id ▲`, `elapsed ▼`."""
        return f"{self.options.sort} {'▼' if self.options.descending else '▲'}"

    async def sort_by(self, order: SortOrder) -> None:
        """Sort by `order`'s column; the same column again reverses it (k9s)."""
        self.options = self.options.sorted_by(order)
        self._remember()
        await self.rebuild()  # the header's arrow and the summary say it: no pop-up per press

    async def action_sort(self) -> None:
        """The next column the table shows, in its order, each in its own first direction (a column a
        narrow terminal leaves out is skipped: a sort by what cannot be seen looks like no order)."""
        shown = set(self.table.column_keys())
        order = self.options.sort.next
        for _ in SortOrder:
            if order in shown:
                break
            order = order.next
        await self.sort_by(order)

    async def action_sort_reverse(self) -> None:
        await self.sort_by(self.options.sort)

    async def on_task_table_header_clicked(self, message: TaskTable.HeaderClicked) -> None:
        await self.sort_by(SortOrder(message.key))

    async def action_hide_finished(self) -> None:
        self.options = replace(self.options, hide_finished=not self.options.hide_finished)
        self._remember()
        await self.rebuild()

    async def action_failed_only(self) -> None:
        self.options = replace(self.options, failed_only=not self.options.failed_only)
        self._remember()
        await self.rebuild()

    @work(group="stats", exclusive=True, exit_on_error=False)
    async def action_stats(self) -> None:
        """The stats screen, computed in a thread: over many tasks it takes a moment."""
        prices = self.settings.prices
        stats = await asyncio.to_thread(compute_stats, self.store.tasks(), prices)
        if len(self.screen_stack) == 1:  # nothing opened meanwhile
            self.push_screen(StatsScreen(stats))

    def action_events(self) -> None:
        self.push_screen(EventsScreen(self.events))

    # ---- the archive ------------------------------------------------------------------------------

    @work(group="archive", exclusive=True, exit_on_error=False)
    async def action_archive(self) -> None:
        """The palette's archive: what would move is chosen in a thread (it looks at the disk for videos
        not saved yet, which stay), then one question with the count, the focus on Back."""
        plan = await asyncio.to_thread(self._archive_plan)
        days = f"{ARCHIVE_AFTER_DAYS} days"
        if not plan.chosen:
            self.notify(f"Nothing to archive: {plan.nothing_sentence(days)}.", title="Archive")
            return
        n = len(plan.chosen)
        question = (
            f"Archive {n} finished task{'' if n == 1 else 's'} that ended more than {days} ago? They leave "
            f"this list for {archive_path(self.store.path)}; grokdash ls --archived lists them, grokdash "
            "unarchive ID brings one back."
        )
        kept = plan.kept_sentence()
        if kept is not None:
            question += f"\n{kept[:1].upper()}{kept[1:]}."

        def answered(yes: bool | None) -> None:
            if yes:
                self.archive_tasks([tracked.id for tracked in plan.chosen], kept)

        if len(self.screen_stack) == 1:  # nothing opened meanwhile
            self.push_screen(
                ConfirmScreen(question, yes=f"Archive {n}", no="Back", safe_default=True), answered
            )

    def _archive_plan(self) -> Plan:
        """In a worker thread: the finished tasks older than ARCHIVE_AFTER_DAYS, as `grokdash archive`."""
        folder, with_label = self.settings.download_dir, self.settings.label_in_filename
        return choose(self.store.tasks(), Selection(), self.clock(), folder, with_label=with_label)

    @work(group="store", exit_on_error=False)
    async def archive_tasks(self, ids: list[str], kept: str | None) -> None:
        """Move them in a worker thread (copied into the archive, then out of the list), then show the
        list without them."""
        try:
            done, notices = await asyncio.to_thread(self._move_to_archive, ids)
        except GrokdashError as error:
            self.notify(error.message, title="Not archived", severity="error", timeout=15)
            return
        for notice in notices:
            self.notify(notice, severity="warning", timeout=15)
        self.table.marked.difference_update(ids)
        await self.rebuild()
        n = len(done.moved)
        said = [
            f"Archived {n} task{'' if n == 1 else 's'}."
            if n
            else "Nothing archived: they left the list meanwhile."
        ]
        if done.settled:
            said.append(f"{len(done.settled)} found in the archive too kept their live copy.")
        if kept is not None:
            said.append(f"{kept[:1].upper()}{kept[1:]}.")
        self.notify(" ".join(said), title="Archived" if n else "Archive")

    def _move_to_archive(self, ids: list[str]) -> tuple[Archived, list[str]]:
        archive = open_archive(self.store.path)
        return move_to_archive(self.store, archive, ids), archive.notices

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_help()))

    HELP = {
        "mark": "mark or unmark the row; c, s, d, r and l then act on every marked row",
        "add": "add task ids: paste many at once, Enter adds",
        "new": "create a task: the model's options only, confirms before it spends; tracked at once",
        "run_again": "run the selected task again (the form, filled in), or every marked one (one question)",
        "details": "details of the selected task: raw answer, error, timeline, local file",
        "pane": "show the details beside the list, following the cursor; tab moves in, keys then act on it",
        "pane_place": "move the details pane beside the list or under it",
        "copy": "copy the video URL (of every marked row); OSC 52, so it works over SSH",
        "copy_menu": "copy the id, the URL, the prompt, the saved file's path, or a line per task",
        "save": "save the video (of every marked row) now; resumes, never twice; retries a failed one",
        "open": "open the video: the saved file if there is one, else the URL",
        "remove": "stop tracking the selected (or marked) tasks",
        "undo": "track the last untracked tasks again",
        "label": "label the selected (or marked) tasks; the filter finds labels",
        "poll": "ask the API about the selected (or marked) tasks now, even finished ones",
        "poll_all": "ask the API about every unfinished task now",
        "pause": "pause or resume polling",
        "filter": "filter as you type: words, or status:failed model:max saved:no…; Enter keeps it",
        "sort": "sort by the next column (status, active first, is the default); or click a header",
        "sort_reverse": "reverse the sort (a second click on the same header does too)",
        "hide_finished": "hide or show finished and gone tasks",
        "failed_only": "show only tasks that failed, ended otherwise, are gone, or whose last query failed",
        "clear": "clear the filter, else leave the details pane, else clear the marks",
        "help": "this list",
        "stats": "where the time and the money went: per model and per day, from the task database",
        "events": "what happened since the dashboard opened (finished, saved, problems), newest first",
        "quit": "quit (tracking goes on next time; asks first while videos are saving: they resume)",
    }

    def key_help(self) -> list[tuple[str, str, str]]:
        """(keys, description, binding id) for every binding of the dashboard, as the keymap maps them."""
        keymap = self.settings.keymap  # what `_apply_keymap` gave Textual, which has no public getter for it
        rows = []
        for binding in [*TaskTable.BINDINGS, *self.BINDINGS]:
            if not isinstance(binding, Binding):
                continue
            keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
            shown = ", ".join(self.get_key_display(Binding(key.strip(), "")) for key in keys.split(","))
            rows.append((shown, self.HELP.get(binding.id or "", binding.description), binding.id or ""))
        return rows

    # ---- command palette --------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if not self.ready:
            return
        if isinstance(screen, DetailsScreen):  # what its own keys do, for the task it shows
            shown = [
                ("Copy video URL", "Copy this task's video URL", self.action_copy_url),
                ("Copy…", "Copy this task's id, prompt or saved path", self.action_copy_menu),
                ("Open video", "Open the saved file, else the URL", self.action_open_video),
                ("Run again", "Open the form filled with this task's request", self.action_run_again),
            ]
            for title, help_text, callback in shown:
                yield SystemCommand(title, help_text, callback)
            return
        if screen is not self.screen_stack[0]:
            return  # over another dialog the list's commands would act on rows hidden behind it
        commands = [
            ("Add task ids", "Track more tasks by id", self.action_add),
            ("New task", "Create a task with the model's options", self.action_new_task),
            ("Run again", "Open the form filled with the selected task's request", self.action_run_again),
            ("Details", "Everything about the selected task", self.action_details),
            ("Details pane", "Show or hide the details beside the list", self.action_pane),
            ("Move details pane", "Beside the list, or under it", self.action_pane_place),
            ("Copy video URL", "Copy the selected (or marked) tasks' URLs", self.action_copy_url),
            ("Copy…", "Copy the id, prompt, saved path or a line per task", self.action_copy_menu),
            ("Events", "What happened since the dashboard opened, newest first", self.action_events),
            ("Stats", "Per model and per day: rates, times, video, spend", self.action_stats),
            (
                f"Archive finished tasks older than {ARCHIVE_AFTER_DAYS} days",
                "Move them out of the list into the archive beside the database (asks first)",
                self.action_archive,
            ),
            ("Save video", "Save the selected (or marked) tasks' videos", self.action_save),
            ("Open video", "Open the saved file, else the URL", self.action_open_video),
            ("Stop tracking", "Stop tracking the selected (or marked) tasks", self.action_remove),
            ("Undo stop tracking", "Track the last untracked tasks again", self.action_undo),
            ("Label", "Label the selected (or marked) tasks", self.action_label),
            ("Poll selected now", "Ask the API about the selected tasks now", self.action_poll),
            ("Poll all now", "Ask the API about every unfinished task now", self.action_poll_all),
            ("Pause or resume polling", "Stop or restart asking the API", self.action_pause),
            ("Filter", "Show only tasks matching some words", self.action_filter),
            ("Sort: next column", "Status, id, label, model, age, elapsed…", self.action_sort),
            ("Sort: reverse", "Turn the current order round", self.action_sort_reverse),
            ("Hide finished tasks", "Toggle showing completed and failed tasks", self.action_hide_finished),
            ("Failed only", "Toggle showing only tasks that failed", self.action_failed_only),
            ("Keys", "Every key and what it does", self.action_help),
        ]
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)
