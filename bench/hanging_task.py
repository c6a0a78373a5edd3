"""1,000 active tasks, one of which never answers, polled by the real `Poller.run` (what `grokdash watch`
runs) against the simulator answering in 50 ms, 8 requests at a time.

Measures the time from the start until the 999 answers are stored: on disk, as another process reading
the database sees them (a second TaskStore on the file, refreshed every 20 ms), not only staged in
memory. Then the same 999 tasks without the one that hangs. Prints both, the floors (tasks × latency ÷
the request slots: 8, or 7 while the hanging request holds one), and the ratio (goal <= 1.2: a task that
never answers holds one request slot until its timeout, never the others or the writes).

    python bench/hanging_task.py [--tasks 1000] [--latency 0.05] [--timeout 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grokdash.api import GrokClient, Timeouts
from grokdash.poller import Outcome, Poller, PollPolicy
from grokdash.secret import Secret
from grokdash.sim import SimServer, Timings
from grokdash.store import TaskStore

DEFAULT_CONCURRENCY = 8
LOOK_EVERY = 0.02
"""Seconds between two looks at the database file."""
HANGING_ID = "hang-bench"


@dataclass(frozen=True)
class Measure:
    stored: float
    """Seconds until every healthy answer was on disk."""
    answered: float
    """Seconds until the last healthy answer came (staged and shown)."""
    writes: int
    """Database writes the poller made meanwhile."""


async def until_stored(
    sim: SimServer, folder: Path, ids: list[str], concurrency: int, timeout: float
) -> Measure:
    db = folder / "tasks.json"
    store = TaskStore(db)
    store.add(ids)
    healthy = sum(task_id != HANGING_ID for task_id in ids)
    reader = TaskStore(db)  # another process's view: only what was written
    answers: list[float] = []

    def on_outcome(outcome: Outcome) -> None:
        if outcome.error is None:
            answers.append(time.perf_counter())

    timeouts = Timeouts(total=timeout)
    async with GrokClient(
        sim.base_url, Secret("bench"), timeouts=timeouts, max_connections=concurrency
    ) as client:
        # One interval is longer than the run: each task is asked once.
        poller = Poller(
            client.get_task,
            store,
            policy=PollPolicy(interval=3600),
            concurrency=concurrency,
            on_outcome=on_outcome,
        )
        writes = store.writes
        started = time.perf_counter()
        running = asyncio.ensure_future(poller.run())
        try:
            while True:
                await asyncio.sleep(LOOK_EVERY)
                if running.done():
                    running.result()  # it ended or failed: say why
                    raise RuntimeError("the poller stopped before the answers were stored")
                await asyncio.to_thread(reader.refresh)
                if sum(t.checked_at is not None for t in reader.tasks()) >= healthy:
                    break
            stored = time.perf_counter() - started
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await poller.stop()  # the hanging request, if any
    assert len(answers) >= healthy, f"only {len(answers)} of {healthy} answered"
    return Measure(stored, answers[healthy - 1] - started, store.writes - writes)


def measure(ids: list[str], latency: float, concurrency: int, timeout: float) -> Measure:
    # Tasks stay processing for the whole run, so every one of them is active.
    timings = Timings(queued_seconds=0, processing_seconds=3600)
    with tempfile.TemporaryDirectory() as folder, SimServer(latency=latency, timings=timings) as sim:
        return asyncio.run(until_stored(sim, Path(folder), ids, concurrency, timeout))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1000, help="all tasks, the hanging one included")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=60.0, help="the request deadline (seconds)")
    args = parser.parse_args()

    healthy = [f"bench-{n:05d}" for n in range(args.tasks - 1)]
    # The hanging task first: it takes a request slot at the start and keeps it for the whole run.
    with_hang = measure([HANGING_ID, *healthy], args.latency, DEFAULT_CONCURRENCY, args.timeout)
    without = measure(healthy, args.latency, DEFAULT_CONCURRENCY, args.timeout)

    slots = DEFAULT_CONCURRENCY
    floor = len(healthy) * args.latency / slots
    floor_hung = len(healthy) * args.latency / (slots - 1)
    print(
        f"tasks: {len(healthy)} answering in {args.latency * 1000:.0f} ms, and 1 that never answers "
        f"(timeout {args.timeout:g} s); concurrency: {slots}"
    )
    for name, run, floor_of in (("without", without, floor), ("with", with_hang, floor_hung)):
        print(
            f"{name} the hanging task: {len(healthy)} answers stored in {run.stored:.2f} s "
            f"(last answer at {run.answered:.2f} s, floor {floor_of:.2f} s; {run.writes} database writes)"
        )
    print(
        f"ratio: {with_hang.stored / without.stored:.2f} (goal <= 1.2; "
        f"{slots} slots against {slots - 1} alone would be {slots / (slots - 1):.2f})"
    )


if __name__ == "__main__":
    main()
