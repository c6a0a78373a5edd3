"""`grokdash new` against the simulator: checked before sending, confirmed, sent once, tracked at once."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from grokdash import cli
from grokdash.config import state_dir
from grokdash.sim import SimServer
from grokdash.sim.log import RequestRecord
from grokdash.store import TaskStore

from .cli import run_cli

PROMPT = "A very long prompt about a cat walking on the moon in slow motion"


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "tasks.json"


@pytest.fixture
def env(sim: SimServer, sim_key: str, db: Path) -> dict[str, str]:
    return {"GROKDASH_BASE_URL": sim.base_url, "GROKDASH_API_KEY": sim_key, "GROKDASH_DB": str(db)}


def posts(sim: SimServer) -> list:
    return [record for record in sim.log.records() if record.method == "POST"]


def tracked(db: Path) -> list:
    return TaskStore(str(db)).tasks() if db.exists() else []


class FirstCreateHeld:
    """A simulator's `on_request`: the first create is in the log as it arrives, but its answer waits
    until `release()`; any later request is answered at once. A create sent again while its sender waits
    is then in the log before the sender hears back: no wall-clock margin decides what the log shows."""

    def __init__(self) -> None:
        self.logged = threading.Event()
        """Set once the first create is in the log."""
        self._released = threading.Event()
        self._first = threading.Lock()

    def __call__(self, record: RequestRecord) -> None:
        if record.method == "POST" and self._first.acquire(blocking=False):
            self.logged.set()
            self._released.wait(10)  # bounded: a test that forgets to release still ends

    def release(self) -> None:
        self._released.set()


def test_a_valid_create_prints_the_id_and_tracks_the_task_with_its_request(sim, env, db):
    args = ["new", "--model", "grok_video3", "--prompt", PROMPT, "--duration", "20", "--yes"]
    result = run_cli([*args, "--aspect-ratio", "9:16", "--image-url", "https://example.com/a.png"], env)
    assert result.exit_code == 0, result.stderr
    task_id = result.stdout.strip()
    assert result.stdout == task_id + "\n"  # the id alone, for scripts
    assert f"created {task_id} (queued); tracking it" in result.stderr
    assert "billed per second of video: 20 s" in result.stderr

    assert [record.task_id for record in posts(sim)] == [task_id]
    [task] = tracked(db)
    assert task.id == task_id
    assert task.label == "A very long prompt about a cat walking…"
    assert task.status == "queued"
    assert task.request == {
        "model": "grok_video3",
        "prompt": PROMPT,
        "duration": 20,
        "aspect_ratio": "9:16",
        "image_urls": ["https://example.com/a.png"],
    }
    listed = json.loads(run_cli(["ls", "--json"], env).stdout)
    assert [(item["id"], item["label"]) for item in listed] == [(task_id, task.label)]


def test_a_given_label_wins_and_the_default_duration_is_billed(sim, env, db):
    result = run_cli(["new", "--model", "grok_video3_max", "--prompt", "a cat", "--label", "cats", "-y"], env)
    assert result.exit_code == 0, result.stderr
    assert "billed per second of video: 10 s, the model's default" in result.stderr
    [task] = tracked(db)
    assert task.label == "cats"
    assert task.request == {"model": "grok_video3_max", "prompt": "a cat"}


def test_the_fixed_duration_of_pro_is_left_out_and_billed_per_call(sim, env, db):
    args = ["new", "--model", "grok_video3_pro", "--prompt", "a cat", "--duration", "10", "--yes"]
    result = run_cli(args, env)
    assert result.exit_code == 0, result.stderr
    assert "billed per call" in result.stderr
    assert tracked(db)[0].request == {"model": "grok_video3_pro", "prompt": "a cat"}


@pytest.mark.parametrize(
    ("args", "rules"),
    [
        (
            ["--model", "grok_video3", "--duration", "5"],
            ["grok_video3 takes a duration of 6 to 30 seconds, not 5"],
        ),
        (
            ["--model", "grok_video3_max", "--duration", "7", "--aspect-ratio", "3:2"],
            [
                "grok_video3_max takes a duration of one of 6, 10, 12, 16, 20, 30 seconds, not 7",
                "grok_video3_max takes an aspect ratio of 16:9, 9:16, 1:1, not '3:2'",
            ],
        ),
        (
            ["--model", "grok_video3_stable", "--image-url", "data:image/png;base64,AAAA"],
            ["grok_video3_stable takes public http(s) image URLs only, not 'data:image/png;base64,AAAA'"],
        ),
        (
            ["--model", "grok_video3_pro", "--aspect-ratio", "9:16"],
            ["grok_video3_pro takes an aspect ratio of 16:9"],
        ),
    ],
)
def test_an_invalid_request_names_each_broken_rule_and_sends_nothing(sim, env, db, args, rules):
    result = run_cli(["new", "--prompt", "a cat", "--yes", *args], env)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(rules)
    for line, rule in zip(lines, rules, strict=True):
        assert line.startswith(f"grokdash: {rule}")
    assert posts(sim) == []
    assert tracked(db) == []


def test_an_empty_prompt_is_refused(sim, env):
    result = run_cli(["new", "--model", "grok_video3", "--prompt", "  ", "--yes"], env)
    assert result.exit_code == 2
    assert "grokdash: the prompt is empty" in result.stderr
    assert posts(sim) == []


def test_an_unknown_model_is_a_usage_error(sim, env):
    result = run_cli(["new", "--model", "grok_video9", "--prompt", "a cat", "--yes"], env)
    assert result.exit_code == 2
    assert "grok_video9" in result.stderr
    assert posts(sim) == []


def test_without_yes_a_non_terminal_input_sends_nothing(sim, env, db):
    result = run_cli(["new", "--model", "grok_video3", "--prompt", "a cat"], env, stdin="y\n")
    assert result.exit_code == 2
    assert "grokdash: standard input is not a terminal: pass --yes to create the task" in result.stderr
    assert posts(sim) == []
    assert tracked(db) == []


def test_on_a_terminal_declining_sends_nothing(sim, env, db, monkeypatch):
    monkeypatch.setattr(cli, "_stdin_is_terminal", lambda: True)
    result = run_cli(["new", "--model", "grok_video3", "--prompt", "a cat"], env, stdin="n\n")
    assert result.exit_code == 0
    assert "Create this task? [y/N]" in result.stderr
    assert "grokdash: not created" in result.stderr
    assert result.stdout == ""
    assert posts(sim) == []
    assert tracked(db) == []


def test_on_a_terminal_confirming_creates(sim, env, db, monkeypatch):
    monkeypatch.setattr(cli, "_stdin_is_terminal", lambda: True)
    result = run_cli(["new", "--model", "grok_video3", "--prompt", "a cat"], env, stdin="y\n")
    assert result.exit_code == 0, result.stderr
    assert len(posts(sim)) == 1
    assert [task.id for task in tracked(db)] == [result.stdout.strip()]


def test_a_refusal_by_the_server_is_shown_in_its_words_and_nothing_is_tracked(sim, env, db):
    # The loose check lets duration 6 through for stable (the second page allows it); the strict sim refuses.
    args = ["new", "--model", "grok_video3_stable", "--prompt", "a cat", "--duration", "6", "--yes"]
    result = run_cli(args, env)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "the server may refuse" in result.stderr  # warned before sending
    assert (
        "grokdash: the server refused the task: grok_video3_stable takes a duration of 10 seconds only, not 6"
        in result.stderr
    )
    assert [record.status for record in posts(sim)] == [400]
    assert tracked(db) == []


def test_a_create_whose_answer_times_out_is_not_sent_again_and_is_kept(sim, env, db):
    held = FirstCreateHeld()  # answered only once the command has given up (after 0.2 s)
    sim.on_request = held
    args = ["new", "--model", "grok_video3", "--prompt", "a cat", "--duration", "12", "--yes"]
    try:
        result = run_cli(args, {**env, "GROKDASH_TIMEOUT": "0.2"})
    finally:
        held.release()
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "the task may have been created: not sent again" in result.stderr
    assert tracked(db) == []

    [kept] = (state_dir() / "unsent").glob("*.json")
    assert f"the request is kept in {kept}" in result.stderr
    assert json.loads(kept.read_text(encoding="utf-8")) == {
        "model": "grok_video3",
        "prompt": "a cat",
        "duration": 12,
    }

    assert held.logged.wait(10), "the create never reached the server"
    assert len(posts(sim)) == 1  # a second one would have been answered, and so logged, before the exit
