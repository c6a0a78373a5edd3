"""Commands that start at once (issue 15): scripts call `grokdash add`, `ls` and `status` thousands of
times, so `import grokdash.cli`, and the commands that ask the API nothing, must not load what only
other commands use: the dashboard, the HTTP client, asyncio, the poller, the saver, the simulator.

Each check runs a fresh interpreter and looks at `sys.modules`: what was imported, never how long it
took (bench/startup.py measures that)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = {
    "textual": "the dashboard's toolkit (`grokdash` alone opens the dashboard)",
    "grokdash.tui": "the dashboard",
    "httpx": "the HTTP client, with rich and pygments through it",
    "anyio": "httpx's async layer",
    "asyncio": "the event loop: for the commands that talk HTTP or poll",
    "grokdash.api": "the API client (httpx)",
    "grokdash.poller": "the polling engine (asyncio): watch and batch only",
    "grokdash.downloads": "the downloader (httpx): download and --save only",
    "grokdash.saver": "the saver: download and --save only",
    "grokdash.sim": "the simulator: `grokdash sim` and --demo only",
    "grokdash.demo": "the demo (the simulator): --demo only",
    "grokdash.batchrun": "sending a batch: batch only",
    "grokdash.stats": "the stats: stats only",
    "logging.handlers": "socket, pickle and queue (logs.RotatingLog rotates without it)",
}
"""Module (and its submodules) -> what it is, for the failure message."""

LIGHT_AT_IMPORT = {"rich": "rich (a table of plain text needs none of it)"}
"""Not loaded by the import alone either; a command may load it (a label in CJK is measured by rich)."""

PROBE = """
import json, sys
out, args = sys.argv[1], sys.argv[2:]
try:
    if args == ["--import-only"]:
        import grokdash.cli
    else:
        from grokdash.cli import main
        main(args)
finally:
    with open(out, "w", encoding="utf-8") as file:
        json.dump(sorted(sys.modules), file)
"""


def loaded(names: list[str], wanted: dict[str, str]) -> list[str]:
    """The `wanted` modules among `names`, each with what it is."""
    return sorted(
        f"{name} ({why})"
        for name, why in wanted.items()
        if any(module == name or module.startswith(name + ".") for module in names)
    )


@pytest.fixture
def folder(tmp_path: Path, home: Path) -> Path:
    """A database with one task, and a config file with a key (read, never used), all in tmp_path."""
    config = tmp_path / "config.toml"
    config.write_text('api_key = "test-key"\n', encoding="utf-8")
    config.chmod(0o600)
    return tmp_path


def run(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`grokdash ARGS` in a fresh interpreter (no command: only `import grokdash.cli`), and the modules
    it had loaded when it ended. Every file it touches is in `folder`: the conftest's `home` fixture has
    pointed the XDG folders there and cleared GROKDASH_*; the config comes through the environment."""
    out = folder / "modules.json"
    env = dict(os.environ, HOME=str(folder / "home"), GROKDASH_CONFIG=str(folder / "config.toml"))
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *(args or ("--import-only",))],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, json.loads(out.read_text(encoding="utf-8"))


def test_importing_the_command_line_loads_nothing_heavy(folder):
    # Also what keeps run_dashboard's import of the dashboard lazy: the layers contract lets cli import
    # grokdash.tui, and this is what says it does so only when the dashboard opens.
    result, modules = run(folder)
    assert result.returncode == 0, result.stderr
    assert "grokdash.cli" in modules
    assert loaded(modules, {**HEAVY, **LIGHT_AT_IMPORT}) == []


COMMANDS = [
    ["--help"],
    ["add", "task-2"],
    ["ls"],
    ["ls", "--json"],
    ["rm", "task-1"],
    ["export"],
    ["sim", "--help"],
]
"""Commands that ask the API nothing (`sim --help`: the simulator's help, not the simulator)."""


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_command_that_asks_the_api_nothing_loads_no_http_client(folder, args):
    db = str(folder / "tasks.json")
    added, _ = run(folder, "add", "task-1", "--db", db)
    assert added.returncode == 0, added.stderr
    assert "tracking (1): task-1" in added.stdout

    result, modules = run(folder, *args, "--db", db)

    assert result.returncode == 0, result.stderr
    heavy = dict(HEAVY)
    if args[0] == "sim":  # its help names the scenarios, which are the simulator's
        heavy = {name: why for name, why in heavy.items() if not name.startswith("grokdash.sim")}
        assert "notfound" in result.stdout
    assert loaded(modules, heavy) == []
    if args[0] == "ls":
        assert "task-1" in result.stdout


def test_status_loads_the_http_client_it_needs(folder, sim, sim_key):
    # The other side of the checks above: the probe does see a lazy import when a command makes one.
    assert sim_key == "test-key"  # the config file's key
    result, modules = run(folder, "status", "task-1", "--base-url", sim.base_url)
    assert result.returncode == 0, result.stderr
    assert "task-1" in result.stdout
    assert "httpx" in modules
    assert "grokdash.api" in modules
