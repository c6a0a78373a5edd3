"""A log file that cannot be written never puts a traceback on the user's terminal: the records are
dropped (Python's last-resort handler would print warnings and tracebacks on standard error)."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import logging
from grokdash.logs import setup_logging
assert setup_logging(None) is None
try:
    raise ValueError("the details")
except ValueError:
    logging.getLogger("grokdash.test").exception("a failure with a traceback")
"""


def test_an_unwritable_log_folder_drops_the_records_silently(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")  # the state folder would have to be made inside a file
    env = {**os.environ, "XDG_STATE_HOME": str(blocked / "state")}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and result.stdout == ""
