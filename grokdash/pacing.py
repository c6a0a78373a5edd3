"""Staying under the server's rate limit once it has shown one.

A 429 says "too fast" and, with Retry-After, when the server will listen again; it does not say how fast
is allowed. What the server let through before refusing does: `allowed` requests answered in the stretch
that ran from its first request to the end of the wait (`seconds`). Were every due task asked about the
moment the wait is over, the server would refuse all but that many again, wait after wait. So from the
first 429 on, polling goes out in batches of `allowed / k`, each batch at least `seconds / k` (a little
more) after the last request of the one before: no span of `seconds` then holds more than `allowed`
requests, and the rounds stay short enough for the screen to show answers as they come.

Plain bookkeeping on an injected `now`: no sleeping here; the poller asks for a budget per round and
`not_before` tells its driver when the next batch may go.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

TARGET_GAP = 2.0
"""Seconds between paced batches, roughly: often enough that answers keep coming, rarely enough that
each round's one database write stays cheap."""
SLACK = 0.05
"""Batches are spaced 5% wider than the server's window needs, so timing jitter does not put one batch
too many into a window."""
LOOKBACK = 60.0
"""Only the answers of the last minute count when learning a pace: a quiet hour before a 429 says
nothing about the server's window."""
SHORTEST_WINDOW = 1.0
"""Seconds: a 429 with no wait (Retry-After: 0) still paces to at most what got through per second."""
UNCOUNTED_KINDS = frozenset({"rate_limited", "network", "timeout"})
"""Outcomes that may never have reached the server, or were refused: they did not use up its allowance."""


@dataclass(frozen=True, slots=True)
class Pace:
    """The server let `allowed` requests through in `seconds`: send no more than that in any such span."""

    allowed: int
    seconds: float

    @property
    def batches(self) -> int:
        """How many batches the allowance of one span is split into."""
        return max(1, min(self.allowed, round(self.seconds / TARGET_GAP)))

    @property
    def batch(self) -> int:
        """Requests per batch: `batches` of them never exceed `allowed`."""
        return self.allowed // self.batches

    @property
    def gap(self) -> float:
        """Seconds from the last request of a batch to the first of the next."""
        return self.seconds / self.batches * (1.0 + SLACK)

    @property
    def rate(self) -> float:
        """Requests per second, at most."""
        return self.batch / self.gap

    def describe(self) -> str:
        return f"{self.batch} requests every {self.gap:.1f} s"


def learn_pace(answered: list[float], started: float, limited_at: float, wait: float) -> Pace:
    """The pace shown by a stretch of requests that began at `started`, had answers at `answered` (times)
    and was refused at `limited_at` with a wait of `wait` seconds."""
    since = max(started, limited_at - LOOKBACK)
    allowed = sum(1 for at in answered if at >= since)
    # At least one: a refusal of the very first request still says "one per this long" at most.
    return Pace(allowed=max(1, allowed), seconds=max(limited_at + wait - since, SHORTEST_WINDOW))


class Pacer:
    """Keeps the stretch since the last 429 and, once the server has refused, the pace it showed.

    Each request gets a ticket naming its stretch: answers and refusals of requests still in flight when
    a 429 arrived belong to the stretch that 429 ended, and neither count twice nor teach a second pace.
    """

    def __init__(self) -> None:
        self.pace: Pace | None = None
        """None until the first 429: until then the server has shown no limit, and polling is not paced."""
        self._stretch = 0
        self._started: float | None = None
        self._answered: deque[float] = deque()
        self._last_sent: float | None = None

    @property
    def not_before(self) -> float | None:
        """When the next paced batch may go out; None when not paced."""
        if self.pace is None or self._last_sent is None:
            return None
        return self._last_sent + self.pace.gap

    def budget(self, now: float) -> int | None:
        """How many requests a round starting now may send: None for any number (not paced)."""
        if self.pace is None:
            return None
        not_before = self.not_before
        return self.pace.batch if not_before is None or now >= not_before else 0

    def sent(self, at: float) -> int:
        """A request goes out now: returns its ticket."""
        if self._started is None:
            self._started = at
        self._last_sent = at
        return self._stretch

    def answered(self, ticket: int, at: float, kind: str | None = None) -> None:
        """The server answered the request (`kind`: the error kind of an unsuccessful answer)."""
        if ticket != self._stretch or kind in UNCOUNTED_KINDS:
            return
        self._answered.append(at)
        while self._answered and self._answered[0] < at - LOOKBACK:
            self._answered.popleft()

    def limited(self, ticket: int, at: float, wait: float) -> Pace | None:
        """The server refused the request and asked for `wait` seconds: learn the pace it showed and start
        a new stretch. Returns the new pace, or None for a refusal of a stretch already accounted for."""
        if ticket != self._stretch or self._started is None:
            return None
        self.pace = learn_pace(list(self._answered), self._started, at, wait)
        self._stretch += 1
        self._started = None
        self._answered.clear()
        return self.pace


__all__ = ["LOOKBACK", "SLACK", "TARGET_GAP", "Pace", "Pacer", "learn_pace"]
