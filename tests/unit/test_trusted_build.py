"""Records the store wrote are read back without their checks (`checked=True`; issue 15), and come out
as the same values the checked reading of any record makes: the same fields, of the same types, and
`ls --json` prints the same bytes as from records read the general way."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import math
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grokdash import core, jsonout, models, taskjournal, tracked
from grokdash.cli import main
from grokdash.errors import ApiError, NetworkError, NotFoundError, RateLimitedError
from grokdash.models import MAX_KEPT_ANSWER, Task, task_from_dict, trusted_maker
from grokdash.output import tracked_json
from grokdash.store import TaskStore
from grokdash.tracked import QueryFailure, TrackedTask
from grokdash.videofile import PART_SUFFIX
from tests.tui.test_details_text import hostile_task, huge_record, odd_times_record
from tests.unit.test_view_index import record as view_record

NOW = 1_764_300_000.0
STORE_CATCHES = (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, ApiError)
"""What `store._Unread.build` turns into a StoreError: a checked read may fail only this way."""


# ---- records of every kind -------------------------------------------------------------------------


def completed(n: int) -> TrackedTask:
    """As bench/store_scale.py makes them: seen processing, then completed with a video."""
    task_id = f"done-{n:05d}"
    answer: dict[str, Any] = {"id": task_id, "object": "video", "created": NOW - n * 240.5, "model": "m"}
    running = task_from_dict({**answer, "status": "processing"})
    done = task_from_dict(
        {
            **answer,
            "status": "completed",
            "video_url": f"https://cdn.invalid/{task_id}.mp4",
            "actualDuration": 6.0,
        }
    )
    record = TrackedTask(id=task_id, added_at=NOW - n, label=f"clip {n}" if n % 3 == 0 else None)
    return record.with_answer(running, NOW - n + 20).with_answer(done, NOW - n + 200)


def requested(task_id: str) -> TrackedTask:
    """Created here (a request kept), answered, then rate limited, labelled."""
    task = Task(id=task_id, status="processing", model="grok_video3", created=5)  # no raw: api_fields
    return (
        TrackedTask(id=task_id, added_at=0.0, request={"model": "grok_video3", "prompt": "a cat"})
        .with_answer(task, 10.0)
        .with_error(RateLimitedError("rate limited", retry_after=3), 20.0)
        .with_label("cats")
    )


def odd_records() -> list[TrackedTask]:
    """Records made directly or by every change, with values no fast path expects."""
    long_model = task_from_dict(
        {"id": "t-long", "status": " Completed ", "model": "m" * 300, "created": "12"}
    )
    odd_status = task_from_dict({"id": 7, "status": "expired", "actualDuration": 3, "error": "e" * 5000})
    gone = TrackedTask(id="gone", added_at=5.0).with_error(NotFoundError("no"), 6.0)
    return [
        TrackedTask(id="bare", added_at=1.0),
        TrackedTask(id="int-times", added_at=100, checked_at=200, status_seen={"queued": 150}),  # type: ignore[arg-type]
        requested("asked"),
        requested("save-failed").with_download_error(NetworkError("the disk is full"), 30.0),
        requested("saved").with_local_file("/videos/t.mp4", 1234),
        TrackedTask(id="t-long", added_at=2.0).with_answer(long_model, 3.0),
        TrackedTask(id="7", added_at=2.0).with_answer(odd_status, 3.0),
        gone.with_error(NotFoundError("no"), 7.0).with_error(NotFoundError("no"), 8.0),
        TrackedTask(id="label-surrogate", added_at=5.0, label="bad \udcff byte"),
        hostile_task(),
        *(view_record(n) for n in range(20)),
        *(completed(n) for n in range(20)),
    ]


def stored_forms(record: TrackedTask) -> list[dict[str, Any]]:
    """The record as a file holds it, read back by orjson (as the store reads its files) and by the
    standard library (what it reads a file with numbers past 64 bits or a lone surrogate with)."""
    text = json.dumps(record.to_json())
    forms = [json.loads(text)]
    with contextlib.suppress(TypeError, orjson.JSONDecodeError):
        forms.append(orjson.loads(orjson.dumps(record.to_json())))
    return forms


# ---- the same values ---------------------------------------------------------------------------------


def exactly(a: Any, b: Any, *, raw: bool = True) -> bool:
    """Equal, and of the same types all the way down (100 and 100.0 are equal but print differently;
    so are "completed" and Status.COMPLETED to `repr`); dict keys in the same order. `raw`: compare
    `Task.raw` too, which `==` leaves out."""
    if type(a) is not type(b):
        return False
    if dataclasses.is_dataclass(a):
        names = [item.name for item in dataclasses.fields(a) if raw or item.name != "raw"]
        return all(exactly(getattr(a, name), getattr(b, name), raw=raw) for name in names)
    if isinstance(a, dict):
        keys_a, keys_b = list(a), list(b)
        return (
            keys_a == keys_b
            and [type(key) for key in keys_a] == [type(key) for key in keys_b]
            and all(exactly(a[key], b[key], raw=raw) for key in keys_a)
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(exactly(x, y, raw=raw) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def general(doc: dict[str, Any], *, checked: bool) -> TrackedTask:
    """`TrackedTask.from_json` by its general path alone, as before the fast one."""
    saved = tracked._trusted_record, models._trusted_task
    tracked._trusted_record = models._trusted_task = lambda *args: None  # type: ignore[assignment]
    try:
        return TrackedTask.from_json(doc, checked=checked)
    finally:
        tracked._trusted_record, models._trusted_task = saved


def outcome(read: Any) -> tuple[str, Any]:
    try:
        return "record", read()
    except STORE_CATCHES as exc:
        return "error", exc


def small_answer(doc: dict[str, Any]) -> bool:
    """An answer that the unchecked read keeps as it was sent; a larger one it keeps as its documented
    fields (`checked` keeps it whole: the store only ever wrote a larger one for a `Task` made by hand)."""
    answer = doc.get("answer")
    return not isinstance(answer, dict) or len(json.dumps(answer)) <= MAX_KEPT_ANSWER


def check_same(doc: dict[str, Any]) -> None:
    """The fast checked read gives exactly what the general checked read gives, and what the unchecked
    read gives, or fails where they fail."""
    kind, fast = outcome(lambda: TrackedTask.from_json(doc, checked=True))
    reference_kind, reference = outcome(lambda: general(doc, checked=True))
    unchecked_kind, unchecked = outcome(lambda: TrackedTask.from_json(doc))
    assert kind == reference_kind, (doc, fast, reference)
    if kind == "error":
        return
    assert exactly(fast, reference), (doc, fast, reference)
    if unchecked_kind == "record":  # an id the API cannot be sent is refused unchecked only
        assert fast == unchecked
        assert exactly(fast, unchecked, raw=small_answer(doc)), (doc, fast, unchecked)


@pytest.mark.parametrize("record", odd_records(), ids=lambda record: record.id)
def test_a_stored_record_reads_back_the_same_checked_or_not(record):
    for doc in stored_forms(record):
        check_same(doc)
        assert TrackedTask.from_json(doc, checked=True) == record


def test_records_past_every_cut_and_times_no_clock_reads_read_back_the_same_or_fail_the_same():
    for record in (huge_record(), odd_times_record()):
        for doc in stored_forms(record):
            check_same(doc)


def test_a_record_in_the_usual_form_is_made_by_the_fast_path():
    doc = orjson.loads(orjson.dumps(completed(3).to_json()))
    assert tracked._trusted_record(doc) is not None
    assert models._trusted_task(doc["answer"], doc["id"]) is not None


# One field of a plain stored record at a time, set to what the store writes for a record made by hand,
# what an older version wrote, or what a hand edit left: the fast path must take none of them for its own.
NAN, INF = float("nan"), float("inf")
ABSENT = object()
TIMES = [100, 2**53 + 1, 1e300, -1.5, "12.5", "", NAN, INF, -INF, None, True, ABSENT]
NUMBERS = [
    5,
    0,
    2**53,
    2**53 + 1,
    -(2**60),
    2**1100,
    1.5,
    1e300,
    NAN,
    INF,
    "12",
    " 3 ",
    "",
    True,
    None,
    [],
    ABSENT,
]
FAILURE = {"kind": "network", "message": "down", "at": 3.0}
ODD = {
    ("id",): [7, None, "", "x y", ABSENT],
    ("added_at",): TIMES,
    ("checked_at",): TIMES,
    ("label",): [None, "", "x", 5, ["x"], ABSENT],
    ("status_seen",): [
        None,
        {},
        [],
        0,
        "",
        {"queued": 100},
        {"queued": NAN},
        {"queued": "1"},
        {"queued": True},
    ],
    ("answer",): [None, {}, [], "x", {"status": "completed"}, ABSENT],
    ("answer", "status"): ["COMPLETED", " completed", "expired", "", " ", 5, None, "x" * 300, ABSENT],
    ("answer", "id"): ["", None, 7, "other", "done-00001 ", ABSENT],
    ("answer", "model"): ["", "m" * 200, "m" * 201, 5, 2.5, None, True, [], ABSENT],
    ("answer", "created"): NUMBERS,
    ("answer", "video_url"): ["", "u" * 8192, "u" * 8193, 5, 2.5, None, ABSENT],
    ("answer", "actualDuration"): NUMBERS,
    ("answer", "error"): ["", "e" * 4000, "e" * 4001, 5, None, [], ABSENT],
    ("last_error",): [FAILURE, {**FAILURE, "message": "q" * 5000}, {**FAILURE, "at": 3}, {}, None, "x"],
    ("recent_errors",): [[FAILURE, FAILURE], [], None, [{"kind": "x"}]],
    ("consecutive_errors",): [1, 0, "2", True, None, 1.5],
    ("retry_after",): TIMES,
    ("local_file",): ["/videos/a.mp4", "", 5, None],
    ("saved_size",): [0, 5, -1, True, 1.5, None],
    ("download_error",): [FAILURE, {**FAILURE, "kind": "k" * 300}, {}, None],
    ("request",): [{"model": "m"}, {}, [], None, "x"],
    ("extra",): ["anything"],
}
CASES = [(path, value) for path, values in ODD.items() for value in values]


def plain() -> dict[str, Any]:
    """A record in the usual stored form (the fast path reads it)."""
    return orjson.loads(orjson.dumps(completed(1).to_json()))


def changed(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    *outer, name = path
    where = doc
    for step in outer:
        if not isinstance(where.get(step), dict):
            return doc
        where = where[step]
    if value is ABSENT:
        where.pop(name, None)
    else:
        where[name] = copy.deepcopy(value)  # the cases' own dicts stay as listed
    return doc


@pytest.mark.parametrize(
    ("path", "value"), CASES, ids=[f"{'.'.join(path)}={value!r:.20}" for path, value in CASES]
)
def test_an_odd_field_reads_the_same_by_the_fast_path_as_by_the_general_one(path, value):
    check_same(changed(plain(), path, value))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(CASES), max_size=4))
def test_odd_fields_together_read_the_same_by_the_fast_path_as_by_the_general_one(cases):
    doc = plain()
    for path, value in cases:
        doc = changed(doc, path, value)
    check_same(doc)


# ---- the maker -----------------------------------------------------------------------------------------


def test_a_made_record_is_the_frozen_dataclass_itself():
    make = trusted_maker(QueryFailure)
    made = make("network", "down", 1.0)
    assert type(made) is QueryFailure and made == QueryFailure("network", "down", 1.0)
    assert hash(made) == hash(QueryFailure("network", "down", 1.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.kind = "other"  # type: ignore[misc]
    assert dataclasses.replace(made, at=2.0) == QueryFailure("network", "down", 2.0)
    assert repr(made) == repr(QueryFailure("network", "down", 1.0))


def test_the_last_fields_a_maker_is_not_given_take_their_defaults():
    made = trusted_maker(TrackedTask)("t1", 1.0, None, None, {})
    assert exactly(made, TrackedTask(id="t1", added_at=1.0))
    with pytest.raises(TypeError):
        trusted_maker(Task)("t1", "queued")  # `raw` has a default_factory: it must be given


# ---- the stored dicts a record shares ------------------------------------------------------------------


def test_a_record_shares_its_status_times_with_the_stored_form_and_a_change_touches_neither(tmp_path):
    db = tmp_path / "tasks.json"
    TaskStore(db).import_records([completed(n) for n in range(3)])
    store = TaskStore(db)  # read back: the records are built from the file, checked
    before = store.get("done-00001")
    assert before is not None
    stored = next(doc for doc in store._storage.tasks_table().values() if doc["id"] == "done-00001")
    shared = stored["status_seen"]
    assert shared is before.status_seen  # one dict for both: at 100,000 tasks, tens of megabytes
    seen = dict(shared)

    failed = Task(id="done-00001", status="failed")
    store.update({"done-00001": lambda record: record.with_answer(failed, NOW + 1).with_label("x")})

    assert before.status_seen is shared and shared == seen  # the change made a new dict, the write too
    fresh = TaskStore(db).get("done-00001")
    assert fresh is not None and fresh.label == "x" and fresh.status_seen == {**seen, "failed": NOW + 1}
    assert store.get("done-00001") == fresh


# ---- ls --json ------------------------------------------------------------------------------------------


def ls_json(db: Path, downloads: Path) -> bytes:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main(["ls", "--json", "--db", str(db), "--download-dir", str(downloads)])
    assert exit_.value.code in (0, None)
    return out.getvalue().encode("utf-8")


def record_built_ls(db: Path, downloads: Path) -> bytes:
    """What `ls --json` prints, from records read the general, unchecked way, each item written on its
    own, as `ls --json` printed before any of this was made faster."""
    raw = json.loads(db.read_text())
    records = [TrackedTask.from_json(doc) for doc in raw["tasks"].values()]
    records.sort(key=lambda record: record.added_at)
    disk = core.look_at_disk(records, downloads, with_label=False)
    items = [jsonout.pretty(tracked_json(record, disk.get(record.id))) for record in records]
    return b"[" + b",".join(b"\n  " + item.replace(b"\n", b"\n  ") for item in items) + b"\n]\n"


def test_ls_json_prints_what_the_records_built_the_general_way_print(tmp_path, home, monkeypatch):
    db, downloads = tmp_path / "tasks.json", tmp_path / "videos"
    downloads.mkdir()
    records = [*odd_records(), *(completed(n) for n in range(20, 1200))]  # more than a piece holds
    # In the order listed (the store lists by added_at); one time a whole number, as a record made by
    # hand may hold: read back the general way, it is a float.
    spread = [
        dataclasses.replace(record, added_at=n if record.id == "int-times" else float(n))
        for n, record in enumerate(records)
    ]
    TaskStore(db).import_records(spread)
    assert not taskjournal.path_of(db).exists()  # the file holds every record
    (downloads / f"done-00021.mp4{PART_SUFFIX}").write_bytes(b"half a video")
    fast = []

    def counted(data):
        made = trusted_record(data)
        fast.extend([made] if made is not None else [])
        return made

    trusted_record = tracked._trusted_record
    monkeypatch.setattr(tracked, "_trusted_record", counted)

    printed = ls_json(db, downloads)
    assert len(fast) > 1000  # read as the store wrote it: the fast path made most records
    assert printed == record_built_ls(db, downloads)
    listed = json.loads(printed)
    assert [item["id"] for item in listed] == [record.id for record in spread]
    assert {item["saved"] for item in listed} >= {"partial", "owed", "missing", None}
