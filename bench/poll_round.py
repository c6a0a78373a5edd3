"""One poll round of 1,000 active tasks against the simulator answering in 50 ms.

Prints the round's time as a ratio to the floor (tasks × latency ÷ concurrency; goal ≤ 1.25) and to
polling one by one (goal ≥ 6× faster), and the database writes per round (answers are written as they
come, in batches: goal at most about one a second of the round; 0 when nothing changed). One by one
is measured on a sample of the tasks and scaled, to keep the run short.

    python bench/poll_round.py [--tasks 1000] [--latency 0.05] [--sample 100]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from grokdash.api import GrokClient
from grokdash.poller import Poller, PollPolicy
from grokdash.secret import Secret
from grokdash.sim import SimServer, Timings
from grokdash.store import TaskStore

DEFAULT_CONCURRENCY = 8


async def one_round(sim: SimServer, store: TaskStore, concurrency: int) -> tuple[float, int]:
    async with GrokClient(sim.base_url, Secret("bench"), max_connections=concurrency) as client:
        poller = Poller(client.get_task, store, policy=PollPolicy(interval=3600), concurrency=concurrency)
        writes = store.writes
        started = time.perf_counter()
        report = await poller.poll_round()
        elapsed = time.perf_counter() - started
        assert report.answered == len(store), f"only {report.answered} of {len(store)} answered"
        return elapsed, store.writes - writes


async def idle_round(sim: SimServer, store: TaskStore) -> int:
    """A round in which nothing is due: it must not write."""
    async with GrokClient(sim.base_url, Secret("bench")) as client:
        poller = Poller(client.get_task, store, policy=PollPolicy(interval=3600))
        writes = store.writes
        await poller.poll_round()
        return store.writes - writes


async def one_by_one(sim: SimServer, ids: list[str]) -> float:
    async with GrokClient(sim.base_url, Secret("bench"), max_connections=1) as client:
        started = time.perf_counter()
        for task_id in ids:
            await client.get_task(task_id)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--sample", type=int, default=100, help="tasks polled one by one, then scaled")
    args = parser.parse_args()

    # Tasks stay processing for the whole run, so every one of them is active in every round.
    timings = Timings(queued_seconds=0, processing_seconds=3600)
    with tempfile.TemporaryDirectory() as folder, SimServer(latency=args.latency, timings=timings) as sim:
        store = TaskStore(Path(folder) / "tasks.json")
        ids = [f"bench-{n:05d}" for n in range(args.tasks)]
        store.add(ids)

        elapsed, writes = asyncio.run(one_round(sim, store, DEFAULT_CONCURRENCY))
        idle_writes = asyncio.run(idle_round(sim, store))
        sample = asyncio.run(one_by_one(sim, ids[: args.sample]))

    floor = args.tasks * args.latency / DEFAULT_CONCURRENCY
    serial = sample * args.tasks / args.sample
    print(f"tasks: {args.tasks}, latency: {args.latency * 1000:.0f} ms, concurrency: {DEFAULT_CONCURRENCY}")
    print(f"one round: {elapsed:.2f} s; floor {floor:.2f} s -> ratio {elapsed / floor:.2f} (goal <= 1.25)")
    print(
        f"one by one: {serial:.1f} s (measured on {args.sample}, scaled) -> "
        f"{serial / elapsed:.1f}x faster (goal >= 6)"
    )
    # Answers are written in batches as they come, at most about once a second, and once at the end.
    most = int(elapsed) + 1
    print(
        f"database writes: {writes} for the {elapsed:.1f} s round (goal <= {most}: about one a second), "
        f"{idle_writes} when nothing changed (goal 0)"
    )


if __name__ == "__main__":
    main()
