"""The `<video>.json` beside each saved video: what it says, that it keeps no token, and whose it is."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from grokdash import __version__
from grokdash.models import Task
from grokdash.sidecar import (
    MAX_SIDECAR_READ,
    build_sidecar,
    is_foreign,
    sidecar_names,
    sidecar_path,
    strip_url,
    write_sidecar,
)
from grokdash.tracked import TrackedTask

SIGNED = "https://cdn.example/v/vid-2.mp4?sig=SECRET&exp=9#t=SECRET2"
REQUEST = {"model": "grok_video3", "prompt": "a cat surfing", "duration": 10, "aspect_ratio": "16:9"}


def finished(request: dict | None = None, label: str | None = None) -> TrackedTask:
    task = Task(
        id="vid-2",
        status="completed",
        model="grok_video3",
        created=1_764_300_000,
        video_url=SIGNED,
        actual_duration=10.0,
        raw={"id": "vid-2", "status": "completed", "video_url": SIGNED, "token": "SECRET3"},
    )
    return TrackedTask(
        id="vid-2",
        added_at=1_764_300_000.0,
        task=task,
        label=label,
        status_seen={"queued": 1_764_300_001.0, "completed": 1_764_300_090.5},
        request=request,
    )


def saved(folder: Path, tracked: TrackedTask) -> tuple[Path, dict]:
    video = folder / "vid-2 (1).mp4"
    video.write_bytes(b"\0" * 123)
    path = write_sidecar(video, build_sidecar(tracked, video, 123))
    return path, json.loads(path.read_text(encoding="utf-8"))


def test_the_sidecar_sits_beside_the_video_with_its_name():
    assert sidecar_path(Path("/dl/vid-2 (1).mp4")) == Path("/dl/vid-2 (1).json")
    assert sidecar_path(Path("/dl/vid")) == Path("/dl/vid.json")
    assert sidecar_path(Path("/dl/odd.json")) == Path("/dl/odd.json.json")  # never the video itself


def test_a_task_created_here_keeps_its_prompt_and_request(tmp_path):
    path, data = saved(tmp_path, finished(request=REQUEST, label="surf"))
    assert path == tmp_path / "vid-2 (1).json"
    assert data["grokdash"] == __version__
    assert (data["id"], data["label"], data["model"]) == ("vid-2", "surf", "grok_video3")
    assert data["prompt"] == "a cat surfing"
    assert data["request"] == REQUEST
    assert data["file"] == str(tmp_path / "vid-2 (1).mp4")
    assert data["size"] == 123
    assert data["created"] == "2025-11-28T03:20:00Z"
    assert data["completed"] == "2025-11-28T03:21:30.500Z"
    assert data["duration"] == 10.0
    assert data["answer"]["status"] == "completed"
    assert data["answer"]["actualDuration"] == 10.0


def test_a_task_only_tracked_has_the_answer_and_no_prompt(tmp_path):
    _, data = saved(tmp_path, finished())
    assert data["prompt"] is None and data["request"] is None and data["label"] is None
    assert data["answer"]["id"] == "vid-2"
    assert data["answer"]["model"] == "grok_video3"


def test_no_token_of_the_signed_url_reaches_the_file(tmp_path):
    request = {**REQUEST, "video_url": "https://x.example/in.mp4?sig=SECRET4"}
    path, data = saved(tmp_path, finished(request=request))
    text = path.read_text(encoding="utf-8")
    assert data["answer"]["video_url"] == "https://cdn.example/v/vid-2.mp4"
    for secret in ("SECRET", "sig=", "#t="):
        assert secret not in text
    # undocumented fields of the answer are not copied
    assert "token" not in data["answer"]


def test_strip_url_drops_the_query_the_fragment_and_credentials():
    assert strip_url("https://u:pw@h.example/a.mp4?x=1") == "https://h.example/a.mp4"
    assert strip_url("https://h.example/a.mp4#?x") == "https://h.example/a.mp4"
    assert strip_url("https://[::1/a?sig=1") == "https://[::1/a"
    assert strip_url("/local/a.mp4") == "/local/a.mp4"


def test_the_file_is_readable_indented_json_ending_in_a_newline(tmp_path):
    path, _ = saved(tmp_path, finished(request={**REQUEST, "prompt": "un chat qui surfe 🏄"}))
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert '\n  "id": "vid-2",' in text
    assert "🏄" in text  # not \ud83c escapes
    assert list(json.loads(text))[:3] == ["grokdash", "id", "file"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_writing_again_replaces_the_old_sidecar(tmp_path):
    saved(tmp_path, finished(label="one"))
    _, data = saved(tmp_path, finished(label="two"))
    assert data["label"] == "two"


def test_a_failed_write_is_an_oserror(tmp_path):
    with pytest.raises(OSError):
        write_sidecar(tmp_path / "no-such-folder" / "v.mp4", {"grokdash": __version__})


def test_a_task_never_answered_still_gets_a_sidecar(tmp_path):
    tracked = TrackedTask(id="vid-2", added_at=0.0, request=REQUEST)
    data = build_sidecar(tracked, tmp_path / "v.mp4", 0)
    assert data["answer"] is None and data["created"] is None and data["completed"] is None
    assert data["model"] == "grok_video3"


# ---- whose .json is it? ------------------------------------------------------------------------------


def test_our_own_sidecar_names_its_task(tmp_path):
    path, _ = saved(tmp_path, finished())
    assert sidecar_names(path, "vid-2")
    assert not is_foreign(path, "vid-2")


def test_a_sidecar_of_another_task_is_foreign(tmp_path):
    path, _ = saved(tmp_path, finished())
    assert not sidecar_names(path, "vid-3")
    assert is_foreign(path, "vid-3")


@pytest.mark.parametrize(
    "content",
    [
        b'{"id": "vid-2", "notes": "my own file"}',  # a user's JSON, same id, no grokdash key
        b'["grokdash", "vid-2"]',
        b"not json at all",
        b"\xff\xfe{}",
        b"",
        b"[" * 100_000,
    ],
)
def test_a_users_file_is_foreign_and_never_ours(tmp_path, content):
    path = tmp_path / "vid-2.json"
    path.write_bytes(content)
    assert not sidecar_names(path, "vid-2")
    assert is_foreign(path, "vid-2")


def test_a_huge_file_is_not_read_whole_and_is_foreign(tmp_path):
    path = tmp_path / "vid-2.json"
    padding = " " * MAX_SIDECAR_READ
    path.write_text(json.dumps({"grokdash": __version__, "id": "vid-2"}) + padding)
    assert not sidecar_names(path, "vid-2")
    assert is_foreign(path, "vid-2")


def test_nothing_there_is_not_foreign(tmp_path):
    assert not is_foreign(tmp_path / "vid-2.json", "vid-2")
    assert not sidecar_names(tmp_path / "vid-2.json", "vid-2")


def test_a_folder_or_a_symlink_is_foreign(tmp_path):
    folder = tmp_path / "vid-2.json"
    folder.mkdir()
    assert is_foreign(folder, "vid-2")
    ours, _ = saved(tmp_path, finished())
    link = tmp_path / "link.json"
    link.symlink_to(ours)
    assert is_foreign(link, "vid-2")
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere")
    assert is_foreign(tmp_path / "dangling.json", "vid-2")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_foreign_and_reading_it_does_not_hang(tmp_path):
    fifo = tmp_path / "vid-2.json"
    os.mkfifo(fifo)
    assert not sidecar_names(fifo, "vid-2")
    assert is_foreign(fifo, "vid-2")
