"""A tracked task: what the API last said, plus what grokdash observed. Pure: times are passed in.

Every change is a function from one `TrackedTask` to a new one, so the store can apply a batch of
them under its lock to whatever is on disk at that moment, and tests can check each on its own.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from grokdash.errors import ApiError, GrokdashError, shorten
from grokdash.models import MAX_ERROR_LENGTH, MAX_NAME_LENGTH, Task, is_final, task_from_dict

RECENT_ERRORS_KEPT = 10
EMPTY: tuple[Any, ...] = (None, 0, [], {})


@dataclass(frozen=True, slots=True)
class QueryFailure:
    """A query that gave no task: its kind, its sentence, and when it happened."""

    kind: str
    message: str
    at: float

    def __post_init__(self) -> None:
        # Cut however it was made (an error, an old record): a page of text is neither stored nor shown.
        object.__setattr__(self, "kind", shorten(self.kind, MAX_NAME_LENGTH))
        object.__setattr__(self, "message", shorten(self.message, MAX_ERROR_LENGTH))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "at": self.at}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QueryFailure:
        return cls(kind=str(data["kind"]), message=str(data["message"]), at=_time(data["at"]))


@dataclass(frozen=True, slots=True)
class TrackedTask:
    id: str
    added_at: float
    """When grokdash started tracking it (unix seconds)."""
    task: Task | None = None
    """What the API last said; None until the first answer."""
    label: str | None = None
    status_seen: dict[str, float] = field(default_factory=dict)
    """When each status was first seen (unix seconds), in the order seen."""
    checked_at: float | None = None
    """When the API last answered about it, with a task or an error."""
    last_error: QueryFailure | None = None
    """The error of the last query, None when the last query gave a task."""
    recent_errors: tuple[QueryFailure, ...] = ()
    consecutive_errors: int = 0
    retry_after: float | None = None
    """Not before this time (unix seconds): the server asked us to wait."""
    local_file: str | None = None
    """The saved video, by its absolute path: recorded only after grokdash's own complete transfer."""
    saved_size: int | None = None
    """The saved video's size in bytes when grokdash saved it: a file of another size at that path is
    not the video (None for records older than this field)."""
    download_error: QueryFailure | None = None
    """Why the last attempt to save the video failed (kind "url_expired" when its URL had expired)."""
    request: dict[str, Any] | None = None
    """For tasks created here: the create request, so it can be run again."""

    @property
    def status(self) -> str | None:
        return self.task.status if self.task else None

    @property
    def is_final(self) -> bool:
        return self.task is not None and is_final(self.task.status)

    @property
    def model(self) -> str | None:
        if self.task and self.task.model:
            return self.task.model
        return self.request.get("model") if self.request else None

    def with_answer(self, task: Task, now: float) -> TrackedTask:
        seen = self.status_seen
        if str(task.status) not in seen:
            seen = {**seen, str(task.status): now}
        return dataclasses.replace(
            self,
            task=task,
            status_seen=seen,
            checked_at=now,
            last_error=None,
            consecutive_errors=0,
            retry_after=None,
        )

    def with_error(self, error: ApiError, now: float) -> TrackedTask:
        failure = QueryFailure(error.kind, error.message, now)
        retry_after = getattr(error, "retry_after", None)
        return dataclasses.replace(
            self,
            checked_at=now,
            last_error=failure,
            recent_errors=(*self.recent_errors, failure)[-RECENT_ERRORS_KEPT:],
            consecutive_errors=self.consecutive_errors + 1,
            retry_after=None if retry_after is None else now + retry_after,
        )

    def with_label(self, label: str | None) -> TrackedTask:
        return dataclasses.replace(self, label=(label or "").strip() or None)

    def with_local_file(self, path: str | None, size: int | None = None) -> TrackedTask:
        return dataclasses.replace(self, local_file=path, saved_size=size, download_error=None)

    def with_download_error(self, error: GrokdashError, now: float) -> TrackedTask:
        return dataclasses.replace(self, download_error=QueryFailure(error.kind, error.message, now))

    # ---- the stored form ----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The stored form. Empty fields are left out: at 10,000 tasks every byte is rewritten often."""
        record = {
            "id": self.id,
            "added_at": self.added_at,
            "answer": (self.task.raw or self.task.api_fields()) if self.task else None,
            "label": self.label,
            "status_seen": self.status_seen,
            "checked_at": self.checked_at,
            "last_error": self.last_error.to_json() if self.last_error else None,
            "recent_errors": [failure.to_json() for failure in self.recent_errors],
            "consecutive_errors": self.consecutive_errors,
            "retry_after": self.retry_after,
            "local_file": self.local_file,
            "saved_size": self.saved_size,
            "download_error": self.download_error.to_json() if self.download_error else None,
            "request": self.request,
        }
        required = ("id", "added_at")
        return {name: value for name, value in record.items() if name in required or value not in EMPTY}

    @classmethod
    def from_json(cls, data: dict[str, Any], *, checked: bool = False) -> TrackedTask:
        """Read a stored record. Raises KeyError, TypeError, ValueError or ApiError when it is not one.
        `checked`: written by the store after it was read whole (see `models.task_from_dict`)."""
        task_id = _id(data["id"])
        answer = data.get("answer")
        last_error = data.get("last_error")
        return cls(
            id=task_id,
            added_at=_time(data["added_at"]),
            task=task_from_dict(_dict(answer), expected_id=task_id, checked=checked) if answer else None,
            label=_optional_str(data.get("label")),
            status_seen={str(k): _time(v) for k, v in (data.get("status_seen") or {}).items()},
            checked_at=_optional_float(data.get("checked_at")),
            last_error=QueryFailure.from_json(last_error) if last_error else None,
            recent_errors=tuple(QueryFailure.from_json(item) for item in data.get("recent_errors") or ()),
            consecutive_errors=int(data.get("consecutive_errors") or 0),
            retry_after=_optional_float(data.get("retry_after")),
            local_file=_optional_str(data.get("local_file")),
            saved_size=_optional_size(data.get("saved_size")),
            download_error=QueryFailure.from_json(data["download_error"])
            if data.get("download_error")
            else None,
            request=_optional_dict(data.get("request")),
        )


def _id(value: Any) -> str:
    """Text, or a whole number (as an API may send one); never `None` read as the id "None"."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    raise TypeError(f"a task id must be text, got {type(value).__name__}")


def _time(value: Any) -> float:
    """Unix seconds: NaN or infinity can be neither shown, nor sorted, nor written as JSON."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"a time must be a finite number, got {number}")
    return number


def _optional_float(value: Any) -> float | None:
    return None if value is None else _time(value)


def _optional_size(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"a file size must be a whole number of bytes, got {value!r}")


def _optional_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"expected text, got {type(value).__name__}")


def _optional_dict(value: Any) -> dict[str, Any] | None:
    return None if value is None else _dict(value)


def _dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise TypeError(f"expected an object, got {type(value).__name__}")
