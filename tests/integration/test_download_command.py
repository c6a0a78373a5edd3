"""`grokdash download` against the simulator: what a user runs to save videos from a script."""

from __future__ import annotations

import json

import pytest

from grokdash.sim import SimServer, Timings
from grokdash.sim.media import sample_video

from .cli import run_cli


@pytest.fixture
def done_sim() -> SimServer:
    """Tasks complete as soon as they are first asked about."""
    with SimServer(timings=Timings(queued_seconds=0, processing_seconds=0)) as server:
        yield server


@pytest.fixture
def env(done_sim, tmp_path) -> dict[str, str]:
    return {
        "GROKDASH_BASE_URL": done_sim.base_url,
        "GROKDASH_API_KEY": "k",
        "GROKDASH_DB": str(tmp_path / "tasks.json"),
        "GROKDASH_DOWNLOAD_DIR": str(tmp_path / "videos"),
    }


def test_download_saves_each_video_byte_for_byte_and_remembers_where(env, tmp_path):
    result = run_cli(["download", "clip-1", "clip-2"], env)
    assert result.exit_code == 0, result.stderr
    for task_id in ("clip-1", "clip-2"):
        saved = tmp_path / "videos" / f"{task_id}.mp4"
        assert saved.read_bytes() == sample_video()
        assert f"saved {task_id}: {saved}" in result.stdout
    listed = {item["id"]: item for item in json.loads(run_cli(["ls", "--json"], env).stdout)}
    assert listed["clip-1"]["local_file"] == str(tmp_path / "videos" / "clip-1.mp4")


def test_a_saved_video_is_not_fetched_again(env, done_sim):
    run_cli(["download", "clip-1"], env)
    media = [r for r in done_sim.log.records() if "/media/" in r.path]
    assert run_cli(["download", "clip-1"], env).exit_code == 0
    assert [r for r in done_sim.log.records() if "/media/" in r.path] == media


def test_download_all_saves_every_completed_task_not_saved_yet(env, tmp_path):
    run_cli(["watch", "--once", "a-1", "a-2"], env)
    result = run_cli(["download", "--all", "--to", str(tmp_path / "elsewhere")], env)
    assert result.exit_code == 0, result.stderr
    saved = sorted(p.name for p in (tmp_path / "elsewhere").iterdir())
    assert saved == ["a-1.json", "a-1.mp4", "a-2.json", "a-2.mp4"]  # each video with its sidecar
    again = run_cli(["download", "--all"], env)
    assert again.exit_code == 0 and "nothing to save" in again.stderr


def test_failures_are_named_each_and_exit_1(env, tmp_path):
    result = run_cli(["download", "good-1", "expire-1", "fail-1", "notfound-1"], env)
    assert result.exit_code == 1
    assert "saved good-1" in result.stdout
    assert "'expire-1': the video URL of 'expire-1' has expired" in result.stderr
    assert "'fail-1'" in result.stderr and "no video" in result.stderr
    assert "'notfound-1'" in result.stderr and "not found" in result.stderr
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == ["good-1.json", "good-1.mp4"]


def test_bad_usage_is_exit_2(env):
    assert run_cli(["download"], env).exit_code == 2
    assert run_cli(["download", "--all", "x"], env).exit_code == 2
    result = run_cli(["download", "..", "good-1"], env)
    assert result.exit_code == 2 and "invalid task id '..'" in result.stderr


def test_a_relative_folder_is_remembered_absolute_so_another_folder_finds_the_video(
    env, tmp_path, monkeypatch
):
    """`download --to ./vids` from one folder, then `download --all` from another: the video is found
    saved, not fetched again (the stored path was `vids/clip-1.mp4` and meant nothing elsewhere)."""
    (tmp_path / "work").mkdir()
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert run_cli(["download", "clip-1", "--to", "./vids"], env).exit_code == 0
    monkeypatch.chdir(tmp_path / "other")
    listed = json.loads(run_cli(["ls", "--json"], env).stdout)
    assert listed[0]["local_file"] == str(tmp_path / "work" / "vids" / "clip-1.mp4")
    again = run_cli(["download", "--all"], env)
    assert again.exit_code == 0 and "nothing to save" in again.stderr
    monkeypatch.chdir(tmp_path / "work")
    env = {**env, "GROKDASH_DOWNLOAD_DIR": "./from-env"}
    run_cli(["download", "clip-2"], env)
    listed = {item["id"]: item for item in json.loads(run_cli(["ls", "--json"], env).stdout)}
    assert listed["clip-2"]["local_file"] == str(tmp_path / "work" / "from-env" / "clip-2.mp4")


def test_a_users_file_at_the_videos_name_is_untouched_and_the_video_goes_beside_it(env, tmp_path):
    """`dl/vid-2.mp4` is the user's own file: it was taken for the video (recorded, never fetched) and the
    real video was lost once its URL expired."""
    dl = tmp_path / "dl"
    dl.mkdir()
    mine = dl / "vid-2.mp4"
    mine.write_bytes(b"my own holiday video")
    before = mine.stat()

    result = run_cli(["download", "vid-2", "--to", str(dl)], env)

    assert result.exit_code == 0, result.stderr
    assert mine.read_bytes() == b"my own holiday video"
    assert mine.stat().st_mtime_ns == before.st_mtime_ns
    beside = dl / "vid-2 (1).mp4"
    assert beside.read_bytes() == sample_video()
    assert f"saved vid-2: {beside}" in result.stdout
    listed = {item["id"]: item for item in json.loads(run_cli(["ls", "--json"], env).stdout)}
    assert listed["vid-2"]["local_file"] == str(beside)


def test_download_all_takes_a_video_gone_missing_or_replaced_again(env, tmp_path, done_sim):
    """A saved video deleted since, or replaced by another file, is `missing`, not saved: `--all` fetches
    it again, and a file put at its name is left alone."""
    assert run_cli(["download", "gone-1", "swapped-1"], env).exit_code == 0
    videos = tmp_path / "videos"
    (videos / "gone-1.mp4").unlink()
    (videos / "swapped-1.mp4").write_bytes(b"another file the user put here")
    states = {item["id"]: item["saved"] for item in json.loads(run_cli(["ls", "--json"], env).stdout)}
    assert states == {"gone-1": "missing", "swapped-1": "missing"}

    result = run_cli(["download", "--all"], env)

    assert result.exit_code == 0, result.stderr
    assert (videos / "gone-1.mp4").read_bytes() == sample_video()
    assert (videos / "swapped-1.mp4").read_bytes() == b"another file the user put here"
    assert (videos / "swapped-1 (1).mp4").read_bytes() == sample_video()
    states = {item["id"]: item["saved"] for item in json.loads(run_cli(["ls", "--json"], env).stdout)}
    assert states == {"gone-1": "saved", "swapped-1": "saved"}


def test_download_all_asks_again_for_a_video_whose_url_had_expired(env, done_sim):
    """Asked explicitly, an expired video is tried again (the dashboard and watch --save leave it)."""
    assert run_cli(["download", "expire-1"], env).exit_code == 1
    asked = len([r for r in done_sim.log.for_task("expire-1") if "/media/" in r.path])
    result = run_cli(["download", "--all"], env)
    assert result.exit_code == 1
    assert "'expire-1': the video URL of 'expire-1' has expired" in result.stderr
    assert len([r for r in done_sim.log.for_task("expire-1") if "/media/" in r.path]) > asked
