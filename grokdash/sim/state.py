"""Task state for the simulator: a thread-safe table of tasks whose status follows an injected clock.

Nothing here sleeps or reads the real time: status is a pure function of (created, now, timings), so tests
advance a fake clock instead of waiting.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from grokdash.rules import MODELS, CreateRequest
from grokdash.sim.scenarios import scenario_for

DEFAULT_MODEL = "grok_video3"
FAILURE_MESSAGE = "content moderation: the prompt was refused"
UNDOCUMENTED_STATUS = "moderated"
FAIL_MARKER = "[fail]"
"""A create request whose prompt contains this makes a task that ends failed."""

TokenState = Literal["valid", "expired", "bad_token", "no_task"]
Expiry = Literal["never", "always", "first"]


@dataclass(frozen=True)
class Timings:
    """How long a task stays in each active status, in seconds of the simulator's clock."""

    queued_seconds: float = 3.0
    processing_seconds: float = 12.0


DEFAULT_TIMINGS = Timings()


def status_at(elapsed: float, timings: Timings, outcome: str) -> str:
    """The status of a task `elapsed` seconds after its creation."""
    if elapsed < timings.queued_seconds:
        return "queued"
    if elapsed < timings.queued_seconds + timings.processing_seconds:
        return "processing"
    return outcome


@dataclass(frozen=True)
class TaskSnapshot:
    """One task as it is at one moment: what an answer is built from."""

    id: str
    model: str
    created: float
    duration: int
    status: str
    error: str | None = None
    token: int | None = None
    """The video URL token handed out with this answer (completed tasks only)."""


@dataclass
class _Task:
    id: str
    model: str
    created: float
    duration: int
    outcome: str
    expiry: Expiry
    queries: int = 0
    tokens: int = 0
    expired: set[int] = field(default_factory=set)


def _outcome_and_expiry(task_id: str) -> tuple[str, Expiry]:
    scenario = scenario_for(task_id)
    outcome = {"fail": "failed", "unknown": UNDOCUMENTED_STATUS}.get(scenario or "", "completed")
    expiry: Expiry = "always" if scenario == "expire" else "first" if scenario == "expireonce" else "never"
    return outcome, expiry


class TaskStore:
    """All tasks the simulator knows, behind one lock (handler threads share it)."""

    def __init__(self, clock: Callable[[], float], timings: Timings = DEFAULT_TIMINGS) -> None:
        self._clock = clock
        self._timings = timings
        self._lock = threading.Lock()
        self._tasks: dict[str, _Task] = {}
        self._created: list[tuple[str, str, float]] = []
        """(id, prompt, when) of each create accepted, in order: what a test checks a batch sent."""

    def created(self) -> list[tuple[str, str, float]]:
        """Every create accepted so far: (the id it made, its prompt, when, on the simulator's clock)."""
        with self._lock:
            return list(self._created)

    def add(
        self,
        task_id: str,
        *,
        model: str = DEFAULT_MODEL,
        created: float | None = None,
        duration: int | None = None,
        fail: bool = False,
    ) -> None:
        """Create (or reset) a task; its scenario comes from its id."""
        outcome, expiry = _outcome_and_expiry(task_id)
        if fail:
            outcome = "failed"
        rules = MODELS.get(model)
        task = _Task(
            id=task_id,
            model=model,
            created=self._clock() if created is None else created,
            duration=duration or (rules.default_duration if rules else 10),
            outcome=outcome,
            expiry=expiry,
        )
        with self._lock:
            self._tasks[task_id] = task

    def create(self, request: CreateRequest) -> TaskSnapshot:
        """A task for an accepted create request, under a fresh id."""
        task_id = f"task_{uuid.uuid4().hex[:20]}"
        self.add(
            task_id,
            model=request.model,
            duration=request.duration,
            fail=FAIL_MARKER in request.prompt,
        )
        with self._lock:
            self._created.append((task_id, request.prompt, self._clock()))
        return self.snapshot(task_id)

    def count_query(self, task_id: str) -> int:
        """Note one more query of the id (creating the task on first sight); return its number, from 1."""
        with self._lock:
            task = self._get_or_create(task_id)
            task.queries += 1
            return task.queries

    def snapshot(self, task_id: str, *, issue_token: bool = False) -> TaskSnapshot:
        """The task now; with `issue_token`, a completed task hands out a fresh video URL token."""
        with self._lock:
            task = self._get_or_create(task_id)
            status = status_at(self._clock() - task.created, self._timings, task.outcome)
            token = None
            if issue_token and status == "completed":
                task.tokens += 1
                token = task.tokens
                if task.expiry == "always" or (task.expiry == "first" and token == 1):
                    task.expired.add(token)
            return TaskSnapshot(
                id=task.id,
                model=task.model,
                created=task.created,
                duration=task.duration,
                status=status,
                error=FAILURE_MESSAGE if status == "failed" else None,
                token=token,
            )

    def token_state(self, task_id: str, token: int | None) -> TokenState:
        """Whether a video URL for the task with this token may be downloaded."""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return "no_task"
            if token is None or not 1 <= token <= task.tokens:
                return "bad_token"
            return "expired" if token in task.expired else "valid"

    def _get_or_create(self, task_id: str) -> _Task:
        # Called with the lock held. An id never seen before is a task created now (the API's ids are
        # opaque, so the simulator cannot tell a typo from a real task; it plays the friendly case).
        task = self._tasks.get(task_id)
        if task is None:
            outcome, expiry = _outcome_and_expiry(task_id)
            task = _Task(task_id, DEFAULT_MODEL, self._clock(), 10, outcome, expiry)
            self._tasks[task_id] = task
        return task
