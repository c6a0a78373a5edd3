"""The tracked list out (`export`) and in (`import`). Pure: text in, text out.

Import reads everything export writes (JSON keeps every record whole, the create request and the saved
file's size included; CSV keeps ids, labels and when they were added), what `ls --json` and
`status --json` print, and a plain list of ids. Both carry what `ls --json` says of each task (`state`,
`stale`, `saved`: where its video stands on disk), for the reader; import works those out again.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from grokdash import jsonout
from grokdash.errors import UsageError
from grokdash.output import tracked_json, tracked_state
from grokdash.pollstate import is_stale
from grokdash.savestate import OnDisk, save_state
from grokdash.tracked import TrackedTask

EXPORT_FORMAT = "grokdash-export"
EXPORT_VERSION = 1
CSV_COLUMNS = (
    "id",
    "status",
    "model",
    "created",
    "video_url",
    "actualDuration",
    "error",
    "label",
    "added_at",
    "checked_at",
    "local_file",
    "saved",
)
ID_SEPARATORS = re.compile(r"[\s,]+")

Format = Literal["json", "csv"]


class ImportFileError(UsageError):
    """The file cannot be read as a list of tasks. One sentence naming the file and the reason."""

    kind = "input"


def export_pieces(
    tracked: list[TrackedTask],
    fmt: Format,
    disk: Mapping[str, OnDisk] | None = None,
    *,
    now: float | None = None,
) -> Iterator[bytes]:
    """The tracked list as JSON (every record whole) or CSV, in pieces, a task at a time. `disk`: what a
    look at the disk found, by task id (`savestate.look_on_disk`), for each record's `saved`; `now`
    (default: the time) for `stale`."""
    disk = disk or {}
    now = time.time() if now is None else now
    if fmt == "json":
        # What json.dumps(document, indent=2) prints, with the tasks streamed (jsonout).
        head = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION}
        yield jsonout.pretty(head)[:-2] + b',\n  "tasks": '
        exported = (_exported(task, disk.get(task.id), now) for task in tracked)
        yield from jsonout.array_pieces(exported, level=1, end=b"\n}\n")
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for n, task in enumerate(tracked, start=1):
        fields = tracked_json(task, disk.get(task.id), now=now)
        writer.writerow({name: "" if value is None else value for name, value in fields.items()})
        if n % jsonout.CHUNK == 0:
            yield buffer.getvalue().encode("utf-8", "surrogateescape")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8", "surrogateescape")


def export_tasks(
    tracked: list[TrackedTask],
    fmt: Format,
    disk: Mapping[str, OnDisk] | None = None,
    *,
    now: float | None = None,
) -> str:
    """`export_pieces` as one text."""
    return b"".join(export_pieces(tracked, fmt, disk, now=now)).decode("utf-8", "surrogateescape")


def _exported(task: TrackedTask, disk: OnDisk | None, now: float) -> dict[str, Any]:
    """The stored record, whole, and what `ls --json` says of it beside (import reads the record)."""
    return {
        **task.to_json(),
        "state": tracked_state(task),
        "stale": is_stale(task, now),
        "saved": save_state(task, disk),
    }


@dataclass(slots=True)
class ImportPlan:
    """What a file holds: whole records (from a JSON export) and bare ids with optional labels."""

    records: list[TrackedTask] = field(default_factory=list)
    ids: list[tuple[str, str | None, float | None]] = field(default_factory=list)
    """(id, label, added_at) for entries that are not whole records."""

    @property
    def all_ids(self) -> list[str]:
        return [record.id for record in self.records] + [entry[0] for entry in self.ids]


def split_ids(text: str) -> list[str]:
    """Ids separated by whitespace or commas, as `grokdash add -` reads them."""
    return [part for part in ID_SEPARATORS.split(text) if part]


def read_import(text: str, source: str) -> ImportPlan:
    """Work out what `text` (the content of `source`) holds. Raises ImportFileError."""
    stripped = text.lstrip("\ufeff").strip()
    if not stripped:
        return ImportPlan()
    if stripped[0] in "[{":
        return _read_json(stripped, source)
    first_line = stripped.splitlines()[0]
    if "," in first_line and "id" in [cell.strip().lower() for cell in first_line.split(",")]:
        return _read_csv(stripped, source)
    return ImportPlan(ids=[(task_id, None, None) for task_id in _listed_ids(stripped)])


def _listed_ids(text: str) -> list[str]:
    """A plain list: one id a line (or a comma-separated line). A line holding a space is one bad id,
    refused by name, not two ids: `bad id` is a mistake, not the ids `bad` and `id`."""
    return [piece.strip() for line in text.splitlines() for piece in line.split(",") if piece.strip()]


def _read_json(text: str, source: str) -> ImportPlan:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise ImportFileError(f"{source} is not valid JSON ({detail})") from None
    except ValueError:  # an integer of thousands of digits, which Python refuses to convert
        raise ImportFileError(f"{source} cannot be read: it holds a number too long to read") from None
    if isinstance(data, dict):
        if data.get("format") != EXPORT_FORMAT or not isinstance(data.get("tasks"), list):
            raise ImportFileError(f"{source} is a JSON object but not a grokdash export")
        return _read_records(data["tasks"], source)
    if not isinstance(data, list):
        raise ImportFileError(f"{source} holds neither a list of ids nor a grokdash export")
    plan = ImportPlan()
    for index, item in enumerate(data, start=1):
        if isinstance(item, str):
            plan.ids.append((item, None, None))
        elif isinstance(item, dict) and isinstance(item.get("id"), str):
            label = item.get("label")
            plan.ids.append((item["id"], label if isinstance(label, str) else None, None))
        else:
            raise ImportFileError(f"{source}: entry {index} is neither an id nor an object with an id")
    return plan


def _read_records(items: list[Any], source: str) -> ImportPlan:
    plan = ImportPlan()
    for index, item in enumerate(items, start=1):
        try:
            plan.records.append(TrackedTask.from_json(item))
        except Exception:  # any malformed record: say which one, import nothing
            raise ImportFileError(f"{source}: task {index} of the export is not a readable record") from None
    return plan


def _read_csv(text: str, source: str) -> ImportPlan:
    reader = csv.DictReader(io.StringIO(text))
    plan = ImportPlan()
    try:
        for row in reader:
            task_id = (row.get("id") or "").strip()
            if not task_id:
                continue
            added = _float_or_none(row.get("added_at"))
            plan.ids.append((task_id, (row.get("label") or "").strip() or None, added))
    except csv.Error as exc:
        raise ImportFileError(f"{source} is not readable CSV (line {reader.line_num}: {exc})") from None
    return plan


def _float_or_none(value: Any) -> float | None:
    """A time from a spreadsheet cell; anything that is not a finite number counts as not given."""
    try:
        number = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None
