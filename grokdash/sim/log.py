"""The simulator's record of every request it answered, for tests to inspect."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

NO_ANSWER = 0
"""The status recorded for a request the server deliberately never answers (the hang scenario)."""


@dataclass(frozen=True)
class RequestRecord:
    time: float
    """When it arrived, on the simulator's clock."""
    method: str
    path: str
    """The raw request target, query string and percent-encoding included."""
    task_id: str | None
    """The decoded task id it was about (a create records the id it made), if any."""
    status: int
    """The HTTP status answered, or NO_ANSWER (0) for a request left hanging."""
    range: str | None
    """The Range header as sent."""
    authorized: bool
    """API endpoints: the Bearer key was accepted. Media: an Authorization header was sent at all."""

    def describe(self) -> str:
        """One line for the simulator's console."""
        clock = time.strftime("%H:%M:%S", time.localtime(self.time))
        answer = "no answer (hang)" if self.status == NO_ANSWER else str(self.status)
        ranged = f"  Range: {self.range}" if self.range else ""
        return f"{clock}  {self.method:<4} {self.path}  -> {answer}{ranged}"


class RequestLog:
    """Thread-safe and bounded, so a long-running `grokdash sim` does not grow without end."""

    def __init__(self, limit: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=limit)

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def for_task(self, task_id: str) -> list[RequestRecord]:
        with self._lock:
            return [record for record in self._records if record.task_id == task_id]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
