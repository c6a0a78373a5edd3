"""Saving videos from the simulator over real loopback HTTP: the bytes, resumes (the simulator's log
shows the Range request), expired URLs, hostile ids, a full disk and two saves at once."""

from __future__ import annotations

import asyncio
import errno
import os

import pytest

from grokdash import downloads
from grokdash.api import GrokClient
from grokdash.downloads import DownloadError, UrlExpiredError, save_task
from grokdash.sim import SimServer
from grokdash.sim.media import sample_video
from grokdash.store import TaskStore

pytestmark = pytest.mark.anyio

VIDEO = sample_video()


async def completed_url(client: GrokClient, clock, task_id: str) -> str:
    """Ask once (the simulator starts the task), let 30 s pass on its clock, ask again: the video URL."""
    await client.get_task(task_id)
    clock.advance(30)
    task = await client.get_task(task_id)
    assert task.status == "completed" and task.video_url
    return task.video_url


async def track_completed(
    client: GrokClient, store: TaskStore, clock, task_id: str, label: str | None = None
):
    store.add([task_id], label=label)
    await client.get_task(task_id)
    clock.advance(30)
    task = await client.get_task(task_id)
    store.update({task_id: lambda old: old.with_answer(task, clock())})
    return task


def media_requests(sim: SimServer) -> list:
    return [record for record in sim.log.records() if "/media/" in record.path]


async def test_a_saved_video_is_byte_for_byte_what_the_server_sent(sim, client, clock, dl, folder):
    url = await completed_url(client, clock, "good-1")
    progress = []
    path = await dl.download("good-1", url, folder, on_progress=lambda done, total: progress.append(done))
    assert path == folder / "good-1.mp4"
    assert path.read_bytes() == VIDEO
    assert sorted(p.name for p in folder.iterdir()) == ["good-1.mp4"]
    assert progress[-1] == len(VIDEO)
    (record,) = media_requests(sim)
    assert record.status == 200 and record.range is None
    assert record.authorized is False  # no Authorization header went to the video host


async def test_a_part_left_behind_is_resumed_with_a_range_request(sim, client, clock, dl, folder):
    url = await completed_url(client, clock, "good-2")
    folder.mkdir(parents=True)
    (folder / "good-2.mp4.part").write_bytes(VIDEO[:10_000])
    path = await dl.download("good-2", url, folder)
    assert path.read_bytes() == VIDEO
    (record,) = media_requests(sim)
    assert (record.status, record.range) == (206, "bytes=10000-")
    assert sorted(p.name for p in folder.iterdir()) == ["good-2.mp4"]


async def test_an_interrupted_transfer_fetches_only_the_rest(sim, client, clock, dl, folder):
    url = await completed_url(client, clock, "good-3")

    class Interrupted(Exception):
        pass

    def stop_after_some(done: int, total: int | None) -> None:
        if done >= 8192:
            raise Interrupted

    with pytest.raises(Interrupted):
        await dl.download("good-3", url, folder, on_progress=stop_after_some)
    part = folder / "good-3.mp4.part"
    kept = part.stat().st_size
    assert 8192 <= kept < len(VIDEO)
    assert part.read_bytes() == VIDEO[:kept]
    assert not (folder / "good-3.mp4").exists()

    path = await dl.download("good-3", url, folder)
    assert path.read_bytes() == VIDEO
    first, second = media_requests(sim)
    assert (first.status, first.range) == (200, None)
    assert (second.status, second.range) == (206, f"bytes={kept}-")
    assert sorted(p.name for p in folder.iterdir()) == ["good-3.mp4"]


async def test_a_part_of_another_file_is_replaced_not_extended(sim, client, clock, dl, folder):
    """If-Range: when the saved validator is not the server's, the server sends the whole file."""
    url = await completed_url(client, clock, "good-4")
    folder.mkdir(parents=True)
    (folder / "good-4.mp4.part").write_bytes(b"\x00" * 5000)
    (folder / "good-4.mp4.part.etag").write_text('"some-other-version"')
    path = await dl.download("good-4", url, folder)
    assert path.read_bytes() == VIDEO
    (record,) = media_requests(sim)
    assert (record.status, record.range) == (200, "bytes=5000-")


async def test_an_expired_url_is_refreshed_once(sim, client, store, clock, dl, folder):
    task = await track_completed(client, store, clock, "expireonce-1")
    path = await save_task(dl, client, store, "expireonce-1", folder, clock=clock)
    assert path.read_bytes() == VIDEO
    statuses = [record.status for record in media_requests(sim)]
    assert statuses == [410, 200]
    tracked = store.get("expireonce-1")
    assert tracked.local_file == str(path)
    assert tracked.task.video_url != task.video_url  # the fresh answer was recorded
    # The record on disk says so too.
    assert TaskStore(store.path).get("expireonce-1").local_file == str(path)


async def test_an_url_expired_for_good_is_said_plainly(sim, client, store, clock, dl, folder):
    await track_completed(client, store, clock, "expire-1")
    with pytest.raises(UrlExpiredError) as caught:
        await save_task(dl, client, store, "expire-1", folder, clock=clock)
    assert caught.value.message == "the video URL of 'expire-1' has expired and the API gave no working one"
    assert caught.value.kind == "url_expired"
    assert [record.status for record in media_requests(sim)] == [410, 410]
    assert store.get("expire-1").local_file is None
    assert not folder.exists() or list(folder.iterdir()) == []


async def test_a_task_without_a_video_cannot_be_saved(client, store, clock, dl, folder):
    store.add(["good-5"])
    with pytest.raises(DownloadError, match="has no video yet"):
        await save_task(dl, client, store, "good-5", folder)
    task = await client.get_task("good-5")
    store.update({"good-5": lambda old: old.with_answer(task, clock())})
    with pytest.raises(DownloadError, match=r"has no video yet \(it is queued\)"):
        await save_task(dl, client, store, "good-5", folder)


async def test_the_label_goes_into_the_name_when_asked(client, store, clock, dl, folder):
    await track_completed(client, store, clock, "good-6", label="cats / dogs")
    path = await save_task(dl, client, store, "good-6", folder, with_label=True)
    assert path.parent == folder
    assert path.name.startswith("good-6 cats _ dogs-") and path.suffix == ".mp4"
    assert path.read_bytes() == VIDEO


@pytest.mark.parametrize("task_id", ["../../etc/x", "..%2F..%2Fx", "/abs/path", "C:\\win", "-rf", "con"])
async def test_a_hostile_id_is_saved_inside_the_folder(sim, client, store, clock, dl, folder, task_id):
    await track_completed(client, store, clock, task_id)
    path = await save_task(dl, client, store, task_id, folder)
    assert path.parent == folder
    assert path.resolve().parent == folder.resolve()
    assert path.read_bytes() == VIDEO
    assert [p.name for p in folder.iterdir()] == [path.name]
    assert media_requests(sim)[0].task_id == task_id


async def test_two_saves_of_one_task_at_once_are_one_transfer(sim, client, clock, dl, folder):
    url = await completed_url(client, clock, "good-7")
    first, second = await asyncio.gather(
        dl.download("good-7", url, folder), dl.download("good-7", url, folder)
    )
    assert first == second == folder / "good-7.mp4"
    assert first.read_bytes() == VIDEO
    assert len(media_requests(sim)) == 1


async def test_a_full_disk_keeps_the_part_for_a_later_resume(sim, client, clock, dl, folder, monkeypatch):
    url = await completed_url(client, clock, "good-8")
    real = downloads._write_all
    written = []

    def full_disk(fd: int, pieces: list[memoryview]) -> None:
        if written:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(sum(len(piece) for piece in pieces))
        real(fd, pieces)

    monkeypatch.setattr(downloads, "_write_all", full_disk)
    with pytest.raises(DownloadError) as caught:
        await dl.download("good-8", url, folder)
    part = folder / "good-8.mp4.part"
    assert caught.value.message == (
        f"the disk is full: could not save the video of 'good-8'; the {written[0]:,} bytes saved so far "
        f"are kept in {part} for a later resume"
    )
    assert part.read_bytes() == VIDEO[: written[0]]
    assert not (folder / "good-8.mp4").exists()

    monkeypatch.setattr(downloads, "_write_all", real)  # space was freed
    path = await dl.download("good-8", url, folder)
    assert path.read_bytes() == VIDEO
    assert media_requests(sim)[-1].range == f"bytes={written[0]}-"
