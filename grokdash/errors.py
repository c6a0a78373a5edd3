"""One exception type per way a request to the API can fail.

Each carries a `kind` (the name `--json` prints in `query_error`) and a message that is one readable
sentence, safe to show: no API key, no control characters, no page-long server answers.
"""

from __future__ import annotations

import math
import reprlib
from typing import Any, ClassVar

SNIPPET_LENGTH = 80

_REPR = reprlib.Repr()
_REPR.maxlevel = 3  # a value nested a thousand deep is shown as its first levels, not a RecursionError
_REPR.maxstring = _REPR.maxlong = _REPR.maxother = SNIPPET_LENGTH


def printable(text: str) -> str:
    """`text` with every character a terminal would act on (escape sequences, carriage returns, bidi
    overrides) written as its escape, so text from a server or a file is shown, never obeyed."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text
    )


def safe_snippet(value: Any, limit: int = SNIPPET_LENGTH) -> str:
    """A short, quoted, printable rendering of `value` for an error message.

    Only the start of `value` is ever looked at: a megabyte of answer costs no more than its first line.
    """
    shortened = False
    if isinstance(value, bytes | bytearray):
        shortened = len(value) > limit * 4  # UTF-8 takes at most 4 bytes a character
        value = bytes(value[: limit * 4]).decode("utf-8", errors="replace")
    text = value if isinstance(value, str) else _short_repr(value)
    shortened = shortened or len(text) > limit
    return repr(printable(text[:limit]) + ("…" if shortened else ""))


def _short_repr(value: Any) -> str:
    try:
        return _REPR.repr(value)
    except Exception:  # an int of more digits than Python converts: its type says enough
        return f"<{type(value).__name__}>"


def shorten(text: str, limit: int) -> str:
    """`text` when it has at most `limit` characters; else its start and "… N more characters", in
    `limit` characters at most, so that shortening it again changes nothing (a stored text read back)."""
    if len(text) <= limit:
        return text
    # N is at most len(text): a marker with that many digits is the longest one needed.
    room = limit - len(_more(len(text)))
    return text[:room] + _more(len(text) - room)


def _more(count: int) -> str:
    return f"… {count:,} more characters"


class GrokdashError(Exception):
    """A failure that the user should read about as one sentence."""

    kind: ClassVar[str] = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def reword(self, message: str) -> None:
        self.args = (message,)

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


class UsageError(GrokdashError):
    """Bad usage or input: the command did nothing it was not sure of (exit status 2)."""

    kind = "usage"


class ApiError(GrokdashError):
    """A request to the API that did not give us a task."""

    may_have_been_created: bool = False
    """For a create request: it may have reached the server before the failure."""


class NotFoundError(ApiError):
    kind = "not_found"


class AuthError(ApiError):
    kind = "auth"


class RateLimitedError(ApiError):
    kind = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds the server asked us to wait, when it said (Retry-After)."""


class ServerError(ApiError):
    kind = "server"

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class ProtocolError(ApiError):
    """The server answered, but not with something we can read as a task."""

    kind = "protocol"


class EndpointNotFoundError(ProtocolError):
    """The create endpoint answered HTTP 404: the base URL is wrong, and no task was made."""


class NetworkError(ApiError):
    kind = "network"


class RequestTimeoutError(ApiError):
    kind = "timeout"


class InvalidIdError(ApiError):
    """Refused before sending: the id cannot name a task (the rules are `models.id_problem`)."""

    kind = "invalid_id"


class RequestRefusedError(ApiError):
    """The server refused a create request as invalid (HTTP 400/422); its own words are the message."""

    kind = "refused"


ERROR_KINDS = (
    "not_found",
    "auth",
    "rate_limited",
    "server",
    "protocol",
    "network",
    "timeout",
    "invalid_id",
)


def error_for_status(
    status_code: int, detail: str = "", retry_after: float | None = None, what: str = "the task"
) -> ApiError | None:
    """The error an HTTP (or wrapped-answer) status code stands for, or None for a success.

    `detail` is an already safe, short rendering of what the server said; `what` names what was asked for.
    """
    said = f": {detail}" if detail else ""
    if 200 <= status_code < 300:
        return None
    if status_code in (401, 403):
        return AuthError(f"the API key was refused (HTTP {status_code}){said}")
    if status_code == 404:
        return NotFoundError(f"{what} was not found (HTTP 404)")
    if status_code == 429:
        # Whole seconds, rounded up: an HTTP-date Retry-After leaves a fraction nobody reads (1.73883 s).
        wait = f"; retry after {math.ceil(retry_after)} s" if retry_after is not None else ""
        return RateLimitedError(f"rate limited by the server (HTTP 429){wait}", retry_after)
    if status_code >= 500:
        return ServerError(f"the server failed (HTTP {status_code}){said}", status_code)
    return ProtocolError(f"the server refused the request (HTTP {status_code}){said}")
