"""`grokdash watch --save`, the headless saver, against the simulator over loopback HTTP: it polls as
`watch` does and saves every finished video not on disk yet, whoever saw its task complete, then exits 0,
or 1 naming each video it could not save."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grokdash.sim import SimServer
from grokdash.sim.media import sample_video

from .cli import run_cli

VIDEO = sample_video()


def media(sim: SimServer, task_id: str) -> list:
    return [record for record in sim.log.for_task(task_id) if "/media/" in record.path]


def listed(env: dict[str, str]) -> dict[str, dict]:
    return {item["id"]: item for item in json.loads(run_cli(["ls", "--json"], env).stdout)}


def test_it_saves_every_finished_video_even_one_completed_before_and_one_only_added(env, videos, done_sim):
    """`before-1` completed under a plain watch (nothing saved), `added-1` was only added: one
    `watch --save` saves both, says so for each, and exits 0."""
    assert run_cli(["watch", "--once", "before-1"], env).exit_code == 0
    assert listed(env)["before-1"]["status"] == "completed"
    assert not videos.exists()
    assert run_cli(["add", "added-1"], env).exit_code == 0

    result = run_cli(["watch", "--save"], env)

    assert result.exit_code == 0, result.stderr
    for task_id in ("before-1", "added-1"):
        video = videos / f"{task_id}.mp4"
        assert video.read_bytes() == VIDEO
        assert f"saved {task_id}: {video}" in result.stdout
        assert len(media(done_sim, task_id)) == 1  # one transfer each
    after = listed(env)
    assert {after[i]["saved"] for i in ("before-1", "added-1")} == {"saved"}
    assert after["added-1"]["local_file"] == str(videos / "added-1.mp4")
    # Nothing is owed any more: a second run saves nothing and fetches nothing.
    again = run_cli(["watch", "--save"], env)
    assert again.exit_code == 0 and "saved " not in again.stdout
    assert len(media(done_sim, "added-1")) == 1


def test_a_video_whose_url_expired_makes_it_exit_1_naming_it_and_the_others_are_saved(env, videos):
    result = run_cli(["watch", "--save", "good-1", "expire-1"], env)

    assert result.exit_code == 1
    assert (videos / "good-1.mp4").read_bytes() == VIDEO
    assert not (videos / "expire-1.mp4").exists()
    [line] = [line for line in result.stderr.splitlines() if "not saved" in line]
    assert line.startswith("grokdash: not saved: expire-1: the video URL of 'expire-1' has expired")
    assert "Traceback" not in result.stderr
    assert listed(env)["expire-1"]["saved"] == "expired"


def test_an_expired_video_left_from_before_is_named_but_does_not_fail_the_next_run(env):
    """The headless saver runs again and again (a timer, cron): a video it gave up on earlier is said,
    not tried again by itself, and does not make every later run fail."""
    assert run_cli(["watch", "--save", "expire-1"], env).exit_code == 1
    result = run_cli(["watch", "--save"], env)
    assert result.exit_code == 0, result.stderr
    assert "expire-1 (expired)" in result.stderr and "grokdash download ID" in result.stderr


def test_json_lines_carry_the_save_state_and_end_with_the_saved_file(env, videos):
    result = run_cli(["watch", "--save", "--json", "clip-1"], env)

    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and all(line["id"] == "clip-1" for line in lines)
    assert [line["saved"] for line in lines][-2:] == ["owed", "saved"]  # completed, then saved
    assert lines[-1]["local_file"] == str(videos / "clip-1.mp4")
    assert Path(lines[-1]["local_file"]).is_absolute()


def test_once_with_json_prints_one_array_with_the_saved_states(env, videos):
    result = run_cli(["watch", "--save", "--once", "--json", "clip-1", "fail-1"], env)

    assert result.exit_code == 0, result.stderr
    states = {item["id"]: item["saved"] for item in json.loads(result.stdout)}
    assert states == {"clip-1": "saved", "fail-1": None}
    assert (videos / "clip-1.mp4").read_bytes() == VIDEO


@pytest.fixture
def env(saving_env: dict[str, str]) -> dict[str, str]:
    return saving_env
