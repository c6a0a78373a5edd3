"""on_saved: the user's program after each save, its arguments never read by a shell."""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from grokdash.aftersave import (
    OnSavedReporter,
    check_template,
    command_for,
    run_on_saved,
    start,
    wait_and_log,
)

# A program that writes the arguments it received, as JSON, into the file named first.
RECORDER = "import json, sys; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"


def python(code: str) -> str:
    """A template fragment that runs `code` with this Python."""
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


class Held:
    """A spawn that starts for real and keeps the process, so a test waits on it instead of sleeping."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def __call__(self, argv: list[str]) -> subprocess.Popen[bytes]:
        process = start(argv)
        self.processes.append(process)
        return process

    def wait(self) -> list[int]:
        codes = [process.wait(timeout=30) for process in self.processes]
        for thread in threading.enumerate():  # the thread that logs how it ended
            if thread.name.startswith("on_saved "):
                thread.join(timeout=30)
        return codes


def test_a_name_with_spaces_and_a_semicolon_arrives_as_one_argument_and_no_shell_runs(tmp_path):
    out = tmp_path / "argv.json"
    pwned = tmp_path / "PWNED"
    video = tmp_path / f"vid 2; touch {pwned} $(touch {pwned}) `touch {pwned}`.mp4"
    sidecar = tmp_path / "vid 2.json"
    held = Held()
    template = f"{python(RECORDER)} {shlex.quote(str(out))} {{file}} id={{id}} '{{label}}' {{json}} {{{{x}}}}"
    problem = run_on_saved(
        template, file=video, task_id="vid-2", label="my cat", json_path=sidecar, spawn=held
    )
    assert problem is None
    assert held.wait() == [0]
    assert json.loads(out.read_text()) == [str(video), "id=vid-2", "my cat", str(sidecar), "{x}"]
    assert not pwned.exists()


def test_the_program_is_not_waited_for(tmp_path):
    # It blocks until the test lets it go: run_on_saved must have returned long before.
    release = tmp_path / "release"
    code = "import os, sys, time\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.01)"
    held = Held()
    assert (
        run_on_saved(
            f"{python(code)} {shlex.quote(str(release))}",
            file=tmp_path / "v.mp4",
            task_id="v",
            label=None,
            json_path=None,
            spawn=held,
        )
        is None
    )
    assert held.processes[0].poll() is None  # still running
    release.touch()
    assert held.wait() == [0]


def test_a_failure_after_starting_is_logged_with_the_program_and_code(tmp_path, caplog):
    process = start([sys.executable, "-c", "raise SystemExit(3)"])
    with caplog.at_level(logging.WARNING, logger="grokdash.aftersave"):
        assert wait_and_log(process, "my-player") == 3
    assert "my-player" in caplog.text and "code 3" in caplog.text


def test_a_missing_program_is_one_sentence(tmp_path):
    problem = run_on_saved(
        "/no/such/program {file}", file=tmp_path / "v.mp4", task_id="v", label=None, json_path=None
    )
    assert problem == "the on_saved program '/no/such/program' was not found"


def test_a_program_that_cannot_be_run_is_one_sentence(tmp_path):
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    problem = run_on_saved(
        shlex.quote(str(script)), file=tmp_path / "v.mp4", task_id="v", label=None, json_path=None
    )
    assert problem is not None and "\n" not in problem
    assert problem.startswith(f"the on_saved program {str(script)!r} cannot be run")


def test_an_unchecked_bad_template_is_a_sentence_not_an_exception(tmp_path):
    problem = run_on_saved("mpv {nope}", file=tmp_path / "v.mp4", task_id="v", label=None, json_path=None)
    assert problem is not None and problem.startswith("the on_saved setting has an unknown placeholder")


def test_a_spawn_that_raises_anything_is_a_sentence(tmp_path):
    def broken(argv: list[str]) -> subprocess.Popen[bytes]:
        raise ValueError("embedded null byte")

    problem = run_on_saved(
        "mpv", file=tmp_path / "v.mp4", task_id="v", label=None, json_path=None, spawn=broken
    )
    assert problem == "the on_saved program 'mpv' could not be started: ValueError"


def test_command_for_fills_placeholders_after_splitting():
    argv = command_for(
        'mpv --title="{label} ({id})" {file} {json}',
        file=Path("/dl/a b.mp4"),
        task_id="vid-2",
        label=None,
        json_path=None,
    )
    assert argv == ["mpv", "--title= (vid-2)", "/dl/a b.mp4", ""]


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("", "must name a program"),
        ("   ", "must name a program"),
        ("''", "must name a program"),
        ("'mpv {file}", "with every quote closed"),
        ('mpv "{file}', "with every quote closed"),
        ("mpv {filename}", "has an unknown placeholder {filename}"),
        ("mpv {file.__class__}", "has an unknown placeholder {file.__class__}"),
        ("mpv {file!r}", "has an unknown placeholder {file!r}"),
        ("mpv {0}", "has an unknown placeholder {0}"),
        ("mpv {}", "has an unknown placeholder {}"),
        ("mpv {file", "has a lone brace"),
        ("mpv file}", "has a lone brace"),
        ("{file} --play", "a placeholder cannot be the program"),
        ("mpv a\x00b", "NUL"),
    ],
)
def test_bad_templates_are_refused_in_words(template, words):
    problem = check_template(template)
    assert problem is not None and words in problem
    assert "\n" not in problem


@pytest.mark.parametrize(
    "template", ["mpv --fs {file}", "notify {{done}} {id}", "'/opt/my player/play' {file} {json} {label}"]
)
def test_good_templates_pass(template):
    assert check_template(template) is None


def test_the_reporter_says_each_problem_once():
    reporter = OnSavedReporter()
    first = "the on_saved program 'mpv' was not found"
    assert reporter.report(first) == first
    assert reporter.report(first) is None
    assert reporter.report(None) is None
    other = "the on_saved program 'vlc' was not found"
    assert reporter.report(other) == other
