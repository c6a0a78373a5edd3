"""One 200 MB download from the simulator over loopback: grokdash's Downloader against curl.

Starts `grokdash sim --video-size 200` as a subprocess, tracks a task there until it completes, then
downloads its video with curl and with grokdash (each the median of --runs, into a fresh folder) and
prints grokdash's throughput as a ratio to curl's (goal >= 0.8). curl does not fsync the file; grokdash
does (once, at the end), and that time is counted. Then it downloads once more while a coroutine that
wakes every 5 ms measures the event loop's longest stall (goal < 50 ms).

    python bench/download.py [--size 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from grokdash.api import GrokClient
from grokdash.downloads import Downloader
from grokdash.secret import Secret

TICK = 0.005


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sim(port: int, size_mb: float) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "grokdash", "sim", "--port", str(port), "--video-size", str(size_mb)]
    command += ["--queued", "0", "--processing", "0"]
    sim = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert sim.stdout is not None
    for line in sim.stdout:
        if line.startswith("Simulated API at"):
            break
    else:
        raise SystemExit(f"the simulator did not start (exit status {sim.wait()})")
    # Keep reading its request log, so a full pipe never blocks it.
    threading.Thread(target=sim.stdout.read, daemon=True).start()
    return sim


async def video_url(base_url: str, task_id: str) -> str:
    async with GrokClient(base_url, Secret("bench")) as client:
        for _ in range(20):
            task = await client.get_task(task_id)
            if task.video_url:
                return task.video_url
            await asyncio.sleep(0.1)
    raise SystemExit(f"the simulator's task {task_id} did not complete")


def time_curl(curl: str, url: str, target: Path) -> float:
    started = time.perf_counter()
    subprocess.run([curl, "-s", "-f", "-o", str(target), url], check=True)
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


async def time_grokdash(url: str, folder: Path, *, watch: bool = False) -> tuple[float, float]:
    """Seconds for one download, and the longest event-loop stall meanwhile (when `watch`)."""
    longest = 0.0
    done = asyncio.Event()

    async def monitor() -> None:
        nonlocal longest
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            longest = max(longest, time.perf_counter() - before - TICK)

    async with Downloader() as downloader:
        watcher = asyncio.create_task(monitor()) if watch else None
        await asyncio.sleep(0)
        started = time.perf_counter()
        path = await downloader.download("bench-video", url, folder, on_progress=lambda d, t: None)
        elapsed = time.perf_counter() - started
        done.set()
        if watcher is not None:
            await watcher
    path.unlink()
    return elapsed, longest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=float, default=200, help="megabytes (10^6 bytes) to download")
    parser.add_argument("--runs", type=int, default=3, help="downloads of each kind; the median counts")
    args = parser.parse_args()
    megabytes = args.size

    port = free_port()
    sim = start_sim(port, megabytes)
    try:
        base_url = f"http://127.0.0.1:{port}/kyyReactApiServer"
        url = asyncio.run(video_url(base_url, "bench-video"))
        with tempfile.TemporaryDirectory(prefix="grokdash-bench-") as scratch:
            root = Path(scratch)
            ours = []
            for run in range(args.runs):
                elapsed, _ = asyncio.run(time_grokdash(url, root / f"run-{run}"))
                ours.append(elapsed)
            curl = shutil.which("curl")
            theirs = [time_curl(curl, url, root / "curl.mp4") for _ in range(args.runs)] if curl else []
            _, stall = asyncio.run(time_grokdash(url, root / "watched", watch=True))
    finally:
        sim.terminate()
        sim.wait(timeout=10)

    ours_s = statistics.median(ours)
    line = f"download of {megabytes:g} MB: grokdash {ours_s:.2f} s ({megabytes / ours_s:.0f} MB/s)"
    if theirs:
        theirs_s = statistics.median(theirs)
        print(
            f"{line} vs curl {theirs_s:.2f} s ({megabytes / theirs_s:.0f} MB/s) -> "
            f"ratio {theirs_s / ours_s:.2f} (goal >= 0.8)"
        )
        print(f"  medians of {args.runs}; grokdash fsyncs the file before renaming it, curl does not")
    else:
        print(f"{line}; curl is not installed, so there is no ratio")
    print(f"longest event-loop stall during the download: {stall * 1000:.0f} ms (goal < 50 ms)")


if __name__ == "__main__":
    main()
