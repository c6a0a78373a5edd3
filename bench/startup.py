"""How long a `grokdash` command takes from start to exit, the way a script that calls it thousands of
times pays for it.

Prints, for each, the median of --runs runs (default 9) in milliseconds and its ratio to the baseline's
(the goals are judged by these), then the fastest run and its ratio to the baseline's fastest (steadier
on a busy machine). The baseline is `python -c "import click, tinydb, filelock, platformdirs"`: the
libraries every command needs, so the floor of any command.

- `grokdash --help`: the commands' definitions alone (goal: close to the baseline);
- `grokdash ls` on a database of one task (goal: <= 1.3x the baseline);
- `grokdash ls --json` on the same task;
- `grokdash add ID` on a small database, a new id each run (a write, under the lock).

Every run starts a fresh interpreter, with the bytecode already compiled (one run of each first, not
timed), in a temporary folder: the database, the config file, the log and HOME and the XDG folders
are all in it, so the user's own files are never read or touched. The runs of the commands take turns,
so a busy machine slows each of them alike. `grokdash` is the console script beside this Python (or
`python -m grokdash` without one); with PYTHONPATH set, the grokdash found there is the one measured.

    python bench/startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

GOAL = 1.3
"""`grokdash ls` on one task, as a multiple of the baseline."""
BASELINE = "import click, tinydb, filelock, platformdirs"


def grokdash_command() -> list[str]:
    script = Path(sys.executable).parent / "grokdash"
    return [str(script)] if script.exists() else [sys.executable, "-m", "grokdash"]


def environment(folder: Path) -> dict[str, str]:
    """This process's environment without any GROKDASH_* setting, every place grokdash looks in
    `folder`, and bytecode written and read as a user's install would."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("GROKDASH_") and name not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    home = folder / "home"
    for variable, sub in [
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_DOWNLOAD_DIR", "Downloads"),
    ]:
        env[variable] = str(home / sub)
    config = folder / "config.toml"
    config.write_text("# bench/startup.py: no settings\n", encoding="utf-8")
    env.update(
        HOME=str(home),
        GROKDASH_CONFIG=str(config),
        GROKDASH_DB=str(folder / "one.json"),
        GROKDASH_DOWNLOAD_DIR=str(folder / "videos"),
    )
    return env


def run(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds from starting `argv` to its exit; a failed run stops the bench with what it said."""
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--runs", type=int, default=9, help="Timed runs of each command (the median is shown)."
    )
    args = parser.parse_args()
    grokdash = grokdash_command()
    with tempfile.TemporaryDirectory(prefix="grokdash-startup-") as name:
        folder = Path(name)
        env = environment(folder)
        small = str(folder / "small.json")
        where = subprocess.run(
            [sys.executable, "-c", "import grokdash; print(grokdash.__file__)"],
            env=env,
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        run([*grokdash, "add", "bench-one"], env, folder)  # the 1-task database of ls
        run([*grokdash, "add", "--db", small, "bench-a", "bench-b", "bench-c"], env, folder)
        added = iter(range(1_000_000))
        commands: dict[str, Callable[[], list[str]]] = {
            "baseline: " + BASELINE: lambda: [sys.executable, "-c", BASELINE],
            "grokdash --help": lambda: [*grokdash, "--help"],
            "grokdash ls (1 task)": lambda: [*grokdash, "ls"],
            "grokdash ls --json (1 task)": lambda: [*grokdash, "ls", "--json"],
            "grokdash add ID (small db)": lambda: [*grokdash, "add", "--db", small, f"bench-{next(added)}"],
        }
        for argv in commands.values():  # compiles the bytecode of every module each one imports
            run(argv(), env, folder)
        times: dict[str, list[float]] = {label: [] for label in commands}
        for _ in range(args.runs):
            for label, argv in commands.items():
                times[label].append(run(argv(), env, folder))
    medians = {label: statistics.median(seconds) for label, seconds in times.items()}
    fastest = {label: min(seconds) for label, seconds in times.items()}
    baseline, fastest_baseline = next(iter(medians.values())), next(iter(fastest.values()))
    print(f"{' '.join(grokdash)}, grokdash from {Path(where).parent}")
    print(f"{args.runs} runs each, in milliseconds, with the ratio to the baseline's median or fastest")
    width = max(len(label) for label in medians)
    print(f"  {'':<{width}}  {'median':>15}  {'fastest':>15}")
    for label, seconds in medians.items():
        print(
            f"  {label:<{width}}  {seconds * 1000:7.1f} {seconds / baseline:5.2f}x"
            f"  {fastest[label] * 1000:7.1f} {fastest[label] / fastest_baseline:5.2f}x"
        )
    ratio = medians["grokdash ls (1 task)"] / baseline
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"goal: grokdash ls <= {GOAL}x the baseline: {ratio:.2f}x, {verdict}")


if __name__ == "__main__":
    main()
