"""The headless saver stopped mid-video, end to end: the installed `grokdash watch --save` as a child
process, saving a large video from the simulator over loopback HTTP, killed with SIGKILL (no cleanup) or
interrupted with Ctrl-C while the video is half-way; the next run asks for the rest only (a Range request
from the bytes kept) and the file ends byte-for-byte the server's.

The simulator serves at full loopback speed, so the video goes through a relay (`Valve`) that passes the
first bytes of each video answer and holds the rest until the test opens it: the save is caught mid-body
every time, whatever the machine's speed. Every wait is on the child process or on the partial file, with
a deadline; nothing sleeps for a fixed while.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grokdash.sim import SimServer, Timings
from grokdash.sim.media import sized_video
from grokdash.sim.server import API_PREFIX

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

MiB = 1024 * 1024
VIDEO_SIZE = 8 * MiB
LET_THROUGH = 2 * MiB + MiB // 2
"""Bytes of each video answer the relay passes before holding: grokdash writes whole MiB batches, so 2 MiB
reach the partial file and the rest waits in memory (a SIGKILL loses it, a Ctrl-C writes it)."""
STEP_TIMEOUT = 60.0
"""The most a child process may take to start, reach the held bytes or finish: generous, for a loaded
machine; a healthy step takes about a second."""
TASK_ID = "big-1"


class Valve:
    """A TCP relay on loopback in front of the simulator. Requests for a video (`/media/` in the request)
    get the first `let_through` bytes of their answer, then nothing more until `open()`; everything else
    passes at once. The simulator builds video URLs from the Host header, so the videos come this way."""

    def __init__(self, upstream_port: int, let_through: int) -> None:
        self.upstream_port = upstream_port
        self.let_through = let_through
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._opened = False
        self._lock = threading.Lock()
        self._waiting: list[threading.Event] = []
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def open(self) -> None:
        """From now on every answer passes whole; held ones go on."""
        with self._lock:
            self._opened = True
            for event in self._waiting:
                event.set()

    def close(self) -> None:
        self.open()
        self.listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            go_on = threading.Event()
            with self._lock:
                self._sockets += [client, upstream]
                self._waiting.append(go_on)
                if self._opened:
                    go_on.set()
            state = {"media": False}
            threading.Thread(
                target=self._requests, args=(client, upstream, state, go_on), daemon=True
            ).start()
            threading.Thread(target=self._answers, args=(upstream, client, state, go_on), daemon=True).start()

    def _requests(
        self, client: socket.socket, upstream: socket.socket, state: dict, go_on: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if b"/media/" in data:
                    state["media"] = True  # before the request goes on, so before its answer comes back
                upstream.sendall(data)
        go_on.set()  # the client went away (killed): stop holding, close both
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.close()

    def _answers(
        self, upstream: socket.socket, client: socket.socket, state: dict, go_on: threading.Event
    ) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if state["media"] and not go_on.is_set():
                    room = max(0, self.let_through - sent)
                    client.sendall(data[:room])
                    sent += min(room, len(data))
                    if room >= len(data):
                        continue
                    go_on.wait()
                    data = data[room:]
                client.sendall(data)
                sent += len(data)


def grokdash_command() -> list[str]:
    """The installed console script (this interpreter's bin folder first), else the module."""
    bin_dir = str(Path(sys.executable).parent)
    script = shutil.which("grokdash", path=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]))
    return [script] if script else [sys.executable, "-m", "grokdash"]


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds: only for a real process that has to start or do work."""
    deadline = time.monotonic() + STEP_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {STEP_TIMEOUT:g} s waiting for {what}")
        time.sleep(0.02)


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimServer(
        timings=Timings(queued_seconds=0, processing_seconds=0), video=sized_video(VIDEO_SIZE)
    ) as server:
        yield server


@pytest.fixture
def valve(sim: SimServer) -> Iterator[Valve]:
    relay = Valve(sim.port, LET_THROUGH)
    yield relay
    relay.close()


@pytest.fixture
def videos(tmp_path: Path) -> Path:
    return tmp_path / "videos"


@pytest.fixture
def env(valve: Valve, tmp_path: Path, videos: Path) -> dict[str, str]:
    """The child's environment: this test's own folders (the `home` fixture), the relay as the API."""
    return {
        **os.environ,
        "GROKDASH_BASE_URL": f"http://127.0.0.1:{valve.port}{API_PREFIX}",
        "GROKDASH_API_KEY": "k",
        "GROKDASH_DB": str(tmp_path / "tasks.json"),
        "GROKDASH_DOWNLOAD_DIR": str(videos),
        "GROKDASH_INTERVAL": "0.5",
    }


def start_saver(env: dict[str, str], *ids: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*grokdash_command(), "watch", "--save", *ids],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_saver(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*grokdash_command(), "watch", "--save"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
    )


def media(sim: SimServer) -> list:
    return [record for record in sim.log.for_task(TASK_ID) if "/media/" in record.path]


def stopped_mid_video(
    env: dict[str, str], videos: Path, how: signal.Signals
) -> tuple[int, subprocess.Popen[str]]:
    """Start `watch --save big-1`, wait until 2 MiB of the video are in its partial file, stop it with
    `how`; the size of the partial file, and the stopped process."""
    child = start_saver(env, TASK_ID)
    part = videos / f"{TASK_ID}.mp4.part"
    try:
        wait_until(lambda: size_of(part) >= 2 * MiB or child.poll() is not None, "2 MiB in the partial file")
        assert child.poll() is None, child.communicate()
    finally:
        child.send_signal(how)
        child.wait(STEP_TIMEOUT)
    kept = size_of(part)
    assert 0 < kept < VIDEO_SIZE
    return kept, child


def test_killed_mid_video_the_next_run_resumes_with_a_range_request_and_the_file_is_whole(
    sim, valve, env, videos
):
    kept, child = stopped_mid_video(env, videos, signal.SIGKILL)
    assert child.returncode == -signal.SIGKILL
    assert not (videos / f"{TASK_ID}.mp4").exists()
    listed = subprocess.run([*grokdash_command(), "ls", "--json"], env=env, capture_output=True, text=True)
    assert json.loads(listed.stdout)[0]["saved"] == "partial"

    valve.open()
    second = run_saver(env)

    assert second.returncode == 0, second.stderr
    assert f"saved {TASK_ID}: {videos / 'big-1.mp4'}" in second.stdout
    first, resumed = media(sim)
    assert first.range is None
    assert resumed.range == f"bytes={kept}-" and resumed.status == 206
    assert (videos / f"{TASK_ID}.mp4").read_bytes() == sim.video
    assert not (videos / f"{TASK_ID}.mp4.part").exists()


def test_ctrl_c_mid_video_says_the_partial_file_resumes_and_keeps_it(sim, valve, env, videos):
    kept, child = stopped_mid_video(env, videos, signal.SIGINT)
    _, stderr = child.communicate()

    assert child.returncode == 130, stderr
    assert "interrupted; 1 video was being saved: the partial files are kept and resume next time" in stderr
    assert "Traceback" not in stderr
    assert kept > 2 * MiB  # what had arrived is kept, even the part of a MiB not written yet

    valve.open()
    second = run_saver(env)
    assert second.returncode == 0, second.stderr
    assert media(sim)[-1].range == f"bytes={kept}-"
    assert (videos / f"{TASK_ID}.mp4").read_bytes() == sim.video


def test_the_dashboard_killed_mid_video_resumes_it_on_restart_with_a_range_request(sim, valve, env, videos):
    from tests.integration.test_crash_safety import DashboardProcess

    added = subprocess.run([*grokdash_command(), "add", TASK_ID], env=env, capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    part, final = videos / f"{TASK_ID}.mp4.part", videos / f"{TASK_ID}.mp4"
    first = DashboardProcess(env)
    try:
        wait_until(lambda: size_of(part) >= 2 * MiB or first.process.poll() is not None, "2 MiB saved")
        assert first.process.poll() is None, first.text()[-2000:]
    finally:
        first.process.kill()  # SIGKILL: no cleanup, no chance to say anything
        first.process.wait(STEP_TIMEOUT)
        first.close()
    kept = size_of(part)
    assert 0 < kept < VIDEO_SIZE and not final.exists()

    valve.open()
    second = DashboardProcess(env)
    try:
        db = Path(env["GROKDASH_DB"])
        wait_until(
            lambda: "local_file" in db.read_text() or second.process.poll() is not None, "the video recorded"
        )
        second.type("q")  # nothing is saving any more: it quits at once
        second.process.wait(STEP_TIMEOUT)
    finally:
        if second.process.poll() is None:
            second.process.kill()
        second.close()
    assert second.trouble() == []
    first_request, resumed = media(sim)
    assert first_request.range is None
    assert resumed.range == f"bytes={kept}-" and resumed.status == 206
    assert final.read_bytes() == sim.video
