"""Output that cannot be written, as a shell sets it up for the real command: a full device (`> /dev/full`),
a pipe whose reader is gone (`| head -1`), a standard output closed at the start (`>&-`), and an output
encoding that has not every character of a label (`PYTHONIOENCODING=latin-1`). Never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cli import run_cli

COMMAND_TIMEOUT = 120.0
"""Seconds a command may take on a loaded machine: a bound on a hang, not a measure."""
MANY = 3000
"""Tasks enough that `ls` prints well past a pipe's buffer (64 KiB on Linux): the command is still
writing when the reader goes."""
LABEL = "кот 🐱"

needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
needs_sh = pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell to close stdout with")
OUTPUT_COMMANDS = [["ls"], ["ls", "--json"], ["export"], ["export", "--format", "csv"]]


def grokdash(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess[bytes]:
    """The real command in a process of its own; `env` on top of this test's (its own HOME folders)."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "grokdash", *args],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=COMMAND_TIMEOUT,
        check=False,
        **kwargs,
    )


@pytest.fixture
def many(env: dict[str, str]) -> dict[str, str]:
    ids = " ".join(f"task-{n:05d}" for n in range(MANY))
    assert run_cli(["add", "-", "--label", "kite"], env, stdin=ids).exit_code == 0
    return env


@pytest.fixture
def closed_pipe() -> Iterator[int]:
    """The write end of a pipe whose read end is closed already: every write to it fails (EPIPE)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    yield write_end
    os.close(write_end)


@needs_dev_full
@pytest.mark.parametrize("args", OUTPUT_COMMANDS, ids=" ".join)
def test_a_full_device_is_one_sentence_and_exit_1(many, args):
    with open("/dev/full", "wb") as full:
        result = grokdash(args, many, stdout=full)
    assert result.stderr.decode() == "grokdash: could not write the output (No space left on device)\n"
    assert result.returncode == 1


@needs_dev_full
def test_a_full_device_under_help_is_one_sentence_too(env):
    with open("/dev/full", "wb") as full:
        result = grokdash(["--help"], env, stdout=full)
    assert result.stderr.decode() == "grokdash: could not write the output (No space left on device)\n"
    assert result.returncode == 1


@pytest.mark.parametrize("args", OUTPUT_COMMANDS, ids=" ".join)
def test_a_pipe_closed_by_its_reader_ends_the_command_quietly(many, closed_pipe, args):
    result = grokdash(args, many, stdout=closed_pipe)
    # No traceback, no "Exception ignored" at the interpreter's exit: nothing at all.
    assert result.stderr.decode() == ""
    assert result.returncode == 1  # what was to be printed was not: a script can tell


def test_ls_piped_into_head_shows_the_first_line_and_no_error(many):
    """`grokdash ls | head -1`: the reader takes a line and goes while the command is still writing."""
    process = subprocess.Popen(
        [sys.executable, "-m", "grokdash", "ls"],
        env={**os.environ, **many},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        first = process.stdout.readline().decode()
        process.stdout.close()
        stderr = process.stderr.read().decode()
        process.wait(timeout=COMMAND_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    assert first.split()[:3] == ["ID", "STATUS", "MODEL"]
    assert stderr == ""


@needs_sh
def test_a_closed_standard_output_is_one_sentence_and_exit_1(many):
    closed = ["sh", "-c", 'exec "$0" "$@" >&-', sys.executable, "-m", "grokdash", "ls"]
    result = subprocess.run(
        closed,
        env={**os.environ, **many},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=COMMAND_TIMEOUT,
    )
    assert result.stderr.decode() == "grokdash: could not write the output (standard output is closed)\n"
    assert result.returncode == 1


@pytest.fixture
def labelled(env: dict[str, str]) -> dict[str, str]:
    assert run_cli(["add", "cat-1", "--label", LABEL], env).exit_code == 0
    return {**env, "PYTHONIOENCODING": "latin-1"}


def test_characters_the_encoding_has_not_come_out_replaced_in_the_table(labelled):
    result = grokdash(["ls"], labelled)
    assert result.stderr.decode("latin-1") == ""
    assert result.returncode == 0
    row = result.stdout.decode("latin-1").splitlines()[1]
    assert row.split()[0] == "cat-1" and "??? ?" in row


@pytest.mark.parametrize("args", [["ls", "--json"], ["export"]], ids=" ".join)
def test_characters_the_encoding_has_not_come_out_replaced_in_json(labelled, args):
    result = grokdash(args, labelled)
    assert result.stderr.decode("latin-1") == ""
    assert result.returncode == 0
    printed = json.loads(result.stdout.decode("latin-1"))
    tasks = printed if isinstance(printed, list) else printed["tasks"]
    assert [(task["id"], task["label"]) for task in tasks] == [("cat-1", "??? ?")]


def test_the_label_is_kept_whole_in_the_database(labelled, db: Path):
    """Only what is shown is replaced: the label itself is not touched."""
    assert grokdash(["ls"], labelled).returncode == 0
    env = {key: value for key, value in labelled.items() if key != "PYTHONIOENCODING"}
    listed = json.loads(run_cli(["ls", "--json"], env).stdout)
    assert [task["label"] for task in listed] == [LABEL]
