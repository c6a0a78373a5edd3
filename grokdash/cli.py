"""The `grokdash` command. Each subcommand is a thin shell over the modules it names."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from grokdash import __version__
from grokdash.api import GrokClient, Timeouts
from grokdash.config import SPECS, ConfigError, Settings, load_settings
from grokdash.errors import ApiError, GrokdashError, InvalidIdError
from grokdash.logs import log_path, setup_logging
from grokdash.models import Status, Task, check_id, format_seconds

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

F = TypeVar("F", bound=Callable[..., Any])


def settings_options(command: F) -> F:
    """The settings flags every command takes (CONTRACT.md: every command takes the flags)."""
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


def _settings(ctx: click.Context, flags: dict[str, Any]) -> Settings:
    """Flags given to this command win over the same flags given before it, to `grokdash` itself."""
    merged = dict(ctx.find_root().params)
    merged.update({name: value for name, value in flags.items() if value is not None})
    wanted = {name: merged.get(name) for name in (*SPECS, "config")}
    settings = load_settings(wanted)
    for warning in settings.warnings:
        click.echo(f"grokdash: warning: {warning}", err=True)
    setup_logging(settings.api_key)
    return settings


def _client(settings: Settings) -> GrokClient:
    return GrokClient(
        settings.base_url,
        settings.require_key(),
        timeouts=Timeouts(read=settings.timeout),
        max_connections=settings.concurrency,
    )


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Settings come from flags, then the environment, then the config file. The API key is read "
    "from GROKDASH_API_KEY or api_key in the config file, never from a flag.",
)
@settings_options
@click.version_option(__version__, "-V", "--version", prog_name="grokdash")
@click.pass_context
def cli(ctx: click.Context, **flags: Any) -> int:
    """Track Grok video generation tasks until their videos are safe on disk."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
    return EXIT_OK


# ---- status ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryResult:
    """One id asked for: the task the API gave, or why it gave none."""

    id: str
    task: Task | None = None
    error: ApiError | None = None

    @property
    def ok(self) -> bool:
        return self.task is not None and self.task.status != Status.FAILED

    def as_json(self) -> dict[str, Any]:
        fields = self.task.api_fields() if self.task else dict.fromkeys(_API_FIELDS)
        fields["id"] = self.id
        fields["query_error"] = self.error.as_json() if self.error else None
        return fields


_API_FIELDS = ("id", "status", "model", "created", "video_url", "actualDuration", "error")


async def query_tasks(client: GrokClient, ids: Iterable[str], concurrency: int) -> list[QueryResult]:
    """Ask for every id at once (at most `concurrency` in flight); results in the order asked."""
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
    valid, refused = [], []
    for task_id in _unique(ids):
        try:
            valid.append(check_id(task_id))
        except InvalidIdError as error:
            refused.append(QueryResult(task_id, error=error))
    return valid, refused


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
        click.echo(render_status_table(results, now=time.time(), color=_color_wanted()))

    if refused:
        return EXIT_USAGE
    return EXIT_OK if all(result.ok for result in results) else EXIT_FAILED


STATUS_STYLE = {
    Status.QUEUED: ("·", "blue"),
    Status.PROCESSING: ("▸", "yellow"),
    Status.COMPLETED: ("✓", "green"),
    Status.FAILED: ("✗", "red"),
}


def render_status_table(results: list[QueryResult], *, now: float, color: bool) -> str:
    """One line per id: status, model, age, and the video URL, the task's error or the query's error."""
    rows = [("ID", "STATUS", "MODEL", "AGE", "RESULT")]
    styles: list[str | None] = [None]
    for result in results:
        if result.task is None:
            assert result.error is not None
            rows.append((result.id, f"! {result.error.kind}", "-", "-", result.error.message))
            styles.append("red")
            continue
        task = result.task
        mark, style = STATUS_STYLE.get(task.status, ("?", "magenta"))
        age = format_seconds(now - task.created) if task.created else "-"
        if task.video_url:
            length = f" ({task.actual_duration:g} s of video)" if task.actual_duration else ""
            outcome = task.video_url + length
        else:
            outcome = task.error or ""
        rows.append((task.id, f"{mark} {task.status}", task.model or "-", age, outcome))
        styles.append(style)

    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = []
    for row, style in zip(rows, styles, strict=True):
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        if color and style:
            cells[1] = click.style(cells[1], fg=style)
        if color and style is None:
            cells = [click.style(cell, bold=True) for cell in cells]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    return "\n".join(lines)


def _color_wanted() -> bool:
    return sys.stdout.isatty()


# ---- sim ------------------------------------------------------------------------------------------


def _scenario_help() -> str:
    from grokdash.sim import SCENARIOS

    lines = ["\b", "Scenarios: a task id equal to a name, or starting with 'name-', behaves so:"]
    width = max(len(name) for name in SCENARIOS)
    lines += [f"  {name.ljust(width)}  {description}" for name, description in SCENARIOS.items()]
    lines.append("  (any other id)  a normal task: queued, then processing, then completed")
    return "\n".join(lines)


@cli.command(epilog=_scenario_help())
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8750, show_default=True, help="Port on 127.0.0.1."
)
@click.option("--key", metavar="KEY", help="Accept only this API key (default: any non-empty key).")
@click.option(
    "--queued", type=click.FloatRange(0), default=3.0, show_default=True, help="Seconds a task stays queued."
)
@click.option(
    "--processing",
    type=click.FloatRange(0),
    default=12.0,
    show_default=True,
    help="Seconds a task stays processing.",
)
@click.option(
    "--latency",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Seconds added to every answer.",
)
@click.option(
    "--slow",
    type=click.FloatRange(0),
    default=5.0,
    show_default=True,
    help="Seconds a 'slow' task takes to answer.",
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
    **flags: Any,
) -> int:
    """Serve the simulated API on 127.0.0.1 until interrupted.

    It answers like the real service, under the same path prefix, and logs each request.
    """
    from grokdash.sim import SimServer, Timings

    try:
        server = SimServer(
            port=port,
            key=key,
            timings=Timings(queued_seconds=queued, processing_seconds=processing),
            latency=latency,
            slow_seconds=slow,
            on_request=lambda record: click.echo(record.describe()),
        )
    except OSError as exc:
        raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    click.echo(f"Simulated API at {server.base_url}  (Ctrl-C stops it)")
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
    try:
        code = cli.main(args=argv, prog_name="grokdash", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("grokdash: interrupted", err=True)
        code = 130
    except click.ClickException as error:
        error.show()
        code = error.exit_code
    except ConfigError as error:
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
    sys.exit(code if isinstance(code, int) else EXIT_OK)
