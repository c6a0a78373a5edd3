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
from grokdash.models import MAX_ERROR_LENGTH, MAX_NAME_LENGTH, Task, is_final, task_from_dict, trusted_maker

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
        `checked`: written by the store after it was read whole (see `models.task_from_dict`); a record
        in the usual form is then made at once (`_trusted_record`), into the same values."""
        record = _trusted_record(data) if checked else None
        if record is not None:
            return record
        task_id = _id(data["id"])
        answer = data.get("answer")
        return cls(
            task_id,
            _time(data["added_at"]),
            task_from_dict(_dict(answer), expected_id=task_id, checked=checked) if answer else None,
            _optional_str(data.get("label")),
            {str(k): _time(v) for k, v in (data.get("status_seen") or {}).items()},
            _optional_float(data.get("checked_at")),
            *_rare_fields(data),
        )


_USUAL_FIELDS = frozenset({"id", "added_at", "answer", "label", "status_seen", "checked_at"})
"""What the stored form of almost every record holds: no error, no saved file, no create request."""
_make_record = trusted_maker(TrackedTask)


def _rare_fields(data: dict[str, Any]) -> tuple[Any, ...]:
    """The fields of a stored record after `checked_at`, in order: mostly absent."""
    last_error = data.get("last_error")
    return (
        QueryFailure.from_json(last_error) if last_error else None,
        tuple(QueryFailure.from_json(item) for item in data.get("recent_errors") or ()),
        int(data.get("consecutive_errors") or 0),
        _optional_float(data.get("retry_after")),
        _optional_str(data.get("local_file")),
        _optional_size(data.get("saved_size")),
        QueryFailure.from_json(data["download_error"]) if data.get("download_error") else None,
        _optional_dict(data.get("request")),
    )


def _trusted_record(data: dict[str, Any]) -> TrackedTask | None:
    """The record `TrackedTask.from_json` reads from a checked stored form with plain values (text
    where text is stored, finite floats for times), made without its calls and conversions; None for
    any other form, which it reads. Its `status_seen` is the stored dict itself: neither the record
    nor the store changes it in place (a change makes a new dict, a write replaces the stored form)."""
    get = data.get
    task_id, added_at, checked_at, label = get("id"), get("added_at"), get("checked_at"), get("label")
    # Finite floats, as `_time` gives them back: `x - x == 0.0` is false for infinities and NaN.
    if task_id.__class__ is not str or added_at.__class__ is not float or added_at - added_at != 0.0:
        return None
    if checked_at is not None and (checked_at.__class__ is not float or checked_at - checked_at != 0.0):
        return None
    if not (label is None or label.__class__ is str):
        return None
    seen = get("status_seen")
    if not seen:
        seen = {}
    elif seen.__class__ is not dict or not _plain_times(seen):
        return None
    answer = get("answer")
    if answer:
        if answer.__class__ is not dict:
            return None
        task: Task | None = task_from_dict(answer, expected_id=task_id, checked=True)
    else:
        task = None
    if data.keys() <= _USUAL_FIELDS:  # the others take their defaults
        return _make_record(task_id, added_at, task, label, seen, checked_at)
    return _make_record(task_id, added_at, task, label, seen, checked_at, *_rare_fields(data))


def _plain_times(seen: dict[Any, Any]) -> bool:
    """Whether `{str(k): _time(v) for k, v in seen.items()}` would equal `seen`, key for key, value
    for value, each as it is."""
    for status, at in seen.items():
        if status.__class__ is not str or at.__class__ is not float or at - at != 0.0:
            return False
    return True


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
