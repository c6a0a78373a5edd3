"""A batch file, read and checked whole before anything is sent: JSONL (one request per line), CSV with
a header, or plain text (one prompt per line, every other field from the command's flags).

Every row is checked against the model's rules; each problem is named with its line number, and a file
with any problem sends nothing. Each row has a digest of what it asks for, so a journal can tell a row
it sent from one edited since.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

from grokdash.errors import printable
from grokdash.rules import MODELS, CreateRequest, request_problems

FIELDS = ("model", "prompt", "duration", "aspect_ratio", "resolution", "image_urls", "label")
FORMATS = ("jsonl", "csv", "text")
MAX_ROWS = 10_000
"""Rows a batch may have: more is no batch a person meant (and the journal is rewritten per row)."""


@dataclass(frozen=True, slots=True)
class Defaults:
    """What a row leaves out: the command's flags (for plain text, all but the prompt)."""

    model: str | None = None
    duration: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    image_urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchRow:
    line: int
    """Its line in the file (from 1), as an editor shows it."""
    request: CreateRequest
    label: str | None
    digest: str
    """What the row asks for, hashed: the same row, whatever its line, has the same digest."""


@dataclass(frozen=True, slots=True)
class BatchFile:
    rows: list[BatchRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """One sentence each, starting with its line: "line 17: grok_video3 takes …"."""


def format_of(name: str, text: str) -> str:
    """The format of a file by its name's suffix; standard input (or no known suffix) by its content:
    a first line that is a JSON object is JSONL, a first line naming a prompt column is CSV."""
    lowered = name.lower()
    if lowered.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith(".txt"):
        return "text"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if first.startswith("{"):
        return "jsonl"
    if "prompt" in [cell.strip().lower() for cell in first.split(",")] and "," in first:
        return "csv"
    return "text"


def _digest(request: CreateRequest, label: str | None) -> str:
    body = json.dumps({"request": request.to_json(), "label": label}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _text(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, not {json.dumps(value)[:40]}")
    return value.strip()


def _duration(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("duration must be a whole number of seconds")
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            raise ValueError(f"duration must be a whole number of seconds, not {value[:20]!r}")
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError("duration must be a whole number of seconds")


def _images(value: Any) -> tuple[str, ...] | None:
    """A list of URLs (JSONL), or URLs separated by spaces or semicolons (CSV)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return tuple(part for part in value.replace(";", " ").split() if part)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(item.strip() for item in value if item.strip())
    raise ValueError("image_urls must be a list of URLs")


def _row(line: int, values: dict[str, Any], defaults: Defaults, batch_label: str | None) -> BatchRow:
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ValueError(f"no field {', '.join(unknown)} (fields: {', '.join(FIELDS)})")
    model = _text(values.get("model"), "model") or defaults.model
    if model is None:
        raise ValueError("no model: give one in the row, or --model for every row")
    if model not in MODELS:
        raise ValueError(f"no model called {model!r} (models: {', '.join(MODELS)})")
    prompt = _text(values.get("prompt"), "prompt") or ""
    duration = _duration(values.get("duration"))
    images = _images(values.get("image_urls"))
    request = CreateRequest(
        model=model,
        prompt=prompt,
        duration=defaults.duration if duration is None else duration,
        aspect_ratio=_text(values.get("aspect_ratio"), "aspect_ratio") or defaults.aspect_ratio,
        resolution=_text(values.get("resolution"), "resolution") or defaults.resolution,
        image_urls=defaults.image_urls if images is None else images,
    )
    rules = MODELS[model]
    if rules.duration_is_fixed and request.duration == rules.default_duration:
        request = dataclasses.replace(request, duration=None)  # the API wants the one length left out
    label = _text(values.get("label"), "label") or batch_label
    return BatchRow(line, request, label, _digest(request, label))


def _entries(text: str, fmt: str) -> list[tuple[int, dict[str, Any] | str]]:
    """(line, the row's fields) for each row; a string instead of the fields says what is wrong."""
    entries: list[tuple[int, dict[str, Any] | str]] = []
    if fmt == "csv":
        return _csv_entries(text)
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or (fmt == "text" and stripped.startswith("#")):
            continue
        if fmt == "text":
            entries.append((number, {"prompt": stripped}))
            continue
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as error:
            entries.append((number, f"not JSON ({error.msg})"))
            continue
        except (ValueError, RecursionError):  # a number of 5,000 digits, arrays 10,000 deep
            entries.append((number, "not a request grokdash can read (too deep, or a number too long)"))
            continue
        entries.append((number, value if isinstance(value, dict) else "not a JSON object"))
    return entries


def _csv_entries(text: str) -> list[tuple[int, dict[str, Any] | str]]:
    entries: list[tuple[int, dict[str, Any] | str]] = []
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = [name.strip().lower() for name in reader.fieldnames or []]
        if "prompt" not in header:
            return [(1, "the first line must name the columns, prompt among them")]
        reader.fieldnames = header
        last = 1
        for record in reader:
            line = reader.line_num
            if None in record:
                entries.append((line, "more cells than the header has columns"))
            elif line - last > 1 and any("\n" in (value or "") for value in record.values()):
                # A quote left open swallows the lines after it: say so rather than send one prompt
                entries.append((last + 1, "a quoted cell runs over several lines (a quote left open?)"))
            else:
                cells = {name: value for name, value in record.items() if value not in (None, "")}
                if cells:
                    entries.append((line, cells))
            last = line
    except csv.Error as error:  # a cell beyond csv's size limit, a NUL byte
        entries.append((reader.line_num or 1, f"not CSV grokdash can read ({error})"))
    return entries


def read_batch(text: str, fmt: str, defaults: Defaults, batch_label: str | None = None) -> BatchFile:
    """Every row of `text`, checked; `problems` names each line that cannot be sent, with why."""
    rows: list[BatchRow] = []
    problems: list[str] = []
    entries = _entries(text, fmt)
    if len(entries) > MAX_ROWS:
        return BatchFile([], [f"{len(entries):,} rows: a batch takes at most {MAX_ROWS:,}"])
    for line, values in entries:
        if isinstance(values, str):
            problems.append(f"line {line}: {values}")
            continue
        try:
            row = _row(line, values, defaults, batch_label)
            broken = request_problems(row.request)
        except (ValueError, TypeError, RecursionError) as error:  # a value no rule foresaw
            problems.append(f"line {line}: {printable(str(error)[:200])}")
            continue
        if broken:
            problems.extend(f"line {line}: {problem}" for problem in broken)
            continue
        rows.append(row)
    if not rows and not problems:
        problems.append("no rows: the file holds no request")
    return BatchFile(rows, problems)
