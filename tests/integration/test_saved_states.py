"""Where each finished video stands, as `ls`, `export` and `import` tell it: `saved` is owed, partial,
saved, missing, expired, failed or null, worked out from the record and a look at the download folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grokdash.sim.media import sample_etag, sample_video

from .cli import run_cli

VIDEO = sample_video()
PROMPT = "a paper boat sailing down a rainy street"


def ls_json(env: dict[str, str]) -> dict[str, dict]:
    result = run_cli(["ls", "--json"], env)
    assert result.exit_code == 0, result.stderr
    return {item["id"]: item for item in json.loads(result.stdout)}


def leave_partial(videos: Path, task_id: str, kept: int) -> Path:
    """What a save interrupted after `kept` bytes leaves: the `.part` and its validator (ETag, size)."""
    videos.mkdir(parents=True, exist_ok=True)
    part = videos / f"{task_id}.mp4.part"
    part.write_bytes(VIDEO[:kept])
    Path(f"{part}.etag").write_text(f"{sample_etag()}\n{len(VIDEO)}\n", encoding="ascii")
    return part


@pytest.fixture
def every_state(env: dict[str, str], videos: Path) -> None:
    """One task in each state: owed, saved, missing, partial, expired, and a failed task (no video)."""
    assert run_cli(["watch", "--once", "owed-1", "part-1", "fail-1"], env).exit_code == 0
    assert run_cli(["download", "saved-1", "missing-1"], env).exit_code == 0
    (videos / "missing-1.mp4").unlink()
    assert run_cli(["download", "expire-1"], env).exit_code == 1
    leave_partial(videos, "part-1", len(VIDEO) * 43 // 100 + 1)


def test_ls_json_says_where_each_video_stands(env, videos, every_state):
    states = {task_id: item["saved"] for task_id, item in ls_json(env).items()}
    assert states == {
        "owed-1": "owed",
        "part-1": "partial",
        "fail-1": None,
        "saved-1": "saved",
        "missing-1": "missing",
        "expire-1": "expired",
    }
    assert ls_json(env)["saved-1"]["local_file"] == str(videos / "saved-1.mp4")


def test_ls_json_and_export_say_each_tasks_state_and_whether_it_is_stale(env):
    assert run_cli(["watch", "--once", "done-1", "fail-1", "notfound-1"], env).exit_code == 0
    assert run_cli(["add", "new-1"], env).exit_code == 0
    listed = ls_json(env)
    assert {task_id: item["state"] for task_id, item in listed.items()} == {
        "done-1": "completed",
        "fail-1": "failed",
        "notfound-1": "new",  # not found once: not taken as gone yet
        "new-1": "new",
    }
    assert {item["stale"] for item in listed.values()} == {False}
    exported = json.loads(run_cli(["export"], env).stdout)["tasks"]
    assert {record["id"]: record["state"] for record in exported} == {
        task_id: item["state"] for task_id, item in listed.items()
    }


def test_the_ls_table_shows_the_save_state_where_it_showed_the_file(env, videos, every_state):
    table = run_cli(["ls"], env).stdout
    rows = {line.split()[0]: line for line in table.splitlines()[1:]}
    assert f"saved: {videos / 'saved-1.mp4'}" in rows["saved-1"]
    assert f"missing: {videos / 'missing-1.mp4'}" in rows["missing-1"]
    assert "partial 43%: http://" in rows["part-1"]
    assert "owed: http://" in rows["owed-1"]
    assert "expired: the video URL of 'expire-1' has expired" in rows["expire-1"]
    assert "content moderation" in rows["fail-1"]


def test_a_partial_file_is_resumed_with_a_range_request_and_ends_byte_for_byte(env, videos, done_sim):
    assert run_cli(["watch", "--once", "part-1"], env).exit_code == 0
    kept = len(VIDEO) // 3
    leave_partial(videos, "part-1", kept)

    result = run_cli(["download", "--all"], env)

    assert result.exit_code == 0, result.stderr
    [fetch] = [r for r in done_sim.log.for_task("part-1") if "/media/" in r.path]
    assert fetch.range == f"bytes={kept}-" and fetch.status == 206
    assert (videos / "part-1.mp4").read_bytes() == VIDEO
    assert not (videos / "part-1.mp4.part").exists()


def test_export_carries_the_save_state_the_request_and_the_saved_size_and_import_reads_them_back(
    env, tmp_path, videos
):
    created = run_cli(["new", "--model", "grok_video3", "--prompt", PROMPT, "--duration", "6", "--yes"], env)
    assert created.exit_code == 0, created.stderr
    task_id = created.stdout.strip()
    assert run_cli(["download", task_id], env).exit_code == 0
    assert run_cli(["watch", "--once", "owed-1"], env).exit_code == 0

    exported = json.loads(run_cli(["export"], env).stdout)
    records = {record["id"]: record for record in exported["tasks"]}
    assert records[task_id]["saved"] == "saved"
    assert records[task_id]["request"]["prompt"] == PROMPT
    assert records[task_id]["saved_size"] == len(VIDEO)
    assert records[task_id]["local_file"] == str(videos / f"{task_id}.mp4")
    assert records["owed-1"]["saved"] == "owed"
    csv_header = run_cli(["export", "--format", "csv"], env).stdout.splitlines()[0]
    assert csv_header.split(",")[-1] == "saved"

    other = {**env, "GROKDASH_DB": str(tmp_path / "other.json")}
    (tmp_path / "export.json").write_text(json.dumps(exported))
    assert run_cli(["import", str(tmp_path / "export.json")], other).exit_code == 0
    again = {record["id"]: record for record in json.loads(run_cli(["export"], other).stdout)["tasks"]}
    assert again[task_id] == records[task_id]  # request, saved size and file: all read back
    assert ls_json(other)[task_id]["saved"] == "saved"


@pytest.fixture
def env(saving_env: dict[str, str]) -> dict[str, str]:
    return saving_env
