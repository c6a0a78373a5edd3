"""The `grokdash` command. Each subcommand is a thin shell over the modules it names."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from grokdash import __version__, core
from grokdash.config import SPECS, ConfigError, Settings, load_settings
from grokdash.errors import ApiError, GrokdashError, UsageError, printable, safe_snippet
from grokdash.logs import log_path, setup_logging
from grokdash.models import Status, Task, partition_ids
from grokdash.output import (
    OutputError,
    QueryResult,
    change_line,
    guard_output,
    render_status_table,
    render_table,
    render_tracked_table,
    replace_unshowable,
    tracked_json,
)
from grokdash.pollstate import is_gone, is_settled
from grokdash.rules import (
    MODELS,
    CreateRequest,
    billing_text,
    request_problems,
    rules_text,
)
from grokdash.savestate import NOT_ON_DISK, OnDisk, look_on_disk, save_state
from grokdash.secret import Secret
from grokdash.store import TaskStore
from grokdash.tracked import TrackedTask

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# What only some commands use is imported by them, in the function: `add`, `ls` or `--help` must not
# pay for asyncio, the HTTP client (httpx, and rich through it), the poller, the saver, the simulator,
# batches or stats (tests/unit/test_startup_imports.py; bench/startup.py).
if TYPE_CHECKING:
    from grokdash.api import GrokClient
    from grokdash.batchfile import BatchFile
    from grokdash.batchjournal import Journal
    from grokdash.batchrun import BatchSettings
    from grokdash.demo import Demo
    from grokdash.poller import Outcome, RoundReport
    from grokdash.saver import Saver
    from grokdash.sim.ratelimit import RateLimit

BATCH_FORMATS = ("jsonl", "csv", "text")
"""batchfile.FORMATS, here so that --help needs no import of it (a test checks they agree)."""

F = TypeVar("F", bound=Callable[..., Any])


def settings_options(command: F) -> F:
    """The settings flags every command takes (docs/architecture.md: every command takes them)."""
    options = [
        click.option("--base-url", metavar="URL", help="API base URL [env GROKDASH_BASE_URL]."),
        click.option("--db", metavar="FILE", help="Task database, a TinyDB JSON file [env GROKDASH_DB]."),
        click.option(
            "--download-dir", metavar="DIR", help="Folder for saved videos [env GROKDASH_DOWNLOAD_DIR]."
        ),
        click.option(
            "--interval",
            metavar="SECONDS",
            help="Seconds between two polls of one task, at least 0.5 [env GROKDASH_INTERVAL; default 30].",
        ),
        click.option("--config", metavar="FILE", help="Config file (TOML) [env GROKDASH_CONFIG]."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _settings(
    ctx: click.Context, flags: dict[str, Any], *, echo_warnings: bool = True, config_may_be_new: bool = False
) -> Settings:
    """Flags given to this command win over the same flags given before it, to `grokdash` itself."""
    merged = dict(ctx.find_root().params)
    merged.update({name: value for name, value in flags.items() if value is not None})
    wanted = {name: merged.get(name) for name in (*SPECS, "config")}
    settings = load_settings(wanted, config_may_be_new=config_may_be_new)
    for warning in settings.warnings if echo_warnings else ():
        click.echo(f"grokdash: warning: {warning}", err=True)
    setup_logging(settings.api_key)
    log.info("%s (database %s, base URL %s)", ctx.command_path, settings.db, settings.base_url)
    return settings


def _client(settings: Settings) -> GrokClient:
    from grokdash.api import GrokClient, Timeouts

    return GrokClient(
        settings.base_url,
        settings.require_key(),
        timeouts=Timeouts(total=settings.timeout),
        max_connections=settings.concurrency,
    )


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Settings come from flags, then the environment, then the config file. The API key is read "
    "from GROKDASH_API_KEY or api_key in the config file, never from a flag. Exit status: 0 done, "
    "1 a task or query failed, 2 bad usage or input.",
)
@settings_options
@click.option(
    "--demo",
    is_flag=True,
    help="Open the dashboard on the built-in simulator, with sample tasks and a throwaway database (no key).",
)
@click.version_option(__version__, "-V", "--version", prog_name="grokdash")
@click.pass_context
def cli(ctx: click.Context, demo: bool, **flags: Any) -> int:
    """Track Grok video generation tasks until their videos are safe on disk.

    With no command, open the dashboard.
    """
    if ctx.invoked_subcommand is None:
        return run_dashboard(ctx, flags, demo=demo)
    return EXIT_OK


def run_dashboard(ctx: click.Context, flags: dict[str, Any], *, demo: bool) -> int:
    """The dashboard: textual is imported only now, so the other commands start fast without it."""
    from grokdash.tui.app import DashboardConfig, GrokdashApp

    settings = _settings(ctx, flags, echo_warnings=False)
    notices = list(settings.warnings)
    running_demo: Demo | None = None
    if demo:
        from grokdash.demo import DEMO_INTERVAL, DEMO_KEY, start_demo

        running_demo = start_demo()
        # The line above named the configured database and API; the demo uses neither.
        log.info("the demo: database %s, simulator at %s", running_demo.store.path, running_demo.base_url)
        store, interval, subtitle = running_demo.store, DEMO_INTERVAL, "demo: the simulated API"
        base_url, key = running_demo.base_url, Secret(DEMO_KEY)
    else:
        store, interval, subtitle = None, settings.interval, str(settings.db)
        base_url, key = settings.base_url, settings.api_key

    def make_client() -> GrokClient:
        from grokdash.api import GrokClient, Timeouts

        assert key is not None
        timeouts = Timeouts(total=settings.timeout)
        return GrokClient(base_url, key, timeouts=timeouts, max_connections=settings.concurrency)

    if running_demo is not None:  # the demo's own pace and folder; every other setting is the user's
        settings = dataclasses.replace(
            settings, interval=interval, download_dir=running_demo.folder / "videos"
        )
    config = DashboardConfig(
        store=store,
        open_store=lambda: TaskStore(settings.db),
        make_client=make_client if key else None,
        settings=settings,
        no_poll_reason="no API key (run grokdash login, or set GROKDASH_API_KEY)",  # fits 100 columns
        subtitle=subtitle,
        notices=tuple(notices),
    )
    app = GrokdashApp(config)
    try:
        app.run()
        opened = getattr(app, "store", None)
        if isinstance(opened, TaskStore) and running_demo is None:
            _compact_quietly(opened)
    finally:
        if running_demo is not None:
            running_demo.close()
    return app.return_code or EXIT_OK  # 1 when it stopped on an unexpected error


def _compact_quietly(store: TaskStore) -> None:
    """On a clean exit of a long-running command: the journal's changes into the TinyDB file (see
    store.JOURNAL_FROM). Not being able to is no failure of the command: the journal keeps them."""
    try:
        store.compact()
    except GrokdashError as error:
        log.warning("could not compact the task database: %s", error.message)


# ---- status ---------------------------------------------------------------------------------------


async def query_tasks(client: GrokClient, ids: Iterable[str], concurrency: int) -> list[QueryResult]:
    """Ask for every id at once (at most `concurrency` in flight); results in the order asked."""
    import asyncio

    gate = asyncio.Semaphore(concurrency)

    async def query(task_id: str) -> QueryResult:
        async with gate:
            try:
                return QueryResult(task_id, task=await client.get_task(task_id))
            except ApiError as error:
                return QueryResult(task_id, error=error)

    return list(await asyncio.gather(*(query(task_id) for task_id in ids)))


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _split_valid(ids: Iterable[str]) -> tuple[list[str], list[QueryResult]]:
    valid, refused = partition_ids(ids)
    return valid, [QueryResult(task_id, error=error) for task_id, error in refused]


@cli.command()
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array, an object per id.")
@settings_options
@click.pass_context
def status(ctx: click.Context, ids: tuple[str, ...], as_json: bool, **flags: Any) -> int:
    """Ask the API for the status of each ID now. Stores nothing.

    Exit status: 0 when every task was found and none failed, 1 when a query or a task failed,
    2 for an invalid id or a missing key.
    """
    import asyncio

    settings = _settings(ctx, flags)
    valid, refused = _split_valid(ids)
    for result in refused:
        click.echo(f"grokdash: {result.error}", err=True)

    async def run() -> list[QueryResult]:
        async with _client(settings) as client:
            return await query_tasks(client, valid, settings.concurrency)

    settings.require_key()
    answered = {result.id: result for result in (asyncio.run(run()) if valid else [])}
    answered.update({result.id: result for result in refused})
    results = [answered[task_id] for task_id in _unique(ids)]

    if as_json:
        click.echo(json.dumps([result.as_json() for result in results], indent=2, ensure_ascii=False))
    else:
        click.echo(render_status_table(results, color=_color_wanted()))

    if refused:
        return EXIT_USAGE
    return EXIT_OK if all(result.ok for result in results) else EXIT_FAILED


def _color_wanted() -> bool:
    return sys.stdout.isatty()


# ---- tracking: add, rm, ls, watch, export, import ----------------------------------------------------


def _open_store(settings: Settings) -> TaskStore:
    store = TaskStore(settings.db)
    for notice in store.notices:
        click.echo(f"grokdash: warning: {notice}", err=True)
    return store


def _report_refused(refused: list[QueryResult], what: str) -> None:
    for result in refused:
        click.echo(f"grokdash: {result.error} ({what})", err=True)


def _read_ids(ids: Iterable[str]) -> list[str]:
    """The ids as given, with `-` replaced by the ids read from standard input."""
    collected: list[str] = []
    for task_id in ids:
        if task_id == "-":
            from grokdash.transfer import split_ids  # only now: transfer loads csv and the JSON writer

            collected.extend(split_ids(sys.stdin.read()))
        else:
            collected.append(task_id)
    return collected


def _say(label: str, ids: list[str]) -> None:
    if ids:
        shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
        click.echo(f"{label} ({len(ids)}): {shown}")


@cli.command()
@click.argument("ids", nargs=-1, required=True, metavar="ID... | -")
@click.option("--label", metavar="TEXT", help="A label for these tasks, shown in lists and searchable.")
@settings_options
@click.pass_context
def add(ctx: click.Context, ids: tuple[str, ...], label: str | None, **flags: Any) -> int:
    """Track task ids. With -, read them from standard input (whitespace or comma separated).

    Ids already tracked are skipped and said so; invalid ids are named and refused, the others are
    still added (exit status 2 when any was refused).
    """
    settings = _settings(ctx, flags)
    wanted = _read_ids(ids)
    if not wanted:
        raise UsageError("no ids given")
    valid, refused = _split_valid(wanted)
    _report_refused(refused, "not added")
    if valid:  # the database is opened only when there is something to add
        from grokdash import quickchange

        # At 100,000 tasks, the ids index and the journal answer without reading the whole database.
        outcome = quickchange.add(settings.db, valid, label=label)
        if outcome is None:
            outcome = core.track(_open_store(settings), valid, label=label)
        _say("tracking", outcome.added)
        _say("already tracked", outcome.already)
        if label and outcome.already:
            # Said, not done silently: relabelling is `l` in the dashboard, on purpose.
            click.echo(f"(the label {safe_snippet(label, 60)} was not given to the ones already tracked)")
    return EXIT_USAGE if refused else EXIT_OK


@cli.command()
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@settings_options
@click.pass_context
def rm(ctx: click.Context, ids: tuple[str, ...], **flags: Any) -> int:
    """Stop tracking task ids. Their saved videos stay where they are."""
    settings = _settings(ctx, flags)
    wanted = _unique(ids)
    from grokdash import quickchange

    quickly = quickchange.remove(settings.db, wanted)
    if quickly is not None:
        removed = set(quickly)
    else:
        removed = {tracked.id for tracked in core.untrack(_open_store(settings), wanted)}
    _say("stopped tracking", [task_id for task_id in wanted if task_id in removed])
    missing = [task_id for task_id in wanted if task_id not in removed]
    for task_id in missing:
        click.echo(f"grokdash: {safe_snippet(task_id, 60)} is not tracked", err=True)
    return EXIT_USAGE if missing else EXIT_OK


STATUS_FILTERS = {
    "active": "queued or processing",
    "final": "completed, failed or an undocumented status",
    "error": "the last query failed",
    "new": "not asked about yet",
    "gone": "the API no longer knows it",
}


def _look_at_disk(
    settings: Settings, tasks: Iterable[TrackedTask], folder: Path | None = None
) -> dict[str, OnDisk]:
    """Where each task's video stands on disk (the download folder, or `folder`), for `saved`."""
    chosen = settings.download_dir if folder is None else folder
    return core.look_at_disk(tasks, chosen, with_label=settings.label_in_filename)


def _check_status_word(wanted: str, tasks: list[TrackedTask]) -> None:
    """Refuse a status that is neither documented, nor a filter word, nor one a tracked task has: a
    typo must not read as "no tracked tasks"."""
    seen = {str(tracked.status).lower() for tracked in tasks if tracked.status is not None}
    known = [*(str(status) for status in Status), *STATUS_FILTERS]
    if wanted.lower() not in {*known, *seen}:
        raise UsageError(
            f"no status called {safe_snippet(wanted, 40)}: use one of {', '.join(known)}, "
            "or a status a tracked task has"
        )


def _matches(tracked: TrackedTask, wanted: str) -> bool:
    if wanted == "active":
        return tracked.task is not None and not tracked.is_final
    if wanted == "final":
        return tracked.is_final
    if wanted == "error":
        return tracked.last_error is not None
    if wanted == "new":
        return tracked.task is None
    if wanted == "gone":
        return is_gone(tracked)
    return tracked.status is not None and str(tracked.status).lower() == wanted.lower()


@cli.command(name="ls")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array, an object per task.")
@click.option(
    "--status",
    "wanted",
    metavar="S",
    help="Only tasks with this status (queued, processing, completed, failed, or any other the API "
    "sent), or: " + "; ".join(f"{name}: {meaning}" for name, meaning in STATUS_FILTERS.items()) + ".",
)
@click.option(
    "--archived", is_flag=True, help="List the archive instead (grokdash archive), with the same columns."
)
@settings_options
@click.pass_context
def list_tasks(ctx: click.Context, as_json: bool, wanted: str | None, archived: bool, **flags: Any) -> int:
    """The tracked tasks as last seen. Asks the API nothing (see watch)."""
    settings = _settings(ctx, flags)
    with _CollectionPaused():
        return _list_tasks(settings, as_json, wanted, archived)


class _CollectionPaused:
    """No cyclic garbage collection while `ls` reads the whole database, prints it and ends: records
    and the JSON they print hold no cycles, and at 100,000 tasks the collector's passes over the
    millions of objects just made are a fifth of the command (issue 15)."""

    def __enter__(self) -> None:
        import gc

        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc_info: object) -> None:
        import gc

        if self.was_enabled:
            gc.enable()


def _list_tasks(settings: Settings, as_json: bool, wanted: str | None, archived: bool) -> int:
    tasks = _archived_tasks(settings) if archived else _open_store(settings).tasks()
    if wanted:
        _check_status_word(wanted, tasks)
        tasks = [tracked for tracked in tasks if _matches(tracked, wanted)]
    disk = _look_at_disk(settings, tasks)
    if as_json:
        from grokdash.jsonout import write_array

        # One task at a time, printed as it is made: 100,000 tasks never sit in memory as text.
        write_array((tracked_json(tracked, disk.get(tracked.id)) for tracked in tasks), _echo_bytes)
    elif tasks:
        click.echo(render_tracked_table(tasks, color=_color_wanted(), disk=disk))
    else:
        where = "archived" if archived else "tracked"
        click.echo(f"no {where} tasks" + (f" with status {wanted}" if wanted else "") + ".", err=True)
    return EXIT_OK


@cli.command(short_help="Poll tracked tasks until every one is final.")
@click.argument("ids", nargs=-1, metavar="[ID...]")
@click.option("--once", is_flag=True, help="Ask about every unfinished task once, then stop.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object per change as it happens (JSON lines); with --once, one JSON array of "
    "the watched tasks at the end.",
)
@click.option(
    "--exit-status", is_flag=True, help="Exit 1 when any watched task ended failed (or was not found)."
)
@click.option(
    "--save",
    is_flag=True,
    help="Also save every finished video not on disk yet (the watched ones and any other tracked one) "
    "into the download folder, and stop only once each is saved or cannot be; exit 1 when any could not "
    "be saved. The headless saver.",
)
@settings_options
@click.pass_context
def watch(
    ctx: click.Context,
    ids: tuple[str, ...],
    once: bool,
    as_json: bool,
    exit_status: bool,
    save: bool,
    **flags: Any,
) -> int:
    """Poll the tracked tasks (or only the given ids, which are tracked too) until every one is final.

    Each change is printed as it happens, whatever else is still waiting for an answer. Interrupting
    stops the watching, not the tracking.

    With --save, every finished video not on disk yet is saved as well (whoever saw its task complete),
    one line each as it is saved ("saved ID: FILE"; with --json, the task's JSON again). Interrupted,
    a partial file is kept and the next save resumes it.
    """
    import asyncio

    from grokdash.poller import Poller, PollPolicy

    settings = _settings(ctx, flags)
    valid, refused = _split_valid(ids)
    if refused:
        _report_refused(refused, "not watched")
        return EXIT_USAGE
    settings.require_key()
    store = _open_store(settings)
    if valid:
        newly = store.add(valid).added
        if newly and not as_json:
            _say("tracking", newly)
    only = set(valid) or None
    watched = [tracked for tracked in store.tasks() if only is None or tracked.id in only]
    if not watched:
        click.echo("nothing to watch: no tracked tasks (add some with grokdash add).", err=True)
        return EXIT_OK
    if not as_json:
        pending = sum(not is_settled(tracked) for tracked in watched)
        how = "once" if once else f"every {settings.interval:g} s until all are final"
        saving = f"; saving finished videos into {settings.download_dir}" if save else ""
        click.echo(f"watching {_count(len(watched), 'task')}, {pending} unfinished; asking {how}{saving}.")
    saves = _WatchSaves(store, settings, as_json=as_json, once=once) if save else None

    def on_outcome(outcome: Outcome) -> None:
        if saves is not None:
            saves.on_outcome(outcome)
        line = change_line(outcome.before, outcome.after, time.time())
        if line is None:
            return
        if not as_json:
            click.echo(line)
        elif not once:  # JSON lines: one object per change, flushed so a pipe sees it at once
            disk = look_on_disk(
                outcome.after, settings.download_dir, with_label=settings.label_in_filename
            )  # a stat or two, only for a task with a video
            click.echo(json.dumps(tracked_json(outcome.after, disk), ensure_ascii=False))
        sys.stdout.flush()

    async def run() -> RoundReport:
        async with _client(settings) as client:
            policy = PollPolicy(interval=settings.interval)
            poller = Poller(
                client.get_task,
                store,
                policy=policy,
                concurrency=settings.concurrency,
                on_outcome=on_outcome,
            )

            async def poll() -> RoundReport:
                if once:
                    return await poller.poll_round(only, everything=True)
                return await poller.run(only, until_settled=True, stop_on_auth=True)

            if saves is None:
                return await poll()
            return await saves.run(client, poll)

    try:
        report = asyncio.run(run())
    except KeyboardInterrupt:
        if saves is not None and saves.saving_when_stopped:
            n = saves.saving_when_stopped
            click.echo(
                f"grokdash: interrupted; {_count(n, 'video')} {'was' if n == 1 else 'were'} being saved: "
                "the partial files are kept and resume next time",
                err=True,
            )
            return 130
        raise
    if report.store_error is not None:
        click.echo(f"grokdash: the answers were not saved: {report.store_error.message}", err=True)
    elif not once:
        _compact_quietly(store)
    final = [tracked for tracked in store.tasks() if only is None or tracked.id in only]
    disk = _look_at_disk(settings, final)
    if as_json and once:
        listed = [tracked_json(tracked, disk.get(tracked.id)) for tracked in final]
        click.echo(json.dumps(listed, indent=2, ensure_ascii=False))
    elif not as_json:
        click.echo(render_tracked_table(final, color=_color_wanted(), disk=disk))
    if report.auth_error is not None:
        raise report.auth_error
    not_saved = saves.report_unsaved() if saves is not None else False
    ended_badly = any(tracked.status == Status.FAILED or is_gone(tracked) for tracked in final)
    if report.store_error is not None or not_saved:
        return EXIT_FAILED  # what was seen is lost with this process: a script must not take it as done
    return EXIT_FAILED if exit_status and ended_badly else EXIT_OK


LOOK_SECONDS = 1.0
"""How often `watch --save` checks whether another process's change (a `grokdash add`, another watch
that saw a task complete) left a video owed a save: one comparison when nothing changed."""
SAVE_ATTEMPTS = 3
"""`watch --save` tries a video this many times (the Saver's gaps between them) before giving it up."""


class _WatchSaves:
    """`watch --save`: a Saver beside the poller, taking each owed save it finds — on start, when an
    answer shows a task completed, when another process's change shows one — and, once polling is done,
    every one left (`Saver.drain`); and what the command says about each."""

    def __init__(
        self,
        store: TaskStore,
        settings: Settings,
        *,
        as_json: bool,
        once: bool,
        only: Callable[[], set[str]] | None = None,
    ) -> None:
        import asyncio

        from grokdash.saver import saver_settings

        self.store = store
        self.only = only
        """The ids whose videos are saved (`batch --save`: the batch's), asked each time; None: all."""
        self.settings = dataclasses.replace(saver_settings(settings), give_up_after=SAVE_ATTEMPTS)
        self.as_json = as_json
        self.once = once
        self.saver: Saver | None = None
        self.saving_when_stopped = 0
        """Saves running or queued when the command was interrupted."""
        self._completed: list[TrackedTask] = []
        self._wake = asyncio.Event()

    def on_outcome(self, outcome: Outcome) -> None:
        after = outcome.after
        if after.status == Status.COMPLETED and (outcome.before is None or not outcome.before.is_final):
            self._completed.append(after)
            self._wake.set()

    async def run(self, client: GrokClient, poll: Callable[[], Awaitable[RoundReport]]) -> RoundReport:
        import asyncio

        from grokdash.downloads import Downloader
        from grokdash.saver import Saver

        async with Downloader() as downloader:
            saver = self.saver = Saver(
                self.store,
                client,
                downloader,
                self.settings,
                on_done=self.on_done,
                on_notice=lambda sentence: click.echo(f"grokdash: {sentence}", err=True),
            )
            async with saver:
                try:
                    await saver.look(self._chosen())  # what was owed before this watch started
                    looking = asyncio.create_task(self._keep_looking(saver))
                    try:
                        report = await poll()
                    finally:
                        looking.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await looking
                    if report.auth_error is None:  # a wrong key stops everything at once
                        await saver.drain(None if self.only is None else self.only())
                    return report
                except asyncio.CancelledError:  # Ctrl-C: the partial files stay for a resume
                    self.saving_when_stopped = saver.running
                    raise

    async def _keep_looking(self, saver: Saver) -> None:
        import asyncio

        seen = self.store.outside_version
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), LOOK_SECONDS)
            self._wake.clear()
            completed, self._completed = self._completed, []
            if completed:
                await saver.look(completed)
            if self.store.outside_version != seen:  # another process (or a save) changed the list
                seen = self.store.outside_version
                await saver.look(self._chosen())

    def _chosen(self) -> list[TrackedTask] | None:
        if self.only is None:
            return None
        wanted = self.only()
        return [tracked for tracked in self.store.tasks() if tracked.id in wanted]

    def on_done(self, task_id: str, result: Path | GrokdashError) -> None:
        from grokdash.downloads import SaveBusyError

        saver = self.saver
        assert saver is not None
        if isinstance(result, SaveBusyError):  # another grokdash is saving it: it records the file
            return
        if self.as_json:
            tracked = self.store.get(task_id)
            if not self.once and tracked is not None:
                line = tracked_json(tracked, saver.disk.get(task_id))
                click.echo(json.dumps(line, ensure_ascii=False))
        elif isinstance(result, Path):
            click.echo(f"saved {printable(task_id)}: {printable(str(result))}")
        elif task_id in saver.waiting():
            click.echo(
                f"grokdash: could not save {printable(task_id)} yet (trying again later): {result.message}",
                err=True,
            )
        sys.stdout.flush()

    def report_unsaved(self) -> bool:
        """Name each video this run tried and could not save, with why (one line each); say which others
        are not on disk and were left alone. True when any could not be saved."""
        if self.saver is None:
            return False
        chosen = self._chosen()
        unsaved = self.saver.unsaved(self.store.tasks() if chosen is None else chosen)
        tried = [(tracked, why) for tracked, why in unsaved if tracked.id in self.saver.failures]
        for tracked, why in tried:
            click.echo(f"grokdash: not saved: {printable(tracked.id)}: {why}", err=True)
        left = [tracked for tracked, _ in unsaved if tracked.id not in self.saver.failures]
        if left:
            named = ", ".join(f"{printable(t.id)} ({self.saver.state(t)})" for t in left[:5])
            more = f" and {len(left) - 5} more" if len(left) > 5 else ""
            verb = "was" if len(left) == 1 else "were"
            click.echo(
                f"grokdash: note: {_count(len(left), 'finished video')} not on disk {verb} left alone: "
                f"{named}{more}; grokdash download ID tries again",
                err=True,
            )
        return bool(tried)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@cli.command(short_help="Save the API key in the config file, readable by you only.")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the key from standard input.")
@settings_options
@click.pass_context
def login(ctx: click.Context, from_stdin: bool, **flags: Any) -> int:
    """Ask for the API key (typing is not shown) and save it as api_key in the config file, which is
    created, or rewritten, readable by you only (mode 600). The file's other settings and comments are
    kept. The key is never a flag, so it stays out of shell history and the process list."""
    # A config file that cannot be read is said before asking. Its warnings are not: "others can read
    # the key, run chmod 600" is what login itself is about to fix, and it sends nothing over http.
    from grokdash.keyfile import save_api_key

    settings = _settings(ctx, flags, echo_warnings=False, config_may_be_new=True)
    path = settings.config_path
    if from_stdin or not sys.stdin.isatty():
        key = sys.stdin.readline().strip()
    else:
        key = click.prompt("API key", hide_input=True, prompt_suffix=" (not shown): ").strip()
    was_open = save_api_key(path, key)
    click.echo(f"saved the API key {Secret(key).masked()} in {path}, readable by you only")
    if was_open:
        click.echo("(other users could read that file before; they cannot any more)")
    if os.environ.get("GROKDASH_API_KEY"):
        click.echo("grokdash: note: GROKDASH_API_KEY is set, and it wins over the config file", err=True)
    return EXIT_OK


@cli.command(short_help="Print the tracked list as JSON or CSV.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv"]),
    default="json",
    show_default=True,
    help="Output format.",
)
@settings_options
@click.pass_context
def export(ctx: click.Context, fmt: str, **flags: Any) -> int:
    """Print the tracked list: JSON keeps everything (import reads it back), CSV is for spreadsheets."""
    from grokdash.transfer import export_pieces

    settings = _settings(ctx, flags)
    tasks = _open_store(settings).tasks()
    for piece in export_pieces(tasks, fmt, _look_at_disk(settings, tasks)):  # type: ignore[arg-type]
        _echo_bytes(piece)
    return EXIT_OK


def _echo_bytes(piece: bytes) -> None:
    # As text: click then writes it the way it writes every other line (and to a test's StringIO).
    click.echo(piece.decode("utf-8"), nl=False)


@cli.command(name="import", short_help="Track the tasks in an export or a list of ids.")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@settings_options
@click.pass_context
def import_(ctx: click.Context, file: str, **flags: Any) -> int:
    """Track the tasks in FILE (- for standard input): a grokdash export (JSON or CSV), the output of
    ls --json or status --json, or a plain list of ids.

    Invalid ids are named and refused, the others still go in; already tracked ids are skipped.
    """
    from grokdash.transfer import read_import

    settings = _settings(ctx, flags)
    source = "standard input" if file == "-" else file
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "it is not UTF-8 text"
        raise UsageError(f"cannot read {source}: {reason}") from None
    plan = read_import(text, source)
    now = time.time()
    records = list(plan.records)
    records += [
        TrackedTask(id=task_id, added_at=added or now, label=label) for task_id, label, added in plan.ids
    ]
    valid, refused = _split_valid(record.id for record in records)
    _report_refused(refused, "not imported")
    accepted = set(valid)
    records = [record for record in records if record.id in accepted]
    if not records and not refused:
        raise UsageError(f"{source} holds no task ids")
    if records:
        outcome = _open_store(settings).import_records(records)
        _say("tracking", outcome.added)
        _say("already tracked", outcome.already)
    return EXIT_USAGE if refused else EXIT_OK


@cli.command(short_help="Save completed videos.")
@click.argument("ids", nargs=-1, metavar="[ID...]")
@click.option(
    "--all",
    "all_",
    is_flag=True,
    help="Every finished video not on disk: never saved, partial, missing, failed, or expired (asked again).",
)
@click.option("--to", metavar="DIR", help="Save into DIR instead of the download folder.")
@settings_options
@click.pass_context
def download(ctx: click.Context, ids: tuple[str, ...], all_: bool, to: str | None, **flags: Any) -> int:
    """Save the videos of completed tasks (the given ids, which are tracked too, or --all).

    Downloads resume where an earlier one stopped; a video already saved is not fetched again. A file
    of yours with the video's name is left alone: the video goes beside it (`ID (1).mp4`).
    Exit status 1 when any could not be saved (each is named), 2 for bad input.
    """
    import asyncio

    settings = _settings(ctx, flags)
    if bool(ids) == all_:
        raise UsageError("give task ids or --all, not both and not neither")
    # Absolute: the saved file is remembered by its path, which must hold from any folder.
    folder = Path(to).expanduser().absolute() if to else settings.download_dir
    if to and os.path.exists(folder) and not os.path.isdir(folder):
        raise UsageError(f"--to {folder} is not a folder (it was left untouched): nothing was saved")
    store = _open_store(settings)
    refused: list[QueryResult] = []
    if all_:
        tasks = store.tasks()
        disk = _look_at_disk(settings, tasks, folder)
        wanted = [t.id for t in tasks if save_state(t, disk.get(t.id)) in NOT_ON_DISK]
        if not wanted:
            click.echo("nothing to save: every finished video is on disk already.", err=True)
            return EXIT_OK
    else:
        wanted, refused = _split_valid(ids)
        _report_refused(refused, "not saved")
        if wanted:
            store.add(wanted)  # so the saved file is remembered with its task
    settings.require_key()
    try:
        results = asyncio.run(_save_videos(settings, store, wanted, folder, take_owed=all_)) if wanted else {}
    except KeyboardInterrupt:
        click.echo("grokdash: interrupted; the partial files are kept and resume next time", err=True)
        return 130
    failed = 0
    for task_id, result in results.items():
        if isinstance(result, GrokdashError):
            failed += 1
            click.echo(f"grokdash: {safe_snippet(task_id, 60)}: {result.message}", err=True)
        else:
            click.echo(f"saved {printable(task_id)}: {printable(str(result))}")
    return EXIT_USAGE if refused else EXIT_FAILED if failed else EXIT_OK


async def _save_videos(
    settings: Settings, store: TaskStore, ids: list[str], folder: Path, *, take_owed: bool
) -> dict[str, Path | GrokdashError]:
    """Save each task's video through a Saver (at most `max_downloads` at once, each tried once, a
    progress bar per file on a terminal); with `take_owed`, then every other video owed a save that
    turns up meanwhile. Returns how each ended, the given ids first, in their order."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn

    from grokdash.downloads import Downloader
    from grokdash.saver import Saver, saver_settings

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        disable=not sys.stderr.isatty(),
        console=None,
        transient=False,
    )
    bars: dict[str, TaskID] = {}
    results: dict[str, Path | GrokdashError | None] = dict.fromkeys(ids)
    saver: Saver | None = None

    def on_change() -> None:
        assert saver is not None
        for task_id, now in list(saver.progress.items()):
            if task_id not in bars:
                bars[task_id] = progress.add_task(printable(task_id), total=None)
            progress.update(bars[task_id], completed=now.done, total=now.total)

    def on_done(task_id: str, result: Path | GrokdashError) -> None:
        bar = bars.get(task_id)
        if isinstance(result, Path) and bar is not None:
            with contextlib.suppress(OSError):
                size = result.stat().st_size
                progress.update(bar, completed=size, total=size)
        results[task_id] = result

    said_busy: set[str] = set()

    def on_busy(task_id: str) -> None:
        if task_id not in said_busy:
            said_busy.add(task_id)
            click.echo(f"grokdash: another grokdash is saving {printable(task_id)}; waiting", err=True)

    chosen = dataclasses.replace(saver_settings(settings, folder), give_up_after=1)
    async with _client(settings) as client, Downloader() as downloader:
        saver = Saver(
            store,
            client,
            downloader,
            chosen,
            on_change=on_change,
            on_done=on_done,
            on_notice=lambda sentence: click.echo(f"grokdash: {sentence}", err=True),
            on_busy=on_busy,
        )
        async with saver:
            with progress:
                saver.save_now(ids)
                await saver.drain(ids)  # a video another grokdash is saving is waited for
                if take_owed:
                    await saver.drain()
    return {task_id: result for task_id, result in results.items() if result is not None}


# ---- new ------------------------------------------------------------------------------------------


class _EpilogWhenShown(click.Command):
    """A command whose epilog is written only when its help is shown, not by every command's start:
    `sim`'s names the simulator's scenarios (it would import the simulator), `new`'s the models' rules."""

    def __init__(self, *args: Any, epilog_from: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.epilog_from = epilog_from

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if self.epilog is None:
            self.epilog = self.epilog_from()
        super().format_epilog(ctx, formatter)


def _rules_epilog() -> str:
    lines = ["\b", "What each model takes (checked before anything is sent):"]
    for rules in MODELS.values():
        lines += textwrap.wrap(rules_text(rules), width=96, initial_indent="  ", subsequent_indent="      ")
    return "\n".join(lines)


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _describe_request(request: CreateRequest) -> list[str]:
    """What will be sent, one line each, with the model's defaults named where a value is left out."""
    rules = MODELS[request.model]

    def value(given: object, default: object, unit: str = "") -> str:
        return f"{given}{unit}" if given is not None else f"{default}{unit} (the model's default)"

    duration = (
        f"{rules.default_duration} s (fixed by the model)"
        if rules.duration_is_fixed
        else value(request.duration, rules.default_duration, " s")
    )
    lines = [
        f"about to create a {request.model} task:",
        f"  prompt:       {safe_snippet(request.prompt, 200)}",
        f"  duration:     {duration}",
        f"  aspect ratio: {value(request.aspect_ratio, rules.default_aspect_ratio)}",
        f"  resolution:   {value(request.resolution, rules.default_resolution)}",
    ]
    lines += [f"  image:        {safe_snippet(url, 100)}" for url in request.image_urls]
    lines.append(f"  {billing_text(request)}")
    return lines


@cli.command(short_help="Create a task and track it.", cls=_EpilogWhenShown, epilog_from=_rules_epilog)
@click.option(
    "--model", required=True, type=click.Choice(list(MODELS)), help="The Grok video model (see below)."
)
@click.option("--prompt", required=True, metavar="TEXT", help="What the video shows; must not be empty.")
@click.option(
    "--duration",
    type=int,
    metavar="SECONDS",
    help="Length of the video in seconds (default: the model's; leave it out for grok_video3_pro).",
)
@click.option("--aspect-ratio", metavar="RATIO", help="Aspect ratio, such as 16:9 (default 16:9).")
@click.option("--resolution", metavar="RES", help="480p or 720p, as the model allows (default 720p).")
@click.option(
    "--image-url",
    "image_urls",
    multiple=True,
    metavar="URL",
    help="A reference image; repeat for several. Public http(s) URLs (some models take base64 data too).",
)
@click.option(
    "--label", metavar="TEXT", help="A label for the tracked task (default: the start of the prompt)."
)
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Create without asking. Needed when standard input is not a terminal.",
)
@click.option(
    "--over-budget",
    is_flag=True,
    help="Create it even when it would pass budget_per_day (or its model has no price to check it by).",
)
@settings_options
@click.pass_context
def new(
    ctx: click.Context,
    model: str,
    prompt: str,
    duration: int | None,
    aspect_ratio: str | None,
    resolution: str | None,
    image_urls: tuple[str, ...],
    label: str | None,
    yes: bool,
    over_budget: bool,
    **flags: Any,
) -> int:
    """Create a Grok video task, track it at once, and print its id on standard output.

    The request is checked against the model's rules first: a value that breaks one is named and
    nothing is sent (exit status 2). What will be sent and how it is billed is shown, then, on a
    terminal, you are asked to confirm; declining sends nothing and exits with status 0. When standard
    input is not a terminal, --yes is required.

    The request is sent once and never again: when the connection fails after it may have reached the
    server, it is kept in a file in the state folder so you can check with the provider before trying
    again (exit status 1). A refusal by the server is shown in its own words (exit status 1).

    With [prices] in the config file the estimated price is shown; with budget_per_day too, a task
    that would pass the day's budget is refused before anything is sent (exit status 2) unless
    --over-budget.
    """
    import asyncio

    from grokdash import spend

    settings = _settings(ctx, flags)
    rules = MODELS[model]
    if rules.duration_is_fixed and duration == rules.default_duration:
        duration = None  # the model makes one length only; the API wants the field left out
    request = CreateRequest(
        model=model,
        prompt=prompt,
        duration=duration,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        image_urls=image_urls,
    )
    problems = request_problems(request)
    if problems:
        for problem in problems:
            click.echo(f"grokdash: {problem}", err=True)
        return EXIT_USAGE
    settings.require_key()
    store = _open_store(settings)  # a broken database shows up before any money is spent

    estimated = spend.estimate(request, store.tasks(), settings.prices, settings.budget_per_day, time.time())
    problem = spend.budget_problem(estimated, request.model)
    if problem is not None and not over_budget:
        raise spend.BudgetError(problem)
    for line in _describe_request(request):
        click.echo(line, err=True)
    if settings.prices or settings.budget_per_day is not None:
        click.echo(f"  estimated price: {estimated.describe()}", err=True)
    if problem is not None:
        click.echo("grokdash: note: past today's budget, on purpose (--over-budget)", err=True)
    for doubt in request_problems(request, strict=True):  # what only the second provider page allows
        click.echo(f"grokdash: note: the provider's main page says {doubt}; the server may refuse", err=True)
    if not yes:
        if not _stdin_is_terminal():
            raise UsageError("standard input is not a terminal: pass --yes to create the task")
        if not click.confirm("Create this task?", default=False, err=True):
            click.echo("grokdash: not created", err=True)
            return EXIT_OK

    async def send() -> Task:
        async with _client(settings) as client:
            return await core.create_and_track(client, store, request, label=label)

    try:
        task = asyncio.run(send())
    except core.CreateUncertainError as error:
        click.echo(f"grokdash: {error.message}", err=True)
        if error.kept is not None:
            click.echo(
                f"grokdash: the request is kept in {error.kept}; check before sending it again", err=True
            )
        else:
            body = json.dumps(request.to_json(), ensure_ascii=False)
            click.echo(f"grokdash: the request was: {body}", err=True)
        return EXIT_FAILED
    except core.CreatedNotTrackedError as error:
        click.echo(error.task.id)  # paid for: its id must reach the user whatever else failed
        click.echo(f"grokdash: {error.message}", err=True)
        return EXIT_FAILED
    click.echo(task.id)
    click.echo(f"created {task.id} ({task.status}); tracking it", err=True)
    return EXIT_OK


# ---- batch ----------------------------------------------------------------------------------------


MAX_BATCH_BYTES = 32 * 2**20
"""A batch file larger than this is not read (10,000 rows of long prompts are a few MiB)."""


def _read_source(source: str) -> str:
    """The batch file's text ("-": standard input)."""
    if source == "-":
        text = sys.stdin.read(MAX_BATCH_BYTES + 1)
        if len(text) > MAX_BATCH_BYTES:
            raise UsageError(f"standard input holds more than {MAX_BATCH_BYTES // 2**20} MiB: no batch does")
        return text
    path = Path(source)
    if not path.is_file():
        raise UsageError(f"{printable(source)} is not a file")
    try:
        if path.stat().st_size > MAX_BATCH_BYTES:
            raise UsageError(
                f"{printable(source)} is larger than {MAX_BATCH_BYTES // 2**20} MiB: no batch is"
            )
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{printable(source)} is not UTF-8 text") from None
    except OSError as error:
        raise UsageError(f"{printable(source)} cannot be read: {error.strerror or error}") from None


def _batch_summary(requests: list[CreateRequest], settings: Settings, store: TaskStore) -> list[str]:
    from grokdash.batchrun import summary_lines

    return summary_lines(requests, settings.prices, settings.budget_per_day, store.tasks(), time.time())


def _batch_status(name: str | None, as_json: bool) -> int:
    from grokdash.batchjournal import Journal, check_name, list_batches

    if name is None:
        listed: list[dict[str, object]] = []
        for batch_name in list_batches():
            try:
                journal = Journal.read(batch_name)
            except GrokdashError as error:  # one garbled journal does not hide the others
                listed.append({"name": batch_name, "error": error.message})
                continue
            listed.append({"name": batch_name, "source": journal.source, **journal.counts()})
        if as_json:
            click.echo(json.dumps(listed, indent=2, ensure_ascii=False))
        elif not listed:
            click.echo("no batches yet (grokdash batch FILE starts one)")
        for item in listed if not as_json else ():
            if "error" in item:
                click.echo(f"{item['name']}: {item['error']}")
            else:
                click.echo(f"{item['name']}: {Journal.read(str(item['name'])).describe()}")
        return EXIT_OK
    journal = Journal.read(check_name(name))
    if as_json:
        rows = [dataclasses.asdict(row) for row in journal.rows]
        click.echo(json.dumps({"name": journal.name, "source": journal.source, "rows": rows}, indent=2))
        return EXIT_OK
    click.echo(f"batch {journal.name} ({printable(journal.source)}): {journal.describe()}")
    for row in journal.rows:
        detail = row.task_id or ""
        if row.said:
            detail += f"{' ' if detail else ''}({printable(row.said)})"
        click.echo(f"  line {row.line:>4}  {row.state:<21} {detail}  {printable(row.prompt)}".rstrip())
    return EXIT_OK


@cli.command(short_help="Create tasks from a file, never a row twice.")
@click.argument("source", metavar="FILE", required=False)
@click.option("--dry-run", is_flag=True, help="Check the file and show what would be sent; send nothing.")
@click.option("--yes", "-y", is_flag=True, help="Send without asking (needed without a terminal).")
@click.option(
    "--max-active", type=click.IntRange(1, 64), help="The batch's tasks active at once [max_active]."
)
@click.option(
    "--label", metavar="TEXT", help="A label for rows without their own (default: the prompt's start)."
)
@click.option("--name", metavar="NAME", help="The batch's name (default: the file's name without suffix).")
@click.option("--save", is_flag=True, help="Save each finished video too, as watch --save does.")
@click.option(
    "--resend-uncertain", is_flag=True, help="Send again the rows that may have been created (check first)."
)
@click.option("--over-budget", is_flag=True, help="Send rows even past budget_per_day, on purpose.")
@click.option("--status", "show_status", is_flag=True, help="Show a batch's rows (or every batch) and stop.")
@click.option("--json", "as_json", is_flag=True, help="With --status: JSON.")
@click.option(
    "--format", "fmt", type=click.Choice(BATCH_FORMATS), help="The file's format (default: by its name)."
)
@click.option("--model", type=click.Choice(list(MODELS)), help="For rows without one (a text file's rows).")
@click.option("--duration", type=int, metavar="SECONDS", help="For rows without one.")
@click.option("--aspect-ratio", metavar="RATIO", help="For rows without one.")
@click.option("--resolution", metavar="RES", help="For rows without one.")
@click.option("--image-url", "image_urls", multiple=True, metavar="URL", help="For rows without any.")
@settings_options
@click.pass_context
def batch(
    ctx: click.Context,
    source: str | None,
    dry_run: bool,
    yes: bool,
    max_active: int | None,
    label: str | None,
    name: str | None,
    save: bool,
    resend_uncertain: bool,
    over_budget: bool,
    show_status: bool,
    as_json: bool,
    fmt: str | None,
    model: str | None,
    duration: int | None,
    aspect_ratio: str | None,
    resolution: str | None,
    image_urls: tuple[str, ...],
    **flags: Any,
) -> int:
    """Create a task for each row of FILE ("-": standard input), then follow them as watch does.

    FILE is JSONL (one request per line: model, prompt, duration, aspect_ratio, resolution, image_urls,
    label), CSV with those columns, or plain text (one prompt per line; --model and the other options
    apply to every line). Every row is checked first: each problem is named with its line, and nothing
    is sent when any row is wrong (exit 2). A summary (rows per model, seconds of video, billing, the
    estimated price) is shown and confirmed once.

    At most --max-active of the batch's tasks are queued or processing at once. A journal in the state
    folder records each row before its create is sent and after the answer: killed and run again with
    the same file, the batch sends only the rows never sent; a row that may have been created is shown
    and not sent again unless --resend-uncertain.
    """
    from grokdash.batchfile import Defaults, format_of, read_batch
    from grokdash.batchjournal import Journal, check_name, name_for, source_of
    from grokdash.batchrun import BatchSettings

    settings = _settings(ctx, flags)
    if show_status:
        return _batch_status(name or source, as_json)
    if source is None:
        raise UsageError("give the batch file (or - for standard input), or --status")
    text = _read_source(source)
    defaults = Defaults(model, duration, aspect_ratio, resolution, image_urls)
    parsed = read_batch(text, fmt or format_of(source, text), defaults, batch_label=label)
    if parsed.problems:
        for problem in parsed.problems:
            click.echo(f"grokdash: {problem}", err=True)
        click.echo(f"grokdash: nothing sent: {_count(len(parsed.problems), 'problem')} in {source}", err=True)
        return EXIT_USAGE
    batch_name = check_name(name) if name else name_for(source, text)
    settings.require_key()
    store = _open_store(settings)
    journal, notices = Journal.open(
        batch_name, source_of(source), parsed, resend_uncertain=resend_uncertain, tasks=store.tasks()
    )
    try:
        for notice in notices:
            click.echo(f"grokdash: {notice}", err=True)
        waiting = {row.line for row in journal.waiting()}
        to_send = [row for row in parsed.rows if row.line in waiting]
        click.echo(f"batch {batch_name}: {_count(len(parsed.rows), 'row')}; {journal.describe()}", err=True)
        if to_send:
            click.echo(f"to send, {_count(len(to_send), 'row')}:", err=True)
            for line in _batch_summary([row.request for row in to_send], settings, store):
                click.echo(line, err=True)
        if dry_run:
            click.echo("grokdash: dry run: nothing sent", err=True)
            return EXIT_OK
        if to_send and not yes:
            if not _stdin_is_terminal() or source == "-":
                raise UsageError("standard input is not a terminal: pass --yes to send the batch")
            if not click.confirm(f"Send {_count(len(to_send), 'row')}?", default=False, err=True):
                click.echo("grokdash: nothing sent", err=True)
                return EXIT_OK
        batch_settings = BatchSettings(
            max_active or settings.max_active,
            settings.interval,
            label,
            settings.prices,
            settings.budget_per_day,
            over_budget,
        )
        return _run_batch(journal, parsed, settings, store, batch_settings, save)
    finally:
        journal.close()


def _run_batch(
    journal: Journal,
    parsed: BatchFile,
    settings: Settings,
    store: TaskStore,
    batch_settings: BatchSettings,
    save: bool,
) -> int:
    import asyncio

    from grokdash.batchjournal import REFUSED, UNCERTAIN
    from grokdash.batchrun import send_batch
    from grokdash.poller import Poller, PollPolicy, RoundReport

    rows = {row.line: row for row in parsed.rows}
    only = (lambda: set(journal.created_ids())) if save else None
    saves = _WatchSaves(store, settings, as_json=False, once=False, only=only) if save else None
    stopped: list[str] = []

    def on_outcome(outcome: Outcome) -> None:
        if saves is not None:
            saves.on_outcome(outcome)
        line = change_line(outcome.before, outcome.after, time.time())
        if line is not None:
            click.echo(line)
            sys.stdout.flush()

    def say(line: str) -> None:
        click.echo(line)
        sys.stdout.flush()

    async def run() -> RoundReport:
        async with _client(settings) as client:
            poller = Poller(
                client.get_task,
                store,
                policy=PollPolicy(interval=settings.interval),
                concurrency=settings.concurrency,
                on_outcome=on_outcome,
            )

            async def send() -> RoundReport:
                why = await send_batch(journal, rows, client, store, poller, batch_settings, say=say)
                if why is not None:
                    stopped.append(why)
                return RoundReport()

            if saves is None:
                return await send()
            return await saves.run(client, send)

    asyncio.run(run())
    ids = set(journal.created_ids())
    final = [tracked for tracked in store.tasks() if tracked.id in ids]
    click.echo(render_tracked_table(final, color=_color_wanted(), disk=_look_at_disk(settings, final)))
    click.echo(f"batch {journal.name}: {journal.describe()}", err=True)
    for why in stopped:
        click.echo(f"grokdash: {why}", err=True)
    not_saved = saves.report_unsaved() if saves is not None else False
    counts = journal.counts()
    return EXIT_FAILED if stopped or not_saved or counts[UNCERTAIN] or counts[REFUSED] else EXIT_OK


# ---- rerun ----------------------------------------------------------------------------------------


@cli.command(short_help="Create tasks again from their requests.")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.option("--model", type=click.Choice(list(MODELS)), help="For a task not created here: its model.")
@click.option("--prompt", metavar="TEXT", help="For a task not created here: its prompt.")
@click.option("--yes", "-y", is_flag=True, help="Create without asking (needed without a terminal).")
@click.option("--over-budget", is_flag=True, help="Create them even past budget_per_day, on purpose.")
@settings_options
@click.pass_context
def rerun(
    ctx: click.Context,
    ids: tuple[str, ...],
    model: str | None,
    prompt: str | None,
    yes: bool,
    over_budget: bool,
    **flags: Any,
) -> int:
    """Create each task again from the request it was created with (tasks created here), or, for
    others, from --model and --prompt; each is tracked at once with the label of the one it repeats,
    and its id printed. The same checks, summary and single confirmation as `grokdash batch`."""
    import asyncio

    from grokdash import spend

    settings = _settings(ctx, flags)
    store = _open_store(settings)
    rows: list[tuple[str, CreateRequest, str | None]] = []
    """(the task run again, its request, its label)."""
    problems: list[str] = []
    for task_id in dict.fromkeys(ids):
        tracked = store.get(task_id)
        if tracked is None:
            problems.append(f"{printable(task_id)} is not tracked")
            continue
        request = spend.sent_request(tracked)
        if request is None and model and prompt:
            request = CreateRequest(model=model, prompt=prompt)
        if request is None:
            problems.append(f"{printable(task_id)} was not created here: give --model and --prompt to run it")
            continue
        problems.extend(f"{printable(task_id)}: {problem}" for problem in request_problems(request))
        rows.append((task_id, request, tracked.label))
    if problems:
        for problem in problems:
            click.echo(f"grokdash: {problem}", err=True)
        click.echo("grokdash: nothing sent", err=True)
        return EXIT_USAGE
    settings.require_key()
    click.echo(f"to create again, {_count(len(rows), 'task')}:", err=True)
    for line in _batch_summary([request for _, request, _ in rows], settings, store):
        click.echo(line, err=True)
    if not yes:
        if not _stdin_is_terminal():
            raise UsageError("standard input is not a terminal: pass --yes to create them")
        if not click.confirm(f"Create {_count(len(rows), 'task')}?", default=False, err=True):
            click.echo("grokdash: not created", err=True)
            return EXIT_OK

    async def send() -> int:
        failed = 0
        async with _client(settings) as client:
            for old_id, request, label in rows:
                estimated = spend.estimate(
                    request, store.tasks(), settings.prices, settings.budget_per_day, time.time()
                )
                problem = None if over_budget else spend.budget_problem(estimated, request.model)
                if problem is not None:
                    click.echo(f"grokdash: {printable(old_id)} not run again: {problem}", err=True)
                    return EXIT_FAILED
                try:
                    task = await core.create_and_track(client, store, request, label=label)
                except core.CreatedNotTrackedError as error:
                    click.echo(error.task.id)
                    click.echo(f"grokdash: {error.message}", err=True)
                    failed += 1
                    continue
                except (ApiError, core.CreateUncertainError) as error:  # refused, or may have been made
                    click.echo(f"grokdash: {printable(old_id)} not run again: {error.message}", err=True)
                    failed += 1
                    continue
                click.echo(task.id)
                click.echo(f"ran {printable(old_id)} again as {task.id}; tracking it", err=True)
        return EXIT_FAILED if failed else EXIT_OK

    return asyncio.run(send())


# ---- stats ----------------------------------------------------------------------------------------


@cli.command(short_help="Where the time and the money went.")
@click.option("--since", metavar="SPAN", help="Only the tasks begun in the last SPAN: 7d, 24h, 90m, 2w.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--live-only", is_flag=True, help="Leave out the archived tasks (grokdash archive).")
@settings_options
@click.pass_context
def stats(ctx: click.Context, since: str | None, as_json: bool, live_only: bool, **flags: Any) -> int:
    """Per model: the tasks, how many completed, failed or were moderated, the median and 90th
    percentile time from created to completed, the seconds of video made, and the estimated spend (by
    [prices]; tasks created here only); the commonest failure reasons; tasks and spend per day.

    From the task database alone: nothing is asked of the API. The archived tasks (grokdash archive)
    count too, unless --live-only.
    """
    from grokdash import spend

    settings = _settings(ctx, flags)
    from grokdash.stats import COLUMNS as STATS_COLUMNS
    from grokdash.stats import compute as compute_stats
    from grokdash.stats import parse_since

    span = parse_since(since) if since else None
    store = _open_store(settings)
    tasks = store.tasks() if live_only else [*store.tasks(), *_archived_tasks(settings, store)]
    result = compute_stats(tasks, settings.prices, since=span)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2, ensure_ascii=False))
        return EXIT_OK
    if not result.models:
        click.echo("no tasks" + (f" begun in the last {since}" if since else "") + ".")
        return EXIT_OK
    header = [name.upper() for name in STATS_COLUMNS]
    rows = [(model.cells(result.priced), "") for model in result.models.values()]
    click.echo(render_table(header, rows, color=False))
    if result.failures:
        click.echo("\ncommonest failures:")
        for reason, count in result.failures:
            click.echo(f"  {count:>5}  {printable(reason)}")
    click.echo("\nper day:")
    most = max(tasks for _, tasks, _ in result.days)
    for day, tasks, cost in result.days:
        bar = "█" * max(1, round(20 * tasks / most))
        money = f"  ≈ {spend.money(cost)}" if result.priced else ""
        click.echo(f"  {day}  {tasks:>5}  {bar}{money}")
    return EXIT_OK


# ---- archive --------------------------------------------------------------------------------------


def _open_archive(settings: Settings) -> TaskStore:
    from grokdash.archive import open_archive

    archive = open_archive(settings.db)
    for notice in archive.notices:
        click.echo(f"grokdash: warning: {notice}", err=True)
    return archive


def _archived_tasks(settings: Settings, live: TaskStore | None = None) -> list[TrackedTask]:
    """The archive's tasks (`ls --archived`, `stats`), a task in both databases counted as live."""
    from grokdash.archive import archived_tasks

    return archived_tasks(live or _open_store(settings), _open_archive(settings))


def _say_settled(settled: list[str]) -> None:
    if settled:
        n = len(settled)
        click.echo(
            f"grokdash: note: {_count(n, 'task')} {'was' if n == 1 else 'were'} in both the live list and "
            "the archive (a move was cut short); the live copy was kept",
            err=True,
        )


@cli.command(name="archive", short_help="Move finished tasks to the archive beside the database.")
@click.option(
    "--older-than",
    metavar="SPAN",
    default="30d",
    show_default=True,
    help="Only tasks that became final at least SPAN ago: 30d, 12h, 90m, 2w; 0d: any age.",
)
@click.option(
    "--status",
    "statuses",
    metavar="S,…",
    help="Only tasks that ended so, comma separated: completed, failed, or another final status a "
    "tracked task has (moderated…).",
)
@click.option("--saved", is_flag=True, help="Only tasks whose video is saved.")
@click.option("--dry-run", is_flag=True, help="List what would be archived; move nothing.")
@settings_options
@click.pass_context
def archive_command(
    ctx: click.Context, older_than: str, statuses: str | None, saved: bool, dry_run: bool, **flags: Any
) -> int:
    """Move finished tasks out of the live list into the archive, a task database of the same format
    beside it (for --db X/tasks.json, X/tasks.archive.json), so the list, and every write of it, holds
    only what is still worth watching. `ls --archived` lists the archive, `stats` counts it, and
    `unarchive ID` brings a task back (a later archive run takes it again if it still qualifies).

    Only final tasks move (completed, failed, any other ending), by the time their final status was
    first seen. Completed videos not saved yet stay in the live list (archived, grokdash would never
    save them), and are counted. Each task is copied into the archive before it leaves the list, so a
    kill at any moment loses none: the next run settles a task left in both.
    """
    from grokdash.archive import (
        Selection,
        archive_path,
        choose,
        move_to_archive,
        parse_older_than,
        parse_statuses,
    )

    settings = _settings(ctx, flags)
    span = parse_older_than(older_than)
    store = _open_store(settings)
    tasks = store.tasks()
    wanted = parse_statuses(statuses, tasks) if statuses is not None else None
    selection = Selection(span, wanted, saved)
    plan = choose(tasks, selection, time.time(), settings.download_dir, with_label=settings.label_in_filename)
    path = archive_path(settings.db)
    kept = plan.kept_sentence()
    if dry_run:
        if not plan.chosen:
            click.echo(f"nothing to archive: {plan.nothing_sentence(older_than)}", err=True)
            return EXIT_OK
        disk = _look_at_disk(settings, plan.chosen)
        click.echo(render_tracked_table(plan.chosen, color=_color_wanted(), disk=disk))
        would = f"would archive {_count(len(plan.chosen), 'task')} to {path}"
        click.echo(f"dry run: {would}; nothing moved", err=True)
        if kept is not None:
            click.echo(f"grokdash: note: {kept}", err=True)
        return EXIT_OK
    if not plan.chosen and not os.path.lexists(path):  # no archive yet: nothing to settle either
        click.echo(f"nothing to archive: {plan.nothing_sentence(older_than)}", err=True)
        return EXIT_OK
    # Even with nothing chosen: this run settles a task an earlier, killed one left in both databases.
    done = move_to_archive(store, _open_archive(settings), [tracked.id for tracked in plan.chosen])
    _say_settled(done.settled)
    if done.moved:
        click.echo(f"archived {_count(len(done.moved), 'task')} to {path}")
        if kept is not None:
            click.echo(f"grokdash: note: {kept}", err=True)
    elif plan.chosen:
        click.echo("nothing archived: the tasks chosen left the live list meanwhile", err=True)
    else:
        click.echo(f"nothing to archive: {plan.nothing_sentence(older_than)}", err=True)
    return EXIT_OK


@cli.command(short_help="Bring archived tasks back to the live list.")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@settings_options
@click.pass_context
def unarchive(ctx: click.Context, ids: tuple[str, ...], **flags: Any) -> int:
    """Move tasks from the archive (grokdash archive) back to the live list, with all their fields:
    into the list first, then out of the archive, so a kill at any moment loses none.

    Exit status 1 when an id is in neither.
    """
    from grokdash.archive import archive_path, move_to_live

    settings = _settings(ctx, flags)
    done = move_to_live(_open_store(settings), _open_archive(settings), ids)
    _say_settled(done.settled)
    _say("unarchived", [tracked.id for tracked in done.moved])
    _say("already tracked", done.already)
    if done.unknown:
        named = ", ".join(safe_snippet(task_id, 60) for task_id in done.unknown[:10])
        more = f" and {len(done.unknown) - 10} more" if len(done.unknown) > 10 else ""
        verb = "is" if len(done.unknown) == 1 else "are"
        click.echo(
            f"grokdash: {named}{more} {verb} neither archived (in {archive_path(settings.db)}) nor tracked",
            err=True,
        )
        return EXIT_FAILED
    return EXIT_OK


# ---- sim ------------------------------------------------------------------------------------------


def _scenario_help() -> str:
    from grokdash.sim import SCENARIOS

    lines = ["\b", "Scenarios: a task id equal to a name, or starting with 'name-', behaves so:"]
    width = max(len(name) for name in SCENARIOS)
    lines += [f"  {name.ljust(width)}  {description}" for name, description in SCENARIOS.items()]
    lines.append("  (any other id)  a normal task: queued, then processing, then completed")
    lines += [
        "",
        "With --rate-limit, every request of a key counts, whatever its id. A refused one does not count; "
        "its Retry-After is the whole seconds until the window has room.",
    ]
    return "\n".join(lines)


class _RateLimitType(click.ParamType):
    name = "N[/SECONDS]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from grokdash.sim.ratelimit import RateLimit

        if isinstance(value, RateLimit):
            return value
        try:
            return RateLimit.parse(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


def _seconds_option(flag: str, default: float, help_text: str) -> Callable[[F], F]:
    return click.option(flag, type=click.FloatRange(0), default=default, show_default=True, help=help_text)


@cli.command(cls=_EpilogWhenShown, epilog_from=_scenario_help)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8750, show_default=True, help="Port on 127.0.0.1."
)
@click.option("--key", metavar="KEY", help="Accept only this API key (default: any non-empty key).")
@_seconds_option("--queued", 3.0, "Seconds a task stays queued.")
@_seconds_option("--processing", 12.0, "Seconds a task stays processing.")
@_seconds_option("--latency", 0.0, "Seconds added to every answer.")
@_seconds_option("--slow", 5.0, "Seconds a 'slow' task takes to answer.")
@click.option(
    "--rate-limit",
    type=_RateLimitType(),
    help="Let each API key make at most N requests in any SECONDS (default 1), e.g. 100/60; beyond "
    "that, answer 429 with Retry-After. Default: no limit.",
)
@click.option(
    "--video-size",
    type=click.FloatRange(0, min_open=True),
    metavar="MB",
    help="Serve a video of this many megabytes (the sample, padded) instead of the 30 KB sample.",
)
@settings_options
@click.pass_context
def sim(
    ctx: click.Context,
    port: int,
    key: str | None,
    queued: float,
    processing: float,
    latency: float,
    slow: float,
    rate_limit: RateLimit | None,
    video_size: float | None,
    **flags: Any,
) -> int:
    """Serve the simulated API on 127.0.0.1 until interrupted.

    It answers like the real service, under the same path prefix, and logs each request.
    """
    from grokdash.sim import SimServer, Timings
    from grokdash.sim.media import sized_video

    video = None if video_size is None else sized_video(round(video_size * 1_000_000))
    try:
        server = SimServer(
            port=port,
            key=key,
            timings=Timings(queued_seconds=queued, processing_seconds=processing),
            latency=latency,
            slow_seconds=slow,
            rate_limit=rate_limit,
            on_request=lambda record: click.echo(record.describe()),
            video=video,
        )
    except OSError as exc:
        raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    click.echo(f"Simulated API at {server.base_url}  (Ctrl-C stops it)")
    if rate_limit is not None:
        click.echo(f"Rate limit: {rate_limit.describe()}; beyond it 429 with Retry-After")
    click.echo(
        f"Try:  GROKDASH_BASE_URL={server.base_url} GROKDASH_API_KEY=demo grokdash status hello fail-1"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.stop()
    return EXIT_OK


# ---- entry point ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the command line; turn every failure into one sentence and an exit status."""
    setup_logging(None)
    stdout = sys.stdout
    replace_unshowable(sys.stderr)
    sys.stdout = guard_output(stdout)  # type: ignore[assignment]
    try:
        code = cli.main(args=argv, prog_name="grokdash", standalone_mode=False)
        sys.stdout.flush()  # what is still buffered fails here, as this command's, not at the exit
    except OutputError as error:
        code = _output_failed(error, stdout)
    except click.exceptions.Abort:
        click.echo("grokdash: interrupted", err=True)
        code = 130
    except click.UsageError as error:  # one line, not click's three with a blank and an indent
        where = error.ctx.command_path if error.ctx is not None else "grokdash"
        message = " ".join(error.format_message().split())
        message = message[:1].lower() + message[1:].removesuffix(".")
        click.echo(f"grokdash: {message} (see {where} --help)", err=True)
        code = error.exit_code
    except click.ClickException as error:
        error.show()
        code = error.exit_code
    except UsageError as error:
        click.echo(f"grokdash: {error.message}", err=True)
        code = EXIT_USAGE
    except GrokdashError as error:
        click.echo(f"grokdash: {error.message}", err=True)
        code = EXIT_FAILED
    except KeyboardInterrupt:
        click.echo("grokdash: interrupted", err=True)
        code = 130
    except Exception as error:
        log.exception("unexpected error")
        click.echo(
            f"grokdash: unexpected error ({type(error).__name__}); the details are in {log_path()}", err=True
        )
        code = EXIT_FAILED
    finally:
        sys.stdout = stdout
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _output_failed(error: OutputError, stdout: Any) -> int:
    """Standard output would not take what the command printed. A closed pipe (`grokdash ls | head -1`)
    ends it quietly, as it does any Unix tool; a full disk or a closed standard output is one sentence.
    Exit 1 either way: what was meant to be printed was not. What is still buffered goes to the null
    device, so that the interpreter's last flush does not fail again ("Exception ignored…")."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no descriptor (a test's StringIO)
        fd = stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)
    if error.closed_pipe:
        log.info("the reader of the output went away before the end (a closed pipe)")
    else:
        log.warning("%s", error.message)
        with contextlib.suppress(OSError):  # standard error gone too: the exit status says it
            click.echo(f"grokdash: {error.message}", err=True)
    return EXIT_FAILED
