"""The operations a user does with tracked tasks, once, for every surface.

The commands (`cli.py`) and the dashboard (`tui/`) are shells over these: they turn flags and keys into
calls here and the results into lines and pixels. A fix made here reaches both. Nothing here prints,
draws or reads a flag; failures are exceptions carrying one sentence (`GrokdashError` and its kinds).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from grokdash.config import state_dir
from grokdash.errors import ApiError, GrokdashError, InvalidIdError, safe_snippet
from grokdash.files import PRIVATE_MODE
from grokdash.models import Task, partition_ids
from grokdash.rules import CreateRequest, label_from_prompt
from grokdash.savestate import OnDisk, look_on_disk, partial_files
from grokdash.store import AddOutcome, TaskStore
from grokdash.tracked import TrackedTask
from grokdash.videofile import VIDEO_SUFFIXES, saved_file

if TYPE_CHECKING:  # the client is the caller's: `add` and `ls` start without loading httpx
    from grokdash.api import GrokClient

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]


# ---- tracking --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackOutcome:
    added: list[str]
    """Ids tracked now and not before, in the order given."""
    already: list[str]
    """Ids tracked already, left as they were."""
    refused: list[tuple[str, InvalidIdError]]
    """Ids that cannot name a task, each with why; nothing was done with them."""


def track(store: TaskStore, ids: Iterable[str], *, label: str | None = None) -> TrackOutcome:
    """Track the valid ids (one write); name the invalid ones. Raises StoreError when the database
    cannot be written, having tracked none of them."""
    valid, refused = partition_ids(ids)
    outcome = store.add(valid, label=label) if valid else AddOutcome(added=[], already=[])
    return TrackOutcome(outcome.added, outcome.already, refused)


def untrack(store: TaskStore, ids: Iterable[str]) -> list[TrackedTask]:
    """Stop tracking the ids; returns the records as they were, for `restore` (undo)."""
    return store.remove(ids)


def restore(store: TaskStore, records: Iterable[TrackedTask]) -> None:
    """Track removed records again, as they were (ids tracked again meanwhile are left alone)."""
    store.restore(records)


def label(store: TaskStore, ids: Iterable[str], text: str | None) -> list[TrackedTask]:
    """Set (or, with empty text, clear) the label of each id."""
    return store.update({task_id: (lambda old: old.with_label(text)) for task_id in ids})


# ---- creating --------------------------------------------------------------------------------------


class CreateUncertainError(GrokdashError):
    """The create request may have reached the server: it was not sent again, and it is kept."""

    kind = "uncertain"

    def __init__(self, message: str, kept: Path | None, request: CreateRequest) -> None:
        super().__init__(message)
        self.kept = kept
        """Where the request was kept for the user to look at, or None when it could not be."""
        self.request = request


class CreatedNotTrackedError(GrokdashError):
    """The task was created (and paid for) but could not be tracked: its id must not be lost."""

    kind = "store"

    def __init__(self, message: str, task: Task) -> None:
        super().__init__(message)
        self.task = task


async def create_and_track(
    client: GrokClient,
    store: TaskStore,
    request: CreateRequest,
    *,
    label: str | None = None,
    clock: Callable[[], float] = time.time,
) -> Task:
    """Send the create request exactly once and track the new task at once, with its request.

    Raises the API's error when the server surely made nothing (a refusal, no connection);
    CreateUncertainError, with the request kept in the state folder, when it may have made a task;
    CreatedNotTrackedError, naming the id, when the task was made but the database could not take it.
    """
    try:
        task = await client.create_task(request)
    except ApiError as error:
        if not error.may_have_been_created:
            raise
        kept = keep_unsent(request)
        raise CreateUncertainError(error.message, kept, request) from None
    try:
        store.add([task.id], label=label or label_from_prompt(request.prompt), request=request.to_json())
        now = clock()
        store.update({task.id: lambda old: old.with_answer(task, now)})
    except GrokdashError as error:
        raise CreatedNotTrackedError(
            f"created {task.id} but could not track it: {error.message} (track it with: grokdash add "
            f"{task.id})",
            task,
        ) from None
    return task


def unsent_folder() -> Path:
    return state_dir() / "unsent"


def keep_unsent(request: CreateRequest) -> Path | None:
    """Write the request into the state folder so the user can check with the provider before sending
    it again; None when even that fails (the caller then shows the request)."""
    folder = unsent_folder()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = json.dumps(request.to_json(), indent=2, ensure_ascii=False) + "\n"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for attempt in range(100):
            path = folder / (f"{stamp}.json" if attempt == 0 else f"{stamp}-{attempt}.json")
            try:
                # Owner-only, like the database: it holds the prompt and the image URLs.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
            return path
    except OSError as exc:
        log.warning("could not keep the unsent request in %s: %s", folder, exc)
    return None


# ---- opening ---------------------------------------------------------------------------------------


def video_to_open(tracked: TrackedTask) -> tuple[str | None, str | None]:
    """What `o` opens, or why nothing (one sentence): the file grokdash saved for the task (the recorded
    absolute path, a regular file of the recorded size, named like a video), else the video URL when it
    is an http(s) address. A path or a scheme that a server (or an imported record) named is never
    handed to the opener: `/usr/bin/id`, `~/.bashrc`, `evil.desktop`, `file:`, nor a symlink or another
    file put where the video was."""
    saved = saved_file(tracked)
    if saved is not None and saved.suffix.lower() in VIDEO_SUFFIXES:
        return str(saved), None
    url = tracked.task.video_url if tracked.task else None
    if not url:
        if tracked.local_file:
            return None, (
                f"Will not open {safe_snippet(tracked.local_file, 80)}: it is not a video grokdash saved "
                "there (gone, replaced, or not a video file), and there is no video URL."
            )
        return None, "Nothing to open yet: no saved file and no video URL."
    parts = urlsplit(url)
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return url, None
    return (
        None,
        f"Will not open the video URL {safe_snippet(url, 80)}: only http and https addresses are opened.",
    )


# ---- where each video stands -------------------------------------------------------------------------


def look_at_disk(tasks: Iterable[TrackedTask], folder: Path, *, with_label: bool) -> dict[str, OnDisk]:
    """What the disk says of each task's video, by id (tasks with no video are left out): what the
    `saved` state of `ls`, `watch` and `export` comes from. A few stats a task: blocking."""
    found = {}
    parts = partial_files(folder)
    for tracked in tasks:
        disk = look_on_disk(tracked, folder, with_label=with_label, parts=parts)
        if disk is not None:
            found[tracked.id] = disk
    return found


__all__ = [
    "CreateUncertainError",
    "CreatedNotTrackedError",
    "TrackOutcome",
    "create_and_track",
    "keep_unsent",
    "label",
    "look_at_disk",
    "restore",
    "track",
    "untrack",
    "video_to_open",
]
