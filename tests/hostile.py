"""A hostile API server over real loopback, and `grokdash` run against it as a child process.

Each behaviour answers as a broken or malicious server would: headers or a body a byte a second, a
chunked body that never ends, a gzip bomb (10 MB that unpacks to 10 GiB), 100 MB of answer with and
without a Content-Length, JSON nested a thousand deep. A query's behaviour is named by its id
("slowbody-1"); with `_once` ("slowbody_once-1") only the first query of that id is hostile and the
later ones are answered healthily, so a long-running `grokdash watch` can be seen to get past it.

Used by tests/integration/test_hostile_servers.py (`status`, `new`) and
tests/integration/test_watch_under_faults.py (`watch`).
"""

from __future__ import annotations

import collections
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

PREFIX = "/kyyReactApiServer"
TIMEOUT = 2
BOUND = TIMEOUT + 5
"""Seconds a command may take: a bound that a deadline honoured meets with room, not a benchmark."""
PEAK_RSS_KIB = 200 * 1024
MIB = 1024 * 1024
HUGE = 100 * MIB
BOMB_UNPACKED = 10 * 1024 * MIB
DEEP = 1000
SMALL_FILE = 64 * 1024
"""Every file grokdash writes (database, log, unsent) stays below this: nothing of a huge answer is kept."""
ONCE = "_once"
"""A behaviour name ending in this is hostile on the first query of the id only."""


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
    # Every connection serves one request: saying so keeps a client from sending the next on it.
    headers.setdefault("Connection", "close")
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
    peer.send(head())  # no length: the body ends when the connection does
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
"""(behaviour, the query error's kind, words of its sentence)."""
HOSTILE_IDS = [name for name, _, _ in HOSTILE]


class HostileServer:
    """HTTP/1.1 on 127.0.0.1, a thread per connection, one request per connection. A query's behaviour
    is named by its id, a create's by its prompt; every answer is made as it is sent, never held whole."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.queries: collections.Counter[str] = collections.Counter()
        """How many times each task id was asked about."""
        self._count_lock = threading.Lock()
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
                BEHAVIOURS[self._behaviour_now(behaviour, task_id)](Peer(sock, self.stopping), task_id)
            except OSError:
                pass  # the client gave up on the answer, as it should

    def _behaviour_now(self, behaviour: str, task_id: str) -> str:
        with self._count_lock:
            self.queries[task_id] += 1
            count = self.queries[task_id]
        if behaviour.endswith(ONCE):
            return behaviour.removesuffix(ONCE) if count == 1 else "healthy"
        return behaviour

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


# ---- the command, as a user runs it -----------------------------------------------------------------

WRAPPER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""
"""Runs the command and reports the peak memory of that one child (`RUSAGE_CHILDREN` of the wrapper:
no other process is counted)."""


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_kib: int


def child_env(tmp_path: Path, base_url: str, timeout: float = TIMEOUT) -> dict[str, str]:
    """The environment of a `grokdash` child, its settings all in `tmp_path` (the `home` fixture's
    XDG folders are in the environment already)."""
    config = tmp_path / "config.toml"
    config.touch()
    return {
        **os.environ,
        "GROKDASH_BASE_URL": base_url,
        "GROKDASH_API_KEY": "k",
        "GROKDASH_TIMEOUT": f"{timeout:g}",
        "GROKDASH_DB": str(tmp_path / "tasks.json"),
        "GROKDASH_CONFIG": str(config),
    }


def grokdash(tmp_path: Path, base_url: str, *args: str, env: dict[str, str] | None = None) -> Run:
    """`grokdash ARGS` in a child process under the memory-reporting wrapper; `env` defaults to
    `child_env(tmp_path, base_url)`."""
    rss = tmp_path / "peak-rss"
    command = [sys.executable, "-c", WRAPPER, str(rss), sys.executable, "-m", "grokdash", *args]
    started = time.monotonic()
    done = subprocess.run(
        command,
        env=env or child_env(tmp_path, base_url),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    seconds = time.monotonic() - started
    return Run(done.returncode, done.stdout, done.stderr, seconds, int(rss.read_text()))


def assert_bounded(run: Run, bound: float = BOUND) -> None:
    """Ended in time, in little memory, and printed nothing of the answer and no traceback."""
    assert run.seconds < bound, f"took {run.seconds:.1f} s"
    assert run.peak_rss_kib < PEAK_RSS_KIB, f"peak memory {run.peak_rss_kib // 1024} MB"
    assert "Traceback" not in run.stderr and "unexpected error" not in run.stderr, run.stderr
    assert len(run.stdout) + len(run.stderr) < 10_000


def assert_nothing_large_written(tmp_path: Path) -> None:
    """Nothing of a huge answer was kept: no file grokdash wrote (database, log, unsent) is large."""
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert path.stat().st_size < SMALL_FILE, path
