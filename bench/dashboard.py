"""The dashboard with 10,000 tracked tasks (1,000 of them active) against the simulator.

Prints three figures, each with the goal it is judged by:

1. Time to first paint, as a ratio to the same with no tasks (goal <= 1.5). First paint runs from
   opening the task database (included: it is what a user waits for; its share is printed apart) to
   the moment the table first draws one of its rows after the app has handed it its rows (a probe on
   TaskTable.render_line; pilot.pause() waits for the CPU to go idle, at least 20 ms and up to 1 s
   while the first poll round keeps it busy, so it would blur the figure). Polling is on, as when a
   user starts `grokdash`. Each case runs in a fresh process, 3 times; the median counts. The same
   from launching the process (imports included) is printed too, for comparison.
2. The longest event-loop stall during a poll round (goal < 50 ms): a coroutine on the app's loop
   sleeps 5 ms over and over and records how late it wakes, from just before the round starts until
   the round's database write and the table rebuild are done and the table repainted. The round is
   the 1,000 active tasks (simulator latency 50 ms, interval 1 hour, so exactly one round), started by
   the bench once the screen is up so that it is measured apart from startup. Also the stall while
   the 10,000-task database is written (`TaskStore.update` runs in a thread, but the GIL can still
   hold the loop). To say where a stall fell, the child times the main calls (wrappers installed
   before the app exists), garbage collections (gc.callbacks), and a thread samples every thread's
   stack while the loop is late.
3. Peak memory of that process after the poll round and the writes (goal < 200 MB): ru_maxrss.

The simulator runs in this process, on 127.0.0.1 only; every measured app runs in a child process and
talks to it over loopback (proxies from the environment are dropped for the children). The machine's
load shows in every figure: run it on a quiet machine, or twice.

    python bench/dashboard.py [--tasks 10000] [--active 1000] [--latency 0.05] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grokdash.models import Status, task_from_dict
from grokdash.sim import SimServer, Timings
from grokdash.store import TaskStore
from grokdash.tracked import TrackedTask

RESULT = "RESULT "
"""A child prints its figures as one JSON line after this prefix."""
SIZE = (120, 40)
TICK = 0.005
"""The stall monitor's sleep (seconds)."""
SAMPLE_AFTER = 0.010
"""The stack sampler looks at the threads once the loop is this late (seconds)."""
CONCURRENCY = 8
MODELS = ("grok_video3", "grok_video3_pro", "grok_video3_max", "grok_video3_stable")
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


# ---- the database -------------------------------------------------------------------------------------


def completed_record(n: int, now: float) -> TrackedTask:
    """A task the dashboard watched run and finish: seen processing, then completed with a video."""
    task_id = f"done-{n:05d}"
    model = MODELS[n % len(MODELS)]
    created = now - 86_400 * 30 + n * 240
    answer: dict[str, Any] = {"id": task_id, "object": "video", "created": created, "model": model}
    running = task_from_dict({**answer, "status": "processing"})
    done = task_from_dict(
        {
            **answer,
            "status": "completed",
            "video_url": f"https://cdn.example.invalid/videos/{task_id}.mp4?token={n * 7919 % 100_000}",
            "actualDuration": float(6 + n % 4 * 2),
        }
    )
    assert done.status == Status.COMPLETED
    tracked = TrackedTask(id=task_id, added_at=created + 1, label=f"clip {n}" if n % 3 == 0 else None)
    return tracked.with_answer(running, created + 20).with_answer(done, created + 200 + n % 90)


def build_database(path: Path, tasks: int, active: int, sim: SimServer) -> list[str]:
    """`tasks - active` completed records (imported in one call) plus `active` ids the simulator keeps
    processing; returns the active ids."""
    now = time.time()
    store = TaskStore(path)
    store.import_records([completed_record(n, now) for n in range(tasks - active)])
    active_ids = [f"live-{n:05d}" for n in range(active)]
    for task_id in active_ids:
        sim.add_task(task_id, model=MODELS[0], created=now)
    store.add(active_ids)
    assert len(store) == tasks
    return active_ids


# ---- in the child: probes ---------------------------------------------------------------------------


@dataclass
class Probe:
    """Timestamps of what the app does, recorded by wrappers installed before the app exists."""

    rows_set: bool = False
    painted_at: float | None = None
    first_frame_at: float | None = None
    calls: list[tuple[str, float, float, bool]] = field(default_factory=list)
    """(name, start, end, on the loop thread)"""
    round_reports: list[tuple[float, int, int]] = field(default_factory=list)
    """(end, answered, changed) of each stretch of answers until the poller was idle"""
    round_done: asyncio.Event | None = None
    recording: bool = False


PROBE = Probe()


def _record(name: str, start: float) -> None:
    if PROBE.recording:
        on_loop = threading.current_thread() is threading.main_thread()
        PROBE.calls.append((name, start, time.perf_counter(), on_loop))


def wrap(owner: Any, attribute: str, name: str | None = None) -> None:
    """Time every call of owner.attribute (sync or async) into PROBE.calls. A name that no longer
    exists is skipped: the figures do not depend on these probes, only the explanations do."""
    original = getattr(owner, attribute, None)
    if original is None:
        print(f"bench: no {attribute} on {owner!r} to time", file=sys.stderr)
        return
    label = name or f"{getattr(owner, '__name__', owner)}.{attribute}"
    if asyncio.iscoroutinefunction(original):
        label += " (async: includes its awaits)"

        @functools.wraps(original)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                _record(label, start)

        setattr(owner, attribute, timed_async)
    else:

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                _record(label, start)

        setattr(owner, attribute, timed)


def install_probes() -> None:
    import grokdash.tui.app as app_module
    from grokdash.poller import Poller
    from grokdash.tui.app import GrokdashApp
    from grokdash.tui.widgets.task_table import TaskTable

    set_rows, render_line = TaskTable.set_rows, TaskTable.render_line

    def probed_set_rows(self: TaskTable, *args: Any, **kwargs: Any) -> None:
        set_rows(self, *args, **kwargs)
        PROBE.rows_set = True

    def probed_render_line(self: TaskTable, y: int) -> Any:
        begun = time.perf_counter()
        strip = render_line(self, y)
        _record("TaskTable.render_line", begun)
        if PROBE.first_frame_at is None:
            PROBE.first_frame_at = time.perf_counter()
        if PROBE.painted_at is None and PROBE.rows_set and y >= 1:
            PROBE.painted_at = time.perf_counter()
        return strip

    TaskTable.set_rows = probed_set_rows  # type: ignore[method-assign]
    TaskTable.render_line = probed_render_line  # type: ignore[method-assign]

    on_outcome, poller_idle = GrokdashApp.on_outcome, GrokdashApp._poller_idle
    counted = {"answered": 0, "changed": 0}

    def probed_on_outcome(self: GrokdashApp, outcome: Any) -> None:
        on_outcome(self, outcome)
        counted["changed"] += 1
        counted["answered"] += outcome.error is None

    def probed_poller_idle(self: GrokdashApp) -> None:
        # Answers stream: a "round" is everything asked until the poller is idle again.
        poller_idle(self)
        if counted["changed"]:
            PROBE.round_reports.append((time.perf_counter(), counted["answered"], counted["changed"]))
            counted.update(answered=0, changed=0)
            if PROBE.round_done is not None:
                PROBE.round_done.set()

    GrokdashApp.on_outcome = probed_on_outcome  # type: ignore[method-assign]
    GrokdashApp._poller_idle = probed_poller_idle  # type: ignore[method-assign]

    # What runs on the loop during a round, and what runs in worker threads.
    for owner, attribute in (
        (Poller, "_scan"),
        (Poller, "next_wake"),
        (TaskStore, "flush"),
        (TaskStore, "stage"),
        (TaskStore, "tasks"),
        (TaskStore, "refresh"),
        (GrokdashApp, "on_outcome"),
        (GrokdashApp, "rebuild"),
        (GrokdashApp, "update_summary"),
        (GrokdashApp, "polling_state"),
        (GrokdashApp, "_note_new_statuses"),
        (GrokdashApp, "refresh_bindings"),
        (GrokdashApp, "tick"),
        (GrokdashApp, "on_mount"),
        (TaskTable, "set_rows"),
        (app_module, "visible_tasks"),
        (app_module, "model_medians"),
    ):
        wrap(owner, attribute)
    gc_started: dict[int, float] = {}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        """Cyclic garbage collections: a full one walks every object and holds the GIL meanwhile."""
        ident = threading.get_ident()
        if phase == "start":
            gc_started[ident] = time.perf_counter()
        elif ident in gc_started:
            _record(f"gc.collect(generation {info['generation']})", gc_started.pop(ident))

    gc.callbacks.append(on_gc)
    from textual.screen import Screen
    from textual.widgets import Footer

    wrap(Footer, "recompose", "textual Footer.recompose (after refresh_bindings)")
    if hasattr(Screen, "_compositor_refresh"):  # Textual's repaint of changed regions (private)
        wrap(Screen, "_compositor_refresh", "textual Screen._compositor_refresh (repaint)")


class Monitor:
    """Sleeps TICK over and over on the loop and records how late each wake-up is."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        """(when the sleep began, lateness in seconds)"""
        self.beat = time.perf_counter()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            self.beat = start
            await asyncio.sleep(TICK)
            self.samples.append((start, time.perf_counter() - start - TICK))

    def worst(self, start: float, end: float) -> tuple[float, float]:
        """(lateness, when the sleep began) of the latest wake-up among sleeps begun in [start, end]."""
        window = [(late, at) for at, late in self.samples if start <= at <= end]
        return max(window) if window else (0.0, start)


class StackSampler(threading.Thread):
    """While the loop is late, looks at what every thread is doing (sys._current_frames)."""

    def __init__(self, monitor: Monitor) -> None:
        super().__init__(name="bench-stack-sampler", daemon=True)
        self.monitor = monitor
        self.loop_thread = threading.main_thread().ident
        self.samples: list[tuple[float, float, dict[str, list[str]]]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.002):
            beat, now = self.monitor.beat, time.perf_counter()
            if now - beat < TICK + SAMPLE_AFTER:
                continue
            stacks = {}
            for ident, frame in sys._current_frames().items():
                if ident == self.ident:
                    continue
                name = "loop" if ident == self.loop_thread else f"thread {ident}"
                stacks[name] = _stack(frame)
            self.samples.append((beat, now, stacks))

    def during(self, beat: float) -> list[dict[str, list[str]]]:
        return [stacks for at, _, stacks in self.samples if at == beat]


def _stack(frame: Any, depth: int = 40) -> list[str]:
    """Innermost first: 'file.py:line function' for each frame."""
    out = []
    while frame is not None and len(out) < depth:
        code = frame.f_code
        out.append(f"{_short(code.co_filename)}:{frame.f_lineno} {code.co_name}")
        frame = frame.f_back
    return out


def _short(filename: str) -> str:
    for marker in ("grokdash/", "textual/", "tinydb/", "httpx/", "httpcore/", "asyncio/", "json/"):
        index = filename.rfind(marker)
        if index >= 0:
            return filename[index:]
    return os.path.basename(filename)


def _interesting(stack: list[str]) -> list[str]:
    """The innermost frames up to and including the first grokdash one (what the thread is doing)."""
    for index, line in enumerate(stack):
        if line.startswith("grokdash/"):
            return stack[: index + 1][-6:] if index < 6 else [*stack[:3], "…", *stack[index - 1 : index + 1]]
    return stack[:4]


def _busy(stack: list[str]) -> bool:
    idle = ("threading.py", "selectors.py", "queue.py", "thread.py:8", "base_events.py")
    return (
        bool(stack) and not stack[0].startswith(idle) and any(line.startswith("grokdash/") for line in stack)
    )


# ---- in the child: the cases ------------------------------------------------------------------------


def make_app(
    db: Path, base_url: str, *, interval: float, start_polling: bool
) -> tuple[Any, TaskStore, float]:
    """Open the store (timed) and build the app. Returns (app, store, seconds spent opening the store)."""
    from grokdash.api import GrokClient
    from grokdash.secret import Secret
    from grokdash.tui.app import DashboardConfig, GrokdashApp

    started = time.perf_counter()
    store = TaskStore(db)
    opened = time.perf_counter() - started
    _record("TaskStore() (opening the database)", started)

    def make_client() -> GrokClient:
        begun = time.perf_counter()
        client = GrokClient(base_url, Secret("bench"), max_connections=CONCURRENCY)
        _record("GrokClient() (httpx.AsyncClient)", begun)
        return client

    config = DashboardConfig.of(
        store=store,
        make_client=make_client,
        interval=interval,
        concurrency=CONCURRENCY,
        desktop_notifications=False,
        start_polling=start_polling,
    )
    return GrokdashApp(config), store, opened


async def wait_painted(pilot: Any, started: float, limit: float = 30.0) -> float:
    while PROBE.painted_at is None:
        if time.perf_counter() - started > limit:
            raise RuntimeError(f"the table did not paint its rows within {limit:g} s")
        await pilot.pause()
    return time.perf_counter()


async def child_paint(db: Path, base_url: str, expected: int, launched: float) -> dict[str, Any]:
    PROBE.recording = True
    started, wall = time.perf_counter(), time.time()
    app, _store, opened = make_app(db, base_url, interval=30.0, start_polling=True)
    async with app.run_test(size=SIZE) as pilot:
        paused = await wait_painted(pilot, started)
        rows = len(app.table.rows)
    if rows != expected:
        raise RuntimeError(f"the table shows {rows} rows, expected {expected}")
    assert PROBE.painted_at is not None
    return {
        "store": opened,
        "paint": PROBE.painted_at - started,
        "pause": paused - started,
        "from_launch": wall + PROBE.painted_at - started - launched,
        "rows": rows,
        "before_paint": totals(started, PROBE.painted_at),
    }


async def child_frame(db: Path) -> dict[str, Any]:
    """Seconds to the first frame as `grokdash` opens the dashboard: the database is opened in a worker
    thread after that frame, so a big one delays the rows, not the screen."""
    from grokdash.tui.app import DashboardConfig, GrokdashApp

    started = time.perf_counter()
    app = GrokdashApp(DashboardConfig.of(store=None, open_store=lambda: TaskStore(db), make_client=None))
    async with app.run_test(size=SIZE) as pilot:
        while PROBE.first_frame_at is None:
            await pilot.pause()
        return {"frame": PROBE.first_frame_at - started}


async def child_stall(db: Path, base_url: str, active: int) -> dict[str, Any]:
    PROBE.round_done = asyncio.Event()
    started = time.perf_counter()
    # Polling on, started by hand once the screen is up, so the round is measured apart from startup;
    # the interval is long, so exactly one round (the 1,000 new ids) happens.
    app, store, _opened = make_app(db, base_url, interval=3600.0, start_polling=False)
    result: dict[str, Any] = {}
    async with app.run_test(size=SIZE) as pilot:
        await wait_painted(pilot, started)
        await pilot.pause()
        await asyncio.sleep(0.3)  # let startup settle (the first tick included)

        monitor = Monitor()
        sampler = StackSampler(monitor)
        monitor.start()
        sampler.start()
        await asyncio.sleep(0.05)
        PROBE.recording = True
        round_start = time.perf_counter()
        app.poll_forever()
        await asyncio.wait_for(PROBE.round_done.wait(), timeout=120)
        round_end = time.perf_counter()
        await asyncio.sleep(0.3)  # the repaint of the rebuilt table, and a tick
        window_end = time.perf_counter()
        _end, answered, changed = PROBE.round_reports[-1]
        if answered != active:
            raise RuntimeError(f"only {answered} of {active} active tasks were answered")
        window = sorted(
            ((late, at) for at, late in monitor.samples if round_start <= at <= window_end), reverse=True
        )
        result["round"] = {
            "seconds": round_end - round_start,
            "answered": answered,
            "changed": changed,
            "stalls": [explain(sampler, late, at, round_start) for late, at in window[:4]],
            "over_20ms": sum(1 for late, _ in window if late > 0.020),
            "phases": phases(round_start, window_end),
            "totals": totals(round_start, window_end),
        }

        # Database writes of the whole file (10,000 records) while the app is idle.
        writes = {}
        ids = [tracked.id for tracked in store.tasks()]
        for name, chosen in (("one record changed", ids[:1]), ("every record changed", ids)):
            tries: list[tuple[float, float, float]] = []
            for n in range(3):
                label = f"bench {name} {n}"
                changes = {task_id: (lambda old, label=label: old.with_label(label)) for task_id in chosen}
                begin = time.perf_counter()
                await asyncio.to_thread(store.update, changes)
                done = time.perf_counter()
                await asyncio.sleep(0.02)
                late, at = monitor.worst(begin - TICK, done)
                tries.append((late, done - begin, at))
            late, _took, at = max(tries)
            writes[name] = {
                "took": statistics.median(took for _, took, _ in tries),
                "stall": explain(sampler, late, at, at),
            }
        result["writes"] = writes
        sampler.halt.set()
        await monitor.stop()
        PROBE.recording = False
        result["file_mb"] = db.stat().st_size / 1e6
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["rss_mb"] = _current_rss_mb()
    return result


def explain(sampler: StackSampler, late: float, at: float, origin: float) -> dict[str, Any]:
    """One stall: how long, when (from `origin`), which probed calls ran meanwhile, what the threads did."""
    held = (at + TICK, at + TICK + late)
    return {
        "late": late,
        "at": held[0] - origin,
        "calls": overlapping(*held)[:4],
        "stacks": stacks_during(sampler, at),
    }


def totals(start: float, end: float) -> list[tuple[str, float, int]]:
    """Time in each probed call between start and end: (name [where], seconds, calls), longest first.
    Inclusive: a call's time counts in its callers too."""
    out: dict[str, tuple[float, int]] = {}
    for name, s, e, loop in PROBE.calls:
        if start <= s < end:
            key = f"{name} [{'loop' if loop else 'thread'}]"
            total, count = out.get(key, (0.0, 0))
            out[key] = (total + min(e, end) - s, count + 1)
    return sorted(((k, t, c) for k, (t, c) in out.items()), key=lambda item: -item[1])


def phases(start: float, end: float) -> list[tuple[str, float, float]]:
    """The main steps of the round, relative to its start: (name [where], start, duration)."""
    keep = ("_scan", "flush", "rebuild", "visible_tasks", "model_medians", "due", "set_rows")
    out = []
    for name, s, e, loop in PROBE.calls:
        if start <= s <= end and name.split(" ")[0].rsplit(".", 1)[-1] in keep:
            out.append((f"{name} [{'loop' if loop else 'thread'}]", s - start, e - s))
    return out


def overlapping(start: float, end: float) -> list[tuple[str, float, int]]:
    """Probed calls running while the loop was held: (name [where], overlap in seconds, calls),
    longest overlap first."""
    out: dict[str, tuple[float, int]] = {}
    for name, s, e, loop in PROBE.calls:
        overlap = min(e, end) - max(s, start)
        if overlap > 0.0005:
            key = f"{name} [{'loop' if loop else 'thread'}]"
            total, count = out.get(key, (0.0, 0))
            out[key] = (total + overlap, count + 1)
    return sorted(((k, o, c) for k, (o, c) in out.items()), key=lambda item: -item[1])


def stacks_during(sampler: StackSampler, beat: float) -> dict[str, list[str]]:
    """What the loop and any busy grokdash thread were doing while the loop was late (first sample)."""
    for stacks in sampler.during(beat):
        shown = {}
        for name, stack in stacks.items():
            if name == "loop" or _busy(stack):
                shown["worker thread" if name != "loop" else name] = _interesting(stack)
        return shown
    return {}


def _current_rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def child_main(args: argparse.Namespace) -> None:
    install_probes()
    db = Path(args.db)
    if args.child == "paint":
        result = asyncio.run(child_paint(db, args.base_url, args.expected, args.launched))
    elif args.child == "frame":
        result = asyncio.run(child_frame(db))
    else:
        result = asyncio.run(child_stall(db, args.base_url, args.active))
    print(RESULT + json.dumps(result), flush=True)


# ---- the parent ----------------------------------------------------------------------------------------


def run_child(case: str, db: Path, base_url: str, **extra: Any) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    command = [sys.executable, __file__, "--child", case, "--db", str(db), "--base-url", base_url]
    for name, value in {**extra, "launched": repr(time.time())}.items():
        command += [f"--{name}", str(value)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT) :])
    raise RuntimeError(f"the {case} child failed (exit {done.returncode}):\n{done.stderr[-3000:]}")


def fresh_copy(source: Path, folder: Path, name: str) -> Path:
    target = folder / name
    target.mkdir()
    if source.exists():
        shutil.copy2(source, target / source.name)
    return target / source.name


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--active", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=3, help="first-paint runs per case (median counts)")
    parser.add_argument("--child", choices=("paint", "frame", "stall"), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--expected", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--launched", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return

    began = time.perf_counter()
    timings = Timings(queued_seconds=0, processing_seconds=3600)
    with (
        tempfile.TemporaryDirectory(prefix="grokdash-bench-") as temp,
        SimServer(host="127.0.0.1", latency=args.latency, timings=timings) as sim,
    ):
        folder = Path(temp)
        full = folder / "full" / "tasks.json"
        full.parent.mkdir()
        build_database(full, args.tasks, args.active, sim)
        empty = folder / "empty" / "tasks.json"
        empty.parent.mkdir()
        empty.write_text(json.dumps({"tasks": {}, "_meta": {"1": {"schema": 1}}}))

        paint: dict[int, list[dict[str, Any]]] = {args.tasks: [], 0: []}
        for n in range(args.repeat):  # alternate, so drift in the machine's load hits both alike
            for count, source in ((0, empty), (args.tasks, full)):
                db = fresh_copy(source, folder, f"paint-{count}-{n}")
                paint[count].append(run_child("paint", db, sim.base_url, expected=count))
                paint[count][-1] |= run_child("frame", db, sim.base_url)
        stall = run_child("stall", fresh_copy(full, folder, "stall"), sim.base_url, active=args.active)

    def median(count: int, key: str) -> float:
        return statistics.median(run[key] for run in paint[count])

    full_paint, empty_paint = median(args.tasks, "paint"), median(0, "paint")
    print(
        f"tasks: {args.tasks:,} ({args.active:,} active), latency: {args.latency * 1000:.0f} ms, "
        f"concurrency: {CONCURRENCY}, terminal {SIZE[0]}x{SIZE[1]}, database {stall['file_mb']:.1f} MB"
    )
    print(
        f"first paint: {args.tasks:,} tasks {full_paint:.2f} s vs 0 tasks {empty_paint:.2f} s "
        f"-> ratio {full_paint / empty_paint:.2f} (goal <= 1.5)"
    )
    runs = {count: ", ".join(f"{run['paint']:.2f}" for run in paint[count]) for count in paint}
    print(
        f"  includes opening the store: {args.tasks:,} tasks {median(args.tasks, 'store'):.3f} s, "
        f"0 tasks {median(0, 'store'):.3f} s; median of {args.repeat} fresh processes each "
        f"(all runs: {runs[args.tasks]} s vs {runs[0]} s)"
    )
    frame_full, frame_empty = median(args.tasks, "frame"), median(0, "frame")
    print(
        f"  first frame as grokdash opens it (the database opened after it): {frame_full:.2f} s vs "
        f"{frame_empty:.2f} s -> ratio {frame_full / frame_empty:.2f}"
    )
    launch_full, launch_empty = median(args.tasks, "from_launch"), median(0, "from_launch")
    print(
        f"  from launching the process instead (interpreter start and imports included): "
        f"{launch_full:.2f} s vs {launch_empty:.2f} s -> ratio {launch_full / launch_empty:.2f}"
    )
    if args.tasks in paint:
        typical = sorted(paint[args.tasks], key=lambda run: run["paint"])[len(paint[args.tasks]) // 2]
        print(f"  before the first paint with {args.tasks:,} tasks (the median run; time inside each call):")
        for name, took, calls in typical["before_paint"][:9]:
            print(f"    {took * 1000:7.1f} ms  {name}" + (f" x{calls}" if calls > 1 else ""))
    round_ = stall["round"]
    worst = round_["stalls"][0]
    print(
        f"longest event-loop stall during a poll round: {worst['late'] * 1000:.0f} ms (goal < 50 ms), "
        f"{worst['at']:.2f} s into a {round_['seconds']:.2f} s round ({round_['answered']:,} answered, "
        f"{round_['changed']:,} changed; {round_['over_20ms']} stalls over 20 ms)"
    )
    print("  the round's steps (start, duration):")
    for name, start, took in round_["phases"]:
        if took >= 0.005 or "_scan" in name or "flush" in name:
            print(f"    {start:6.2f} s {took * 1000:7.1f} ms  {name}")
    print("  time in probed calls from the round's start to the repaint after it (inclusive):")
    for name, took, calls in round_["totals"][:8]:
        print(f"    {took * 1000:7.1f} ms  {name}" + (f" x{calls}" if calls > 1 else ""))
    print("  its longest stalls, the probed calls that overlapped them, and where the threads were:")
    for stall_ in round_["stalls"]:
        print_stall(stall_)
    for name, write in stall["writes"].items():
        print(
            f"longest event-loop stall while writing the {args.tasks:,}-task database ({name}; "
            f"TaskStore.update in a thread takes {write['took'] * 1000:.0f} ms): "
            f"{write['stall']['late'] * 1000:.0f} ms (goal < 50 ms)"
        )
        print_stall(write["stall"], when=False)
    print(
        f"peak memory with {args.tasks:,} tasks: {stall['peak_mb']:.0f} MB (goal < 200 MB); "
        f"resident at the end {stall['rss_mb']:.0f} MB"
    )
    print(f"(bench took {time.perf_counter() - began:.0f} s)")


def print_stall(stall: dict[str, Any], *, when: bool = True) -> None:
    at = f" at {stall['at']:.2f} s" if when else ""
    calls = "; ".join(
        f"{name}{f' x{count}' if count > 1 else ''} {overlap * 1000:.0f} ms"
        for name, overlap, count in stall["calls"]
    )
    print(f"    {stall['late'] * 1000:4.0f} ms{at}: {calls or 'no probed call'}")
    for name, stack in stall["stacks"].items():
        waiting = (
            " (in select: another thread held the GIL, or the CPU was busy)" if "select" in stack[0] else ""
        )
        print(f"         {name}{waiting}: {' <- '.join(stack)}")


if __name__ == "__main__":
    main()
