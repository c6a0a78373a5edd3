"""Every finished video ends up on disk, from the dashboard, whoever saw it complete (issue 12).

Against the simulator over loopback HTTP, on the fake clock both share, driven by keys as a user would:
a task completed by another process, an id added already completed, a partial file of an interrupted run,
a saved file deleted meanwhile, `auto_download = false` (the column still tells the truth; `s` saves),
and `q` while videos are saving (it asks once).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import Button

from grokdash.api import GrokClient
from grokdash.config import state_dir
from grokdash.downloads import Downloader, UrlExpiredError, _VideoLock
from grokdash.errors import NetworkError
from grokdash.models import Task
from grokdash.secret import Secret
from grokdash.sim import SimServer
from grokdash.sim.media import sample_video, sized_video
from grokdash.store import TaskStore
from grokdash.tui.screens.confirm import ConfirmScreen
from tests.conftest import FakeClock

from .board import Dashboard, dashboard, details_text

pytestmark = pytest.mark.anyio

VIDEO = sample_video()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "videos"


async def complete_elsewhere(sim: SimServer, key: str, db: Path, clock: FakeClock, *ids: str) -> None:
    """Track `ids` and record them completed from another TaskStore on the same file: what `grokdash
    watch` in another terminal does."""
    other = TaskStore(db, clock=clock)
    other.add([task_id for task_id in ids if other.get(task_id) is None])
    async with GrokClient(sim.base_url, Secret(key)) as client:
        for task_id in ids:
            await client.get_task(task_id)  # the simulator starts it now
        clock.advance(35)
        answers = [await client.get_task(task_id) for task_id in ids]
    assert all(answer.status == "completed" and answer.video_url for answer in answers)
    now = clock()
    other.update({answer.id: lambda old, answer=answer: old.with_answer(answer, now) for answer in answers})


def media(sim: SimServer) -> list:
    return [record for record in sim.log.records() if "/media/" in record.path]


def row_text(board: Dashboard, task_id: str) -> str:
    """The task's line in the table, as drawn."""
    index = next(n for n, tracked in enumerate(board.table.rows) if tracked.id == task_id)
    return board.table.render_line(index + 1).text  # line 0 is the header


def shows(board: Dashboard, task_id: str, words: str) -> bool:
    """The row's SAVED cell says `words` (the cells around it are padded with spaces)."""
    try:
        return f" {words} " in row_text(board, task_id)
    except StopIteration:
        return False


def saved_whole(store: TaskStore, task_id: str, video: bytes = VIDEO) -> bool:
    tracked = store.get(task_id)
    if tracked is None or tracked.local_file is None:
        return False
    path = Path(tracked.local_file)
    return path.is_file() and path.read_bytes() == video


async def looked(board: Dashboard, since: int) -> None:
    """Wait for a look at the disk for owed saves started after `since` looks."""
    await board.until(lambda: board.app.save_looks > since, "a look for owed saves")
    await board.pilot.pause()


async def test_a_task_completed_by_another_process_is_saved_with_no_key_pressed(
    store, clock, sim, sim_key, folder
):
    store.add(["elsewhere-1"])
    async with dashboard(
        store, clock, sim, download_dir=folder, auto_download=True, start_polling=False
    ) as board:
        await complete_elsewhere(sim, sim_key, store.path, clock, "elsewhere-1")
        await board.app.tick()  # the once-a-second look for other processes' changes
        await board.until(lambda: saved_whole(store, "elsewhere-1"), "the video on disk")
        await board.until(lambda: shows(board, "elsewhere-1", "saved"), "the row to read saved")
        assert len(media(sim)) == 1
        # Nobody pressed s: the summary counts it, no pop-up covers the table.
        await board.until(lambda: "1 saved" in board.summary(), "the summary to count it")
        assert not any("Saved" in toast for toast in board.toasts())


async def test_an_id_added_already_completed_is_saved(store, clock, sim, folder):
    sim.add_task("yesterday-1", created=clock() - 3600)  # finished long ago
    async with dashboard(store, clock, sim, download_dir=folder, auto_download=True) as board:
        await board.press("a")
        await board.pilot.press(*"yesterday-1", "enter")
        await board.until(lambda: saved_whole(store, "yesterday-1"), "the video on disk")
        await board.until(lambda: shows(board, "yesterday-1", "saved"), "the row to read saved")
        assert store.get("yesterday-1").status_seen.keys() == {"completed"}  # never seen running


async def test_a_partial_file_of_an_interrupted_run_shows_partial_then_is_resumed_with_a_range_request(
    store, clock, sim, sim_key, folder
):
    await complete_elsewhere(sim, sim_key, store.path, clock, "cut-1")
    store.refresh()
    folder.mkdir()
    half = len(VIDEO) // 2
    (folder / "cut-1.mp4.part").write_bytes(VIDEO[:half])
    (folder / "cut-1.mp4.part.etag").write_text(f"\n{len(VIDEO)}\n")  # no validator, the whole size
    percent = half * 100 // len(VIDEO)

    # Without auto_download it is only shown: what the last run left, and that it is not on disk.
    async with dashboard(store, clock, sim, download_dir=folder, start_polling=False) as board:
        await looked(board, 0)
        assert shows(board, "cut-1", f"partial {percent}%")
        assert "1 not on disk" in board.summary()
        assert media(sim) == []

    # The next start with auto_download takes it, asking for the rest only.
    async with dashboard(
        store, clock, sim, download_dir=folder, auto_download=True, start_polling=False
    ) as board:
        await board.until(lambda: saved_whole(store, "cut-1"), "the resumed video on disk")
        await board.until(lambda: shows(board, "cut-1", "saved"), "the row to read saved")
        (record,) = media(sim)
        assert record.range == f"bytes={half}-" and record.status == 206
        assert not (folder / "cut-1.mp4.part").exists()
        await board.until(lambda: "not on disk" not in board.summary(), "the summary to clear")


async def test_a_deleted_video_reads_missing_and_s_saves_it_again(store, clock, sim, sim_key, folder):
    await complete_elsewhere(sim, sim_key, store.path, clock, "gone-file-1")
    store.refresh()
    async with dashboard(store, clock, sim, download_dir=folder, start_polling=False) as board:
        await board.select("gone-file-1")
        await board.press("s")
        await board.until(lambda: saved_whole(store, "gone-file-1"), "the video on disk")
        path = Path(store.get("gone-file-1").local_file)
        path.unlink()  # the user cleaned up the folder
        looks = board.app.save_looks
        board.app.look_for_saves()  # what the 30 s look does
        await looked(board, looks)
        assert shows(board, "gone-file-1", "missing")
        assert "1 not on disk" in board.summary()
        assert board.app.check_action("save", ()) is True
        await board.press("s")
        await board.until(lambda: saved_whole(store, "gone-file-1"), "the video on disk again")
        await board.until(lambda: shows(board, "gone-file-1", "saved"), "the row to read saved")
        assert Path(store.get("gone-file-1").local_file) == path
        assert len(media(sim)) == 2


async def test_a_video_deleted_while_the_dashboard_is_open_is_saved_again_by_itself(
    store, clock, sim, sim_key, folder
):
    await complete_elsewhere(sim, sim_key, store.path, clock, "gone-file-2")
    store.refresh()
    async with dashboard(
        store, clock, sim, download_dir=folder, auto_download=True, start_polling=False
    ) as board:
        await board.until(lambda: saved_whole(store, "gone-file-2"), "the video on disk")
        Path(store.get("gone-file-2").local_file).unlink()
        board.app.look_for_saves()  # what the 30 s look does
        await board.until(lambda: len(media(sim)) == 2, "a second fetch")
        await board.until(lambda: saved_whole(store, "gone-file-2"), "the video on disk again")
        await board.until(lambda: shows(board, "gone-file-2", "saved"), "the row to read saved")


async def test_without_auto_download_a_finished_video_reads_owed_and_only_s_saves_it(
    store, clock, sim, sim_key, folder
):
    await complete_elsewhere(sim, sim_key, store.path, clock, "owed-1")
    store.refresh()
    async with dashboard(store, clock, sim, download_dir=folder, start_polling=False) as board:
        await looked(board, 0)
        await board.app.tick()
        assert shows(board, "owed-1", "owed")
        assert media(sim) == [] and not folder.exists()
        await board.select("owed-1")
        assert board.app.check_action("save", ()) is True
        assert "owed: finished, not on disk yet" in await details_text(board, "owed-1")
        await board.press("s")
        await board.until(lambda: saved_whole(store, "owed-1"), "the video on disk")
        await board.until(lambda: shows(board, "owed-1", "saved"), "the row to read saved")
        details = await details_text(board, "owed-1")
        assert f"{len(VIDEO):,} bytes" in details and str(folder / "owed-1.json") in details


async def test_s_on_a_video_another_grokdash_is_saving_says_so_and_fetches_nothing(
    store, clock, sim, sim_key, folder
):
    await complete_elsewhere(sim, sim_key, store.path, clock, "held-1")
    store.refresh()
    other = _VideoLock(state_dir() / "locks", folder, "held-1")  # `grokdash watch --save` has it
    other.acquire()
    try:
        async with dashboard(store, clock, sim, download_dir=folder, start_polling=False) as board:
            await board.select("held-1")
            await board.press("s")
            await board.until(lambda: any("Saving elsewhere" in t for t in board.toasts()), "the news")
            await board.until(lambda: not board.app.saving, "the save to give way")
            assert media(sim) == [] and store.get("held-1").download_error is None
            assert shows(board, "held-1", "owed")
            assert not any("Not saved" in toast for toast in board.toasts())
    finally:
        other.release()


async def test_the_summary_counts_the_finished_videos_not_on_disk(store, clock, sim, sim_key, folder):
    await complete_elsewhere(sim, sim_key, store.path, clock, "count-1", "count-2", "count-3")
    store.refresh()
    store.add(["fail-1"])  # it fails: no video, nothing owed
    async with dashboard(store, clock, sim, download_dir=folder) as board:
        await board.next_round(advance=35)
        assert board.status("fail-1") == "failed"
        await board.until(lambda: "3 not on disk" in board.summary(), "the count")
        await board.select("count-2")
        await board.press("s")
        await board.until(lambda: saved_whole(store, "count-2"), "the video on disk")
        await board.until(lambda: "2 not on disk" in board.summary(), "the count to drop")


# ---- quitting while saving ---------------------------------------------------------------------------


class StallingHost:
    """A video host on loopback that sends the headers and the first half of the video, then nothing
    until the test ends: a save that stays running for as long as a test needs, with no sleep."""

    def __init__(self, video: bytes) -> None:
        self.video = video
        self.half = len(video) // 2
        self.requests: list[str] = []
        self._release = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]

    def url(self, task_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/media/{task_id}.mp4?token=1"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed: the test is over
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            self.requests.append(head.decode("latin-1"))
            header = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\n\r\n" % len(
                self.video
            )
            try:
                conn.sendall(header + self.video[: self.half])
                self._release.wait()
            except OSError:
                pass

    def __enter__(self) -> StallingHost:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._release.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()


def palette_offers(board: Dashboard, title: str) -> bool:
    """The command palette is open and its first command is `title`."""
    screen = board.app.screen
    if not isinstance(screen, CommandPalette):
        return False
    commands = screen.query_one(CommandList)
    return commands.option_count > 0 and str(commands.get_option_at_index(0).prompt).startswith(title)


def completed_at(store: TaskStore, clock: FakeClock, task_id: str, url: str) -> None:
    """Track `task_id` as completed with a video at `url`."""
    store.add([task_id])
    answer = Task(id=task_id, status="completed", model="grok_video3", created=int(clock()), video_url=url)
    store.update({task_id: lambda old: old.with_answer(answer, clock())})


async def test_q_while_videos_are_saving_asks_once_and_the_partial_files_stay(store, clock, sim, folder):
    video = sized_video(64 * 1024)
    with StallingHost(video) as host:
        for task_id in ("big-1", "big-2"):
            completed_at(store, clock, task_id, host.url(task_id))
        async with dashboard(
            store,
            clock,
            sim,
            download_dir=folder,
            auto_download=True,
            start_polling=False,
            make_downloader=lambda: Downloader(chunk_size=1024),  # progress every KiB
        ) as board:
            saver = board.app.saver
            assert saver is not None

            def halfway() -> bool:
                running = [saver.progress.get(task_id) for task_id in ("big-1", "big-2")]
                return all(p is not None and p.done == host.half for p in running)

            await board.until(halfway, "both saves halfway, stalled")
            assert shows(board, "big-1", "50%") and "saving 2" in board.summary()

            await board.press("q")
            dialog = board.app.screen
            assert isinstance(dialog, ConfirmScreen)
            question = str(dialog.query_one("#question").render())
            assert question == "2 videos are saving; they resume next time. Quit?"
            await board.press("q")  # asked once: no second dialog
            await board.press("ctrl+q")
            assert board.app.screen is dialog and len(board.app.screen_stack) == 2

            await board.press("n")
            assert board.app.is_running and board.app.screen is board.app.screen_stack[0]
            await board.press("q")
            await board.press("escape")
            assert board.app.is_running and not isinstance(board.app.screen, ConfirmScreen)

            # The palette's Quit asks too.
            await board.press("ctrl+p")
            await board.pilot.press(*"Quit")
            await board.until(lambda: palette_offers(board, "Quit"), "the palette to offer Quit")
            await board.press("down", "enter")
            await board.until(lambda: isinstance(board.app.screen, ConfirmScreen), "the question")
            await board.press("n")

            # Keys only: tab reaches the other button, enter presses it.
            await board.press("q")
            assert board.app.focused is board.app.screen.query_one("#yes", Button)
            await board.press("tab")
            assert board.app.focused is board.app.screen.query_one("#no", Button)
            await board.press("enter")
            assert board.app.is_running and not isinstance(board.app.screen, ConfirmScreen)
            assert halfway()  # still saving

            await board.press("q")
            await board.press("y")
            await board.until(lambda: not board.app.is_running, "the dashboard to close")
            assert board.app.return_code == 0
        assert len(host.requests) == 2
    # What came is kept, with the whole size, for the resume.
    for task_id in ("big-1", "big-2"):
        assert (folder / f"{task_id}.mp4.part").read_bytes() == video[: host.half]
        assert store.get(task_id).local_file is None
    async with dashboard(store, clock, sim, download_dir=folder, start_polling=False) as board:
        await looked(board, 0)
        assert shows(board, "big-1", "partial 50%") and shows(board, "big-2", "partial 50%")


async def test_q_with_nothing_saving_quits_at_once(store, clock, sim, folder):
    async with dashboard(store, clock, sim, download_dir=folder, auto_download=True) as board:
        await board.press("q")
        await board.until(lambda: not board.app.is_running, "the dashboard to close")


# ---- pop-ups -----------------------------------------------------------------------------------------


async def test_saves_ending_together_share_one_pop_up_and_a_failure_is_said_once(store, clock, sim, folder):
    async with dashboard(store, clock, sim, download_dir=folder, start_polling=False) as board:
        app = board.app
        app._asked.update(f"v-{n}" for n in range(3))  # s was pressed for them
        for n in range(3):
            app._save_ended(f"v-{n}", folder / f"v-{n}.mp4")
        app._save_ended("x-1", UrlExpiredError("the video URL of 'x-1' has expired"))
        app._save_ended("x-2", NetworkError("the connection broke"))
        app._announce_saves()
        await board.pilot.pause()
        assert board.toasts() == [
            "Saved 3 videos v-0, v-1, v-2",
            "2 videos not saved x-1: the video URL of 'x-1' has expired\nx-2: the connection broke",
        ]
        # The saver trying x-2 again by itself, failing the same way: the row says so, no new pop-up.
        app._save_ended("x-2", NetworkError("the connection broke"))
        app._announce_saves()
        await board.pilot.pause()
        assert len(board.toasts()) == 2


async def test_many_completions_saved_by_themselves_make_one_pop_up_and_a_count(store, clock, sim, folder):
    """Twelve tasks finishing in one round, each saved with no key pressed: one pop-up says they
    completed, the summary counts the saves, and the events screen has every one."""
    ids = [f"batch-{n}" for n in range(12)]
    store.add(ids)
    async with dashboard(store, clock, sim, download_dir=folder, auto_download=True) as board:
        await board.next_round(advance=35)
        await board.until(lambda: all(saved_whole(store, task_id) for task_id in ids), "every video on disk")
        await board.until(lambda: "12 saved" in board.summary(), "the summary to count them")
        board.app._announce_news()
        board.app._announce_saves()
        await board.pilot.pause()
        toasts = board.toasts()
        completions = [toast for toast in toasts if "completed" in toast]
        assert len(completions) == 1 and completions[0].startswith("12 completed "), toasts
        assert not any("Saved" in toast for toast in toasts), toasts
        saved = [event for event in board.app.events.newest_first() if event.kind == "saved"]
        assert sorted(event.task_id for event in saved) == sorted(ids)


async def test_s_again_on_a_video_on_disk_counts_it_once(store, clock, sim, folder):
    store.add(["again-1"])
    async with dashboard(store, clock, sim, download_dir=folder) as board:
        await board.next_round(advance=35)
        await board.select("again-1")
        for presses in range(1, 4):
            await board.press("s")
            await board.until(lambda: saved_whole(store, "again-1"), "the video on disk")
            await board.until(lambda: "again-1" not in board.app.saving, "the save to end")
            await board.until(
                lambda presses=presses: sum("Saved again-1" in t for t in board.toasts()) >= presses,
                "its toast",
            )
        assert "1 saved" in board.summary(), board.summary()
        assert len(media(sim)) == 1  # the file on disk was recognised, not fetched again
