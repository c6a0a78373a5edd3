"""The task database shared by real processes: concurrent writers lose nothing, and a writer killed at any
instant (SIGKILL: no cleanup, no atexit) never leaves a file that cannot be read or that misses a task the
writer had reported as tracked.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from grokdash.store import TaskStore

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

ADDER = """
import sys
from collections.abc import Iterator
from pathlib import Path
from grokdash.store import TaskStore

store = TaskStore(Path(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()  # every process waits here, then all add at once
add(store, sys.argv[2:])
print("ok", flush=True)
"""

WRITER = """
import sys
from collections.abc import Iterator
from pathlib import Path
from grokdash.store import TaskStore

store = TaskStore(Path(sys.argv[1]))
prefix = sys.argv[2]
n = 0
while True:
    task_id = f"{prefix}-{n}"
    add(store, [task_id])
    store.update({task_id: lambda record: record.with_label("seen")})
    print(task_id, flush=True)  # only once both writes have returned
    n += 1
"""


LAYOUTS = ["whole", "journal", "quick"]
"""Every write a whole file (a database under store.JOURNAL_FROM); or changes appended to the journal
and compacted into the file (as at 100,000 tasks; here with JOURNAL_FROM at 0); or the same with each
add made as `grokdash add` makes it at 100,000, through the ids index (quickchange.py) when it can."""

PRELUDES = {
    "whole": "def add(store, ids):\n    store.add(ids)\n",
    "journal": "import grokdash.store\ngrokdash.store.JOURNAL_FROM = 0\n"
    "def add(store, ids):\n    store.add(ids)\n",
    "quick": "import grokdash.store\ngrokdash.store.JOURNAL_FROM = 0\nfrom grokdash import quickchange\n"
    "def add(store, ids):\n    if quickchange.add(store.path, ids) is None:\n        store.add(ids)\n",
}


def start(script: str, *args: str, stdin: int | None = None, layout: str = "whole") -> subprocess.Popen[str]:
    script = PRELUDES[layout] + script
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill(process: subprocess.Popen[str]) -> tuple[list[str], str]:
    """SIGKILL the process; return the ids it had reported (whole lines only) and its standard error."""
    process.send_signal(signal.SIGKILL)
    rest, errors = process.communicate(timeout=20)
    return [line for line in rest.splitlines(keepends=True) if line.endswith("\n")], errors


def check_database(db: Path, reported: set[str]) -> None:
    store = TaskStore(db)
    assert store.notices == []
    tracked = {record.id: record for record in store.tasks()}
    missing = sorted(reported - tracked.keys())
    assert missing == []
    assert {tracked[task_id].label for task_id in reported} <= {"seen"}
    assert [name for name in os.listdir(db.parent) if ".corrupt-" in name] == []


@pytest.mark.parametrize("layout", LAYOUTS)
def test_twenty_processes_adding_at_once_lose_nothing(tmp_path, layout):
    db = tmp_path / "tasks.json"
    processes = [
        start(ADDER, str(db), *[f"p{p}-t{t}" for t in range(5)], stdin=subprocess.PIPE, layout=layout)
        for p in range(20)
    ]
    try:
        for process in processes:
            assert process.stdout.readline() == "ready\n"
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        results = [process.communicate(timeout=20) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert [(out, err) for out, err in results] == [("ok\n", "")] * 20
    assert [process.returncode for process in processes] == [0] * 20
    store = TaskStore(db)
    assert store.notices == []
    assert sorted(record.id for record in store.tasks()) == sorted(
        f"p{p}-t{t}" for p in range(20) for t in range(5)
    )


def databases(folder: Path, iterations: int) -> Iterator[tuple[int, Path, set[str]]]:
    """Each iteration's database, and the ids reported into it so far.

    Every ten iterations start on a new file: kills still land on a file holding earlier writers' tasks,
    and the soak variants stay linear in time instead of parsing an ever larger file.
    """
    reported: dict[Path, set[str]] = {}
    for iteration in range(iterations):
        db = folder / f"tasks-{iteration // 10}.json"
        yield iteration, db, reported.setdefault(db, set())


def kill_one_writer_repeatedly(folder: Path, iterations: int, seed: int, layout: str) -> int:
    rng = random.Random(seed)
    total = 0
    for iteration, db, reported in databases(folder, iterations):
        writer = start(WRITER, str(db), f"w{iteration}", layout=layout)
        try:
            lines = [writer.stdout.readline() for _ in range(rng.randint(0, 8))]
        finally:
            rest, errors = kill(writer)
        assert errors == ""
        new = {line.strip() for line in [*lines, *rest] if line.endswith("\n")}
        total += len(new)
        reported.update(new)
        check_database(db, reported)
    return total


def kill_two_writers_repeatedly(folder: Path, iterations: int, seed: int, layout: str) -> int:
    rng = random.Random(seed)
    total = 0
    for iteration, db, reported in databases(folder, iterations):
        one = start(WRITER, str(db), f"a{iteration}", layout=layout)
        two = start(WRITER, str(db), f"b{iteration}", layout=layout)
        try:
            lines = [one.stdout.readline() for _ in range(rng.randint(0, 6))]
            lines += [two.stdout.readline() for _ in range(rng.randint(0, 6))]
        finally:
            first, second = (one, two) if rng.random() < 0.5 else (two, one)
            rest, errors = kill(first)
            lines += rest
            assert errors == ""
            lines += [second.stdout.readline() for _ in range(rng.randint(0, 3))]
            rest, errors = kill(second)
            lines += rest
            assert errors == ""
        new = {line.strip() for line in lines if line.endswith("\n")}
        total += len(new)
        reported.update(new)
        check_database(db, reported)
    return total


@pytest.mark.parametrize(
    "iterations", [30, pytest.param(300, marks=pytest.mark.soak, id="soak-300")], ids=lambda n: str(n)
)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_writer_killed_at_any_moment_leaves_every_reported_task(tmp_path, iterations, layout):
    reported = kill_one_writer_repeatedly(tmp_path, iterations, seed=20251128 + iterations, layout=layout)
    assert reported > iterations  # the kills did land between and during writes, not only at start-up

    # The next write sweeps the temp file a killed writer may have left; nothing else is left behind.
    for db in sorted(tmp_path.glob("*.json")):
        TaskStore(db).add(["after"])
    assert [name for name in os.listdir(tmp_path) if not name.endswith((".json", ".json.lock"))] == []


@pytest.mark.parametrize(
    "iterations", [15, pytest.param(150, marks=pytest.mark.soak, id="soak-150")], ids=lambda n: str(n)
)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_two_writers_killed_at_random_moments_leave_every_reported_task(tmp_path, iterations, layout):
    reported = kill_two_writers_repeatedly(tmp_path, iterations, seed=1128 + iterations, layout=layout)
    assert reported > iterations
