"""The API client: one `httpx.AsyncClient`, one method per endpoint, one error type per failure."""

from __future__ import annotations

import email.utils
import importlib
import logging
import os
import socket
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from grokdash import __version__
from grokdash.errors import (
    ApiError,
    NetworkError,
    ProtocolError,
    RateLimitedError,
    RequestRefusedError,
    RequestTimeoutError,
    ServerError,
    error_for_status,
    printable,
    safe_snippet,
)
from grokdash.models import Task, check_id, parse_task
from grokdash.rules import CreateRequest
from grokdash.secret import Secret, redact

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://zcbservice.aizfw.cn/kyyReactApiServer"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. A read timeout well above the API's usual answer time, but short enough to notice."""

    connect: float = 10.0
    read: float = 30.0

    def to_httpx(self) -> httpx.Timeout:
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
        self._timeouts = timeouts or Timeouts()
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers={
                "Authorization": f"Bearer {api_key.reveal()}",
                "Accept": "application/json",
                "User-Agent": f"grokdash/{__version__}",
            },
            timeout=self._timeouts.to_httpx(),
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
        path = f"v1/result/{quote(task_id, safe='')}"
        response = await self._send("GET", path, what=f"task {safe_snippet(task_id, 40)}")
        self._raise_for_status(response, what=f"task {safe_snippet(task_id, 40)}")
        return self._parse(response, expected_id=task_id)

    async def create_task(self, request: CreateRequest) -> Task:
        """Create a task. Sent once: a failure after sending is reported, never retried."""
        what = "the create request"
        response = await self._send("POST", "v1/grok/videos", json=request.to_json(), what=what)
        if response.status_code in (400, 422):
            raise RequestRefusedError(f"the server refused the task: {self._server_words(response)}")
        if response.status_code == 404:
            raise ProtocolError("the create endpoint was not found (HTTP 404): check the base URL")
        try:
            self._raise_for_status(response, what="the create request")
            return self._parse(response, expected_id=None)
        except (ServerError, ProtocolError) as error:
            # A 502/504 from a proxy, or an unreadable answer, can come after the task was made.
            error.may_have_been_created = True
            error.reword(f"{error.message}; the task may have been created: not sent again")
            raise

    async def _send(self, method: str, path: str, *, what: str, json: Any = None) -> httpx.Response:
        started = time.monotonic()
        try:
            response = await self._http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            error = self._transport_error(exc, what)
            if method == "POST" and not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                error.may_have_been_created = True
                error.reword(f"{error.message}; the task may have been created: not sent again")
            log.info("%s %s failed after %.2fs: %s", method, path, time.monotonic() - started, error.kind)
            raise error from None
        log.debug("%s %s -> %s in %.2fs", method, path, response.status_code, time.monotonic() - started)
        return response

    def _transport_error(self, exc: httpx.HTTPError, what: str) -> ApiError:
        host = self._http.base_url.netloc.decode("ascii", errors="replace")
        if isinstance(exc, httpx.ConnectTimeout):
            return RequestTimeoutError(f"could not connect to {host} within {self._timeouts.connect:g} s")
        if isinstance(exc, httpx.TimeoutException):
            return RequestTimeoutError(f"no answer for {what} within {self._timeouts.read:g} s")
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

    def _server_words(self, response: httpx.Response) -> str:
        """What the server said, as it said it, when it said it in a JSON message; else a snippet."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            for field in ("msg", "message", "error", "detail"):
                if isinstance(body.get(field), str) and body[field]:
                    return printable(redact(body[field], self._key)[:300])
        return redact(safe_snippet(response.content), self._key)

    def _raise_for_status(self, response: httpx.Response, *, what: str) -> None:
        code = response.status_code
        # A 5xx body is a proxy's page at best: the status says all a user can act on.
        detail = "" if code >= 500 else self._server_words(response)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        error = error_for_status(code, detail, retry_after, what=what)
        if error is not None:
            raise error

    def _parse(self, response: httpx.Response, *, expected_id: str | None) -> Task:
        try:
            return parse_task(response.content, expected_id)
        except ApiError as error:
            error.reword(redact(error.message, self._key))
            raise


__all__ = ["DEFAULT_BASE_URL", "GrokClient", "RateLimitedError", "Timeouts", "parse_retry_after"]
