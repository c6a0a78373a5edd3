"""The owed-save engine: every grokdash process that saves takes every video owed a save that it finds.

The dashboard (with `auto_download`), `watch --save` and `download --all` run one `Saver`. It looks for
owed saves (`savestate.is_owed`) in the store and on the disk — on start, when a task completes, when
another process's change shows one — and saves each, at most `max_downloads` at once, each under the
video's lock across processes (`downloads.save_task`), so one file is fetched by one process. A
partial file is resumed; a missing one is fetched again; a failed save is tried again later, waiting
longer each time; an expired URL is given up (until a key or a command asks again). After each save
its sidecar is written and the user's `on_saved` program started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from grokdash.aftersave import OnSavedReporter, run_on_saved
from grokdash.api import GrokClient
from grokdash.config import Settings, state_dir
from grokdash.downloads import Downloader, SaveBusyError, UrlExpiredError, save_task
from grokdash.errors import GrokdashError
from grokdash.savestate import OWED, RETRY_FAILED_AFTER, SAVED, OnDisk, is_owed, look_on_disk, save_state
from grokdash.sidecar import sidecar_path
from grokdash.store import TaskStore
from grokdash.tracked import TrackedTask

log = logging.getLogger(__name__)

RETRY_GAPS = (15.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""Seconds before this process tries a failed save again by itself: the first gap, then the next…"""
REDRAW_GAP = 0.25
"""Seconds between progress reports passed on to `on_change` at most."""
BUSY_GAP = 5.0
"""Seconds before looking again at a video another process is saving (it records the file when done)."""


@dataclass(frozen=True, slots=True)
class Progress:
    """A video being saved: bytes so far, of how many, in how many seconds."""

    done: int
    total: int | None
    seconds: float

    def cell(self) -> str:
        """The SAVED column while it runs: `42%`, or the megabytes when the size is not known."""
        return f"{min(99, self.done * 100 // self.total)}%" if self.total else f"{self.done // 1_000_000} MB"


@dataclass(frozen=True, slots=True)
class SaverSettings:
    folder: Path
    max_downloads: int = 2
    with_label: bool = False
    sidecar: bool = True
    on_saved: str | None = None
    lock_dir: Path | None = None
    """Where the per-video locks live (the state folder); None: only the `.part` file is locked."""
    give_up_after: int | None = None
    """Failed attempts (in this process) after which a video is left alone; None: never."""


class Saver:
    """Takes owed saves. Use as an async context manager, or call `aclose()` (running saves stop, their
    partial files stay for a resume).

    Callbacks: `on_change()` when what `cell()` says may have changed (a save queued, progressed,
    ended); `on_done(task_id, path_or_error)` when a save ended; `on_busy(task_id)` when another
    process turned out to be saving it (it is looked at again after `BUSY_GAP`); `on_notice(sentence)`
    for a problem the user should hear about once (the on_saved program cannot start).
    """

    def __init__(
        self,
        store: TaskStore,
        client: GrokClient,
        downloader: Downloader,
        settings: SaverSettings,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        on_change: Callable[[], None] = lambda: None,
        on_done: Callable[[str, Path | GrokdashError], None] = lambda task_id, result: None,
        on_notice: Callable[[str], None] = lambda sentence: None,
        on_busy: Callable[[str], None] = lambda task_id: None,
    ) -> None:
        self.store = store
        self.client = client
        self.downloader = downloader
        self.settings = settings
        self.clock = clock
        self.monotonic = monotonic
        self.on_change = on_change
        self.on_done = on_done
        self.on_notice = on_notice
        self.on_busy = on_busy
        self.queued: set[str] = set()
        """Saves waiting for a free slot."""
        self.progress: dict[str, Progress] = {}
        """Saves running, with their progress."""
        self.disk: dict[str, OnDisk] = {}
        """What the last look at the disk found, by task id (only tasks with a video)."""
        self.disk_version = 0
        """Counts the looks that may have changed `disk`: a whole look that found what the last one did
        leaves it, so a caller need not redo what it derived from `disk`."""
        self.failures: dict[str, GrokdashError] = {}
        """The last failure of each video this process could not save (cleared by a later success)."""
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._gate = asyncio.Semaphore(max(1, settings.max_downloads))
        self._attempts: dict[str, int] = {}
        self._not_before: dict[str, float] = {}
        """Monotonic time before which this process does not try a video again by itself."""
        self._given_up: set[str] = set()
        self._reporter = OnSavedReporter()
        # A command (it gives up after some attempts) is a fresh run: a failure another run left is
        # tried again now; the dashboard leaves it a minute, so two open ones do not take turns at it.
        self._failed_after = 0.0 if settings.give_up_after is not None else RETRY_FAILED_AFTER
        self._ends: dict[str, int] = {}
        """Saves ended, by task id (a look that overlapped one leaves that video alone)."""
        self._ended = asyncio.Event()

    async def __aenter__(self) -> Saver:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---- what it shows ---------------------------------------------------------------------------

    @property
    def busy(self) -> int:
        """Saves queued or running."""
        return len(self._jobs)

    @property
    def running(self) -> int:
        return len(self.progress)

    def state(self, tracked: TrackedTask) -> str | None:
        """The task's save state as of the last look at the disk, this process's saves aside."""
        return save_state(tracked, self.disk.get(tracked.id))

    def cell(self, tracked: TrackedTask) -> str | None:
        """`queued` or `42%` while this process saves it; else None (the save state then speaks)."""
        if tracked.id in self.progress:
            return self.progress[tracked.id].cell()
        if tracked.id in self.queued:
            return "queued"
        return None

    # ---- taking saves ----------------------------------------------------------------------------

    async def look(
        self, tasks: Iterable[TrackedTask] | None = None, *, refresh: bool = False, take: bool = True
    ) -> list[str]:
        """Look at the disk for the given tasks (all of them by default) and, with `take`, start every
        owed save that is not running or waiting for a retry. Returns the ids started. `take=False`
        only brings `disk` (what `state` says) up to date: the dashboard without `auto_download`."""
        if refresh:
            await asyncio.to_thread(self.store.refresh)
        chosen = list(self.store.tasks() if tasks is None else tasks)
        ends_before = dict(self._ends)
        found = await asyncio.to_thread(self._look_on_disk, chosen)
        # A save that ended while the disk was looked at knows better than the look (and its task
        # list, taken before): keep what it found, and do not start that video again.
        ended = {task_id for task_id, count in self._ends.items() if ends_before.get(task_id) != count}
        if ended:
            chosen = [tracked for tracked in chosen if tracked.id not in ended]
            found = {task_id: disk for task_id, disk in found.items() if task_id not in ended}
        if tasks is None:
            kept = {task_id: self.disk[task_id] for task_id in ended if task_id in self.disk}
            fresh = found | kept
            if fresh != self.disk:
                self.disk_version += 1
            self.disk = fresh
        else:
            self.disk_version += 1
            for tracked in chosen:
                self.disk.pop(tracked.id, None)
            self.disk.update(found)
        if not take:
            return []
        now, mono = self.clock(), self.monotonic()
        started = []
        for tracked in chosen:
            if tracked.id in self._jobs or tracked.id in self._given_up:
                continue
            if mono < self._not_before.get(tracked.id, mono):
                continue
            disk = found.get(tracked.id)
            # A save this process failed waits for its own gap, not the cross-process one.
            retrying_own = tracked.id in self._attempts and self.state(tracked) not in (
                None,
                "saved",
                "expired",
            )
            if retrying_own or is_owed(tracked, disk, now, failed_after=self._failed_after):
                self._start(tracked.id)
                started.append(tracked.id)
        if started:
            self.on_change()
        return started

    def _look_on_disk(self, tasks: list[TrackedTask]) -> dict[str, OnDisk]:
        found = {}
        for tracked in tasks:
            disk = look_on_disk(tracked, self.settings.folder, with_label=self.settings.with_label)
            if disk is not None:
                found[tracked.id] = disk
        return found

    def save_now(self, task_ids: Iterable[str]) -> list[str]:
        """Save these videos now, whatever happened before (a key, a command): a given-up or expired
        one is tried again. Returns the ids started (not those already queued or running)."""
        started = []
        for task_id in task_ids:
            self._given_up.discard(task_id)
            self._not_before.pop(task_id, None)
            if task_id not in self._jobs:
                self._start(task_id)
                started.append(task_id)
        if started:
            self.on_change()
        return started

    def _start(self, task_id: str) -> None:
        self.queued.add(task_id)
        job = asyncio.create_task(self._save(task_id), name=f"save {task_id}")
        self._jobs[task_id] = job
        job.add_done_callback(lambda _: self._job_done(task_id, job))

    def _job_done(self, task_id: str, job: asyncio.Task[None]) -> None:
        """A save's task has ended: it is no longer busy, and whoever waits for an end hears of it now,
        not before (a waiter woken while the task was still listed would wait for it for ever)."""
        if self._jobs.get(task_id) is job:
            del self._jobs[task_id]
        self._ended.set()

    async def _save(self, task_id: str) -> None:
        started = self.monotonic()
        shown = [0.0]

        trailing: list[asyncio.TimerHandle] = []

        def redraw_late() -> None:
            trailing.clear()
            self.on_change()

        def progress(done: int, total: int | None) -> None:
            now = self.monotonic()
            self.progress[task_id] = Progress(done, total, now - started)
            if now - shown[0] >= REDRAW_GAP:  # four redraws a second at most
                shown[0] = now
                self.on_change()
            elif not trailing:  # the last report before a stall is drawn too, a moment later
                trailing.append(asyncio.get_running_loop().call_later(REDRAW_GAP, redraw_late))

        result: Path | GrokdashError
        try:
            async with self._gate:
                self.queued.discard(task_id)
                self.progress[task_id] = Progress(0, None, 0.0)
                self.on_change()
                result = await save_task(
                    self.downloader,
                    self.client,
                    self.store,
                    task_id,
                    self.settings.folder,
                    with_label=self.settings.with_label,
                    on_progress=progress,
                    clock=self.clock,
                    lock_dir=self.settings.lock_dir,
                    sidecar=self.settings.sidecar,
                )
        except SaveBusyError:  # another process has it: it records the file, we see it then
            self._not_before[task_id] = self.monotonic() + BUSY_GAP
            self.on_busy(task_id)
            self.on_change()
            return
        except GrokdashError as error:
            self._failed(task_id, error)
            result = error
        except Exception as error:  # a bug must not take the other saves (or the dashboard) down
            log.exception("saving %s failed", task_id)
            result = GrokdashError(f"saving failed unexpectedly ({type(error).__name__}); see the log")
            self._failed(task_id, result)
        else:
            self._saved(task_id, result)
        finally:
            self.queued.discard(task_id)
            self.progress.pop(task_id, None)
            self._ends[task_id] = self._ends.get(task_id, 0) + 1
        if isinstance(result, Path):
            await self._run_on_saved(task_id, result)
        self.on_done(task_id, result)
        self.on_change()

    def _failed(self, task_id: str, error: GrokdashError) -> None:
        self.failures[task_id] = error
        attempts = self._attempts[task_id] = self._attempts.get(task_id, 0) + 1
        limit = self.settings.give_up_after
        if isinstance(error, UrlExpiredError) or (limit is not None and attempts >= limit):
            self._given_up.add(task_id)
        else:
            gap = RETRY_GAPS[min(attempts, len(RETRY_GAPS)) - 1]
            self._not_before[task_id] = self.monotonic() + gap

    def _saved(self, task_id: str, path: Path) -> None:
        self.failures.pop(task_id, None)
        self._attempts.pop(task_id, None)
        self._not_before.pop(task_id, None)
        self.disk[task_id] = OnDisk(saved=True)

    async def _run_on_saved(self, task_id: str, path: Path) -> None:
        """The user's program, started in a worker thread (a fork and a stat: not the event loop's)."""
        template = self.settings.on_saved
        if not template:
            return
        tracked = self.store.get(task_id)
        json_path = sidecar_path(path) if self.settings.sidecar else None

        def start() -> str | None:
            return run_on_saved(
                template,
                file=path,
                task_id=task_id,
                label=tracked.label if tracked else None,
                json_path=json_path if json_path is not None and json_path.exists() else None,
            )

        problem = await asyncio.to_thread(start)
        if (sentence := self._reporter.report(problem)) is not None:
            self.on_notice(sentence)

    # ---- until done (the commands) --------------------------------------------------------------

    def waiting(self) -> list[str]:
        """Videos this process will try again by itself, after a gap."""
        return [task_id for task_id in self._not_before if task_id not in self._given_up]

    async def drain(
        self,
        only: Iterable[str] | None = None,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """Save every owed video found (or only those of `only`), retrying failures after their gaps,
        until none is left that this process would still try (see `unsaved`). A video another process
        is saving is waited for."""
        wanted = None if only is None else set(only)
        while True:
            await asyncio.to_thread(self.store.refresh)
            chosen = None if wanted is None else [t for t in self.store.tasks() if t.id in wanted]
            started = await self.look(chosen)
            if any(wanted is None or task_id in wanted for task_id in self._jobs):
                await self._next_end()
                continue
            owed_later = [
                t for t in self.waiting() if (wanted is None or t in wanted) and self._still_owed(t)
            ]
            if not owed_later:
                return
            gap = min(self._not_before[t] for t in owed_later) - self.monotonic()
            if gap <= 0 and not started:  # due, yet not taken: nothing more this process would do
                return
            await sleep(max(0.0, gap))

    async def _next_end(self) -> None:
        self._ended.clear()
        if self._jobs:
            await self._ended.wait()

    def _still_owed(self, task_id: str) -> bool:
        tracked = self.store.get(task_id)
        return tracked is not None and self.state(tracked) not in (None, SAVED)

    def unsaved(self, tasks: Iterable[TrackedTask]) -> list[tuple[TrackedTask, str]]:
        """The finished videos among `tasks` not on disk, each with why (the last failure's sentence, or
        its state)."""
        out = []
        for tracked in tasks:
            state = self.state(tracked)
            if state is None or state == SAVED:
                continue
            error = self.failures.get(tracked.id)
            if error is not None:
                why = error.message
            elif tracked.download_error is not None:
                why = tracked.download_error.message
            else:
                why = "it was not saved" if state == OWED else f"it is {state}"
            out.append((tracked, why))
        return out

    async def aclose(self) -> None:
        """Stop every save (partial files stay, for a resume next time)."""
        jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
        for job in jobs:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job


def saver_settings(settings: Settings, folder: Path | None = None) -> SaverSettings:
    """The Saver's settings from the user's, saving into `folder` (default: the download folder)."""
    return SaverSettings(
        folder=Path(folder or settings.download_dir).absolute(),
        max_downloads=settings.max_downloads,
        with_label=settings.label_in_filename,
        sidecar=settings.sidecar,
        on_saved=settings.on_saved,
        lock_dir=state_dir() / "locks",
    )
