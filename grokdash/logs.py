"""The log file: in the user's state dir, rotated, and never holding the API key."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from grokdash.config import state_dir
from grokdash.secret import RedactingFormatter, Secret

LOG_FILE_NAME = "grokdash.log"
LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def log_path() -> Path:
    return state_dir() / LOG_FILE_NAME


def setup_logging(secret: Secret | None, level: int = logging.INFO) -> Path | None:
    """Send grokdash's log records to the log file. Returns its path, or None when it cannot be written
    (logging must never stop the user's command)."""
    path = log_path()
    handler: logging.Handler
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
        )
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
