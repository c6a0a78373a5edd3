"""The log file: in the user's state dir, rotated, and never holding the API key."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from grokdash.config import state_dir
from grokdash.secret import RedactingFormatter, Secret

LOG_FILE_NAME = "grokdash.log"
LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
MAX_LOG_BYTES = 1_000_000
LOG_BACKUPS = 3
"""grokdash.log.1 … .3: the older logs kept beside it."""


class RotatingLog(logging.FileHandler):
    """The log file, moved aside to `.1` (`.1` to `.2`…, the oldest dropped) before a record would take
    it to `max_bytes`: logging.handlers.RotatingFileHandler's rule, written here because that module
    loads socket, pickle and queue, ~6 ms of the start of every command."""

    def __init__(self, path: Path, *, max_bytes: int = MAX_LOG_BYTES, backups: int = LOG_BACKUPS) -> None:
        super().__init__(path, encoding="utf-8")
        self.max_bytes = max_bytes
        self.backups = backups

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._full(record):
                self._rotate()
            super().emit(record)
        except Exception:
            self.handleError(record)

    def _full(self, record: logging.LogRecord) -> bool:
        if os.path.exists(self.baseFilename) and not os.path.isfile(self.baseFilename):
            return False  # a FIFO or /dev/null put there by the user is written to, never moved
        if self.stream is None:
            self.stream = self._open()
        self.stream.seek(0, os.SEEK_END)
        return self.stream.tell() + len(self.format(record)) + 1 >= self.max_bytes

    def _rotate(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None  # type: ignore[assignment]  # reopened below, or by the next record
        for n in range(self.backups - 1, 0, -1):
            older = f"{self.baseFilename}.{n}"
            if os.path.exists(older):
                os.replace(older, f"{self.baseFilename}.{n + 1}")
        if self.backups > 0:
            os.replace(self.baseFilename, f"{self.baseFilename}.1")
        self.stream = self._open()


def log_path() -> Path:
    return state_dir() / LOG_FILE_NAME


def setup_logging(secret: Secret | None, level: int = logging.INFO) -> Path | None:
    """Send grokdash's log records to the log file. Returns its path, or None when it cannot be written
    (logging must never stop the user's command)."""
    path = log_path()
    handler: logging.Handler
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingLog(path)
    except OSError:
        # No file to write to: the records are dropped. Without a handler, Python's last resort would
        # print the warnings, tracebacks and all, on the user's terminal.
        handler, path = logging.NullHandler(), None
    handler.setFormatter(RedactingFormatter(LOG_FORMAT, secret))

    root = logging.getLogger("grokdash")
    root.setLevel(level)
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    # httpx logs every request line at INFO; our own records say what matters.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path
