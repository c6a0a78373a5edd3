"""A year of history: the command line at 100,000 tracked tasks against the same at 1,000.

Builds two task databases of completed tasks (as bench/dashboard.py makes them: seen processing, then
completed with a video URL) and runs the real `grokdash` in fresh processes, each figure the median of
--repeat runs, with compiled bytecode. Prints, each with the goal it is judged by:

1. `grokdash ls --json > /dev/null` at 100,000 tasks, as a ratio to a bare `json.load` of the same file
   in a fresh `python` (goal <= 2.5), and its peak memory.
2. `grokdash add ONE-ID` at 100,000 tasks, as a ratio to the same at 1,000 (goal <= 1.5).
3. The bytes that `add` writes at 100,000 tasks (the process's `wchar` in /proc, stdout included), as a
   share of the database's size (goal <= 1%).

The user's own files are never touched: HOME, the XDG folders and every GROKDASH_ setting point into a
temporary folder. The machine's load shows in every figure: run it on a quiet machine.

    python bench/store_scale.py [--tasks 100000] [--small 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dashboard import completed_record

from grokdash.store import TaskStore

# Runs grokdash's main in this interpreter and prints, on the way out, what /proc says it wrote.
COUNTING_MAIN = """
import atexit, sys
def said():
    for line in open("/proc/self/io"):
        if line.startswith("wchar:"):
            print("WCHAR", line.split()[1], file=sys.__stderr__)
atexit.register(said)
from grokdash.cli import main
sys.argv = ["grokdash", *sys.argv[1:]]
main()
"""


def build(path: Path, tasks: int) -> int:
    now = time.time()
    store = TaskStore(path)
    store.import_records([completed_record(n, now) for n in range(tasks)])
    return path.stat().st_size


def environment(home: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("GROKDASH_")}
    config = home / "config.toml"
    config.write_text("")
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CACHE_HOME=str(home / "cache"),
        GROKDASH_CONFIG=str(config),
        GROKDASH_DOWNLOAD_DIR=str(home / "videos"),
        PYTHONDONTWRITEBYTECODE="",
    )
    return env


def timed(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Seconds the command took, and its peak memory in KB (GNU time would do; this needs nothing)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, _, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if process.stderr is not None:
        process.stderr.close()
    return elapsed, usage.ru_maxrss


def median_run(command: list[str], env: dict[str, str], repeat: int) -> tuple[float, int]:
    runs = [timed(command, env) for _ in range(repeat)]
    return statistics.median(seconds for seconds, _ in runs), max(kb for _, kb in runs)


def add_runs(db: Path, env: dict[str, str], repeat: int) -> tuple[float, int]:
    """The median seconds of `add ONE-ID` (a new id each time) and the bytes the last one wrote."""
    seconds, written = [], 0
    for n in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", COUNTING_MAIN, "add", f"bench-new-{n}", "--db", str(db)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        seconds.append(time.perf_counter() - started)
        written = int(next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("WCHAR")))
    return statistics.median(seconds), written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="grokdash-bench-"))
    try:
        home = folder / "home"
        home.mkdir()
        env = environment(home)
        big, small = folder / "big.json", folder / "small.json"
        # Built in another process: the children measured here must not start as copies of a big one.
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            size = pool.apply(build, (big, args.tasks))
            pool.apply(build, (small, args.small))
        # Warm the page cache.
        subprocess.run(["grokdash", "ls", "--db", str(big)], env=env, capture_output=True, check=True)
        grokdash = shutil.which("grokdash") or "grokdash"

        bare, bare_kb = median_run(
            [sys.executable, "-c", f"import json; json.load(open({str(big)!r}))"], env, args.repeat
        )
        listed, listed_kb = median_run([grokdash, "ls", "--json", "--db", str(big)], env, args.repeat)
        print(f"{args.tasks:,} tasks, {size / 1e6:.1f} MB; medians of {args.repeat}")
        print(f"  json.load of the file:   {bare:.2f} s, {bare_kb / 1024:.0f} MB")
        print(f"  grokdash ls --json:      {listed:.2f} s, {listed_kb / 1024:.0f} MB")
        print(f"  ratio {listed / bare:.2f} (goal <= 2.5)")

        add_small, _ = add_runs(small, env, args.repeat)
        add_big, written = add_runs(big, env, args.repeat)
        at_big, at_small = f"{add_big:.2f} s at {args.tasks:,}", f"{add_small:.2f} s at {args.small:,}"
        print(f"  grokdash add ONE-ID:     {at_big}, {at_small}")
        print(f"  ratio {add_big / add_small:.2f} (goal <= 1.5)")
        share = written / size
        print(f"  bytes written by add:    {written:,} ({share:.1%} of the database; goal <= 1%)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
