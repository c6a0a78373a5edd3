"""The command line's small manners, each once a defect a new user hit: a mistyped status or option is
one line naming it, a label is never dropped silently, an id list is read one id a line, and `login`
makes the config file it is pointed at."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from .cli import run_cli


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {"GROKDASH_DB": str(tmp_path / "tasks.json")}


def test_an_unknown_status_is_named_with_exit_2_not_an_empty_list(env):
    run_cli(["add", "task_1"], env)
    result = run_cli(["ls", "--status", "bogus"], env)
    assert result.exit_code == 2
    assert result.stderr.startswith("grokdash: no status called 'bogus': use one of queued, processing")
    assert "no tracked tasks" not in result.stderr
    # A filter word and a status seen are both fine.
    assert run_cli(["ls", "--status", "new"], env).exit_code == 0
    assert run_cli(["ls", "--status", "gone"], env).exit_code == 0


def test_a_usage_error_is_one_line_with_where_to_look(env):
    result = run_cli(["ls", "--bogus"], env)
    assert result.exit_code == 2
    assert result.stderr == "grokdash: no such option '--bogus' (see grokdash ls --help)\n"
    missing = run_cli(["status"], env)
    assert missing.stderr == "grokdash: missing argument 'ID...' (see grokdash status --help)\n"


def test_a_label_for_an_id_already_tracked_is_said_not_dropped_silently(env):
    run_cli(["add", "task_1", "--label", "first"], env)
    result = run_cli(["add", "task_1", "--label", "second"], env)
    assert "already tracked (1): task_1" in result.stdout
    assert "the label 'second' was not given to the ones already tracked" in result.stdout
    listed = json.loads(run_cli(["ls", "--json"], env).stdout)
    assert listed[0]["label"] == "first"


def test_an_id_list_is_one_id_a_line_and_a_line_with_a_space_is_one_bad_id(env, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("good-1\nbad id\ngood-2, good-3\n")
    result = run_cli(["import", str(ids)], env)
    assert result.exit_code == 2
    assert "invalid task id 'bad id'" in result.stderr
    listed = [item["id"] for item in json.loads(run_cli(["ls", "--json"], env).stdout)]
    assert listed == ["good-1", "good-2", "good-3"]  # not "bad" and "id"


def test_login_creates_the_config_file_it_is_pointed_at(env, tmp_path: Path, home):
    path = tmp_path / "elsewhere" / "NEW.toml"
    result = run_cli(["login", "--stdin", "--config", str(path)], env, stdin="sk-test-0123456789abcdef\n")
    assert result.exit_code == 0, result.stderr
    assert tomllib.loads(path.read_text()) == {"api_key": "sk-test-0123456789abcdef"}
    # Any other command still wants a named config file to exist.
    other = run_cli(["ls", "--config", str(tmp_path / "missing.toml")], env)
    assert other.exit_code == 2 and "does not exist" in other.stderr


def test_download_to_something_that_is_not_a_folder_is_usage_not_a_failure(env, tmp_path):
    run_cli(["add", "task_1"], env)
    target = tmp_path / "a-file"
    target.write_text("mine")
    result = run_cli(["download", "task_1", "--to", str(target)], {**env, "GROKDASH_API_KEY": "k"})
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"grokdash: --to {target} is not a folder (it was left untouched): nothing was saved\n"
    )
    assert target.read_text() == "mine"
