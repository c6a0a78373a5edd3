"""The dashboard polling 10,000 active tasks against a simulator that rate-limits the key.

Runs the real dashboard headless (Textual's run_test) in a child process for a fixed time against the
simulator in this process (127.0.0.1 only), with every task due at once: the first round meets the
server's limit, and from then on the rate limit, not the tasks, sets the pace. Prints, each with the goal
it is judged by:

1. What the server saw (its request log): the requests per second after the first 429's wait, as a
   ratio to the limit (goal <= 1), the busiest window of the limit's length (goal <= N), whether the wait
   the server asked for was kept, and how many requests it refused (goal: only those already in flight
   when the first 429 came back).
2. The longest event-loop stall while polling (goal < 50 ms): a coroutine on the app's loop sleeps 5 ms
   over and over and records how late it wakes, as in bench/dashboard.py.
3. Key press to frame: a key (j, k alternately) is sent to the app every --key-every seconds; the time
   from sending it to the first line the table draws after the cursor moved (goal: a frame at 60 fps,
   under 50 ms).

    python bench/load.py [--tasks 10000] [--seconds 25] [--rate-limit 20/1] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dashboard
from dashboard import PROXY_VARIABLES, RESULT, SIZE, Monitor, StackSampler

from grokdash.sim import RateLimit, RequestRecord, SimServer, Timings
from grokdash.store import TaskStore

CONCURRENCY = 8
IN_FLIGHT = 0.25
"""Seconds after the first 429 in which a request can still be one sent before that 429 came back."""


# ---- in the child: the dashboard ------------------------------------------------------------------------


@dataclass
class KeyProbe:
    """When the table handled the last key, and when it next drew a line after that."""

    handled_at: float | None = None
    drawn: asyncio.Event | None = None
    drawn_at: float | None = None


PROBE = KeyProbe()


def install_key_probe() -> None:
    from grokdash.tui.widgets.task_table import TaskTable

    action_cursor, render_line = TaskTable.action_cursor, TaskTable.render_line

    def probed_action_cursor(self: TaskTable, step: int) -> None:
        action_cursor(self, step)
        PROBE.handled_at = time.perf_counter()

    def probed_render_line(self: TaskTable, y: int) -> Any:
        strip = render_line(self, y)
        if PROBE.handled_at is not None and PROBE.drawn is not None and not PROBE.drawn.is_set():
            PROBE.drawn_at = time.perf_counter()
            PROBE.drawn.set()
        return strip

    TaskTable.action_cursor = probed_action_cursor  # type: ignore[method-assign]
    TaskTable.render_line = probed_render_line  # type: ignore[method-assign]


async def press(app: Any, key: str) -> tuple[float, float]:
    """Send one key as a terminal would; return (seconds until handled, seconds until drawn)."""
    from textual import events

    PROBE.handled_at, PROBE.drawn_at, PROBE.drawn = None, None, asyncio.Event()
    sent = time.perf_counter()
    app._driver.send_message(events.Key(key, key))
    await asyncio.wait_for(PROBE.drawn.wait(), timeout=10)
    assert PROBE.handled_at is not None and PROBE.drawn_at is not None
    return PROBE.handled_at - sent, PROBE.drawn_at - sent


async def child(args: argparse.Namespace) -> dict[str, Any]:
    from grokdash.api import GrokClient
    from grokdash.secret import Secret
    from grokdash.tui.app import DashboardConfig, GrokdashApp

    if args.explain:
        dashboard.install_probes()  # bench/dashboard.py's timers: what ran during each stall
    install_key_probe()
    store = TaskStore(Path(args.db))
    config = DashboardConfig.of(
        store=store,
        make_client=lambda: GrokClient(args.base_url, Secret("bench"), max_connections=CONCURRENCY),
        interval=args.interval,
        concurrency=CONCURRENCY,
        desktop_notifications=False,
        start_polling=False,  # started by hand below, once the screen is up and the monitor runs
    )
    app = GrokdashApp(config)
    async with app.run_test(size=SIZE) as pilot:
        while len(app.table.rows) < args.tasks:
            await pilot.pause()
        await asyncio.sleep(0.3)  # let startup settle
        monitor = Monitor()
        sampler = StackSampler(monitor)
        monitor.start()
        if args.explain:
            sampler.start()
            dashboard.PROBE.recording = True
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        if not args.no_poll:
            app.poll_forever()
        keys: list[tuple[float, float]] = []
        while time.perf_counter() - started < args.seconds:
            await asyncio.sleep(args.key_every)
            keys.append(await press(app, "j" if len(keys) % 2 == 0 else "k"))
        ended = time.perf_counter()
        sampler.halt.set()
        await monitor.stop()
        state = app.polling_state()
        rounds = app.idle_passes
    window = sorted(((late, at) for at, late in monitor.samples if started <= at <= ended), reverse=True)
    lateness = [late for late, _ in window]
    return {
        "explained": [dashboard.explain(sampler, late, at, started) for late, at in window[:5]]
        if args.explain
        else [],
        "started_wall": time.time() - (time.perf_counter() - started),
        "seconds": ended - started,
        "stalls": lateness[:5],
        "over_20ms": sum(1 for late in lateness if late > 0.020),
        "p99": lateness[len(lateness) // 100] if lateness else 0.0,
        "keys": keys,
        "rounds": rounds,
        "state": state,
    }


# ---- in the parent: the server's side --------------------------------------------------------------------


def run_child(db: Path, base_url: str, args: argparse.Namespace, *, poll: bool = True) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    command = [sys.executable, __file__, "--child", "--db", str(db), "--base-url", base_url]
    for name in ("tasks", "seconds", "interval", "key_every"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    if args.explain:
        command.append("--explain")
    if not poll:
        command += ["--no-poll", "--seconds", str(args.control)]
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=args.seconds + 300, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT) :])
    raise RuntimeError(f"the dashboard child failed (exit {done.returncode}):\n{done.stderr[-3000:]}")


def busiest_window(times: list[float], after: float, seconds: float) -> int:
    """The most requests in any window of `seconds` (open at its start, like the server's) ending after
    `after`."""
    ends = times[bisect.bisect_right(times, after) :]
    return max(
        (bisect.bisect_right(times, e) - bisect.bisect_right(times, e - seconds) for e in ends), default=0
    )


def record_first_wait(sim: SimServer) -> dict[str, float]:
    """Note the wait (Retry-After, before rounding up) the server gave with its first refusal."""
    assert sim.limiter is not None
    admit = sim.limiter.admit
    seen: dict[str, float] = {}

    def noting(key: str) -> float | None:
        wait = admit(key)
        if wait is not None:
            seen.setdefault("wait", wait)
        return wait

    sim.limiter.admit = noting  # type: ignore[method-assign]
    return seen


def report(
    records: list[RequestRecord], limit: RateLimit, first_wait: float | None, run: dict[str, Any]
) -> None:
    start = run["started_wall"]
    times = sorted(record.time for record in records)
    refused = [record for record in records if record.status == 429]
    print(f"requests: {len(records):,} in {run['seconds']:.0f} s, {len(refused)} refused (429)")
    if not refused or first_wait is None:
        print("the limit was never reached: nothing to judge (more tasks, or a lower --rate-limit)")
    else:
        first = refused[0].time
        in_flight = sum(1 for record in refused if record.time <= first + IN_FLIGHT)
        later = [record for record in records if record.time > first + IN_FLIGHT]
        resumed = min((record.time for record in later), default=first)
        waited = resumed - first
        print(
            f"first 429 {first - start:.2f} s in; {in_flight} refused requests were already in flight then, "
            f"{len(refused) - in_flight} refused after (goal 0)"
        )
        print(
            f"the server asked to wait {first_wait:.2f} s; the next request came {waited:.2f} s later "
            f"(goal >= {first_wait:.2f})"
        )
        # The mean over whole windows of the limit's length: batches are bursts, and a span cut
        # between two of them would count one batch too many or too few.
        windows = max(1, int((start + run["seconds"] - resumed) // limit.seconds))
        sent = sum(1 for at in times if resumed <= at < resumed + windows * limit.seconds)
        rate, allowed = sent / (windows * limit.seconds), limit.requests / limit.seconds
        busiest = busiest_window(times, resumed, limit.seconds)
        print(
            f"request rate after the wait: {rate:.1f}/s (mean of {windows} windows of {limit.seconds:g} s) "
            f"vs the limit {allowed:g}/s -> ratio {rate / allowed:.2f} (goal <= 1); busiest window "
            f"{busiest} requests of {limit.requests} allowed -> ratio {busiest / limit.requests:.2f} "
            "(goal <= 1)"
        )
    stalls = run["stalls"]
    print(
        f"longest event-loop stall while polling: {stalls[0] * 1000:.0f} ms (goal < 50 ms); next "
        f"{', '.join(f'{late * 1000:.0f}' for late in stalls[1:])} ms; {run['over_20ms']} over 20 ms; "
        f"99th percentile {run['p99'] * 1000:.1f} ms"
    )
    handled = [h for h, _ in run["keys"]]
    drawn = sorted(d for _, d in run["keys"])
    if drawn:
        print(
            f"key press to frame: median {statistics.median(drawn) * 1000:.1f} ms, 95th percentile "
            f"{drawn[int(len(drawn) * 0.95)] * 1000:.1f} ms, longest {drawn[-1] * 1000:.1f} ms "
            f"(goal < 50 ms; {len(drawn)} presses; handled after {statistics.median(handled) * 1000:.1f} ms "
            "median)"
        )
    print(f"times the poller was idle: {run['rounds']}; the summary line at the end: {run['state']!r}")
    if run["explained"]:
        print("the longest stalls, the probed calls that overlapped them, and where the threads were:")
        for stall in run["explained"]:
            dashboard.print_stall(stall)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=25.0, help="how long the dashboard polls")
    parser.add_argument("--rate-limit", default="20/1", help="the simulator's limit, N[/SECONDS]")
    parser.add_argument(
        "--latency", type=float, default=0.02, help="seconds the simulator adds to each answer"
    )
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--key-every", type=float, default=0.25, help="seconds between two key presses")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="time the app's main calls and sample stacks, to say what each long stall was (adds overhead)",
    )
    parser.add_argument(
        "--control",
        type=float,
        default=10.0,
        help="seconds of the same dashboard not polling, for the stall and key figures of this machine "
        "at this moment (0: skip)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-poll", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(RESULT + json.dumps(asyncio.run(child(args))), flush=True)
        return

    limit = RateLimit.parse(args.rate_limit)
    began = time.perf_counter()
    # Tasks stay processing for the whole run: every one of them stays due, round after round.
    timings = Timings(queued_seconds=0, processing_seconds=3600)
    with (
        tempfile.TemporaryDirectory(prefix="grokdash-bench-") as folder,
        SimServer(latency=args.latency, timings=timings, rate_limit=limit) as sim,
    ):
        db = Path(folder) / "tasks.json"
        TaskStore(db).add([f"load-{n:05d}" for n in range(args.tasks)])
        first_wait = record_first_wait(sim)
        run = run_child(db, sim.base_url, args)
        records = sim.log.records()
        control = run_child(db, sim.base_url, args, poll=False) if args.control > 0 else None
    print(
        f"tasks: {args.tasks:,}, all due; rate limit {limit.describe()}; "
        f"latency {args.latency * 1000:.0f} ms; concurrency {CONCURRENCY}; terminal {SIZE[0]}x{SIZE[1]}; "
        f"{run['seconds']:.0f} s of polling"
    )
    report(records, limit, first_wait.get("wait"), run)
    if control is not None:
        keys = sorted(drawn for _, drawn in control["keys"])
        print(
            f"control, the same dashboard not polling for {control['seconds']:.0f} s: longest stall "
            f"{control['stalls'][0] * 1000:.0f} ms, {control['over_20ms']} over 20 ms; key press to frame "
            f"median {statistics.median(keys) * 1000:.1f} ms, longest {keys[-1] * 1000:.1f} ms"
        )
    print(f"(bench took {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
