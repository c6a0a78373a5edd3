"""`grokdash add`, `rm`, `ls`, `watch`, `export` and `import`, as a user or a script runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from grokdash.sim import SimServer, Timings

from .cli import run_cli


@pytest.fixture
def live_sim() -> SimServer:
    """A simulator on the real clock with short timings, for commands that poll in real time."""
    with SimServer(timings=Timings(queued_seconds=0.2, processing_seconds=0.3)) as server:
        yield server


def ls_json(env, *args):
    result = run_cli(["ls", "--json", *args], env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_added_ids_are_listed_with_their_label(env):
    result = run_cli(["add", "task_1", "task_2", "--label", "cats"], env)
    assert result.exit_code == 0
    assert "tracking (2): task_1, task_2" in result.stdout
    listed = ls_json(env)
    assert [item["id"] for item in listed] == ["task_1", "task_2"]
    assert {item["label"] for item in listed} == {"cats"}
    assert all(item["status"] is None and item["query_error"] is None for item in listed)


def test_already_tracked_ids_are_skipped_and_said_so(env):
    run_cli(["add", "task_1", "--label", "first"], env)
    result = run_cli(["add", "task_1", "task_2", "--label", "second"], env)
    assert "already tracked (1): task_1" in result.stdout
    labels = {item["id"]: item["label"] for item in ls_json(env)}
    assert labels == {"task_1": "first", "task_2": "second"}


def test_ids_from_standard_input_in_any_separation(env):
    result = run_cli(["add", "-"], env, stdin="task_1, task_2\ntask_3\ttask_4,,task_1\n")
    assert result.exit_code == 0
    assert [item["id"] for item in ls_json(env)] == ["task_1", "task_2", "task_3", "task_4"]


def test_invalid_ids_are_named_and_refused_and_the_rest_go_in(env):
    result = run_cli(["add", "-"], env, stdin="good_1 ..\nx" + "y" * 300 + "\n")
    assert result.exit_code == 2
    assert "invalid task id '..'" in result.stderr
    assert "characters long" in result.stderr
    assert [item["id"] for item in ls_json(env)] == ["good_1"]


def test_when_every_id_is_refused_the_database_is_untouched(env, db):
    run_cli(["add", "task_1"], env)
    before = db.read_bytes()
    result = run_cli(["add", "-"], env, stdin=". ..\n")
    assert result.exit_code == 2
    assert db.read_bytes() == before
    assert run_cli(["add", "-"], env, stdin="").exit_code == 2


def test_rm_stops_tracking_and_names_ids_that_were_not_tracked(env):
    run_cli(["add", "task_1", "task_2"], env)
    result = run_cli(["rm", "task_1", "nope"], env)
    assert result.exit_code == 2
    assert "stopped tracking (1): task_1" in result.stdout
    assert "'nope' is not tracked" in result.stderr
    assert [item["id"] for item in ls_json(env)] == ["task_2"]


def test_watch_exit_status_is_0_when_all_completed(env, live_sim):
    env = {**env, "GROKDASH_BASE_URL": live_sim.base_url}
    run_cli(["add", "good-1", "good-2"], env)
    result = run_cli(["watch", "--exit-status", "--interval", "0.5"], env)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.endswith("  good-1  queued") for line in lines)
    assert any(" good-1  " in line and "→ completed" in line for line in lines)
    assert {item["status"] for item in ls_json(env)} == {"completed"}


def test_watch_exit_status_is_1_when_one_failed(env, live_sim):
    env = {**env, "GROKDASH_BASE_URL": live_sim.base_url}
    result = run_cli(["watch", "--exit-status", "--interval", "0.5", "--json", "good-1", "fail-1"], env)
    assert result.exit_code == 1
    # JSON lines: one object per change, as it happened; the last one of each task is where it ended.
    changes = [json.loads(line) for line in result.stdout.splitlines()]
    seen = [c["status"] for c in changes if c["id"] == "good-1"]
    assert seen[0] == "queued" and seen[-1] == "completed" and len(set(seen)) == len(seen), seen
    by_id = {item["id"]: item for item in changes}
    assert by_id["good-1"]["status"] == "completed"
    assert by_id["fail-1"]["status"] == "failed" and "moderation" in by_id["fail-1"]["error"]
    # The ids given to watch are tracked from then on.
    assert {item["id"] for item in ls_json(env)} == {"good-1", "fail-1"}
    # Without --exit-status a failed task is an outcome, not an error of the command.
    assert run_cli(["watch", "--interval", "0.5", "fail-1"], env).exit_code == 0


def test_watch_once_asks_each_unfinished_task_once(env, live_sim):
    env = {**env, "GROKDASH_BASE_URL": live_sim.base_url}
    run_cli(["add", "good-1", "notfound-1"], env)
    result = run_cli(["watch", "--once", "--json"], env)
    assert result.exit_code == 0
    by_id = {item["id"]: item for item in json.loads(result.stdout)}
    assert by_id["good-1"]["status"] == "queued"
    assert by_id["notfound-1"]["query_error"]["kind"] == "not_found"
    assert len(live_sim.log.records()) == 2


def test_ls_filters_by_status(env, live_sim):
    env = {**env, "GROKDASH_BASE_URL": live_sim.base_url}
    run_cli(["watch", "--interval", "0.5", "good-1", "fail-1"], env)
    run_cli(["add", "later-1"], env)
    assert [item["id"] for item in ls_json(env, "--status", "failed")] == ["fail-1"]
    assert [item["id"] for item in ls_json(env, "--status", "completed")] == ["good-1"]
    assert [item["id"] for item in ls_json(env, "--status", "new")] == ["later-1"]
    assert {item["id"] for item in ls_json(env, "--status", "final")} == {"good-1", "fail-1"}
    table = run_cli(["ls"], env).stdout
    assert "✓ completed" in table and "✗ failed" in table and "… new" in table


def test_export_then_import_into_another_database_keeps_everything(env, live_sim, tmp_path):
    env = {**env, "GROKDASH_BASE_URL": live_sim.base_url}
    run_cli(["watch", "--interval", "0.5", "good-1", "fail-1"], env)
    run_cli(["add", "later-1", "--label", "a label, with a comma"], env)
    exported = tmp_path / "export.json"
    exported.write_text(run_cli(["export"], env).stdout)
    other = {**env, "GROKDASH_DB": str(tmp_path / "other.json")}
    result = run_cli(["import", str(exported)], other)
    assert result.exit_code == 0
    assert "tracking (3)" in result.stdout
    assert ls_json(other) == ls_json(env)
    assert "already tracked (3)" in run_cli(["import", str(exported)], other).stdout


def test_csv_export_imports_ids_and_labels(env, tmp_path):
    run_cli(["add", "task_1", "--label", 'say "hi", twice'], env)
    exported = tmp_path / "export.csv"
    exported.write_text(run_cli(["export", "--format", "csv"], env).stdout)
    other = {**env, "GROKDASH_DB": str(tmp_path / "other.json")}
    assert run_cli(["import", str(exported)], other).exit_code == 0
    assert [(item["id"], item["label"]) for item in ls_json(other)] == [("task_1", 'say "hi", twice')]


def test_import_reads_plain_lists_of_ids(env, tmp_path):
    (tmp_path / "ids.txt").write_text("task_1\ntask_2, task_3\n")
    (tmp_path / "ids.json").write_text('["task_4", {"id": "task_5", "label": "x"}]')
    assert run_cli(["import", str(tmp_path / "ids.txt")], env).exit_code == 0
    assert run_cli(["import", str(tmp_path / "ids.json")], env).exit_code == 0
    assert run_cli(["import", "-"], env, stdin="task_6").exit_code == 0
    assert [item["id"] for item in ls_json(env)] == [f"task_{n}" for n in range(1, 7)]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"tasks": 3}', "not a grokdash export"),
        ('[{"nope": 1}]', "entry 1"),
        ('{"format": "grokdash-export", "version": 1, "tasks": [{"id": "x"}]}', "task 1 of the export"),
        ("[1, 2", "not valid JSON"),
    ],
)
def test_an_unreadable_import_file_is_one_sentence_and_changes_nothing(env, db, tmp_path, content, words):
    run_cli(["add", "task_1"], env)
    before = db.read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = run_cli(["import", str(bad)], env)
    assert result.exit_code == 2
    assert words in result.stderr and str(bad) in result.stderr
    assert result.stderr.count("\n") == 1
    assert db.read_bytes() == before


def test_import_of_a_missing_file_is_exit_2(env, tmp_path):
    result = run_cli(["import", str(tmp_path / "missing.json")], env)
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_twenty_add_processes_at_once_leave_every_id_tracked(db, tmp_path):
    env = {**os.environ, "GROKDASH_DB": str(db), "XDG_STATE_HOME": str(tmp_path / "state")}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "grokdash", "add", *(f"p{n}-{k}" for k in range(5))],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(20)
    ]
    for process in processes:
        assert process.wait(timeout=120) == 0, process.stderr.read()
    listed = json.loads(
        subprocess.run(
            [sys.executable, "-m", "grokdash", "ls", "--json"], env=env, capture_output=True, check=True
        ).stdout
    )
    assert {item["id"] for item in listed} == {f"p{n}-{k}" for n in range(20) for k in range(5)}
