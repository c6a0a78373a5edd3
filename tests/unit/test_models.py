"""Parsing API answers: tolerant of what real servers send, strict about what is not an answer."""

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grokdash.errors import ApiError, AuthError, InvalidIdError, NotFoundError, ProtocolError
from grokdash.models import (
    MAX_ERROR_LENGTH,
    MAX_KEPT_ANSWER,
    MAX_KEPT_DEPTH,
    MAX_NAME_LENGTH,
    MAX_URL_LENGTH,
    TRUNCATED,
    Status,
    check_id,
    format_seconds,
    id_problem,
    is_final,
    parse_task,
    task_from_dict,
)

COMPLETED = {
    "id": "task_1",
    "object": "video",
    "created": 1764300000,
    "model": "grok_video3",
    "status": "completed",
    "video_url": "https://cdn.example/v/task_1.mp4",
    "actualDuration": 10,
}


def body(**changes):
    return json.dumps({**COMPLETED, **changes})


def test_a_completed_answer_gives_every_field():
    task = parse_task(body(), expected_id="task_1")
    assert task.id == "task_1"
    assert task.status == Status.COMPLETED
    assert task.model == "grok_video3"
    assert task.created == 1764300000
    assert task.video_url == "https://cdn.example/v/task_1.mp4"
    assert task.actual_duration == 10.0
    assert task.error is None
    assert task.is_final


def test_a_failed_answer_keeps_the_error_text():
    task = parse_task(body(status="failed", video_url=None, error="prompt refused"), "task_1")
    assert task.status == Status.FAILED
    assert task.error == "prompt refused"
    assert task.video_url is None


def test_a_wrapped_answer_is_unwrapped():
    wrapped = json.dumps({"code": 200, "msg": "success", "data": COMPLETED})
    assert parse_task(wrapped, "task_1").video_url == COMPLETED["video_url"]


def test_numbers_sent_as_strings_and_extra_fields_are_accepted():
    task = parse_task(body(created="1764300000", actualDuration="6.5", extra={"x": 1}), "task_1")
    assert task.created == 1764300000
    assert task.actual_duration == 6.5


def test_a_missing_created_is_unknown_not_an_error():
    answer = dict(COMPLETED)
    del answer["created"]
    assert parse_task(json.dumps(answer), "task_1").created is None


def test_an_unknown_status_is_kept_as_sent_and_is_final():
    task = parse_task(body(status="Moderated"), "task_1")
    assert task.status == "Moderated"
    assert task.is_final


def test_documented_statuses_are_recognised_whatever_their_case():
    assert parse_task(body(status=" PROCESSING "), "task_1").status == Status.PROCESSING
    assert not is_final("processing")
    assert not is_final("queued")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ("<html><body><h1>502 Bad Gateway</h1></body></html>", "HTML"),
        ('{"id": "task_1", "status": "compl', "not valid JSON"),
        ("", "empty"),
        ("[1, 2]", "not a JSON object"),
        (body(status=None), "no status"),
        (body(status=7), "no status"),
        (body(id="task_2"), "task_2"),
        (body(created="yesterday"), "created"),
        (body(actualDuration=True), "actualDuration"),
        (body(video_url={"href": "x"}), "video_url"),
        ("[" * 100_000 + "]" * 100_000, "nested"),
    ],
)
def test_what_is_not_an_answer_is_a_protocol_error_quoting_it(answer, words):
    with pytest.raises(ProtocolError) as caught:
        parse_task(answer, "task_1")
    assert words in caught.value.message
    assert len(caught.value.message) < 300


def test_a_protocol_error_quotes_a_short_printable_snippet():
    with pytest.raises(ProtocolError) as caught:
        parse_task("<html>\x1b[31m" + "x" * 5000, "task_1")
    message = caught.value.message
    assert "\x1b" not in message
    assert "…" in message
    assert len(message) < 200


def test_a_wrapped_error_code_becomes_its_error_kind():
    with pytest.raises(NotFoundError):
        parse_task(json.dumps({"code": 404, "msg": "task not found"}), "task_1")
    with pytest.raises(AuthError):
        parse_task(json.dumps({"code": "401", "msg": "bad key"}), "task_1")
    with pytest.raises(ProtocolError, match="carries no task"):
        parse_task(json.dumps({"code": 0, "msg": "odd"}), "task_1")


def test_an_answer_without_an_id_is_taken_as_the_task_asked_for():
    answer = dict(COMPLETED)
    del answer["id"]
    assert parse_task(json.dumps(answer), "task_1").id == "task_1"
    with pytest.raises(ProtocolError):
        parse_task(json.dumps(answer), expected_id=None)


@pytest.mark.parametrize(
    ("task_id", "why"),
    [
        ("", "empty"),
        (".", "path segment"),
        ("..", "path segment"),
        ("x" * 201, "201 characters"),
        ("a b", "whitespace"),
        ("a\tb", "whitespace"),
        ("a\x00b", "control"),
        ("a\x1bb", "control"),
        ("a\u2028b", "whitespace"),
    ],
)
def test_ids_that_cannot_name_a_task_are_refused_with_the_reason(task_id, why):
    with pytest.raises(InvalidIdError) as caught:
        check_id(task_id)
    assert why in caught.value.message
    assert caught.value.kind == "invalid_id"


@pytest.mark.parametrize("task_id", ["task_1", "a/b", "%2F", "...", "x" * 200, "vidéo-😀", "a?b#c"])
def test_unusual_but_printable_ids_are_accepted(task_id):
    assert check_id(task_id) == task_id


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
ANSWER_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.just("task_1"), JSON_VALUES),
        "status": st.one_of(
            st.sampled_from(["queued", "processing", "completed", "failed", "x"]), JSON_VALUES
        ),
        "created": JSON_VALUES,
        "model": JSON_VALUES,
        "video_url": JSON_VALUES,
        "actualDuration": JSON_VALUES,
        "error": JSON_VALUES,
        "code": JSON_VALUES,
        "data": JSON_VALUES,
    },
)


@given(st.one_of(ANSWER_FIELDS, JSON_VALUES))
def test_any_json_answer_gives_a_task_or_an_api_error(answer):
    try:
        task = parse_task(json.dumps(answer, allow_nan=True), "task_1")
    except ApiError as error:
        assert error.message
        assert "\n" not in error.message
    else:
        assert task.id == "task_1"
        assert isinstance(task.status, str) and task.status


@given(st.binary(max_size=200))
def test_any_bytes_give_a_task_or_a_protocol_error(raw):
    try:
        parse_task(raw, "task_1")
    except ApiError as error:
        assert error.message


@given(st.text(max_size=250))
def test_an_id_is_either_accepted_or_refused_with_a_reason(task_id):
    problem = id_problem(task_id)
    if problem is None:
        assert 0 < len(task_id) <= 200
        assert all(char.isprintable() and not char.isspace() for char in task_id)
    else:
        with pytest.raises(InvalidIdError):
            check_id(task_id)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (59.9, "59s"),
        (60, "1m 00s"),
        (185, "3m 05s"),
        (7800, "2h 10m"),
        (273600, "3d 4h"),
        (-5, "0s"),
    ],
)
def test_lengths_of_time_read_like_a_person_wrote_them(seconds, shown):
    assert format_seconds(seconds) == shown


# ---- what is kept of an answer: bounded, as stored and as shown -------------------------------------


def test_a_small_answer_is_kept_as_sent():
    answer = {**COMPLETED, "extra": {"x": [1, 2]}, "created": "1764300000"}
    assert task_from_dict(answer, "task_1").raw == answer


def test_a_large_answer_keeps_its_documented_fields_and_says_how_much_was_left_out():
    answer = {**COMPLETED, "extra": "x" * 100_000}
    task = task_from_dict(answer, "task_1")
    kept = task.raw
    assert list(kept) == [*(name for name in COMPLETED), TRUNCATED]
    assert {name: kept[name] for name in COMPLETED} == COMPLETED
    omitted = len(json.dumps(answer)) - len(json.dumps({name: kept[name] for name in COMPLETED}))
    assert kept[TRUNCATED] == f"… {omitted:,} more characters"
    assert len(json.dumps(kept)) < MAX_KEPT_ANSWER


def test_a_small_answer_nested_deeper_than_the_database_should_hold_keeps_its_documented_fields():
    nested: list = []
    for _ in range(MAX_KEPT_DEPTH + 1):
        nested = [nested]
    task = task_from_dict({**COMPLETED, "extra": nested}, "task_1")
    assert "extra" not in task.raw and TRUNCATED in task.raw
    shallow = task_from_dict({**COMPLETED, "extra": [[[1]]]}, "task_1")
    assert shallow.raw["extra"] == [[[1]]]


def test_an_error_text_is_cut_and_counts_what_was_left_out():
    started = time.perf_counter()
    task = parse_task(body(status="failed", error="e" * 10_000_000), "task_1")
    assert len(task.error) <= MAX_ERROR_LENGTH
    assert task.error.startswith("eeee")
    assert task.error.endswith(f"… {10_000_000 - task.error.index('…'):,} more characters")
    assert task.raw["error"] == task.error
    assert len(json.dumps(task.raw)) < 2 * MAX_ERROR_LENGTH
    assert time.perf_counter() - started < 2


def test_names_are_cut_and_a_documented_status_is_still_recognised():
    task = parse_task(body(model="m" * 5000, status="Moderated" * 1000), "task_1")
    assert len(task.model) <= MAX_NAME_LENGTH and task.model.endswith("more characters")
    assert len(task.status) <= MAX_NAME_LENGTH and task.is_final
    assert parse_task(body(status=" completed" + " " * 5000), "task_1").status == Status.COMPLETED


def test_a_video_url_too_long_for_any_server_is_refused_not_cut():
    url = "https://cdn.example/" + "v" * MAX_URL_LENGTH
    with pytest.raises(ProtocolError, match="video URL is 8,212 characters long"):
        parse_task(body(video_url=url), "task_1")
    assert parse_task(body(video_url=url[:MAX_URL_LENGTH]), "task_1").video_url == url[:MAX_URL_LENGTH]


@pytest.mark.parametrize(
    "answer",
    [
        COMPLETED,
        {**COMPLETED, "extra": "x" * 100_000},
        {**COMPLETED, "status": "failed", "error": "e" * 100_000, "video_url": "https://x/" + "u" * 8000},
        {**COMPLETED, "object": "o" * 1000, "model": "m" * 1000, "status": "odd" * 1000},
    ],
    ids=["small", "large", "kept-form-over-the-limit", "long-names"],
)
def test_what_is_kept_reads_back_as_the_same_task_and_the_same_kept_answer(answer):
    task = task_from_dict(answer, "task_1")
    again = task_from_dict(json.loads(json.dumps(task.raw)), "task_1")
    assert again == task
    assert again.raw == task.raw


KEPT_TEXT = st.text(st.characters(codec="utf-8"), max_size=2500) | st.sampled_from(
    ['"\\' * 700, "\x00" * 500]
)


@given(
    extra=st.dictionaries(
        st.text(max_size=20),
        KEPT_TEXT
        | st.integers()
        | st.floats()
        | st.booleans()
        | st.none()
        | st.lists(st.integers(), max_size=5),
        max_size=4,
    )
)
def test_an_answer_is_kept_as_sent_exactly_when_its_json_is_small(extra):
    answer = {**COMPLETED, **{f"x{key}": value for key, value in extra.items()}}
    task = task_from_dict(answer, "task_1")
    assert (task.raw == answer) == (len(json.dumps(answer)) <= MAX_KEPT_ANSWER)


@pytest.mark.parametrize("answer", [[1], "text", 7, None])
def test_a_stored_answer_that_is_not_an_object_is_a_protocol_error(answer):
    with pytest.raises(ProtocolError, match="not a JSON object"):
        task_from_dict(answer, "task_1")


def test_a_failure_no_check_foresaw_is_a_protocol_error_naming_its_type():
    class Hostile(dict):
        def get(self, *args):
            raise OverflowError("no")

    with pytest.raises(ProtocolError, match=r"could not be read \(OverflowError\)"):
        task_from_dict(Hostile(COMPLETED), "task_1")
