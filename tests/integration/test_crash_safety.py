"""Crash safety, as a user would check it: whatever instant `grokdash watch` or the dashboard is killed at
(SIGKILL: no cleanup, no atexit), while another process keeps running `grokdash add` and `grokdash rm` on the
same database, the database still loads, holds every id an `add` reported, and none an `rm` reported gone.
And a database that is truncated or garbage when grokdash starts is moved aside, said so in one sentence,
and grokdash carries on with a working database.

The kill moments are random but seeded: the seed is in each test's id, and GROKDASH_CRASH_SEED picks
another one (`GROKDASH_CRASH_SEED=7 pytest tests/integration/test_crash_safety.py`). The assertions never
depend on when a kill landed; the soak variants (`-m soak`) kill a few hundred times per surface.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from grokdash.sim import SimServer, Timings
from grokdash.store import TaskStore

from .cli import CliResult, run_cli

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals and ptys")

SEED = int(os.environ.get("GROKDASH_CRASH_SEED", "20251128"))
KILLS, SOAK_KILLS = 10, 200
START_TIMEOUT = 30.0
"""Seconds a real process may take to start or to write once: generous, for a loaded machine."""
COMMAND_TIMEOUT = 60.0
COLUMNS, LINES = 120, 32


def grokdash_command() -> list[str]:
    """The installed console script (this interpreter's bin folder first), else the module."""
    bin_dir = str(Path(sys.executable).parent)
    script = shutil.which("grokdash", path=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]))
    return [script] if script else [sys.executable, "-m", "grokdash"]


def run_grokdash(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*grokdash_command(), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )


def wait_until(condition: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
    """Poll `condition` until it holds; only for a real process that has to start or do work."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


# ---- the other process: `grokdash add` and `grokdash rm` in a loop ---------------------------------------


class ListKeeper(threading.Thread):
    """Someone running `grokdash add` (and now and then `grokdash rm`) over and over on the shared database,
    keeping what each command reported. `paused()` waits for the command in flight, so a check sees a
    database no add or rm is half-way through (the killed process is the one being tested)."""

    def __init__(self, env: dict[str, str], seed: int) -> None:
        super().__init__(name="list-keeper", daemon=True)
        self.env = env
        self.rng = random.Random(seed)
        self.added: set[str] = set()
        """Ids an `add` reported it tracks now (exit 0 and the ids on its `tracking` line)."""
        self.removed: set[str] = set()
        """Ids an `rm` reported it stopped tracking. Ids are never reused, so none may come back."""
        self.problems: list[str] = []
        self.commands = 0
        self._next_id = 0
        self._may_run = threading.Event()
        self._may_run.set()
        self._busy = threading.Lock()
        self._stopping = threading.Event()

    @property
    def tracked(self) -> set[str]:
        """What the database must hold now, by what the commands reported."""
        return self.added - self.removed

    def run(self) -> None:
        while True:
            self._may_run.wait()
            if self._stopping.is_set():
                return
            with self._busy:
                if self._may_run.is_set() and not self._stopping.is_set():
                    self._one_command()
            # A person's pace, not a busy loop: each command costs a core for a third of a second, and
            # the process under test needs the other one on a two-core machine.
            self._stopping.wait(self.rng.uniform(0.0, 0.3))

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self._may_run.clear()
        try:
            with self._busy:
                yield
        finally:
            self._may_run.set()

    def stop(self) -> None:
        self._stopping.set()
        self._may_run.set()
        self.join(timeout=COMMAND_TIMEOUT)

    def _one_command(self) -> None:
        self.commands += 1
        # The third command is always an rm, so every run removes something; after that one in four.
        removing = self.commands == 3 or self.rng.random() < 0.25
        if removing and self.tracked:
            task_id = self.rng.choice(sorted(self.tracked))
            result = run_grokdash(["rm", task_id], self.env)
            if (result.returncode, result.stdout, result.stderr) == (
                0,
                f"stopped tracking (1): {task_id}\n",
                "",
            ):
                self.removed.add(task_id)
            else:
                self.problems.append(
                    f"rm {task_id}: exit {result.returncode} {result.stdout!r} {result.stderr!r}"
                )
            return
        ids = [f"t{self._next_id + n}" for n in range(self.rng.randint(1, 3))]
        self._next_id += len(ids)
        result = run_grokdash(["add", *ids], self.env)
        said = f"tracking ({len(ids)}): {', '.join(ids)}\n"
        if (result.returncode, result.stdout, result.stderr) == (0, said, ""):
            self.added.update(ids)
        else:
            self.problems.append(f"add {ids}: exit {result.returncode} {result.stdout!r} {result.stderr!r}")


# ---- the processes killed --------------------------------------------------------------------------------


class Victim(Protocol):
    process: subprocess.Popen[bytes]

    def ready(self) -> bool:
        """Whether it is up: watch said what it watches, the dashboard drew its table."""
        ...

    def trouble(self) -> list[str]:
        """What it said that no healthy run says: a traceback, an unreadable database, an error."""
        ...

    def close(self) -> None: ...


Starter = Callable[[dict[str, str], Path], Victim]


class WatchProcess:
    """`grokdash watch`: polls every tracked task until all are final, writing each round's answers."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.out = folder / "watch.out"
        with self.out.open("wb") as out:
            self.process = subprocess.Popen(
                [*grokdash_command(), "watch"], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )

    def ready(self) -> bool:
        return b"watching " in self.out.read_bytes()

    def trouble(self) -> list[str]:
        text = self.out.read_text(encoding="utf-8", errors="replace")
        return [line for line in text.splitlines() if line.startswith(("grokdash:", "Traceback"))]

    def close(self) -> None:
        pass


class DashboardProcess:
    """The dashboard (`grokdash` with no command) in a pseudo-terminal of its own, drained by a thread so
    it never blocks writing to the screen."""

    def __init__(self, env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        try:
            self.process = subprocess.Popen(
                grokdash_command(), env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self._master = master
        self.screen = bytearray()
        self._reader = threading.Thread(target=self._drain, name="pty-drain", daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            readable, _, _ = select.select([self._master], [], [], 0.5)
            if not readable:
                if self.process.poll() is not None:
                    return
                continue
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: the process is gone and the terminal closed
                return
            if not chunk:
                return
            self.screen += chunk

    def ready(self) -> bool:
        return b"STATUS" in self.screen  # the table header: the first frame is drawn

    def type(self, keys: str) -> None:
        os.write(self._master, keys.encode())

    def text(self) -> str:
        """What it wrote to the terminal, escape sequences and all."""
        return self.screen.decode("utf-8", errors="replace")

    def trouble(self) -> list[str]:
        text = self.text()
        return [said for said in ("Traceback", "not readable", "unexpected error") if said in text]

    def close(self) -> None:
        self._reader.join(timeout=10)
        os.close(self._master)


SURFACES: dict[str, Starter] = {
    "watch": lambda env, folder: WatchProcess(env, folder),
    "dashboard": lambda env, folder: DashboardProcess(env),
}


@dataclass(frozen=True)
class Kill:
    """When to kill: `delay` seconds after the process started, after its first frame or `watching` line
    (`running`), or after it wrote the database at least once (`writing`)."""

    after: str
    delay: float

    def __str__(self) -> str:
        return f"{self.after}+{self.delay:.3f}s"


def kill_plan(rng: random.Random, kills: int) -> list[Kill]:
    plan = []
    for _ in range(kills):
        after = rng.choices(["start", "running", "writing"], weights=[1, 2, 2])[0]
        plan.append(Kill(after, rng.uniform(0.0, 0.4 if after == "writing" else 0.8)))
    return plan


@dataclass
class Observer:
    """Reads the shared database as any other process would, without writing it."""

    db: Path
    store: TaskStore | None = None

    def last_checked(self) -> float:
        """The latest time any task was asked about: only the killed processes poll, the adds never do."""
        if self.store is None:
            self.store = TaskStore(self.db)
        self.store.refresh()
        return max((t.checked_at or 0.0 for t in self.store.tasks()), default=0.0)


def start_and_kill(start: Starter, env: dict[str, str], folder: Path, kill: Kill, seen: Observer) -> Victim:
    """Start one process and kill it at the planned moment; returns it, dead."""
    before = seen.last_checked()
    victim = start(env, folder)
    try:
        if kill.after == "running":
            wait_until(lambda: victim.ready() or victim.process.poll() is not None, "it to start")
        elif kill.after == "writing":
            wait_until(
                lambda: seen.last_checked() > before or victim.process.poll() is not None,
                "it to write the answers it polled",
            )
        time.sleep(kill.delay)  # the random moment itself, not a wait for work
    finally:
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=COMMAND_TIMEOUT)
        victim.close()
    return victim


def check_database(db: Path, keeper: ListKeeper, env: dict[str, str], context: str) -> None:
    """With no add or rm in flight: the database loads, through the store and `grokdash ls --json`, and
    holds exactly the ids the adds reported, less the ones the rms reported."""
    store = TaskStore(db)
    assert store.notices == [], context
    assert sorted(p.name for p in db.parent.iterdir() if ".corrupt-" in p.name) == [], context
    tracked = [t.id for t in store.tasks()]
    assert len(tracked) == len(set(tracked)), f"{context}: an id is stored twice"
    lost = sorted(keeper.tracked - set(tracked))
    assert lost == [], f"{context}: ids an add reported are gone"
    back = sorted(keeper.removed & set(tracked))
    assert back == [], f"{context}: ids an rm reported are back"
    assert set(tracked) == keeper.tracked, f"{context}: ids no add reported"

    # The command's own code path, run in this process: a subprocess would double the time of a check.
    listed = run_cli(["ls", "--json"], {"GROKDASH_DB": env["GROKDASH_DB"]})
    assert (listed.exit_code, listed.stderr) == (0, ""), context
    assert [row["id"] for row in json.loads(listed.stdout)] == tracked, context


def kill_repeatedly(surface: str, kills: int, seed: int, folder: Path) -> None:
    rng = random.Random(seed)
    plan = kill_plan(rng, kills)
    print(f"\n{surface}: seed {seed}, kills: {' '.join(map(str, plan))}")
    db = folder / "tasks.json"
    env = {
        **os.environ,
        "GROKDASH_DB": str(db),
        "GROKDASH_API_KEY": "crash-key",
        "GROKDASH_INTERVAL": "0.5",
        "GROKDASH_DESKTOP_NOTIFICATIONS": "false",
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
    }
    # Queued for 1 s, then processing for 3 s: the adds keep bringing unfinished tasks, so the victims
    # keep asking and writing the answers. Answers take 0.2 s, as a real server's do: an add often lands
    # while a round is out asking, between the victim's last read of the file and its write.
    with SimServer(timings=Timings(queued_seconds=1, processing_seconds=3), latency=0.2) as sim:
        env["GROKDASH_BASE_URL"] = sim.base_url
        keeper = ListKeeper(env, rng.randrange(2**32))
        keeper.start()
        observer = Observer(db)
        try:
            wait_until(lambda: keeper.commands > 3 or bool(keeper.problems), "the first adds and an rm")
            for n, kill in enumerate(plan):
                context = f"{surface}, seed {seed}, kill {n + 1} of {kills} ({kill})"
                victim = start_and_kill(SURFACES[surface], env, folder, kill, observer)
                # A process that ended before its kill (watch with nothing left to watch) ended well.
                assert victim.process.returncode in (0, -signal.SIGKILL), context
                assert victim.trouble() == [], context
                with keeper.paused():
                    assert keeper.problems == [], context
                    check_database(db, keeper, env, context)
        finally:
            keeper.stop()
    assert keeper.problems == []
    assert keeper.added and keeper.removed

    # The next writer sweeps any temp file a killed writer left behind.
    last = run_grokdash(["add", "after-the-kills"], env)
    assert (last.returncode, last.stderr) == (0, "")
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []
    print(f"{surface}: {keeper.commands} adds and rms beside {kills} kills, {len(keeper.tracked)} tracked")


def _cases() -> list[object]:
    cases = []
    for index, surface in enumerate(SURFACES):
        seed = SEED + index
        cases.append(pytest.param(surface, KILLS, seed, id=f"{surface}-{KILLS}kills-seed{seed}"))
        cases.append(
            pytest.param(
                surface,
                SOAK_KILLS,
                seed,
                marks=pytest.mark.soak,
                id=f"{surface}-{SOAK_KILLS}kills-seed{seed}",
            )
        )
    return cases


@pytest.mark.parametrize(("surface", "kills", "seed"), _cases())
def test_a_process_killed_at_any_moment_loses_no_add_and_brings_back_no_rm(
    surface: str, kills: int, seed: int, tmp_path: Path
) -> None:
    kill_repeatedly(surface, kills, seed, tmp_path)


# ---- a bad database at start -----------------------------------------------------------------------------


def _real_database(path: Path) -> bytes:
    TaskStore(path).add(["kept-1", "kept-2"])
    return path.read_bytes()


def _truncated(path: Path) -> bytes:
    """A real database cut off inside its first task id, as a crash of a non-atomic writer would leave it."""
    whole = _real_database(path)
    return whole[: whole.index(b"kept-1") + 3]


def _one_record_unreadable(path: Path) -> bytes:
    data = json.loads(_real_database(path))
    data["tasks"]["2"] = {"label": "no id"}
    return json.dumps(data).encode()


BAD_DATABASES: dict[str, Callable[[Path], bytes]] = {
    "truncated-json": _truncated,
    "random-bytes": lambda path: random.Random(SEED).randbytes(600),
    "json-array": lambda path: b"[1, 2, 3]\n",
    "json-string": lambda path: b'"kept-1"\n',
    "tasks-table-an-array": lambda path: b'{"tasks": ["kept-1"]}\n',
    "one-record-unreadable": _one_record_unreadable,
}
"""The bad file's bytes (some build a real database at `path` first). Only the last holds a task that
can still be read (kept-1)."""


def write_bad_database(kind: str, path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    content = BAD_DATABASES[kind](path)
    path.write_bytes(content)
    return content


def set_aside_sentence(db: Path, aside: Path) -> re.Pattern[str]:
    """The one sentence saying the file was moved and where (either wording: all lost, or some kept)."""
    what = r"was not readable \((?P<why>.+)\)|had 1 unreadable record of 2 \((?P<why_record>.+)\)"
    rest = r"and grokdash (?:starts with an empty list|keeps the other 1 task)"
    return re.compile(
        rf"the task database {re.escape(str(db))} (?:{what}); it was moved to {re.escape(str(aside))} {rest}"
    )


def assert_one_clear_sentence(line: str, db: Path, aside: Path) -> None:
    found = set_aside_sentence(db, aside).fullmatch(line)
    assert found, line
    why = found["why"] or found["why_record"]
    assert ". " not in why and not re.search(r"\b(\w+) \1\b", why), f"garbled reason: {why!r}"


COMMANDS = {
    "ls": ["ls", "--json"],
    "add": ["add", "new-1"],
    "watch": ["watch", "--once", "new-1"],
}


@pytest.fixture
def cli_env(tmp_path: Path, sim: SimServer, sim_key: str) -> dict[str, str]:
    return {
        "GROKDASH_DB": str(tmp_path / "tasks.json"),
        "GROKDASH_API_KEY": sim_key,
        "GROKDASH_BASE_URL": sim.base_url,
    }


def listed_ids(env: dict[str, str]) -> list[str]:
    listed = run_cli(["ls", "--json"], env)
    assert (listed.exit_code, listed.stderr) == (0, "")
    return [row["id"] for row in json.loads(listed.stdout)]


def assert_no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", BAD_DATABASES)
def test_a_bad_database_is_moved_aside_said_once_and_the_command_works(
    kind: str, command: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    db = tmp_path / "tasks.json"
    content = write_bad_database(kind, db)

    result = run_cli(COMMANDS[command], cli_env)

    assert_no_traceback(result)
    assert result.exit_code == 0, result.stderr
    asides = sorted(tmp_path.glob("tasks.json.corrupt-*"))
    assert len(asides) == 1 and asides[0].read_bytes() == content  # kept, byte for byte
    warning = result.stderr.splitlines()
    assert len(warning) == 1 and warning[0].startswith("grokdash: warning: "), result.stderr
    assert_one_clear_sentence(warning[0].removeprefix("grokdash: warning: "), db, asides[0])

    kept = ["kept-1"] if kind == "one-record-unreadable" else []
    now = kept + ([] if command == "ls" else ["new-1"])
    assert listed_ids(cli_env) == now
    added = run_cli(["add", "after-1"], cli_env)
    assert (added.exit_code, added.stdout, added.stderr) == (0, "tracking (1): after-1\n", "")
    assert listed_ids(cli_env) == [*now, "after-1"]
    assert sorted(tmp_path.glob("tasks.json.corrupt-*")) == asides  # said and moved once, not again


@pytest.mark.parametrize("command", COMMANDS)
def test_an_empty_database_file_is_an_empty_list(
    command: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """`touch tasks.json` (or TinyDB itself) makes an empty file: nothing to keep, nothing to warn about."""
    (tmp_path / "tasks.json").write_bytes(b"")
    result = run_cli(COMMANDS[command], cli_env)
    assert_no_traceback(result)
    assert (result.exit_code, result.stderr) == (0, "")
    assert listed_ids(cli_env) == ([] if command == "ls" else ["new-1"])
    assert sorted(tmp_path.glob("tasks.json.corrupt-*")) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_a_folder_where_the_database_should_be_is_named_and_left_alone(
    command: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Not moved aside: it is not a damaged database but most likely a wrong --db (a folder of the user's,
    which grokdash has no business renaming)."""
    folder = tmp_path / "tasks.json"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")

    result = run_cli(COMMANDS[command], cli_env)

    assert_no_traceback(result)
    assert result.exit_code == 2, "a wrong --db is bad usage, refused before anything opens it"
    assert result.stderr.splitlines() == [
        f"grokdash: the task database {folder} is a folder, not a regular file: it was left untouched"
    ]
    assert (folder / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
@pytest.mark.parametrize("command", COMMANDS)
def test_a_database_the_user_may_not_read_is_named_and_left_alone(
    command: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Not moved aside: the tasks in it are fine, only its permissions are wrong (a `sudo grokdash add`
    leaves a root-owned file); renaming it would hide them behind an empty list."""
    db = tmp_path / "tasks.json"
    content = _real_database(db)
    db.chmod(0)
    try:
        result = run_cli(COMMANDS[command], cli_env)
    finally:
        db.chmod(0o600)
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"grokdash: cannot read the task database {db} (Permission denied)"]
    assert db.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name) == []


def test_the_dashboard_started_on_garbage_says_so_works_and_quits_cleanly(
    tmp_path: Path, sim: SimServer, sim_key: str
) -> None:
    """The real `grokdash` in a terminal: the same recovery as the commands, and no traceback on screen."""
    db = tmp_path / "tasks.json"
    content = write_bad_database("random-bytes", db)
    env = {
        **os.environ,
        "GROKDASH_DB": str(db),
        "GROKDASH_API_KEY": sim_key,
        "GROKDASH_BASE_URL": sim.base_url,
        "GROKDASH_DESKTOP_NOTIFICATIONS": "false",
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
    }
    board = DashboardProcess(env)
    try:
        wait_until(lambda: board.ready() and "moved to" in board.text(), "the first frame and the warning")
        asides = sorted(tmp_path.glob("tasks.json.corrupt-*"))
        assert len(asides) == 1 and asides[0].read_bytes() == content

        board.type("a")
        wait_until(lambda: "Add task ids" in board.text(), "the add dialog")
        board.type("after-1\r")  # in one read, as over a slow link: Enter must see the id before it
        wait_until(lambda: [t.id for t in TaskStore(db).tasks()] == ["after-1"], "the id to be tracked")
        board.type("q")
        board.process.wait(timeout=START_TIMEOUT)
    finally:
        if board.process.poll() is None:
            board.process.send_signal(signal.SIGKILL)
            board.process.wait(timeout=COMMAND_TIMEOUT)
        board.close()
    assert board.process.returncode == 0
    assert "Traceback" not in board.text()
    assert sorted(tmp_path.glob("tasks.json.corrupt-*")) == asides
