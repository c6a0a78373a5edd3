"""The log file is rotated as logging.handlers.RotatingFileHandler would (logs.RotatingLog does it
without importing that module): moved aside before a record would take it to the limit, the older
ones shifted, the oldest dropped; a file that is not a regular one is written to, never moved."""

from __future__ import annotations

import logging
from pathlib import Path

from grokdash.logs import RotatingLog


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("grokdash.test", logging.INFO, __file__, 1, message, None, None)


def write(handler: RotatingLog, *messages: str) -> None:
    for message in messages:
        handler.handle(record(message))


def test_the_log_is_moved_aside_before_it_would_pass_the_limit(tmp_path: Path):
    path = tmp_path / "grokdash.log"
    handler = RotatingLog(path, max_bytes=25, backups=2)
    try:
        write(handler, "one " * 2, "two " * 2, "three " * 2, "four " * 2, "five " * 2)
    finally:
        handler.close()

    # Lines of 9 to 13 bytes: a file takes what fits under 25 bytes, the next record starts a new one.
    assert path.read_text() == "five five \n"
    assert Path(f"{path}.1").read_text() == "three three \nfour four \n"
    assert Path(f"{path}.2").read_text() == "one one \ntwo two \n"
    assert not Path(f"{path}.3").exists()  # the oldest, dropped


def test_the_same_records_rotate_as_the_standard_library_rotates_them(tmp_path: Path):
    import logging.handlers

    ours, theirs = tmp_path / "ours" / "grokdash.log", tmp_path / "theirs" / "grokdash.log"
    ours.parent.mkdir()
    theirs.parent.mkdir()
    handlers: list[logging.Handler] = [
        RotatingLog(ours, max_bytes=200, backups=3),
        logging.handlers.RotatingFileHandler(theirs, maxBytes=200, backupCount=3, encoding="utf-8"),
    ]
    try:
        for n in range(60):
            for handler in handlers:
                handler.handle(record(f"record {n} " + "é" * (n % 7)))
    finally:
        for handler in handlers:
            handler.close()

    names = sorted(path.name for path in ours.parent.iterdir())
    assert names == sorted(path.name for path in theirs.parent.iterdir())
    assert names == ["grokdash.log", "grokdash.log.1", "grokdash.log.2", "grokdash.log.3"]
    for name in names:
        assert (ours.parent / name).read_text() == (theirs.parent / name).read_text()


def test_a_log_that_is_not_a_regular_file_is_never_moved(tmp_path: Path):
    path = tmp_path / "grokdash.log"
    path.symlink_to("/dev/null")
    handler = RotatingLog(path, max_bytes=10, backups=2)
    try:
        write(handler, "a record longer than ten bytes", "another one")
    finally:
        handler.close()
    assert path.is_symlink()
    assert not Path(f"{path}.1").exists()
