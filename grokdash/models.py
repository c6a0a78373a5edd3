"""Tasks, statuses and the parsing of API answers. Pure: no I/O, no clock.

Parsing is tolerant of what real servers do (wrapped answers, unknown statuses, numbers sent as
strings, extra fields) and strict about what is not an answer at all (HTML pages, truncated JSON,
another task's id, a missing status). Everything that is not an answer raises `ProtocolError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from grokdash.errors import InvalidIdError, ProtocolError, error_for_status, safe_snippet

MAX_ID_LENGTH = 200
_WHITESPACE = re.compile(r"\s")


class Status(StrEnum):
    """The four statuses the API documents. A task's status may also be any other string."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


ACTIVE_STATUSES = frozenset({Status.QUEUED, Status.PROCESSING})


def is_final(status: str) -> bool:
    """Completed, failed and any status the API does not document: nothing more will happen."""
    return status not in ACTIVE_STATUSES


def normalize_status(raw: str) -> str:
    """A documented status in any case or padding becomes its `Status`; anything else stays as sent."""
    folded = raw.strip().lower()
    try:
        return Status(folded)
    except ValueError:
        return raw


@dataclass(frozen=True, slots=True)
class Task:
    """What the API last said about one video generation task."""

    id: str
    status: str
    model: str | None = None
    created: int | None = None
    video_url: str | None = None
    actual_duration: float | None = None
    error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_final(self) -> bool:
        return is_final(self.status)

    def api_fields(self) -> dict[str, Any]:
        """The API's own field names, as `--json` prints them."""
        return {
            "id": self.id,
            "status": str(self.status),
            "model": self.model,
            "created": self.created,
            "video_url": self.video_url,
            "actualDuration": self.actual_duration,
            "error": self.error,
        }


def id_problem(task_id: str) -> str | None:
    """Why `task_id` cannot be sent to the API, or None when it can."""
    if task_id == "":
        return "it is empty"
    if task_id in {".", ".."}:
        return "it is a path segment ('.' or '..'), not an id"
    if len(task_id) > MAX_ID_LENGTH:
        return f"it is {len(task_id)} characters long (at most {MAX_ID_LENGTH})"
    if task_id.isprintable() and not _WHITESPACE.search(task_id):
        return None  # the common case, checked in C: opening 10,000 tasks checks 20,000 ids
    for char in task_id:
        if char.isspace():
            return "it holds whitespace"
        if not char.isprintable():
            return "it holds a control character"
    return None


def check_id(task_id: str) -> str:
    """Return `task_id` unchanged, or raise `InvalidIdError` naming it and saying why."""
    problem = id_problem(task_id)
    if problem is not None:
        raise InvalidIdError(f"invalid task id {safe_snippet(task_id, 40)}: {problem}")
    return task_id


def partition_ids(ids: Iterable[str]) -> tuple[list[str], list[tuple[str, InvalidIdError]]]:
    """The ids that can be sent, once each in the order given, and the others with why not."""
    valid, refused = [], []
    for task_id in dict.fromkeys(ids):
        try:
            valid.append(check_id(task_id))
        except InvalidIdError as error:
            refused.append((task_id, error))
    return valid, refused


def parse_task(body: bytes | str, expected_id: str | None = None) -> Task:
    """Turn the body of a query or create answer into a Task.

    `expected_id` is the id that was asked for; an answer about another task is refused.
    """
    data = _decode_json(body)
    data = _unwrap(data, body)
    return task_from_dict(data, expected_id, body)


def task_from_dict(data: dict[str, Any], expected_id: str | None = None, body: bytes | str = b"") -> Task:
    status = data.get("status")
    if not isinstance(status, str) or not status.strip():
        raise ProtocolError(f"the answer has no status: {safe_snippet(body or data)}")

    answered_id = data.get("id")
    if answered_id is None or answered_id == "":
        if expected_id is None:
            raise ProtocolError(f"the answer has no task id: {safe_snippet(body or data)}")
        answered_id = expected_id
    if isinstance(answered_id, int) and not isinstance(answered_id, bool):
        answered_id = str(answered_id)
    if not isinstance(answered_id, str) or id_problem(answered_id) is not None:
        raise ProtocolError(f"the answer holds an unusable task id: {safe_snippet(answered_id)}")
    if expected_id is not None and answered_id != expected_id:
        raise ProtocolError(
            f"asked for task {safe_snippet(expected_id, 40)} but the answer is about "
            f"{safe_snippet(answered_id, 40)}"
        )

    created = _optional_number(data, "created")
    return Task(
        id=answered_id,
        status=normalize_status(status),
        model=_optional_text(data, "model"),
        created=None if created is None else int(created),
        video_url=_optional_text(data, "video_url"),
        actual_duration=_optional_number(data, "actualDuration"),
        error=_optional_text(data, "error"),
        raw=data,
    )


def _decode_json(body: bytes | str) -> Any:
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    stripped = text.lstrip()
    if not stripped:
        raise ProtocolError("the answer is empty")
    if stripped.startswith("<"):
        raise ProtocolError(f"the answer is an HTML or XML page, not JSON: {safe_snippet(stripped)}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"the answer is not valid JSON ({exc.msg}): {safe_snippet(stripped)}") from None
    except RecursionError:
        raise ProtocolError(f"the answer is nested too deeply to read: {safe_snippet(stripped)}") from None
    except ValueError:  # an integer of thousands of digits, which Python refuses to convert
        raise ProtocolError(f"the answer holds a number too long to read: {safe_snippet(stripped)}") from None


def _unwrap(data: Any, body: bytes | str) -> dict[str, Any]:
    """Accept `{"code": …, "data": {…}}` as well as the bare task object."""
    if not isinstance(data, dict):
        raise ProtocolError(f"the answer is not a JSON object: {safe_snippet(body)}")
    if "status" not in data and "code" in data:
        inner = data.get("data")
        if isinstance(inner, dict):
            return inner
        message = data.get("msg") or data.get("message") or data.get("error")
        detail = safe_snippet(message) if isinstance(message, str) and message else safe_snippet(body)
        # Gateways often answer HTTP 200 and put the real status in "code".
        code = data.get("code")
        if isinstance(code, int | str) and len(str(code)) == 3 and str(code).isdigit():
            error = error_for_status(int(code), detail)
            if error is not None:
                raise error
        raise ProtocolError(f"the answer carries no task (code {safe_snippet(code, 20)}): {detail}")
    return data


def _optional_text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ProtocolError(f"field {name!r} should be text, got {safe_snippet(value)}")


def _optional_number(data: dict[str, Any], name: str) -> float | None:
    """A number, or a number sent as a string; absent, null and empty mean unknown."""
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ProtocolError(f"field {name!r} should be a number, got {safe_snippet(value)}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ProtocolError(f"field {name!r} should be a number, got {safe_snippet(value)}") from None
    try:
        number = float(value) if isinstance(value, int | float) else math.nan
    except OverflowError:  # an integer no float can hold
        number = math.nan
    if not math.isfinite(number):
        raise ProtocolError(f"field {name!r} should be a number, got {safe_snippet(value)}")
    return number


def format_seconds(seconds: float) -> str:
    """A short human length of time: 45s, 3m 05s, 2h 10m, 3d 4h."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"
