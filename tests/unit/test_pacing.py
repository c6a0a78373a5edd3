"""Pacing after a 429: what pace a refusal teaches, and that batches at that pace fit the server's window."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grokdash.pacing import LOOKBACK, Pace, Pacer, learn_pace

T0 = 1_764_300_000.0


@pytest.mark.parametrize(
    ("pace", "batches", "batch"),
    [
        (Pace(100, 10), 5, 20),  # a batch of 20 every 2.1 s
        (Pace(10, 1), 1, 10),  # a short window: the whole allowance at once, once per window
        (Pace(60, 60), 30, 2),
        (Pace(1, 60), 1, 1),
        (Pace(7, 30), 7, 1),  # fewer requests than 2-second slots: one at a time
    ],
)
def test_the_allowance_is_split_into_batches_about_two_seconds_apart(
    pace: Pace, batches: int, batch: int
) -> None:
    assert (pace.batches, pace.batch) == (batches, batch)
    assert pace.gap == pytest.approx(pace.seconds / batches * 1.05)


@given(
    allowed=st.integers(min_value=1, max_value=100_000),
    seconds=st.floats(min_value=0.001, max_value=86_400, allow_nan=False),
)
def test_batches_at_the_pace_never_put_more_than_the_allowance_into_one_window(
    allowed: int, seconds: float
) -> None:
    pace = Pace(allowed, seconds)
    assert pace.batch >= 1
    # Batches start at least `gap` apart, so a window of `seconds` holds at most `batches` of them.
    assert pace.batches * pace.gap > seconds
    assert pace.batches * pace.batch <= allowed
    assert pace.rate <= allowed / seconds


def test_a_burst_refused_after_n_answers_teaches_n_per_the_wait() -> None:
    assert learn_pace([T0] * 50, started=T0, limited_at=T0, wait=10) == Pace(50, 10)
    # Sent over two seconds, the 429 telling to wait 8 more: 50 in the 10 s from the first request.
    assert learn_pace([T0 + n / 25 for n in range(50)], started=T0, limited_at=T0 + 2, wait=8) == Pace(50, 10)


def test_only_the_last_minute_counts() -> None:
    answered = [T0 - 3600, T0 - 1800, *[T0 - 30] * 12]
    assert learn_pace(answered, started=T0 - 3600, limited_at=T0, wait=5) == Pace(12, LOOKBACK + 5)


def test_a_refusal_of_the_first_request_still_paces_at_one_per_wait() -> None:
    assert learn_pace([], started=T0, limited_at=T0, wait=30) == Pace(1, 30)


def test_a_refusal_that_asks_for_no_wait_still_paces_per_second() -> None:
    assert learn_pace([T0] * 40, started=T0, limited_at=T0, wait=0) == Pace(40, 1.0)


def test_nothing_is_paced_until_the_server_refuses() -> None:
    pacer = Pacer()
    for n in range(1000):
        pacer.answered(pacer.sent(T0 + n / 1000), T0 + n / 1000)
    assert pacer.pace is None
    assert pacer.budget(T0 + 1) is None
    assert pacer.not_before is None


def test_after_a_refusal_a_batch_goes_out_then_none_until_the_gap_has_passed() -> None:
    pacer = Pacer()
    tickets = [pacer.sent(T0) for _ in range(28)]
    for ticket in tickets[:20]:
        pacer.answered(ticket, T0)
    assert pacer.limited(tickets[20], T0, wait=10) == Pace(20, 10)
    assert pacer.budget(T0 + 10) == 4  # a batch of 20 / 5 once the wait is over
    for _ in range(4):
        pacer.sent(T0 + 10)
    assert pacer.budget(T0 + 10) == 0
    assert pacer.not_before == pytest.approx(T0 + 12.1)
    assert pacer.budget(T0 + 12.09) == 0
    assert pacer.budget(T0 + 12.1) == 4


def test_requests_in_flight_when_the_429_came_neither_count_nor_teach_a_second_pace() -> None:
    pacer = Pacer()
    tickets = [pacer.sent(T0) for _ in range(30)]
    for ticket in tickets[:20]:
        pacer.answered(ticket, T0)
    pace = pacer.limited(tickets[20], T0, wait=10)
    for ticket in tickets[21:25]:  # the other refusals of that burst
        assert pacer.limited(ticket, T0, wait=10) is None
    for ticket in tickets[25:]:  # late answers of that burst
        pacer.answered(ticket, T0 + 0.1)
    assert pacer.pace == pace
    # The next stretch starts with the next request, and counts only its own answers.
    ticket = pacer.sent(T0 + 10)
    pacer.answered(ticket, T0 + 10)
    assert pacer.limited(pacer.sent(T0 + 10), T0 + 10, wait=10) == Pace(1, 10)


def test_answers_that_may_not_have_reached_the_server_do_not_count() -> None:
    pacer = Pacer()
    for kind in ("network", "timeout", "not_found", "server"):
        pacer.answered(pacer.sent(T0), T0, kind)
    pacer.answered(pacer.sent(T0), T0)
    assert pacer.limited(pacer.sent(T0), T0, wait=10) == Pace(3, 10)
