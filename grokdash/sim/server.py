"""The simulator as a real HTTP/1.1 server on loopback: routing, the key check, faults that involve time
(latency, slow, hang), and the request log. What the answers contain lives in answers.py and media.py.
"""

from __future__ import annotations

import contextlib
import email.utils
import hmac
import re
import selectors
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from grokdash.sim import answers, media
from grokdash.sim.answers import Response, error_response
from grokdash.sim.create import parse_create
from grokdash.sim.log import NO_ANSWER, RequestLog, RequestRecord
from grokdash.sim.ratelimit import RateLimit, RateLimiter, retry_after_header
from grokdash.sim.scenarios import scenario_for
from grokdash.sim.state import DEFAULT_MODEL, DEFAULT_TIMINGS, TaskStore, Timings

API_PREFIX = "/kyyReactApiServer"
MAX_BODY = 1024 * 1024
_WRITE_SLICE = 1024 * 1024  # bytes per socket write of a long answer (a video)
_QUERY = "v1/result/"
_CREATE = "v1/grok/videos"
_MEDIA = "media/"
_METHODS = ("GET", "HEAD", "POST")
_ALLOWED = {"query": ("GET",), "create": ("POST",), "media": ("GET", "HEAD")}
# A Host header we are willing to copy into an absolute URL: a name or IPv4/IPv6 literal and a port.
_SAFE_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")


class _Hang:
    """Marker: leave the request unanswered until the server stops."""


_HANG = _Hang()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Handler threads of idle keep-alive connections sit in readline(); joining them would make
    # server_close() wait for every client to hang up. stop() closes those sockets itself instead.
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sim: SimServer) -> None:
        self.sim = sim
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        # A socket pair that stop() writes to, so the accept loop wakes at once instead of polling.
        self._wake_reader, self._wake_writer = socket.socketpair()
        super().__init__(address, _Handler)

    def serve_until(self, stopping: threading.Event) -> None:
        """Accept connections until `stopping` is set and wake() is called.

        socketserver's serve_forever() polls for shutdown every poll_interval: stop() would wait up to
        that long, and an idle simulator would wake up many times a second. This loop sleeps in select()
        until a client connects or stop() writes to the wake socket.
        """
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self and not stopping.is_set():
                        self._handle_request_noblock()  # accept + hand to a thread, as serve_forever does

    def wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can stall for seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Wake every handler blocked on a client socket, so no thread outlives the server for long."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is normal for a test double; anything else is a real bug.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: pollers reuse a few connections for many requests
    server_version = "grokdash-sim/1"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go out as separate writes; don't let Nagle delay them
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the RequestLog is the record; stderr is the user's terminal."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def __getattr__(self, name: str) -> Callable[[], None]:
        # BaseHTTPRequestHandler answers 501 for a method it has no do_X for; the API answers 405.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    # -- one request ----------------------------------------------------------------------------------

    def _handle(self) -> None:
        sim = self.server.sim
        arrived = sim.clock()
        task_id: str | None = None
        authorized = False
        try:
            body = self._read_body()
            if sim.latency > 0:
                sim.pause(sim.latency)
            if isinstance(body, Response):
                response: Response | _Hang = body
            else:
                response, task_id, authorized = self._route(body)
        except Exception as exc:  # a bug in the simulator: say so in the answer, keep serving
            response = error_response(500, f"internal simulator error: {type(exc).__name__}: {exc}")
            self.close_connection = True
        record = RequestRecord(
            time=arrived,
            method=self.command,
            path=self.path,
            task_id=task_id,
            status=NO_ANSWER if isinstance(response, _Hang) else response.status,
            range=self.headers.get("Range"),
            authorized=authorized,
        )
        # Log before writing, so a client that has its answer can already see the record.
        sim.log.add(record)
        if sim.on_request is not None:
            sim.on_request(record)
        if isinstance(response, _Hang):
            sim.pause(None)
            self.close_connection = True
            return
        self._send(response)

    def _read_body(self) -> bytes | Response:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return error_response(411, "send the request body with a Content-Length")
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return error_response(400, "the Content-Length header is not a number")
        if length > MAX_BODY:
            self.close_connection = True  # the unread body would be taken for the next request
            return error_response(413, "the request body is too large")
        return self.rfile.read(length)

    def _route(self, body: bytes) -> tuple[Response | _Hang, str | None, bool]:
        if self.command not in _METHODS:
            allow = (("Allow", ", ".join(_METHODS)),)
            return error_response(405, f"method {self.command} is not supported", allow), None, False
        path, _, query = self.path.partition("?")
        if not path.startswith(API_PREFIX + "/"):
            return error_response(404, "no such endpoint"), None, False
        rest = path[len(API_PREFIX) + 1 :]
        kind, segment = _endpoint(rest)
        if kind is None:
            return error_response(404, "no such endpoint"), None, False
        allowed = _ALLOWED[kind]
        if self.command not in allowed:
            allow = (("Allow", ", ".join(allowed)),)
            return error_response(405, f"method {self.command} is not allowed here", allow), None, False
        if kind == "media":
            return self._media(segment, query)
        authorized = self._key_accepted()
        if not authorized:
            task_id = unquote(segment) if kind == "query" else None
            return error_response(401, "invalid api key"), task_id, False
        refused = self._over_rate_limit()
        if refused is not None:
            return refused, unquote(segment) if kind == "query" else None, True
        if kind == "create":
            response, task_id = self._create(body)
            return response, task_id, True
        task_id = unquote(segment)
        return self._query(task_id), task_id, True

    def _bearer_key(self) -> str | None:
        scheme, _, key = self.headers.get("Authorization", "").strip().partition(" ")
        key = key.strip()
        return key if scheme.lower() == "bearer" and key else None

    def _key_accepted(self) -> bool:
        key = self._bearer_key()
        if key is None:
            return False
        expected = self.server.sim.key
        return expected is None or hmac.compare_digest(key.encode(), expected.encode())

    def _over_rate_limit(self) -> Response | None:
        """429 when this key has used up its allowance (the limit is the key's, whatever the task)."""
        limiter = self.server.sim.limiter
        if limiter is None:
            return None
        wait = limiter.admit(self._bearer_key() or "")
        if wait is None:
            return None
        message = f"too many requests: at most {limiter.limit.describe()}"
        return answers.rate_limited(retry_after_header(wait), message)

    def _query(self, task_id: str) -> Response | _Hang:
        sim = self.server.sim
        scenario = scenario_for(task_id)
        match scenario:
            case "hang":
                return _HANG
            case "notfound":
                return error_response(404, "task not found")
            case "html":
                return answers.bad_gateway()
            case "ratelimit":
                return answers.rate_limited(str(sim.retry_after_seconds))
            case "ratelimitdate":
                # Real time, not the sim clock: a client compares an HTTP date with its own wall clock.
                when = email.utils.formatdate(time.time() + sim.retry_after_seconds, usegmt=True)
                return answers.rate_limited(when)
            case "slow":
                sim.pause(sim.slow_seconds)
        count = sim.store.count_query(task_id)
        if scenario == "flaky" and count % 2 == 1:
            return error_response(500, "internal server error, please try again later")
        task = sim.store.snapshot(task_id, issue_token=True)
        video_url = None if task.token is None else self._video_url(task_id, task.token)
        return answers.query_answer(scenario, task, video_url)

    def _create(self, body: bytes) -> tuple[Response, str | None]:
        request = parse_create(body)
        if isinstance(request, str):
            return error_response(400, request), None
        task = self.server.sim.store.create(request)
        return answers.json_response(200, answers.task_object(task, None)), task.id

    def _video_url(self, task_id: str, token: int) -> str:
        host = self.headers.get("Host", "")
        if not _SAFE_HOST.fullmatch(host):
            host = f"{self.server.server_name}:{self.server.server_port}"
        return f"http://{host}{API_PREFIX}/{_MEDIA}{quote(task_id, safe='')}.mp4?token={token}"

    def _media(self, segment: str, query: str) -> tuple[Response, str | None, bool]:
        # Like a CDN URL: no Bearer key needed. Record whether one was sent anyway (it should not be).
        sent_auth = "Authorization" in self.headers
        name = unquote(segment)
        if not name.endswith(".mp4"):
            return error_response(404, "no such video"), None, sent_auth
        task_id = name.removesuffix(".mp4")
        return self._video(task_id, parse_qs(query).get("token", [""])[0]), task_id, sent_auth

    def _video(self, task_id: str, token_text: str) -> Response:
        token = int(token_text) if token_text.isdigit() else None
        match self.server.sim.store.token_state(task_id, token):
            case "no_task":
                return error_response(404, "no such video")
            case "bad_token":
                return error_response(403, "this video link is not valid")
            case "expired":
                return error_response(410, "this video link has expired; query the task for a new one")
        sim = self.server.sim
        return media.video_response(
            sim.video, self.headers.get("Range"), self.headers.get("If-Range"), sim.video_etag
        )

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            if response.content_type is not None:
                self.send_header("Content-Type", response.content_type)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                # A long body (a video of hundreds of MB) goes out in slices, without copying it.
                body = memoryview(response.body)
                for start in range(0, len(body), _WRITE_SLICE):
                    self.wfile.write(body[start : start + _WRITE_SLICE])
        except OSError:  # the client went away; nothing to tell it
            self.close_connection = True


def _endpoint(rest: str) -> tuple[str | None, str]:
    """Which endpoint a path below API_PREFIX names, and its one (still encoded) path segment."""
    if rest == _CREATE:
        return "create", ""
    for kind, prefix in (("query", _QUERY), ("media", _MEDIA)):
        if rest.startswith(prefix):
            segment = rest[len(prefix) :]
            # One segment only: an id's own "/" arrives encoded as %2F.
            if segment and "/" not in segment:
                return kind, segment
    return None, ""


class SimServer:
    """The simulated Grok video API, serving on 127.0.0.1 from construction's bind until stop()."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        key: str | None = None,
        timings: Timings = DEFAULT_TIMINGS,
        clock: Callable[[], float] = time.time,
        latency: float = 0.0,
        slow_seconds: float = 5.0,
        retry_after_seconds: int = 2,
        rate_limit: RateLimit | None = None,
        on_request: Callable[[RequestRecord], None] | None = None,
        video: bytes | None = None,
    ) -> None:
        """`video`: the file every media URL serves (default: the bundled sample, about 30 KB).
        `rate_limit`: refuse a key's requests beyond it with 429 and Retry-After (default: no limit)."""
        if key == "":
            raise ValueError("the simulator's key must not be empty (use None to accept any key)")
        self.key = key
        self.timings = timings
        self.clock = clock
        self.latency = latency
        self.slow_seconds = slow_seconds
        self.retry_after_seconds = retry_after_seconds
        self.limiter: RateLimiter | None = None
        self.rate_limit = rate_limit
        self.on_request = on_request
        """Called with each request's record as it is answered (the `grokdash sim` console log)."""
        self.video = media.sample_video() if video is None else video
        self.video_etag = media.sample_etag() if video is None else media.etag_for(video)
        self.log = RequestLog()
        self.store = TaskStore(clock, timings)
        self._stopping = threading.Event()  # set by stop(): wakes slow, hang and latency waits
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._serving_thread: threading.Thread | None = None
        self._loop_done = threading.Event()
        self._close_after_loop = False
        self._stopped = False
        self._httpd = _HTTPServer((host, port), self)
        self.host = host
        self.port: int = self._httpd.server_port
        self.base_url = f"http://{host}:{self.port}{API_PREFIX}"

    @property
    def rate_limit(self) -> RateLimit | None:
        """The key-wide rate limit, or None. Settable while serving (a fresh window starts)."""
        return None if self.limiter is None else self.limiter.limit

    @rate_limit.setter
    def rate_limit(self, limit: RateLimit | None) -> None:
        self.limiter = None if limit is None else RateLimiter(limit, self.clock)

    def result_url(self, task_id: str) -> str:
        """The query URL for a task id, percent-encoded as one path segment."""
        return f"{self.base_url}/{_QUERY}{quote(task_id, safe='')}"

    def add_task(
        self,
        task_id: str,
        *,
        model: str = DEFAULT_MODEL,
        created: float | None = None,
        duration: int | None = None,
    ) -> None:
        """Pre-seed a task (for --demo); `created` defaults to now on the simulator's clock."""
        self.store.add(task_id, model=model, created=created, duration=duration)

    def pause(self, seconds: float | None) -> None:
        """Sleep in a handler thread (None: until stop()); stop() cuts every pause short."""
        self._stopping.wait(seconds)

    def start(self) -> SimServer:
        """Serve in a daemon thread; return self."""
        with self._lock:
            if self._stopped or self._serving_thread is not None:
                raise RuntimeError("the simulator was already started or stopped")
            self._thread = threading.Thread(target=self._serve, name=f"grokdash-sim-{self.port}", daemon=True)
            self._serving_thread = self._thread
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until stop() is called from another one (or KeyboardInterrupt)."""
        with self._lock:
            if self._stopped or self._serving_thread is not None:
                raise RuntimeError("the simulator was already started or stopped")
            self._serving_thread = threading.current_thread()
        self._serve()

    def _serve(self) -> None:
        try:
            self._httpd.serve_until(self._stopping)
        finally:
            with self._lock:
                self._serving_thread = None
                close = self._close_after_loop
            self._loop_done.set()
            if close:
                self._close()

    def stop(self) -> None:
        """Stop serving, close every connection and the socket. Idempotent; callable from any thread."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            serving = self._serving_thread
            # From a signal handler inside serve_forever(): the loop is below us on this very stack, so
            # it cannot be waited for; it closes the server itself once it returns.
            self._close_after_loop = serving is threading.current_thread()
        self._stopping.set()
        self._httpd.wake()
        if self._close_after_loop:
            return
        if serving is not None:
            self._loop_done.wait(timeout=5)
        self._close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _close(self) -> None:
        self._httpd.close_connections()
        self._httpd.server_close()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = ["API_PREFIX", "SimServer", "Timings"]
