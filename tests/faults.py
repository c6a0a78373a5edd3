"""The fault matrix as data: every way the API, or the road to it, goes wrong, and what a user should see.

One table, read by the three surfaces' tests, so "N faults × 3 surfaces" is a fact of the code:
    tests/integration/test_fault_matrix.py      `grokdash status`, `grokdash watch` (--once and many rounds)
    tests/tui/test_fault_matrix_dashboard.py    the dashboard

A fault is chosen by a task id (the simulator's scenarios, see `grokdash sim --help`), by a wrong key, or
by a server that is not there.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType

from grokdash.sim import API_PREFIX, SimServer

READ_TIMEOUT = 0.5
"""The client's read timeout in the matrix (seconds); the `sim` fixture's slow answers take 1 s."""
HEALTHY = "good-1"
"""A normal task tracked beside every fault: it must complete whatever the faulty one does."""
WRONG_KEY = "wrong-key"
SENTENCE_LIMIT = 240
"""An error sentence longer than this is a page, not a sentence."""


class Scope(StrEnum):
    """Whom a fault hits."""

    TASK = "task"
    """Only the id that names the scenario."""
    KEY = "key"
    """Every request made with the key: a wrong key."""
    SERVER = "server"
    """Every request: nothing listens at the base URL (connection refused)."""


class Course(StrEnum):
    """What polling a faulty task for a while comes to."""

    BACKS_OFF = "backs off"
    """The error repeats; the task is asked at growing gaps, the others carry on."""
    GONE = "gone"
    """Not found three times running: no longer asked by itself."""
    RECOVERS = "recovers"
    """Errors now and then; the task completes anyway."""
    FINAL = "final"
    """Not an error: the answer is read (tolerance) and the task ends in `final_status`."""
    STOPS = "stops"
    """Polling cannot succeed: it stops (watch) or pauses (dashboard) and says why."""
    OUTAGE = "outage"
    """Every task fails until the server is back, then they complete."""


@dataclass(frozen=True)
class Fault:
    name: str
    """The readable test id."""
    task_id: str
    """The id that shows the fault (for KEY and SERVER scope, any plain id: they all show it)."""
    kind: str | None
    """The `query_error` kind of the first query; None when the answer is read as a task."""
    says: str
    """Words of the sentence the user reads: the query error's, or (kind None) the task's outcome."""
    course: Course = Course.BACKS_OFF
    scope: Scope = Scope.TASK
    final_status: str | None = None
    """The status it ends in, for FINAL and RECOVERS."""
    expired_url: str | None = None
    """FINAL tasks whose video URLs expire: "always" (saving fails, said plainly) or "once" (saving
    asks for a fresh URL and succeeds)."""

    @property
    def ids(self) -> list[str]:
        """What a test tracks: the faulty id and a healthy one."""
        return [self.task_id, HEALTHY]

    @property
    def hit(self) -> list[str]:
        """The ids the fault shows on."""
        return self.ids if self.scope is not Scope.TASK else [self.task_id]


FAULTS: tuple[Fault, ...] = (
    Fault(
        "404-not-found", "notfound-1", "not_found", "task 'notfound-1' was not found (HTTP 404)", Course.GONE
    ),
    Fault(
        "401-wrong-key",
        "plain-1",
        "auth",
        "the API key was refused (HTTP 401)",
        Course.STOPS,
        Scope.KEY,
    ),
    Fault(
        "429-retry-after-seconds",
        "ratelimit-1",
        "rate_limited",
        "rate limited by the server (HTTP 429); retry after 2 s",
    ),
    # An HTTP date is read against the wall clock: 1 or 2 s, never a fraction (see assert_one_sentence).
    Fault(
        "429-retry-after-date",
        "ratelimitdate-1",
        "rate_limited",
        "rate limited by the server (HTTP 429); retry after ",
    ),
    Fault(
        "500-flaky",
        "flaky-1",
        "server",
        "the server failed (HTTP 500)",
        Course.RECOVERS,
        final_status="completed",
    ),
    Fault("502-html-page", "html-1", "server", "the server failed (HTTP 502)"),
    Fault("truncated-json", "truncated-1", "protocol", "the answer is not valid JSON"),
    Fault(
        "slow-beyond-timeout", "slow-1", "timeout", f"no answer for task 'slow-1' within {READ_TIMEOUT:g} s"
    ),
    Fault(
        "hang-never-answers", "hang-1", "timeout", f"no answer for task 'hang-1' within {READ_TIMEOUT:g} s"
    ),
    Fault(
        "connection-refused",
        "plain-1",
        "network",
        "connection refused",
        Course.OUTAGE,
        Scope.SERVER,
        final_status="completed",
    ),
    Fault("unknown-status", "unknown-1", None, "moderated", Course.FINAL, final_status="moderated"),
    Fault("wrapped-answer", "wrapped-1", None, "completed", Course.FINAL, final_status="completed"),
    Fault("numbers-as-strings", "strings-1", None, "completed", Course.FINAL, final_status="completed"),
    Fault(
        "another-tasks-id",
        "mismatch-1",
        "protocol",
        "asked for task 'mismatch-1' but the answer is about 'other-mismatch-1'",
    ),
    Fault("no-status", "nostatus-1", "protocol", "the answer has no status"),
    Fault(
        "expired-video-url",
        "expire-1",
        None,
        "has expired",
        Course.FINAL,
        final_status="completed",
        expired_url="always",
    ),
    Fault(
        "expired-video-url-once",
        "expireonce-1",
        None,
        "completed",
        Course.FINAL,
        final_status="completed",
        expired_url="once",
    ),
    Fault(
        "task-failed",
        "fail-1",
        None,
        "content moderation: the prompt was refused",
        Course.FINAL,
        final_status="failed",
    ),
)
FAULT_IDS = [fault.name for fault in FAULTS]


def assert_one_sentence(text: str | None, says: str) -> None:
    """What a user reads about a failure: one short printable line with the expected words, not a page
    and not a traceback."""
    assert text, "no sentence at all"
    assert says in text, f"{says!r} not in {text!r}"
    assert "\n" not in text and len(text) <= SENTENCE_LIMIT, f"not one line: {text!r}"
    assert text.isprintable(), f"control characters in {text!r}"
    assert "Traceback" not in text and "Error(" not in text, f"a programmer's message: {text!r}"
    assert not re.search(r"\d\.\d{3,}", text), f"a number a person does not read: {text!r}"


class LateServer:
    """A simulator that is not up yet: its port is held by a socket that does not listen, so every
    request is refused at once (ECONNREFUSED, not a timeout); `start()` frees the port and serves on it,
    with the settings of `like` (the `sim` fixture's clock, key and timings)."""

    def __init__(self, like: SimServer) -> None:
        self._like = like
        self._hold = socket.socket()
        self._hold.bind(("127.0.0.1", 0))
        self.port: int = self._hold.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}{API_PREFIX}"
        self.sim: SimServer | None = None

    def start(self) -> SimServer:
        self._hold.close()
        like = self._like
        self.sim = SimServer(
            port=self.port,
            clock=like.clock,
            key=like.key,
            timings=like.timings,
            slow_seconds=like.slow_seconds,
        ).start()
        return self.sim

    def close(self) -> None:
        self._hold.close()
        if self.sim is not None:
            self.sim.stop()

    def __enter__(self) -> LateServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
