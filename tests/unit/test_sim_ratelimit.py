"""The simulator's key-wide rate limit, on a fake clock: what it admits, what it refuses, and for how long."""

from __future__ import annotations

import pytest

from grokdash.sim.ratelimit import RateLimit, RateLimiter, retry_after_header
from tests.conftest import FakeClock


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("10", RateLimit(10, 1.0)),
        ("100/60", RateLimit(100, 60.0)),
        ("5/0.5", RateLimit(5, 0.5)),
        (" 3 / 2 ", RateLimit(3, 2.0)),
    ],
)
def test_a_limit_is_written_as_requests_per_seconds(text: str, limit: RateLimit) -> None:
    assert RateLimit.parse(text) == limit


@pytest.mark.parametrize("text", ["", "abc", "0", "0/10", "10/0", "-1/5", "1/x", "10 per minute", "1/2/3"])
def test_a_limit_that_means_nothing_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match=r"N or N/SECONDS|at least 1 request|longer than 0"):
        RateLimit.parse(text)


def test_the_allowance_is_used_up_and_then_refused_until_the_window_has_room(clock: FakeClock) -> None:
    limiter = RateLimiter(RateLimit(3, 10), clock)
    assert [limiter.admit("k") for _ in range(3)] == [None, None, None]
    assert limiter.admit("k") == 10
    clock.advance(9.5)
    assert limiter.admit("k") == pytest.approx(0.5)
    clock.advance(0.5)
    assert limiter.admit("k") is None


def test_the_window_slides_a_request_at_a_time(clock: FakeClock) -> None:
    limiter = RateLimiter(RateLimit(2, 10), clock)
    assert limiter.admit("k") is None
    clock.advance(4)
    assert limiter.admit("k") is None
    clock.advance(4)
    assert limiter.admit("k") == pytest.approx(2)  # the first leaves the window at 10 s
    clock.advance(2)
    assert limiter.admit("k") is None
    assert limiter.admit("k") == pytest.approx(4)  # now the one made at 4 s is the oldest


def test_refused_requests_do_not_use_up_the_allowance(clock: FakeClock) -> None:
    limiter = RateLimiter(RateLimit(1, 5), clock)
    assert limiter.admit("k") is None
    for _ in range(100):
        assert limiter.admit("k") is not None
    clock.advance(5)
    assert limiter.admit("k") is None


def test_each_key_has_its_own_allowance(clock: FakeClock) -> None:
    limiter = RateLimiter(RateLimit(1, 5), clock)
    assert limiter.admit("alice") is None
    assert limiter.admit("bob") is None
    assert limiter.admit("alice") == 5


@pytest.mark.parametrize(
    ("wait", "header"),
    [(10.0, "10"), (9.999999999, "10"), (10.0000000001, "10"), (0.2, "1"), (2.5, "3"), (0.0, "1")],
)
def test_retry_after_is_whole_seconds_never_too_early(wait: float, header: str) -> None:
    assert retry_after_header(wait) == header
