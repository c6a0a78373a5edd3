"""What `o` hands the opener (`core.video_to_open`), for videos saved by the real `grokdash download`: the
file grokdash saved, else an http(s) URL from the server; nothing a server, an import or someone else's
file put in its place names."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from grokdash import core
from grokdash.models import task_from_dict
from grokdash.sim import SimServer
from grokdash.store import TaskStore
from grokdash.tracked import TrackedTask

from .cli import run_cli


@pytest.fixture
def saved(done_sim: SimServer, tmp_path: Path, videos: Path) -> TrackedTask:
    """`clip-1`, saved by `grokdash download`, as the dashboard reads it from the database."""
    env = {
        "GROKDASH_BASE_URL": done_sim.base_url,
        "GROKDASH_API_KEY": "k",
        "GROKDASH_DB": str(tmp_path / "tasks.json"),
        "GROKDASH_DOWNLOAD_DIR": str(videos),
    }
    assert run_cli(["download", "clip-1"], env).exit_code == 0
    tracked = TaskStore(tmp_path / "tasks.json").get("clip-1")
    assert tracked is not None
    return tracked


def test_the_saved_file_is_opened(saved, videos):
    assert core.video_to_open(saved) == (str(videos / "clip-1.mp4"), None)


def test_a_symlink_put_where_the_video_was_is_not_followed(saved, videos, tmp_path):
    script = tmp_path / "evil.sh"
    script.write_text("#!/bin/sh\necho owned\n")
    video = videos / "clip-1.mp4"
    video.unlink()
    os.symlink(script, video)
    target, why_not = core.video_to_open(saved)
    assert target == saved.task.video_url and target.startswith("http://")  # the URL, not the link
    assert why_not is None


def test_another_file_put_at_the_videos_path_is_not_opened(saved, videos):
    (videos / "clip-1.mp4").write_bytes(b"not the video grokdash saved")
    assert core.video_to_open(saved) == (saved.task.video_url, None)


def test_with_no_url_a_file_that_is_not_grokdashs_video_is_refused_in_one_sentence(saved, videos):
    (videos / "clip-1.mp4").write_bytes(b"someone else's")
    no_url = dataclasses.replace(saved, task=dataclasses.replace(saved.task, video_url=None))
    target, why_not = core.video_to_open(no_url)
    assert target is None
    assert why_not is not None and why_not.startswith("Will not open ") and "\n" not in why_not


@pytest.mark.parametrize(
    ("local_file", "video_url"),
    [
        ("/usr/bin/id", "file:///etc/passwd"),
        ("evil.mp4", "~/.bashrc"),
        (None, "/usr/bin/id"),
        (None, "evil.desktop"),
    ],
    ids=["imported-program", "relative-file", "server-path", "server-desktop-file"],
)
def test_a_path_or_scheme_a_server_or_an_import_named_is_refused(local_file, video_url):
    answer = task_from_dict({"id": "x-1", "status": "completed", "video_url": video_url}, "x-1")
    tracked = TrackedTask(id="x-1", added_at=0.0, task=answer, local_file=local_file)
    target, why_not = core.video_to_open(tracked)
    assert target is None
    assert why_not is not None and "only http and https" in why_not
