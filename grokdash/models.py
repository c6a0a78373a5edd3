"""Tasks, statuses and the parsing of API answers. Pure: no I/O, no clock.

Parsing is tolerant of what real servers do (wrapped answers, unknown statuses, numbers sent as
strings, extra fields) and strict about what is not an answer at all (HTML pages, truncated JSON,
another task's id, a missing status). Everything that is not an answer raises `ProtocolError`, whatever
the parser underneath raised (a `RecursionError` for deep nesting, a `ValueError` for a long number).

What is kept of an answer is bounded, as it is stored and shown: text fields are cut to a few KiB, and
an answer larger than `MAX_KEPT_ANSWER` keeps only its documented fields.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from grokdash.errors import ApiError, InvalidIdError, ProtocolError, error_for_status, safe_snippet, shorten

MAX_ID_LENGTH = 200
MAX_NAME_LENGTH = 200
"""Characters kept of a model name, a status or an answer's `object`: names, not prose."""
MAX_ERROR_LENGTH = 4000
"""Characters kept of a task's error text; the rest is counted ("… N more characters")."""
MAX_URL_LENGTH = 8192
"""A longer video URL is refused, not cut: a cut address is another address, and common servers refuse
a request line past 8 KiB anyway."""
MAX_KEPT_ANSWER = 4096
"""Characters of JSON up to which an answer is kept as it was sent (`Task.raw`); a larger one keeps its
documented fields and a `TRUNCATED` marker, so no answer is stored or shown whole at a megabyte."""
TRUNCATED = "_truncated"
DOCUMENTED_FIELDS = ("id", "object", "created", "model", "status", "video_url", "actualDuration", "error")
"""An answer's fields as the API documents them, in its order."""
MAX_KEPT_DEPTH = 16
"""Nesting up to which an answer is kept as sent: the database nests it three levels deeper, and must
never hold what json cannot read back (a RecursionError would set the whole file aside)."""
_WHITESPACE = re.compile(r"\s")
_SCALARS = (type(None), bool, int, float)
EXACT_INT = 1 << 53
"""Whole numbers up to this size are floats exactly: `int(float(n)) == n`."""

T = TypeVar("T")


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
    known = _STATUS_OF.get(raw)
    if known is not None:
        return known
    folded = raw.strip().lower()
    try:
        return Status(folded)
    except ValueError:
        return raw


# Opening 100,000 records asks this of the same few words 100,000 times; Enum's lookup is slow.
_STATUS_OF: dict[str, Status] = {str(status): status for status in Status}


def trusted_maker(cls: type[T]) -> Callable[..., T]:
    """A function making a `cls` (a frozen slotted dataclass) from the values of its fields, in order,
    as they are: no conversion, no check, no `__post_init__`. For values already in the form `cls`
    holds them (a record the store wrote, read back). The last fields with plain defaults may be left
    out, as with `cls` itself.

    A frozen `__init__` sets each field through `object.__setattr__`, which at 100,000 records is a
    good part of opening the database: this fills a plain object with the same slots and then gives it
    `cls` as its class (the layouts are the same, so Python allows it), several times faster."""
    every = dataclasses.fields(cls)  # type: ignore[arg-type]
    twin = type(f"_Unfrozen{cls.__name__}", (), {"__slots__": cls.__slots__})  # type: ignore[attr-defined]
    try:
        probe = twin()
        probe.__class__ = cls
    except TypeError:  # an interpreter that refuses: the dataclass's own __init__ makes the same object
        return cls
    names = [item.name for item in every]
    lines = [f"def make({', '.join(names)}):", "    made = twin()"]
    lines += [f"    made.{name} = {name}" for name in names]
    lines += ["    made.__class__ = cls", "    return made"]
    namespace: dict[str, Any] = {"twin": twin, "cls": cls}
    exec("\n".join(lines), namespace)  # as dataclasses makes __init__: one function, no loop per record
    make: Callable[..., T] = namespace["make"]
    make.__qualname__ = f"trusted_maker.<{cls.__name__}>"
    # The last fields' plain defaults, as `cls.__init__` has them (a default_factory ends the run).
    make.__defaults__ = tuple(reversed(list(_plain_defaults(reversed(every)))))
    return make


def _plain_defaults(fields: Iterable[dataclasses.Field[Any]]) -> Iterator[Any]:
    """The defaults of `fields` up to the first without a plain one."""
    for item in fields:
        if item.default is dataclasses.MISSING:
            return
        yield item.default


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
    """The answer as sent when it is small (at most `MAX_KEPT_ANSWER` characters of JSON); else its
    documented fields and `TRUNCATED`: "… N more characters"."""

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


_make_task = trusted_maker(Task)


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
    try:
        data = _unwrap(_decode_json(body), body)
    except ApiError:
        raise
    except Exception as exc:  # whatever else a hostile body makes the parser raise: still no answer
        raise _unreadable(exc) from None
    return task_from_dict(data, expected_id, body)


def task_from_dict(
    data: dict[str, Any], expected_id: str | None = None, body: bytes | str = b"", *, checked: bool = False
) -> Task:
    """The task a decoded answer (or a stored one) describes; `ProtocolError` when it describes none.

    `checked`: the answer passed these checks when it was first read (the store wrote it and its digest
    says the file is as written), so the checks that cannot fail again are skipped: the id's syntax and
    the answer's size. The fields are derived the same way."""
    try:
        task = _trusted_task(data, expected_id) if checked else None
        return task or _task_from_dict(data, expected_id, body, checked)
    except ApiError:
        raise
    except Exception as exc:  # RecursionError, TypeError…: an answer no check above foresaw
        raise _unreadable(exc) from None


def _unreadable(exc: Exception) -> ProtocolError:
    return ProtocolError(f"the answer could not be read ({type(exc).__name__})")


def _task_from_dict(data: dict[str, Any], expected_id: str | None, body: bytes | str, checked: bool) -> Task:
    if not isinstance(data, dict):
        raise ProtocolError(f"the answer is not a JSON object: {safe_snippet(body or data)}")
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
    if not isinstance(answered_id, str) or (not checked and id_problem(answered_id) is not None):
        raise ProtocolError(f"the answer holds an unusable task id: {safe_snippet(answered_id)}")
    if expected_id is not None and answered_id != expected_id:
        raise ProtocolError(
            f"asked for task {safe_snippet(expected_id, 40)} but the answer is about "
            f"{safe_snippet(answered_id, 40)}"
        )

    created = _optional_number(data, "created")
    task = Task(
        id=answered_id,
        status=_status(status),
        model=_optional_text(data, "model", MAX_NAME_LENGTH),
        created=None if created is None else int(created),
        video_url=_video_url(data),
        actual_duration=_optional_number(data, "actualDuration"),
        error=_optional_text(data, "error", MAX_ERROR_LENGTH),
        raw=data,
    )
    if checked or _fits(data, MAX_KEPT_ANSWER):
        return task
    return dataclasses.replace(task, raw=_documented(task, data))


def _trusted_task(data: dict[str, Any], expected_id: str | None) -> Task | None:
    """The task `_task_from_dict` reads from a checked answer in the form almost every stored one has
    (a documented status, the id asked for, text within its bounds, finite numbers), made without its
    calls: 100,000 are read on opening a year of history. None for any other form, which it reads."""
    get = data.get
    sent = get("status")
    status = _STATUS_OF.get(sent) if sent.__class__ is str else None
    if status is None or expected_id is None or get("id") != expected_id:
        return None
    model, video_url, error = get("model"), get("video_url"), get("error")
    created, duration = get("created"), get("actualDuration")
    # What `_optional_text` gives as `value or None`: absent, or text within its bound (no cut).
    if not (
        (model is None or (model.__class__ is str and len(model) <= MAX_NAME_LENGTH))
        and (video_url is None or (video_url.__class__ is str and len(video_url) <= MAX_URL_LENGTH))
        and (error is None or (error.__class__ is str and len(error) <= MAX_ERROR_LENGTH))
    ):
        return None
    if not (_plain_number(created) and _plain_number(duration)):
        return None
    return _make_task(
        expected_id,
        status,
        model or None,
        None if created is None else int(created),
        video_url or None,
        None if duration is None else float(duration),
        error or None,
        data,
    )


def _plain_number(value: Any) -> bool:
    """Whether `_optional_number` gives `None if value is None else float(value)` for `value`: absent,
    a finite float, or a whole number a float holds exactly (`int(float(n)) == n`)."""
    if value.__class__ is float:
        return value - value == 0.0  # false for infinities and NaN, without a call
    return value is None or (value.__class__ is int and -EXACT_INT <= value <= EXACT_INT)


def _status(sent: str) -> str:
    status = normalize_status(sent)
    return status if isinstance(status, Status) else shorten(status, MAX_NAME_LENGTH)


def _video_url(data: dict[str, Any]) -> str | None:
    url = _optional_text(data, "video_url")
    if url is not None and len(url) > MAX_URL_LENGTH:
        raise ProtocolError(f"the video URL is {len(url):,} characters long: no server takes one that long")
    return url


def _documented(task: Task, data: dict[str, Any]) -> dict[str, Any]:
    """What is kept of an answer too large to keep: its documented fields, as read, and a marker that
    says how much was left out. A marker already there (a stored record read back) is kept: counting
    again would count only the marker."""
    kind = data.get("object")
    fields = task.api_fields() | {"object": shorten(kind, MAX_NAME_LENGTH) if isinstance(kind, str) else None}
    kept = {name: fields[name] for name in DOCUMENTED_FIELDS if fields[name] not in (None, "")}
    marker = data.get(TRUNCATED)
    if not (isinstance(marker, str) and len(marker) <= 80):
        length = _json_length(data)
        omitted = "the rest" if length is None else f"{length - (_json_length(kept) or 0):,} more characters"
        marker = f"… {omitted}"
    kept[TRUNCATED] = marker
    return kept


def _fits(data: dict[str, Any], limit: int) -> bool:
    """Whether `data` written as JSON takes at most `limit` characters. Told without writing it out for
    the few short fields of almost every answer (10,000 are read on opening the database): printable
    ASCII at most doubles (a quote or backslash is escaped), and a number of 64 bits has 20 digits."""
    bound = 2
    for key, value in data.items():
        if value.__class__ is str and value.isascii() and value.isprintable():
            bound += 2 * len(value) + 2
        elif value.__class__ not in _SCALARS or (value.__class__ is int and value.bit_length() > 64):
            break
        else:
            bound += 24
        if not (key.isascii() and key.isprintable()):
            break
        bound += 2 * len(key) + 6  # quotes, colon, comma and their spaces
    else:
        if bound <= limit:
            return True
    length = _json_length(data)
    return length is not None and length <= limit and _shallow(data, MAX_KEPT_DEPTH)


def _shallow(value: Any, depth: int) -> bool:
    """Whether `value` nests at most `depth` levels of arrays and objects (a small one: see `_fits`)."""
    if isinstance(value, dict):
        value = list(value.values())
    elif not isinstance(value, list):
        return True
    return depth > 0 and all(_shallow(item, depth - 1) for item in value)


def _json_length(data: Any) -> int | None:
    """Characters of `data` as JSON (as the database writes it), or None when it cannot be written."""
    try:
        return len(json.dumps(data))
    except Exception:  # nested too deeply to write again: as good as too large
        return None


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


def _optional_text(data: dict[str, Any], name: str, limit: int | None = None) -> str | None:
    """Text, or a number sent for it; cut to `limit` characters when given."""
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ProtocolError(f"field {name!r} should be text, got {safe_snippet(value)}")
    return value if limit is None else shorten(value, limit)


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
    """A short human length of time: 45s, 3m 05s, 2h 10m, 3d 4h ("-" for no number at all)."""
    if not math.isfinite(seconds):
        return "-"
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
