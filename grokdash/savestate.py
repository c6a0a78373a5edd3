"""Where each finished video stands: what the SAVED column, `ls --json`'s `saved` and the summary say.

A task that completed with a video URL is *owed* a save until grokdash has saved its video. The state
comes from the record and a look at the disk (`look_on_disk`, a few stats; run it off the event loop):

- `saved`: the recorded file is there, with the recorded size;
- `missing`: a file was recorded but is gone (or replaced): owed again;
- `partial`: an interrupted save left a `.part` that the next save resumes: owed;
- `owed`: completed, nothing saved yet;
- `expired`: the last save found the URL expired and the API had no working one: owed no more;
- `failed`: the last save failed otherwise (network, disk): owed again after `RETRY_FAILED_AFTER`.
"""

from __future__ import annotations

import os
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from grokdash.models import Status
from grokdash.tracked import TrackedTask
from grokdash.videofile import PART_SUFFIX, extension_for, part_progress, safe_filename, saved_file

OWED = "owed"
PARTIAL = "partial"
SAVED = "saved"
MISSING = "missing"
EXPIRED = "expired"
FAILED = "failed"
NOT_ON_DISK = frozenset({OWED, PARTIAL, MISSING, EXPIRED, FAILED})
"""The states of a finished video that is not on disk (the summary counts them)."""

RETRY_FAILED_AFTER = 60.0
"""Seconds after a failed save (not an expired URL) before any grokdash takes it again by itself."""


@dataclass(frozen=True, slots=True)
class OnDisk:
    """What the disk says about a task's video."""

    saved: bool
    """The recorded file is there (with its recorded size)."""
    partial: tuple[int, int | None] | None = None
    """Bytes kept by an interrupted save, and the whole size when known."""

    def percent(self) -> int | None:
        if self.partial is None or not self.partial[1]:
            return None
        done, total = self.partial
        return min(99, done * 100 // total)


NOTHING_SAVED = OnDisk(saved=False)
"""A video with neither a saved file nor a partial one (shared: the value is frozen)."""


def has_video(tracked: TrackedTask) -> bool:
    """Completed: its video is to be saved. Without a URL in the last answer too (some servers say
    `completed` a moment before the URL is ready): the save asks the API for it first."""
    return tracked.status == Status.COMPLETED


def look_on_disk(
    tracked: TrackedTask, folder: Path, *, with_label: bool, parts: AbstractSet[str] | None = None
) -> OnDisk | None:
    """Stat the recorded file, or the partial file a save of it would resume; None when the task has no
    video to save. `parts`: the names of the partial files in `folder`, when the caller listed them once
    for many tasks (then a task with none is told without working out its file name). Blocking: call it
    in a worker thread for many tasks."""
    if tracked.local_file:
        return OnDisk(saved=saved_file(tracked) is not None)
    if not has_video(tracked):
        return None
    if parts is not None and not parts:
        return NOTHING_SAVED
    url = (tracked.task.video_url if tracked.task else None) or ""
    name = safe_filename(tracked.id, tracked.label, extension_for(None, url), with_label=with_label)
    part = name + PART_SUFFIX
    if parts is not None and part not in parts:
        return NOTHING_SAVED
    return OnDisk(saved=False, partial=part_progress(folder / part))


def partial_files(folder: Path) -> frozenset[str] | None:
    """The names of the partial files in `folder` (one listing, for `look_on_disk` over many tasks);
    None when the folder cannot be listed (a folder one may enter but not list): then look per task."""
    try:
        with os.scandir(folder) as entries:
            return frozenset(entry.name for entry in entries if entry.name.endswith(PART_SUFFIX))
    except FileNotFoundError:  # nothing saved there yet
        return frozenset()
    except OSError:
        return None


def save_state(tracked: TrackedTask, disk: OnDisk | None) -> str | None:
    """The task's save state (one of the words above), or None when it has no video to save. Without a
    look at the disk (`disk` None) a recorded file counts as there."""
    if tracked.local_file and (disk is None or disk.saved):
        return SAVED
    if not tracked.local_file and not has_video(tracked):
        return None
    if tracked.download_error is not None:  # the latest attempt (a save clears it)
        return EXPIRED if tracked.download_error.kind == "url_expired" else FAILED
    if tracked.local_file:
        return MISSING
    if disk is not None and disk.partial is not None:
        return PARTIAL
    return OWED


def is_owed(
    tracked: TrackedTask, disk: OnDisk | None, now: float, *, failed_after: float = RETRY_FAILED_AFTER
) -> bool:
    """Whether a saver should take this task's video now, by itself (a key or a command may force it).
    A failed save is taken again once `failed_after` seconds have passed since it failed."""
    state = save_state(tracked, disk)
    if state in (OWED, PARTIAL, MISSING):
        return True
    if state == FAILED:
        assert tracked.download_error is not None
        return now - tracked.download_error.at >= failed_after
    return False


def describe(state: str | None, disk: OnDisk | None) -> str:
    """The SAVED column's words: `partial 43%` with what an interrupted save kept."""
    if state == PARTIAL and disk is not None and (percent := disk.percent()) is not None:
        return f"partial {percent}%"
    return state or ""
