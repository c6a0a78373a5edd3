"""What a tracked task stores of the API's answers and errors: bounded, and read back unchanged."""

from __future__ import annotations

import json

import pytest

from grokdash.errors import ProtocolError, shorten
from grokdash.models import MAX_ERROR_LENGTH, TRUNCATED, parse_task
from grokdash.tracked import QueryFailure, TrackedTask

NOW = 1_764_300_000.0
ANSWER = {
    "id": "task_1",
    "object": "video",
    "created": 1764300000,
    "model": "grok_video3",
    "status": "failed",
    "error": "content moderation",
}


def stored(record: TrackedTask) -> dict:
    """The record as the database holds it: written as JSON and read back."""
    return json.loads(json.dumps(record.to_json()))


def answered(answer: dict) -> TrackedTask:
    return TrackedTask(id="task_1", added_at=NOW - 60).with_answer(
        parse_task(json.dumps(answer), "task_1"), NOW
    )


@pytest.mark.parametrize(
    "answer",
    [ANSWER, ANSWER | {"extra": "x" * 500_000}, ANSWER | {"error": "e" * 2_000_000}],
    ids=["small", "large-extra", "long-error"],
)
def test_a_record_reads_back_as_it_was_and_writes_the_same_again(answer):
    record = answered(answer)
    again = TrackedTask.from_json(stored(record))
    assert again == record
    assert again.task.raw == record.task.raw
    assert stored(again) == stored(record)


def test_a_huge_answer_is_stored_as_its_documented_fields_and_a_marker():
    record = answered(ANSWER | {"error": "e" * 2_000_000, "extra": "x" * 500_000})
    doc = stored(record)
    assert len(json.dumps(doc)) < 2 * MAX_ERROR_LENGTH
    assert set(doc["answer"]) == {*ANSWER, TRUNCATED}
    assert doc["answer"][TRUNCATED].endswith("more characters")
    assert doc["answer"]["error"].endswith("more characters")


def test_an_old_record_holding_a_huge_answer_still_loads_and_is_stored_small_again():
    old = {
        "id": "task_1",
        "added_at": NOW,
        "answer": ANSWER | {"error": "e" * 3_000_000, "blob": ["x"] * 100_000},
    }
    record = TrackedTask.from_json(old)
    assert record.task.status == "failed"
    assert record.task.error.startswith("eee") and len(record.task.error) <= MAX_ERROR_LENGTH
    assert len(json.dumps(record.to_json())) < 2 * MAX_ERROR_LENGTH
    assert TrackedTask.from_json(stored(record)) == record


def test_an_error_message_is_stored_cut_however_it_came():
    huge = "m" * 10_000_000
    record = TrackedTask(id="task_1", added_at=NOW).with_error(ProtocolError(huge), NOW)
    assert len(record.last_error.message) <= MAX_ERROR_LENGTH
    assert record.last_error.message == shorten(huge, MAX_ERROR_LENGTH)
    assert len(json.dumps(record.to_json())) < 3 * MAX_ERROR_LENGTH
    old = {"id": "task_1", "added_at": NOW, "last_error": {"kind": "k" * 10_000, "message": huge, "at": NOW}}
    loaded = TrackedTask.from_json(old)
    assert loaded.last_error == QueryFailure(kind="k" * 10_000, message=huge, at=NOW)
    assert len(loaded.last_error.kind) <= 200
    assert TrackedTask.from_json(stored(loaded)) == loaded


def test_a_query_failure_cut_once_is_not_cut_again():
    failure = QueryFailure("protocol", "x" * 100_000, NOW)
    assert QueryFailure.from_json(failure.to_json()) == failure
    assert QueryFailure("protocol", failure.message, NOW).message == failure.message


@pytest.mark.parametrize("answer", [[1, 2], "completed", 7])
def test_a_stored_answer_that_is_not_an_object_makes_the_record_unreadable(answer):
    with pytest.raises(TypeError):
        TrackedTask.from_json({"id": "task_1", "added_at": NOW, "answer": answer})


@pytest.mark.parametrize("length", [0, 1, 40, 4000, 4001, 10_000, 10**7])
def test_shorten_keeps_to_its_limit_and_counts_what_it_left_out(length):
    text = "a" * length
    cut = shorten(text, 4000)
    assert len(cut) <= 4000
    assert shorten(cut, 4000) == cut
    if length <= 4000:
        assert cut == text
    else:
        kept = cut.index("…")
        assert cut == "a" * kept + f"… {length - kept:,} more characters"
