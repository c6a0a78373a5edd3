"""The dashboard end to end, as a person uses it: the installed `grokdash` in a real terminal (tmux),
against the simulator served by `grokdash sim` over loopback HTTP.

Everything runs in a private tmux server (`tmux -L <unique name>`, its own config, a clean environment),
so the user's tmux, clipboard, home and task list are never touched. Every wait polls the screen with a
deadline; nothing sleeps for a fixed while.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")

COLUMNS, LINES = 120, 32
POLL = 0.15
"""Seconds between two looks at the screen."""
STEP_TIMEOUT = 20.0
"""The most any one step may take: generous, for a loaded machine; a healthy run takes a few seconds."""

DONE_IDS = ("e2e-one", "e2e-two")
FAILED_ID = "fail-e2e"
IDS = (*DONE_IDS, FAILED_ID)
CONTROL_ID = "e2e-control"
"""Added between the two runs, so the second dashboard has something to ask about: when its answer shows,
the second dashboard has polled, and must not have asked about the three finished tasks."""
EXITED = "GROKDASH-EXITED"
SIM_COMMAND = (sys.executable, "-m", "grokdash", "sim", "--queued", "1", "--processing", "2")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def grokdash_command() -> list[str]:
    """The installed console script (this interpreter's bin folder first), else the module."""
    bin_dir = str(Path(sys.executable).parent)
    script = shutil.which("grokdash", path=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]))
    return [script] if script else [sys.executable, "-m", "grokdash"]


def row_status(screen: str, task_id: str) -> str | None:
    """The status word of the table row for `task_id`, or None when no row shows it.

    A row starts with the mark gutter and the status cell (`  ✔ completed  e2e-one …`); toasts, the
    dialog, the header and the summary line never start that way, so an id quoted in a notification
    is not mistaken for a row.
    """
    pattern = re.compile(rf"^[ ●] \S (?P<status>[a-z_]+)\b.*?\s{re.escape(task_id)}(?:\s|$)", re.MULTILINE)
    found = pattern.findall(screen)
    return found[0] if len(found) == 1 else None


def row_order(screen: str, ids: tuple[str, ...]) -> list[str]:
    """The ids in the order their rows appear on the screen."""
    lines = screen.splitlines()
    position = {}
    for task_id in ids:
        for number, line in enumerate(lines):
            if row_status(line, task_id) is not None:
                position[task_id] = number
    return sorted(position, key=position.__getitem__)


# ---- the simulator --------------------------------------------------------------------------------


@dataclass
class Simulator:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/kyyReactApiServer"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def requests_for(self, task_id: str, since: int = 0) -> list[str]:
        """The request lines about `task_id` logged after byte `since` of the log."""
        suffix = f"/v1/result/{task_id}"
        return [line for line in self.log()[since:].splitlines() if suffix + " " in line + " "]


def start_simulator(tmp: Path) -> Simulator:
    """`grokdash sim` on a free port, once it accepts connections (a port taken meanwhile: another)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for attempt in range(3):
        port = free_port()
        log_path = tmp / f"sim-{attempt}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*SIM_COMMAND, "--port", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                time.sleep(0.05)
            else:
                return Simulator(process, port, log_path)
        stop_process(process)
    raise AssertionError(f"the simulator never listened; its output:\n{log_path.read_text()}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# ---- the terminal ---------------------------------------------------------------------------------


@dataclass
class Terminal:
    """A private tmux server; `capture` is what a person would see in the pane."""

    socket_name: str
    env: dict[str, str]
    tmp: Path
    diagnostics: Callable[[], str] = field(default=lambda: "")
    last_screen: str = ""

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert TMUX is not None
        return subprocess.run(
            [TMUX, "-L", self.socket_name, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=check,
        )

    def start_server(self) -> None:
        config = self.tmp / "tmux.conf"
        # OSC 52 from the program in the pane lands in tmux's paste buffer.
        config.write_text("set -g set-clipboard on\nset -g history-limit 100\n")
        self.tmux("-f", str(config), "start-server", ";", "set", "-g", "exit-empty", "off")

    def open(self, session: str, script: Path, columns: int = COLUMNS, lines: int = LINES) -> None:
        self.tmux("new-session", "-d", "-s", session, "-x", str(columns), "-y", str(lines), str(script))

    def capture(self, session: str) -> str:
        self.last_screen = self.tmux("capture-pane", "-p", "-t", session).stdout
        return self.last_screen

    def keys(self, session: str, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", session, *(["-l"] if literal else []), *keys)

    def buffer(self) -> str:
        result = self.tmux("show-buffer", check=False)
        return result.stdout if result.returncode == 0 else ""

    def wait_for(
        self,
        session: str,
        what: str,
        done: Callable[[str], bool],
        *,
        seen: Callable[[str], None] | None = None,
        timeout: float = STEP_TIMEOUT,
    ) -> str:
        """Look at the screen every POLL seconds until `done(screen)`; `seen` gets every screen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.capture(session)
            if seen is not None:
                seen(screen)
            if done(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{self.report()}")
            time.sleep(POLL)

    def report(self) -> str:
        return f"---- the screen ----\n{self.last_screen}\n{self.diagnostics()}"


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[Simulator]:
    sim = start_simulator(tmp_path)
    try:
        yield sim
    finally:
        stop_process(sim.process)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    home = tmp_path / "terminal-home"
    home.mkdir()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        # A clean environment: no DISPLAY (nothing reaches the real clipboard), no TMUX, no GROKDASH_*.
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", os.defpath)]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TERM": "xterm-256color",
    }
    term = Terminal(f"grokdash-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}", env, tmp_path)
    term.start_server()
    socket_path = term.tmux("display-message", "-p", "#{socket_path}").stdout.strip()
    try:
        yield term
    finally:
        term.tmux("kill-server", check=False)
        if socket_path:  # tmux leaves the socket file behind
            Path(socket_path).unlink(missing_ok=True)


# ---- the test -------------------------------------------------------------------------------------


def dashboard_script(tmp: Path, name: str, env: dict[str, str]) -> Path:
    """A shell script that runs the dashboard with `env`, then says how it exited and stays on screen."""
    exports = "\n".join(f"export {key}={shlex.quote(value)}" for key, value in env.items())
    command = shlex.join(grokdash_command())
    script = tmp / f"{name}.sh"
    script.write_text(
        f"#!/bin/sh\nunset DISPLAY WAYLAND_DISPLAY\n{exports}\n{command}\necho {EXITED} $?\nsleep 30\n"
    )
    script.chmod(0o755)
    return script


def grokdash_env(tmp_path: Path, simulator: Simulator) -> dict[str, str]:
    """The dashboard's environment: the simulator, a private database, and private XDG folders."""
    state = tmp_path / "xdg"
    return {
        "GROKDASH_BASE_URL": simulator.base_url,
        "GROKDASH_API_KEY": "e2e-key",
        "GROKDASH_DB": str(tmp_path / "tasks.json"),
        "GROKDASH_INTERVAL": "1",
        "GROKDASH_DESKTOP_NOTIFICATIONS": "false",
        "XDG_STATE_HOME": str(state / "state"),
        "XDG_CONFIG_HOME": str(state / "config"),
        "XDG_DATA_HOME": str(state / "data"),
        "XDG_DOWNLOAD_DIR": str(state / "Downloads"),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
    }


def app_log_of(env: dict[str, str]) -> Path:
    return Path(env["XDG_STATE_HOME"]) / "grokdash" / "grokdash.log"


def quit_dashboard(terminal: Terminal, session: str) -> None:
    """q, and yes when it asks (a video still saving); then the shell says how the dashboard exited."""
    terminal.keys(session, "q")
    terminal.wait_for(
        session, "the dashboard to exit or ask", lambda screen: EXITED in screen or "Quit?" in screen
    )
    if EXITED not in terminal.last_screen:
        terminal.keys(session, "y")
    terminal.wait_for(session, "the dashboard to exit", lambda screen: EXITED in screen)
    assert f"{EXITED} 0" in terminal.last_screen, terminal.report()
    assert "Traceback" not in terminal.last_screen, terminal.report()


def test_dashboard_in_a_real_terminal(tmp_path: Path, simulator: Simulator, terminal: Terminal) -> None:
    started = time.monotonic()
    timings: dict[str, float] = {}

    def mark(step: str) -> None:
        timings[step] = round(time.monotonic() - started, 2)

    env = grokdash_env(tmp_path, simulator)
    app_log = app_log_of(env)

    def diagnostics() -> str:
        grokdash_log = app_log.read_text(errors="replace")[-4000:] if app_log.exists() else "(none)"
        return (
            f"---- simulator log ----\n{simulator.log()[-4000:]}\n"
            f"---- grokdash.log ----\n{grokdash_log}\n---- timings ----\n{timings}"
        )

    terminal.diagnostics = diagnostics

    # ---- the first run: add three ids and watch them end ----
    terminal.open("first", dashboard_script(tmp_path, "first", env))
    terminal.wait_for("first", "the table header", lambda screen: "STATUS" in screen)
    mark("table shown")

    terminal.keys("first", "a")
    terminal.wait_for("first", "the add dialog", lambda screen: "Add task ids" in screen)
    terminal.keys("first", " ".join(IDS), literal=True)
    terminal.wait_for("first", "the ids typed into the dialog", lambda screen: " ".join(IDS) in screen)
    terminal.keys("first", "Enter")
    mark("ids added")

    seen_running: set[tuple[str, str]] = set()

    def note_running(screen: str) -> None:
        for task_id in IDS:
            status = row_status(screen, task_id)
            if status in ("queued", "processing"):
                seen_running.add((task_id, status))

    def all_ended(screen: str) -> bool:
        return all(row_status(screen, task_id) == "completed" for task_id in DONE_IDS) and (
            row_status(screen, FAILED_ID) == "failed"
        )

    def sorted_failed_first(screen: str) -> bool:
        # Rows change in place as answers come; the order catches up within a second.
        return all_ended(screen) and row_order(screen, IDS)[0] == FAILED_ID

    ended = terminal.wait_for(
        "first", "two completed rows and one failed, sorted", sorted_failed_first, seen=note_running
    )
    mark("all final")
    assert seen_running, f"never saw a task queued or processing\n{terminal.report()}"

    # The default order puts failed before completed: the last row is a completed task.
    order = row_order(ended, IDS)
    assert order[0] == FAILED_ID and set(order[1:]) == set(DONE_IDS), f"{order}\n{terminal.report()}"
    last = order[-1]

    # ---- copy the last row's video URL: OSC 52 lands in tmux's buffer ----
    terminal.keys("first", "G")
    terminal.keys("first", "c")
    url_pattern = re.compile(rf"^http://\S+/media/{re.escape(last)}\b\S*$")
    deadline = time.monotonic() + STEP_TIMEOUT
    while not url_pattern.match(terminal.buffer().strip()):
        assert time.monotonic() < deadline, (
            f"tmux's buffer never held {last}'s URL: {terminal.buffer()!r}\n{terminal.report()}"
        )
        time.sleep(POLL)
    copied = terminal.buffer().strip()
    mark("url copied")
    assert simulator.base_url in copied

    # ---- quit ----
    quit_dashboard(terminal, "first")
    mark("quit")
    terminal.tmux("kill-session", "-t", "first")

    # ---- the second run: the list comes back from the database, and final tasks are not asked again ----
    add = subprocess.run(
        [*grokdash_command(), "add", CONTROL_ID],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
    )
    assert add.returncode == 0, add.stderr
    since = len(simulator.log())

    terminal.open("second", dashboard_script(tmp_path, "second", env))
    header = terminal.wait_for("second", "the table header again", lambda screen: "STATUS" in screen)
    mark("table shown again")
    restored = terminal.wait_for("second", "the three tasks from the database", all_ended)
    mark("tasks shown again")
    # From the database at once: on the first frame with the table, or within a moment of it.
    assert timings["tasks shown again"] - timings["table shown again"] < 2.0, terminal.report()
    assert row_order(restored, IDS)[0] == FAILED_ID, terminal.report()

    # The control task ends only after three rounds of polling (queued 1 s, then processing 2 s).
    terminal.wait_for(
        "second", "the control task to complete", lambda screen: row_status(screen, CONTROL_ID) == "completed"
    )
    mark("control completed")
    assert simulator.requests_for(CONTROL_ID, since), diagnostics()
    for task_id in IDS:
        assert simulator.requests_for(task_id, since) == [], (
            f"{task_id} is final but was asked about again after the restart\n{diagnostics()}"
        )
    # Still as they were.
    assert all_ended(terminal.last_screen), terminal.report()

    # The control task's video may still be saving: then q asks once ("… they resume next time. Quit?").
    quit_dashboard(terminal, "second")
    mark("quit again")

    print(f"\nfirst screen with every task final:\n{ended}\nsecond run, on start:\n{header}")
    print(f"copied: {copied}\nseen running: {sorted(seen_running)}\ntimings (s): {timings}")


SORT_IDS = ("e2e-a10", "e2e-b", "e2e-a2", "fail-e2e-x")
"""Tracked before the dashboard opens; sorted by id, naturally: e2e-a2 before e2e-a10."""
WIDE = 170
"""Columns of the terminal for the pane test: wide enough for the pane to sit beside the list."""


def pane_title(screen: str) -> str | None:
    """The id in the details pane's top border (`╭─ e2e-a2 ───╮`), or None when no pane is drawn."""
    found = re.findall(r"╭─ (\S+) ─", screen)
    return found[0] if len(found) == 1 else None


def header_line(screen: str) -> str:
    return next((line for line in screen.splitlines() if "STATUS" in line and "ID" in line), "")


def test_sort_the_side_pane_copy_an_id_and_the_events_screen_in_a_real_terminal(
    tmp_path: Path, simulator: Simulator, terminal: Terminal
) -> None:
    env = grokdash_env(tmp_path, simulator)
    terminal.diagnostics = lambda: (
        f"---- grokdash.log ----\n{app_log_of(env).read_text(errors='replace')[-4000:]}"
        if app_log_of(env).exists()
        else ""
    )
    add = subprocess.run(
        [*grokdash_command(), "add", *SORT_IDS],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
    )
    assert add.returncode == 0, add.stderr
    terminal.open("keys", dashboard_script(tmp_path, "keys", env), columns=WIDE)

    def all_final(screen: str) -> bool:
        return all(row_status(screen, task_id) == "completed" for task_id in SORT_IDS[:3]) and (
            row_status(screen, SORT_IDS[3]) == "failed"
        )

    terminal.wait_for("keys", "every task final", all_final)

    # ---- sort by id (t steps from status to id), natural order; T turns it round ----
    terminal.keys("keys", "t")
    by_id = terminal.wait_for(
        "keys",
        "the id sort",
        lambda screen: (
            "ID ▲" in header_line(screen)
            and row_order(screen, SORT_IDS) == ["e2e-a2", "e2e-a10", "e2e-b", "fail-e2e-x"]
        ),
    )
    assert "STATUS ▲" not in header_line(by_id)
    terminal.keys("keys", "T")
    terminal.wait_for(
        "keys",
        "the id sort turned round",
        lambda screen: (
            "ID ▼" in header_line(screen)
            and row_order(screen, SORT_IDS) == ["fail-e2e-x", "e2e-b", "e2e-a10", "e2e-a2"]
        ),
    )

    # ---- the side pane follows the cursor ----
    terminal.keys("keys", "g", "v")
    beside = terminal.wait_for("keys", "the pane on the first row", lambda s: pane_title(s) == "fail-e2e-x")
    pane_row = next(line for line in beside.splitlines() if "╭─ fail-e2e-x ─" in line)
    assert pane_row.index("╭") > WIDE // 3, f"the pane is not beside the list\n{terminal.report()}"
    assert "content moderation" in beside or "Error" in beside, terminal.report()
    terminal.keys("keys", "j")
    terminal.wait_for("keys", "the pane to follow the cursor", lambda s: pane_title(s) == "e2e-b")

    # ---- copy the id from the copy menu: OSC 52 lands in tmux's buffer (set-clipboard on) ----
    terminal.keys("keys", "y")
    terminal.wait_for("keys", "the copy menu", lambda screen: "Copy, of the selected task" in screen)
    terminal.keys("keys", "i")
    deadline = time.monotonic() + STEP_TIMEOUT
    while terminal.buffer().strip() != "e2e-b":
        assert time.monotonic() < deadline, f"tmux's buffer: {terminal.buffer()!r}\n{terminal.report()}"
        time.sleep(POLL)

    # ---- the events screen: what finished while the dashboard watched, newest first ----
    terminal.keys("keys", "e")
    events = terminal.wait_for("keys", "the events screen", lambda screen: "Events since" in screen)
    lines = events.splitlines()
    finished = [line for line in lines if re.search(r"\b(completed|failed)\b", line) and "e2e" in line]
    assert {task_id for task_id in SORT_IDS if any(task_id in line for line in finished)} == set(SORT_IDS), (
        terminal.report()
    )
    times = [m.group(0) for line in lines if (m := re.search(r"\b\d\d:\d\d:\d\d\b", line))]
    assert times == sorted(times, reverse=True), f"not newest first\n{terminal.report()}"
    terminal.keys("keys", "Escape")
    terminal.wait_for(
        "keys", "the list again", lambda screen: "Events since" not in screen and "STATUS" in screen
    )

    quit_dashboard(terminal, "keys")
