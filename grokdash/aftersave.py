"""The `on_saved` setting: a program of the user's run after each video is saved.

The template is split into arguments first (POSIX shell quoting rules) and the placeholders are filled
in inside each argument afterwards, so a file name holding spaces, quotes or `;` is always one
argument, and no shell ever reads it. The program is started and left running (it may be a player that
stays open); how it ended is only logged.
"""

from __future__ import annotations

import logging
import shlex
import string
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from grokdash.errors import printable, safe_snippet

log = logging.getLogger(__name__)

PLACEHOLDERS = ("file", "id", "label", "json")
"""What a template may name, as `{file}`; `{{` and `}}` are literal braces."""
_KNOWN = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)

Spawn = Callable[[list[str]], "subprocess.Popen[bytes]"]
"""Starts an argument list; raises OSError (or ValueError) when it cannot."""


def _pieces(word: str) -> list[tuple[str, str | None]]:
    """`word` as (literal text, placeholder name or None) pairs. Raises ValueError naming the problem."""
    try:
        parsed = list(string.Formatter().parse(word))
    except ValueError:  # a lone `{` or `}`
        raise ValueError(
            f"has a lone brace in {safe_snippet(word, 40)} (write {{{{ or }}}} for a brace)"
        ) from None
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            pieces.append((literal, None))
            continue
        # `{file.x}`, `{file!r}`, `{file:>9}` are Python's, not ours: never evaluated, refused.
        whole = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
        if name not in PLACEHOLDERS or spec or conversion:
            raise ValueError(f"has an unknown placeholder {{{printable(whole)}}} (known: {_KNOWN})")
        pieces.append((literal, name))
    return pieces


def _split(template: str) -> list[list[tuple[str, str | None]]]:
    """The template's arguments, each as pieces. Raises ValueError with what is wrong."""
    if "\x00" in template:  # no program can receive it: it would fail at every save instead of now
        raise ValueError("must not hold a NUL character")
    try:
        words = shlex.split(template)
    except ValueError:
        raise ValueError("must be a program and its arguments, with every quote closed") from None
    if not words or not words[0]:
        raise ValueError("must name a program")
    arguments = [_pieces(word) for word in words]
    if any(name is not None for _, name in arguments[0]):
        # The program is the user's choice, never a file a server named: `{file}` would run the video.
        raise ValueError("must name its program itself: a placeholder cannot be the program")
    return arguments


def check_template(text: str) -> str | None:
    """What is wrong with `text` as an on_saved template, worded to follow the setting's name
    ("must name a program", "has an unknown placeholder {x} …"), or None when it can be used."""
    try:
        _split(text)
    except ValueError as exc:
        return str(exc)
    return None


def command_for(
    template: str, *, file: Path, task_id: str, label: str | None, json_path: Path | None
) -> list[str]:
    """The argument list `template` stands for once the placeholders are filled in: `{label}` is empty
    without a label, `{json}` empty without a sidecar. Raises ValueError for a bad template."""
    values: Mapping[str, str] = {
        "file": str(file),
        "id": task_id,
        "label": label or "",
        "json": "" if json_path is None else str(json_path),
    }
    return [
        "".join(literal + ("" if name is None else values[name]) for literal, name in word)
        for word in _split(template)
    ]


def start(argv: list[str]) -> subprocess.Popen[bytes]:
    """Start `argv` detached from grokdash: no shell, no terminal input or output (the dashboard owns the
    screen), its own session (a Ctrl+C meant for grokdash does not reach it)."""
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        start_new_session=True,
    )


def wait_and_log(process: subprocess.Popen[bytes], program: str) -> int:
    """Wait for `process` and log how it ended when that was not a success. Returns its exit code."""
    code = process.wait()
    if code != 0:
        log.warning("the on_saved program %s exited with code %s", printable(program), code)
    return code


def _start_problem(program: str, exc: Exception) -> str:
    shown = safe_snippet(program, 80)
    if isinstance(exc, FileNotFoundError):
        return f"the on_saved program {shown} was not found"
    if isinstance(exc, PermissionError):
        return f"the on_saved program {shown} cannot be run: permission denied"
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    return f"the on_saved program {shown} could not be started: {reason}"


def run_on_saved(
    template: str,
    *,
    file: Path,
    task_id: str,
    label: str | None,
    json_path: Path | None,
    spawn: Spawn = start,
) -> str | None:
    """Start the on_saved program for a video just saved, without waiting for it (a thread waits and logs
    a failure). Returns one sentence when it could not be started, else None. Never raises: a
    program of the user's must not stop a save. `spawn` is for tests (to hold the process and wait)."""
    try:
        argv = command_for(template, file=file, task_id=task_id, label=label, json_path=json_path)
    except ValueError as exc:  # checked when the settings were read; this is a caller's unchecked one
        problem = f"the on_saved setting {exc}"
        log.warning("%s", problem)
        return problem
    try:
        process = spawn(argv)
    except Exception as exc:  # OSError mostly; ValueError for an argument the system cannot pass
        problem = _start_problem(argv[0], exc)
        log.warning("%s (for task %s)", problem, printable(task_id))
        return problem
    threading.Thread(
        target=wait_and_log, args=(process, argv[0]), name=f"on_saved {argv[0]}", daemon=True
    ).start()
    return None


class OnSavedReporter:
    """Lets a caller show each on_saved problem once: the dashboard says it the first time, and after
    that it is only in the log (`run_on_saved` logs every one). Safe to share between threads."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def report(self, problem: str | None) -> str | None:
        """`problem` the first time it is reported, None after (and for None)."""
        if problem is None:
            return None
        with self._lock:
            if problem in self._seen:
                return None
            self._seen.add(problem)
        return problem
