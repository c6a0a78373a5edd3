"""A server-wide rate limit for the simulator, as the real service limits an API key's request rate.

A sliding window per key: at most `requests` answered in any `seconds`. A request beyond it is refused
with 429 and a Retry-After of the whole seconds until the oldest request in the window leaves it (the
moment the next request would be let through). Refused requests do not use up the allowance, so a client
that waits as told always gets through.

The clock is injected (the simulator's), so tests drive the window with a fake clock.
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

_SPEC = re.compile(r"\s*(\d+)\s*(?:/\s*(\d+(?:\.\d*)?|\.\d+)\s*)?")


@dataclass(frozen=True)
class RateLimit:
    """At most `requests` per `seconds`, per API key."""

    requests: int
    seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.requests < 1:
            raise ValueError("a rate limit allows at least 1 request")
        if not self.seconds > 0:
            raise ValueError("a rate limit's window must be longer than 0 seconds")

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """`N` (per second) or `N/SECONDS`, e.g. `10`, `100/60`, `5/0.5`."""
        match = _SPEC.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not N or N/SECONDS (e.g. 10 or 100/60)")
        return cls(int(match[1]), float(match[2]) if match[2] else 1.0)

    def describe(self) -> str:
        return f"{self.requests} requests per {self.seconds:g} s per key"


def retry_after_header(wait: float) -> str:
    """Retry-After in whole seconds, rounded up so a client that waits exactly that long gets in
    (rounded to microseconds first, so float noise does not add a second)."""
    return str(max(1, math.ceil(round(wait, 6))))


class RateLimiter:
    """Admits or refuses requests under one RateLimit; thread-safe (handler threads share it)."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._admitted: dict[str, deque[float]] = {}

    def admit(self, key: str) -> float | None:
        """Count a request of `key` now and return None; or, over the limit, the seconds until the
        window has room again (the request is then not counted)."""
        now = self._clock()
        with self._lock:
            times = self._admitted.setdefault(key, deque())
            # A request admitted `seconds` ago or earlier has left the window.
            while times and times[0] <= now - self.limit.seconds:
                times.popleft()
            if len(times) >= self.limit.requests:
                return times[0] + self.limit.seconds - now
            times.append(now)
            return None


__all__ = ["RateLimit", "RateLimiter", "retry_after_header"]
