"""What happened since the dashboard opened, newest first: the events screen's list (`e`).

Pop-ups come and go, and several close together are one; this keeps every one of them, with the time,
so a user back from lunch can read what finished, what was saved and what went wrong meanwhile.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

KEPT = 2000
"""Events kept at most: the oldest go first (a day of a busy render farm is a few thousand)."""


@dataclass(frozen=True, slots=True)
class Event:
    at: float
    """Unix seconds."""
    kind: str
    """completed, failed, saved, not saved, problem, fixed."""
    task_id: str | None
    text: str


class EventLog:
    def __init__(self, kept: int = KEPT) -> None:
        self._events: deque[Event] = deque(maxlen=kept)
        self.added = 0
        """Events added since the start (the kept ones may be fewer): it changes with every event."""

    def add(self, at: float, kind: str, task_id: str | None, text: str) -> None:
        self._events.append(Event(at, kind, task_id, text))
        self.added += 1

    def newest_first(self) -> list[Event]:
        return list(reversed(self._events))

    def __len__(self) -> int:
        return len(self._events)
