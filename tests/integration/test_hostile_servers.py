"""Hostile API servers over real loopback, against the real `grokdash status` and `grokdash new`.

Each server here answers as a broken or malicious one would: headers or a body a byte a second, a
chunked body that never ends, a gzip bomb (10 MB that unpacks to 10 GiB), 100 MB of answer with and
without a Content-Length, JSON nested a thousand deep. What a user checks is checked: the command ends
within the timeout and a little, with exit status 1, one sentence and no traceback, the right
`query_error` kind, a peak memory far below the answer's size, and for a create, that it says the task
may have been created and keeps the request in the state folder.

The commands run as child processes, each under a small wrapper that reports the peak memory of that
one child (`RUSAGE_CHILDREN` of the wrapper: no other process is counted).
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from grokdash.api import GrokClient, Timeouts
from grokdash.config import state_dir
from grokdash.models import MAX_ERROR_LENGTH
from grokdash.secret import Secret
from grokdash.store import TaskStore
from tests.faults import assert_one_sentence

pytestmark = pytest.mark.anyio

PREFIX = "/kyyReactApiServer"
TIMEOUT = 2
BOUND = TIMEOUT + 5
"""Seconds a command may take: a bound that a deadline honoured meets with room, not a benchmark."""
PEAK_RSS_KIB = 200 * 1024
MIB = 1024 * 1024
HUGE = 100 * MIB
BOMB_UNPACKED = 10 * 1024 * MIB
DEEP = 1000


# ---- the server --------------------------------------------------------------------------------------


class Peer:
    """One accepted connection, written to as a hostile server would; stops once the test is over."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self.sock = sock
        self.stopping = stopping

    def send(self, data: bytes) -> None:
        if self.stopping.is_set():
            raise ConnectionAbortedError("the test is over")
        self.sock.sendall(data)

    def trickle(self, data: bytes) -> None:
        """`data` one byte a second."""
        for byte in data:
            self.send(bytes([byte]))
            self.stopping.wait(1.0)

    def chunked(self, pieces: Iterator[bytes]) -> None:
        for piece in pieces:
            if piece:
                self.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.send(b"0\r\n\r\n")


def head(status: int = 200, **headers: object) -> bytes:
    lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def task_answer(task_id: str, **fields: object) -> bytes:
    answer = {"id": task_id, "object": "video", "created": 1764300000, "model": "grok_video3"}
    answer |= {"status": "completed", "video_url": "https://cdn.example/v.mp4", "actualDuration": 6}
    return json.dumps(answer | fields).encode()


def sized(body: bytes) -> bytes:
    return head(Content_Length=len(body)) + body


def answer_padded_to(task_id: str, size: int) -> Iterator[bytes]:
    """A task answer `size` bytes long (a padding field), made as it is sent."""
    start = b'{"id": "%s", "status": "queued", "pad": "' % task_id.encode()
    yield start
    left = size - len(start) - 2
    piece = b"x" * 65536
    while left > 0:
        yield piece[:left]
        left -= len(piece)
    yield b'"}'


def gzip_of_zeros(unpacked: int) -> Iterator[bytes]:
    """A gzip stream of `unpacked` zero bytes (10 GiB pack into about 10 MB), made as it is sent."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(MIB)
    for _ in range(unpacked // MIB):
        yield packer.compress(block)
    yield packer.flush()


def slow_headers(peer: Peer, task_id: str) -> None:
    peer.trickle(sized(task_answer(task_id)))


def slow_body(peer: Peer, task_id: str) -> None:
    body = task_answer(task_id)
    peer.send(head(Content_Length=len(body)))
    peer.trickle(body)


def endless(peer: Peer, task_id: str) -> None:
    peer.send(head(Transfer_Encoding="chunked"))
    peer.chunked(
        itertools.chain([b'{"id": "%s", "pad": "' % task_id.encode()], itertools.repeat(b"x" * 65536))
    )


def gzip_bomb(peer: Peer, task_id: str) -> None:
    peer.send(head(Transfer_Encoding="chunked", Content_Encoding="gzip"))
    peer.chunked(gzip_of_zeros(BOMB_UNPACKED))


def huge(peer: Peer, task_id: str) -> None:
    peer.send(head(Content_Length=HUGE))
    for piece in answer_padded_to(task_id, HUGE):
        peer.send(piece)


def huge_unsized(peer: Peer, task_id: str) -> None:
    peer.send(head(Connection="close"))  # the body ends when the connection does
    for piece in answer_padded_to(task_id, HUGE):
        peer.send(piece)


def deep_list(peer: Peer, task_id: str) -> None:
    peer.send(sized(b"[" * DEEP + b"]" * DEEP))


def deep_object(peer: Peer, task_id: str) -> None:
    peer.send(sized(b'{"a": ' * DEEP + b"1" + b"}" * DEEP))


def healthy(peer: Peer, task_id: str) -> None:
    peer.send(sized(task_answer(task_id)))


def long_error(peer: Peer, task_id: str) -> None:
    """A failed task whose error text is 900 KB: under the size limit, far over what is kept of it."""
    peer.send(sized(task_answer(task_id, status="failed", video_url=None, error="e" * 900_000)))


BEHAVIOURS: dict[str, Callable[[Peer, str], None]] = {
    "slowheaders": slow_headers,
    "slowbody": slow_body,
    "endless": endless,
    "gzipbomb": gzip_bomb,
    "huge": huge,
    "hugeunsized": huge_unsized,
    "deeplist": deep_list,
    "deepobject": deep_object,
    "healthy": healthy,
    "longerror": long_error,
}


class HostileServer:
    """HTTP/1.1 on 127.0.0.1, a thread per connection. A query's behaviour is named by its id
    ("slowbody-1"), a create's by its prompt; every answer is made as it is sent, never held whole."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}{PREFIX}"
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def close(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            try:
                behaviour, task_id = self._read_request(sock)
                BEHAVIOURS[behaviour](Peer(sock, self.stopping), task_id)
            except OSError:
                pass  # the client gave up on the answer, as it should

    @staticmethod
    def _receive(sock: socket.socket) -> bytes:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("the client left mid-request")
        return chunk

    @staticmethod
    def _read_request(sock: socket.socket) -> tuple[str, str]:
        sock.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            data += HostileServer._receive(sock)
        header, body = data.split(b"\r\n\r\n", 1)
        lines = header.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ")
        fields = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines[1:])}
        while len(body) < int(fields.get("content-length", "0")):
            body += HostileServer._receive(sock)
        if method == "POST":
            return json.loads(body)["prompt"], "created-1"
        task_id = path.rsplit("/", 1)[-1]
        return task_id.rsplit("-", 1)[0], task_id


@pytest.fixture
def server() -> Iterator[HostileServer]:
    hostile = HostileServer()
    yield hostile
    hostile.close()


# ---- the command, as a user runs it -----------------------------------------------------------------

WRAPPER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_kib: int


def grokdash(tmp_path: Path, base_url: str, *args: str) -> Run:
    """`grokdash ARGS` in a child process, its settings all in `tmp_path` (the `home` fixture's
    XDG folders are in the environment already)."""
    config = tmp_path / "config.toml"
    config.touch()
    env = {
        **os.environ,
        "GROKDASH_BASE_URL": base_url,
        "GROKDASH_API_KEY": "k",
        "GROKDASH_TIMEOUT": str(TIMEOUT),
        "GROKDASH_DB": str(tmp_path / "tasks.json"),
        "GROKDASH_CONFIG": str(config),
    }
    rss = tmp_path / "peak-rss"
    command = [sys.executable, "-c", WRAPPER, str(rss), sys.executable, "-m", "grokdash", *args]
    started = time.monotonic()
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60
    )
    seconds = time.monotonic() - started
    return Run(done.returncode, done.stdout, done.stderr, seconds, int(rss.read_text()))


def assert_bounded(run: Run) -> None:
    """Ended in time, in little memory, and printed nothing of the answer and no traceback."""
    assert run.seconds < BOUND, f"took {run.seconds:.1f} s"
    assert run.peak_rss_kib < PEAK_RSS_KIB, f"peak memory {run.peak_rss_kib // 1024} MB"
    assert "Traceback" not in run.stderr and "unexpected error" not in run.stderr, run.stderr
    assert len(run.stdout) + len(run.stderr) < 10_000


def assert_nothing_large_written(tmp_path: Path) -> None:
    """Nothing of a huge answer was kept: no file grokdash wrote (database, log, unsent) is large."""
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert path.stat().st_size < 64 * 1024, path


HOSTILE = [
    ("slowheaders", "timeout", "within 2 s"),
    ("slowbody", "timeout", "within 2 s"),
    ("endless", "protocol", "is larger than 1 MiB"),
    ("gzipbomb", "protocol", "is larger than 1 MiB"),
    ("huge", "protocol", "is larger than 1 MiB"),
    ("hugeunsized", "protocol", "is larger than 1 MiB"),
    ("deeplist", "protocol", "nested too deeply"),
    ("deepobject", "protocol", "nested too deeply"),
]
HOSTILE_IDS = [name for name, _, _ in HOSTILE]


@pytest.mark.parametrize(("behaviour", "kind", "says"), HOSTILE, ids=HOSTILE_IDS)
def test_status_against_a_hostile_server_ends_in_time_with_one_error(server, tmp_path, behaviour, kind, says):
    task_id = f"{behaviour}-1"
    run = grokdash(tmp_path, server.base_url, "status", task_id, "--json")

    assert run.exit_code == 1
    assert_bounded(run)
    [result] = json.loads(run.stdout)
    assert result["id"] == task_id and result["status"] is None
    assert result["query_error"]["kind"] == kind
    assert_one_sentence(result["query_error"]["message"], says)
    if kind == "timeout":
        assert f"task '{task_id}'" in result["query_error"]["message"]
    assert run.stderr == ""
    assert_nothing_large_written(tmp_path)


def test_a_healthy_task_is_answered_alongside_one_that_hangs(server, tmp_path):
    run = grokdash(tmp_path, server.base_url, "status", "slowheaders-1", "healthy-1", "--json")

    assert run.exit_code == 1
    assert_bounded(run)
    hanging, answered = json.loads(run.stdout)
    assert hanging["query_error"]["kind"] == "timeout"
    assert answered["query_error"] is None
    assert answered["status"] == "completed"
    assert answered["video_url"] == "https://cdn.example/v.mp4"


def unsent(tmp_path: Path) -> list[Path]:
    folder = state_dir() / "unsent"
    assert folder.is_relative_to(tmp_path)  # the `home` fixture's state folder, also the child's
    return sorted(folder.glob("*.json")) if folder.exists() else []


def create(tmp_path: Path, base_url: str, prompt: str) -> Run:
    return grokdash(tmp_path, base_url, "new", "--model", "grok_video3", "--prompt", prompt, "--yes")


@pytest.mark.parametrize(("behaviour", "kind", "says"), HOSTILE, ids=HOSTILE_IDS)
def test_a_create_answered_by_a_hostile_server_may_have_been_made_and_is_kept(
    server, tmp_path, behaviour, kind, says
):
    run = create(tmp_path, server.base_url, behaviour)

    assert run.exit_code == 1
    assert_bounded(run)
    [sentence] = [line for line in run.stderr.splitlines() if "may have been created" in line]
    assert_one_sentence(sentence, says)
    assert sentence.endswith("; the task may have been created: not sent again")
    [kept] = unsent(tmp_path)
    assert json.loads(kept.read_text())["prompt"] == behaviour
    assert f"the request is kept in {kept}" in run.stderr
    assert run.stdout == ""  # no task id: none is known
    assert_nothing_large_written(tmp_path)


def test_a_create_that_cannot_connect_in_time_was_not_sent_and_says_so(tmp_path):
    """A listener that never accepts, its one-place queue full: the next connection hangs unanswered."""
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        filler = socket.create_connection(listener.getsockname())
        port = listener.getsockname()[1]
        with filler:
            run = create(tmp_path, f"http://127.0.0.1:{port}{PREFIX}", "x")

    assert run.exit_code == 1
    assert_bounded(run)
    [sentence] = [line for line in run.stderr.splitlines() if line.startswith("grokdash: could not")]
    assert_one_sentence(sentence, f"could not connect to 127.0.0.1:{port} within 2 s")
    assert "may have been created" not in run.stderr
    assert unsent(tmp_path) == []


async def test_a_long_error_text_is_stored_cut_and_the_database_stays_small(server, tmp_path):
    db = tmp_path / "tasks.json"
    store = TaskStore(db)
    store.add(["longerror-1"])
    async with GrokClient(server.base_url, Secret("k"), timeouts=Timeouts(total=TIMEOUT)) as client:
        task = await client.get_task("longerror-1")
    store.update({task.id: lambda old: old.with_answer(task, time.time())})

    assert task.status == "failed"
    assert len(task.error) <= MAX_ERROR_LENGTH and task.error.endswith("more characters")
    assert db.stat().st_size < 16 * 1024
    [reread] = TaskStore(db).tasks()
    assert reread.task == task
    assert reread.task.raw == task.raw
