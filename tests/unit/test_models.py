"""Parsing API answers: tolerant of what real servers send, strict about what is not an answer."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grokdash.errors import ApiError, AuthError, InvalidIdError, NotFoundError, ProtocolError
from grokdash.models import Status, check_id, format_seconds, id_problem, is_final, parse_task

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
