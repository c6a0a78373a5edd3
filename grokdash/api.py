"""The API client: one `httpx.AsyncClient`, one method per endpoint, one error type per failure.

Every exchange is bounded: by one deadline for all of it (connecting, sending, the headers and the body),
and by `MAX_ANSWER_BYTES` of answer, counted as it comes off the wire and again as it is unpacked. The
API's answers are a few hundred bytes; a server that trickles, never ends, or sends a gzip bomb costs a
timeout or a protocol error, never minutes or gigabytes.
"""

from __future__ import annotations

import email.utils
import importlib
import json
import logging
import os
import socket
import time
import zlib
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import anyio
import httpx

from grokdash import __version__
from grokdash.errors import (
    ApiError,
    AuthError,
    EndpointNotFoundError,
    NetworkError,
    ProtocolError,
    RateLimitedError,
    RequestRefusedError,
    RequestTimeoutError,
    error_for_status,
    printable,
    safe_snippet,
)
from grokdash.models import Task, check_id, parse_task
from grokdash.rules import CreateRequest
from grokdash.secret import Secret, redact

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 1024 * 1024
"""The most of an answer read, as sent and as unpacked: a thousand times the API's largest."""
ACCEPT_ENCODING = "gzip, deflate"
"""The codings asked for: the ones unpacked here a bounded piece at a time (see `_Unpacker`)."""
_CODINGS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds.

    `total` is the deadline of one whole API exchange (connecting, sending, the headers and the body):
    the `timeout` setting. Left out, `read` serves as it. `read` on its own bounds each wait for the
    socket, which is what a download gets: hundreds of megabytes can have no deadline for the whole.
    """

    connect: float = 10.0
    read: float = 30.0
    total: float | None = None

    @property
    def deadline(self) -> float:
        """The time one API exchange may take, all of it."""
        return self.read if self.total is None else self.total

    def to_httpx(self) -> httpx.Timeout:
        """Per-operation timeouts, for downloads (the API client's come from `deadline`)."""
        # The pool wait is unbounded: callers cap concurrency themselves, so waiting for a free
        # connection is queueing, not a failure of the server.
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.read, pool=None)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP-date); None if unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²" is a digit to isdigit() but not to int()
        return float(min(int(value[:9]), 86_400))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    now = time.time() if now is None else now
    return min(max(0.0, when.timestamp() - now), 86_400.0)


def preload_transport() -> None:
    """Import what httpx's transport imports on its first request (anyio's backend: tens of
    milliseconds). A caller that must not stall, the dashboard, calls this in a thread beforehand."""
    importlib.import_module("anyio._backends._asyncio")


class _RequestTrace:
    """How far one request got, from httpcore's trace of it: whether it may have left. A create that
    failed while its connection was still being opened was certainly not made."""

    def __init__(self) -> None:
        self.connecting = False
        self.sending = False

    async def __call__(self, name: str, info: dict[str, Any]) -> None:  # httpcore awaits it
        if name.endswith(".send_request_headers.started"):
            self.sending = True
        elif name.startswith("connection.connect_"):
            self.connecting = True

    @property
    def unsent(self) -> bool:
        """Certain that nothing of the request left: a connection was being opened, none was used."""
        return self.connecting and not self.sending


class _Unpacker:
    """Undoes an answer's content coding, never more than `limit` bytes at a time: zlib's `max_length`
    bounds what one piece unpacks to, where 64 KiB of a gzip bomb would otherwise become 64 MB at once."""

    def __init__(self, coding: str, what: str) -> None:
        self._coding = coding
        self._what = what
        self._zlib = zlib.decompressobj(_CODINGS[coding]) if coding in _CODINGS else None
        self._first = True

    def unpack(self, data: bytes, limit: int) -> bytes:
        if self._zlib is None:
            return data  # bounded by the count of bytes off the wire
        first, self._first = self._first, False
        try:
            return self._zlib.decompress(data, limit)
        except zlib.error:
            if first and self._coding == "deflate":
                # Some servers send "deflate" without its zlib header, as httpx also allows.
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.unpack(data, limit)
            raise ProtocolError(f"the answer for {self._what} is not valid {self._coding} data") from None


def _coding(response: httpx.Response, what: str) -> str:
    """The one content coding of `response` ("identity" for none); any other is a protocol error."""
    header = response.headers.get("Content-Encoding", "")
    codings = [part.strip().lower() for part in header.split(",")]
    codings = [coding for coding in codings if coding not in ("", "identity")]
    if not codings:
        return "identity"
    if len(codings) == 1 and codings[0] in _CODINGS:
        return codings[0]
    raise ProtocolError(
        f"the answer for {what} is in an encoding grokdash cannot read: {safe_snippet(header, 40)}"
    )


def _too_large(what: str) -> ProtocolError:
    return ProtocolError(f"the answer for {what} is larger than 1 MiB")


async def read_answer(response: httpx.Response, what: str) -> bytes:
    """The body of a streamed `response`, unpacked; `ProtocolError` once more than `MAX_ANSWER_BYTES`
    came off the wire or came out of unpacking, so no answer is ever held larger than that."""
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isascii() and declared.isdigit() and (len(declared) > 9 or int(declared) > MAX_ANSWER_BYTES):
        raise _too_large(what)  # refused before reading any of it
    if response.is_stream_consumed:  # made whole in memory already (a test transport's answer)
        if len(response.content) > MAX_ANSWER_BYTES:
            raise _too_large(what)
        return response.content
    unpacker = _Unpacker(_coding(response, what), what)
    body = bytearray()
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > MAX_ANSWER_BYTES:
            raise _too_large(what)
        body += unpacker.unpack(chunk, MAX_ANSWER_BYTES + 1 - len(body))
        if len(body) > MAX_ANSWER_BYTES:
            raise _too_large(what)
    # Nothing is left to flush: zlib keeps input back only when it hit the limit, and that was refused.
    return bytes(body)


def _may_have_been_created(error: ApiError) -> ApiError:
    error.may_have_been_created = True
    error.reword(f"{error.message}; the task may have been created: not sent again")
    return error


_NOTHING_MADE = (RequestRefusedError, AuthError, RateLimitedError, EndpointNotFoundError)
"""A create's failures in which the server said no: it made no task."""


class GrokClient:
    """Talks to the GlobalAiOpc Grok video API. Use as an async context manager, or call `aclose()`.

    Nothing is retried here: the poller decides when to ask again, and a create is never sent twice.
    """

    def __init__(
        self,
        base_url: str,
        api_key: Secret,
        *,
        timeouts: Timeouts | None = None,
        max_connections: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        timeouts = timeouts or Timeouts()
        self._deadline = timeouts.deadline
        self._connect_timeout = min(timeouts.connect, self._deadline)
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers={
                "Authorization": f"Bearer {api_key.reveal()}",
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,
                "User-Agent": f"grokdash/{__version__}",
            },
            # The deadline bounds the whole exchange; these only make each step fail no later. The
            # pool wait is unbounded: callers cap concurrency, so a wait for a connection is queueing.
            timeout=httpx.Timeout(self._deadline, connect=self._connect_timeout, pool=None),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"GrokClient(base_url={self.base_url!r}, api_key={self._key!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get_task(self, task_id: str) -> Task:
        """What the API says about `task_id` now."""
        check_id(task_id)
        what = f"task {safe_snippet(task_id, 40)}"
        path = f"v1/result/{quote(task_id, safe='')}"
        response, body = await self._exchange("GET", path, what=what, trace=_RequestTrace())
        self._raise_for_status(response, body, what=what)
        return self._parse(body, expected_id=task_id, what=what)

    async def create_task(self, request: CreateRequest) -> Task:
        """Create a task. Sent once: any failure after it may have left says so, and is never retried."""
        what = "the create request"
        payload = request.to_json()
        trace = _RequestTrace()
        try:
            response, body = await self._exchange(
                "POST", "v1/grok/videos", what=what, trace=trace, json=payload
            )
            return self._created_task(response, body, what=what)
        except _NOTHING_MADE:
            raise
        except ApiError as error:
            if trace.unsent:
                raise
            raise _may_have_been_created(error) from None
        except Exception as exc:
            if trace.unsent:
                raise
            log.exception("the create request failed unexpectedly")
            error = ProtocolError(f"the create request failed unexpectedly ({type(exc).__name__})")
            raise _may_have_been_created(error) from exc

    def _created_task(self, response: httpx.Response, body: bytes, *, what: str) -> Task:
        if response.status_code in (400, 422):
            words = self._server_words(body)
            said = f": {words}" if words else f" (HTTP {response.status_code})"
            raise RequestRefusedError(f"the server refused the task{said}")
        if response.status_code == 404:
            raise EndpointNotFoundError("the create endpoint was not found (HTTP 404): check the base URL")
        self._raise_for_status(response, body, what=what)
        return self._parse(body, expected_id=None, what=what)

    async def _exchange(
        self, method: str, path: str, *, what: str, trace: _RequestTrace, json: Any = None
    ) -> tuple[httpx.Response, bytes]:
        """Send one request and read its answer, all of it within the deadline."""
        started = time.monotonic()
        try:
            with anyio.fail_after(self._deadline):
                async with self._http.stream(
                    method, path, json=json, extensions={"trace": trace}
                ) as response:
                    body = await self._read_body(response, what)
        except TimeoutError:
            error = self._deadline_error(trace, what)
        except httpx.HTTPError as exc:
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) and not trace.sending:
                trace.connecting = True  # a test transport traces nothing, but the error says as much
            error = self._transport_error(exc, what)
        except ApiError as caught:
            error = caught
        else:
            log.debug("%s %s -> %s in %.2fs", method, path, response.status_code, time.monotonic() - started)
            return response, body
        log.info("%s %s failed after %.2fs: %s", method, path, time.monotonic() - started, error.kind)
        raise error

    async def _read_body(self, response: httpx.Response, what: str) -> bytes:
        """The body, when it can say more than the status: not a 5xx's (a proxy's page at best, and the
        status says all a user can act on); a 4xx's only as far as it can be read."""
        code = response.status_code
        if code >= 500:
            return b""
        if 200 <= code < 300:
            return await read_answer(response, what)
        try:
            return await read_answer(response, what)
        except ProtocolError:
            return b""  # too large, or in no readable coding: the status still says what happened

    def _deadline_error(self, trace: _RequestTrace, what: str) -> ApiError:
        if trace.unsent:
            return RequestTimeoutError(f"could not connect to {self._host} within {self._deadline:g} s")
        return RequestTimeoutError(f"no answer for {what} within {self._deadline:g} s")

    @property
    def _host(self) -> str:
        return self._http.base_url.netloc.decode("ascii", errors="replace")

    def _transport_error(self, exc: httpx.HTTPError, what: str) -> ApiError:
        host = self._host
        if isinstance(exc, httpx.ConnectTimeout):
            return RequestTimeoutError(f"could not connect to {host} within {self._connect_timeout:g} s")
        if isinstance(exc, httpx.TimeoutException):
            return RequestTimeoutError(f"no answer for {what} within {self._deadline:g} s")
        if isinstance(exc, httpx.ConnectError):
            return NetworkError(f"cannot connect to {host}: {self._reason(exc)}")
        if isinstance(exc, httpx.RemoteProtocolError):
            return NetworkError(f"the connection to {host} broke: {self._reason(exc)}")
        return NetworkError(f"the request for {what} failed: {self._reason(exc)}")

    def _reason(self, exc: Exception) -> str:
        """The plainest cause in the exception chain: "connection refused" beats "All connection
        attempts failed"."""
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, socket.gaierror):
                return "the host name could not be resolved"
            if isinstance(cause, OSError) and cause.errno:
                return os.strerror(cause.errno).lower()
            cause = cause.__cause__ or cause.__context__
        text = str(exc) or type(exc).__name__
        return redact(text, self._key)[:120]

    def _server_words(self, body: bytes) -> str:
        """What the server said, as it said it, when it said it in a JSON message; else a snippet, or
        nothing for an empty (or unreadable) body."""
        if not body.strip():
            return ""
        try:
            data = json.loads(body)
        except Exception:  # RecursionError, UnicodeError, ValueError…: a hostile body said no words
            data = None
        if isinstance(data, dict):
            for field in ("msg", "message", "error", "detail"):
                words = data.get(field)
                if isinstance(words, str) and words:
                    return printable(redact(words[:1000], self._key)[:300])
        return safe_snippet(redact(body[:1000].decode("utf-8", errors="replace"), self._key))

    def _raise_for_status(self, response: httpx.Response, body: bytes, *, what: str) -> None:
        code = response.status_code
        if 200 <= code < 300:
            return  # the body is the task, not an error's words: `_parse` reads it
        # A 5xx body is a proxy's page at best: the status says all a user can act on.
        detail = "" if code >= 500 else self._server_words(body)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        error = error_for_status(code, detail, retry_after, what=what)
        if error is not None:
            raise error

    def _parse(self, body: bytes, *, expected_id: str | None, what: str) -> Task:
        try:
            return parse_task(body, expected_id)
        except ApiError as error:
            error.reword(redact(error.message, self._key))
            raise
        except Exception as exc:  # parse_task turns its own failures into ProtocolError: a backstop
            raise ProtocolError(f"the answer for {what} could not be read ({type(exc).__name__})") from None


__all__ = [
    "MAX_ANSWER_BYTES",
    "GrokClient",
    "RateLimitedError",
    "Timeouts",
    "parse_retry_after",
    "read_answer",
]
