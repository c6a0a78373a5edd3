"""Hostile API answers, beyond the random JSON of test_models.py: numbers too big for a float, numbers
with thousands of digits, deep nesting, huge strings, any status code and header through the real
client (mock transport), and text fields holding terminal escape sequences, which the command line must
never print raw."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grokdash.api import GrokClient, parse_retry_after
from grokdash.errors import ApiError, ProtocolError
from grokdash.models import MAX_ERROR_LENGTH, MAX_NAME_LENGTH, Task, parse_task
from grokdash.output import QueryResult, change_line, render_status_table, render_tracked_table
from grokdash.secret import Secret
from grokdash.tracked import TrackedTask
from grokdash.tui.view import COLUMNS, cell_text, fit

FAST = settings(max_examples=150, derandomize=True, deadline=None)
SOAK = settings(max_examples=5000, deadline=None)

TASK_ID = "task_1"
FIELDS = ("id", "status", "model", "created", "video_url", "actualDuration", "error")
HUGE_INT = 10**400
"""A valid JSON number that no float can hold."""


@pytest.mark.parametrize("field", ["created", "actualDuration"])
@pytest.mark.parametrize(
    "value",
    [HUGE_INT, -HUGE_INT, str(HUGE_INT), "1e400", 1e308 * 10],
    ids=["huge", "minus-huge", "huge-text", "1e400-text", "inf"],
)
def test_a_number_too_big_for_a_float_is_a_protocol_error(field, value):
    body = json.dumps({"id": TASK_ID, "status": "completed", field: value}, allow_nan=True)
    with pytest.raises(ProtocolError) as caught:
        parse_task(body, TASK_ID)
    assert field in caught.value.message


@pytest.mark.parametrize("where", ["created", "extra", "data"])
def test_a_number_with_thousands_of_digits_is_a_protocol_error(where):
    """Python refuses to read an int of more than 4300 digits (ValueError, not a JSON error)."""
    digits = "7" * 5000
    body = f'{{"id": "{TASK_ID}", "status": "queued", "{where}": {digits}}}'
    with pytest.raises(ProtocolError) as caught:
        parse_task(body, TASK_ID)
    assert len(caught.value.message) < 300


def test_a_deeply_nested_answer_is_a_protocol_error():
    nested = "[" * 50_000 + "]" * 50_000
    body = f'{{"id": "{TASK_ID}", "status": "queued", "extra": {nested}}}'
    with pytest.raises(ProtocolError, match="nested too deeply"):
        parse_task(body, TASK_ID)


def test_huge_strings_are_cut_to_what_is_kept_and_parsed_quickly():
    """A megabyte of error text is odd but is an answer: not a crash, not slow, and not kept whole (it
    would be stored, rewritten and shown at a megabyte a task)."""
    started = time.perf_counter()
    text = "e" * 1_000_000
    task = parse_task(json.dumps({"id": TASK_ID, "status": "failed", "error": text, "model": text}), TASK_ID)
    assert task.error.startswith("eeee") and task.error.endswith("more characters")
    assert len(task.error) <= MAX_ERROR_LENGTH and len(task.model) <= MAX_NAME_LENGTH
    assert len(json.dumps(TrackedTask(id=TASK_ID, added_at=1.0, task=task).to_json())) < 8 * 1024
    assert time.perf_counter() - started < 1.0


DEEP_BODIES = {
    "list": "[" * 1000 + "]" * 1000,
    "object": '{"a": ' * 1000 + "1" + "}" * 1000,
    "in-a-task": f'{{"id": "{TASK_ID}", "status": "queued", "extra": {"[" * 1000 + "]" * 1000}}}',
    "wrapped": f'{{"code": 200, "data": {"[" * 1000 + "]" * 1000}}}',
}


@pytest.mark.parametrize("body", DEEP_BODIES.values(), ids=DEEP_BODIES.keys())
@pytest.mark.parametrize("status", [200, 201, 400, 401, 404, 429, 500])
def test_a_thousand_deep_answer_through_the_client_is_an_api_error_whatever_its_status(status, body):
    """Python's json raises RecursionError a thousand levels down: never seen as anything but the id's
    error, whichever status came with it (a success's body is not read for error words at all)."""
    outcome = asyncio.run(ask(client_answering(status, body.encode(), None)))
    assert isinstance(outcome, ApiError)
    assert "\n" not in outcome.message and len(outcome.message) < 300


# ---- any answer through the real client ----------------------------------------------------------

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([HUGE_INT, -(2**64), 2**63])
    | st.floats()
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
ANSWERS = st.fixed_dictionaries(
    {"id": st.just(TASK_ID), "status": st.sampled_from(["queued", "completed", "failed", "moderated"])},
    optional={name: JSON_VALUES for name in (*FIELDS[2:], "code", "data", "msg")},
)
BODIES = st.one_of(
    ANSWERS.map(lambda answer: json.dumps(answer, allow_nan=True).encode()),
    ANSWERS.map(lambda answer: json.dumps({"code": 200, "data": answer}, allow_nan=True).encode()),
    JSON_VALUES.map(lambda value: json.dumps(value, allow_nan=True).encode()),
    st.binary(max_size=100),
)
STATUS_CODES = st.sampled_from(
    [200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 410, 422, 429, 500, 502, 503]
)
# Headers travel as latin-1: digits that are not ASCII digits ("²") are the classic trap.
RETRY_AFTER = st.one_of(
    st.none(),
    st.text(st.characters(max_codepoint=255, exclude_characters="\r\n\x00"), max_size=30),
    st.sampled_from(["0", "-1", "1e9", "99999999999999", "²", "Wed, 21 Oct 2015 07:28:00 GMT", "Mon, 99"]),
)


def client_answering(status: int, body: bytes, retry_after: str | None) -> GrokClient:
    headers = [(b"Content-Type", b"application/json")]
    if retry_after is not None:
        headers.append((b"Retry-After", retry_after.encode("latin-1")))

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    return GrokClient("https://api.example/x", Secret("k"), transport=httpx.MockTransport(answer))


async def ask(client: GrokClient) -> Task | ApiError:
    async with client:
        try:
            return await client.get_task(TASK_ID)
        except ApiError as error:
            return error


def check_any_answer(status: int, body: bytes, retry_after: str | None) -> None:
    outcome = asyncio.run(ask(client_answering(status, body, retry_after)))
    if isinstance(outcome, ApiError):
        assert outcome.message and "\n" not in outcome.message
        assert all(char.isprintable() for char in outcome.message), repr(outcome.message)
    else:
        assert outcome.id == TASK_ID
    # Whatever came back, the command line can print it.
    result = (
        QueryResult(TASK_ID, task=outcome)
        if isinstance(outcome, Task)
        else QueryResult(TASK_ID, error=outcome)
    )
    table = render_status_table([result], now=1_764_300_000.0)
    assert all(char.isprintable() for char in table.replace("\n", "")), repr(table)


@FAST
@given(status=STATUS_CODES, body=BODIES, retry_after=RETRY_AFTER)
def test_any_answer_gives_a_task_or_an_api_error_and_prints_cleanly(status, body, retry_after):
    check_any_answer(status, body, retry_after)


@pytest.mark.soak
@SOAK
@given(status=STATUS_CODES, body=BODIES, retry_after=RETRY_AFTER)
def test_any_answer_soak(status, body, retry_after):
    check_any_answer(status, body, retry_after)


@given(value=RETRY_AFTER)
@FAST
def test_any_retry_after_header_is_a_bounded_delay_or_none(value):
    delay = parse_retry_after(value, now=1_764_300_000.0)
    assert delay is None or 0 <= delay <= 86_400


# ---- what the server says, printed on a terminal -------------------------------------------------

ESCAPES = ["\x1b[2J", "\x1b]0;pwned\x07", "\x1b[31m", "\r", "\x08", "\x9b1m", "\u202e", "\x00"]
NASTY_TEXT = st.one_of(
    st.sampled_from(ESCAPES).map(lambda escape: f"before{escape}after"),
    st.text(max_size=30),
)


def check_printed_cleanly(status: str, model: str, error: str, video_url: str, label: str) -> None:
    raw = {
        "id": TASK_ID,
        "status": status,
        "model": model,
        "error": error,
        "video_url": video_url,
        "created": 1_764_299_000,
    }
    try:
        task = parse_task(json.dumps(raw), TASK_ID)
    except ApiError:
        return  # a status of only spaces is no answer: tested in test_models
    now = 1_764_300_000.0
    tracked = TrackedTask(id=TASK_ID, added_at=now - 60, label=label).with_answer(task, now)
    printed = [
        render_status_table([QueryResult(TASK_ID, task=task)], now=now),
        render_tracked_table([tracked], now=now),
        change_line(None, tracked, now) or "",
    ]
    for text in printed:
        assert all(char.isprintable() for char in text.replace("\n", "")), repr(text)
        assert text.count("\n") <= 1  # a header and one row: nothing in the answer started a new line
    # The dashboard's table draws each cell as it is given to the terminal.
    for column in COLUMNS:
        cell = fit(cell_text(column.key, tracked, now, {}), column.width or 40)
        assert all(char.isprintable() for char in cell), (column.key, cell)


@FAST
@given(status=NASTY_TEXT, model=NASTY_TEXT, error=NASTY_TEXT, video_url=NASTY_TEXT, label=NASTY_TEXT)
def test_text_from_the_server_never_reaches_the_terminal_as_control_characters(
    status, model, error, video_url, label
):
    check_printed_cleanly(status, model, error, video_url, label)


@pytest.mark.soak
@SOAK
@given(status=NASTY_TEXT, model=NASTY_TEXT, error=NASTY_TEXT, video_url=NASTY_TEXT, label=NASTY_TEXT)
def test_text_from_the_server_printed_cleanly_soak(status, model, error, video_url, label):
    check_printed_cleanly(status, model, error, video_url, label)
