"""Fixtures for the dashboard tests: a task database holding a task in every state, frozen in time,
and a factory that builds the real app around it with no polling and no network.

Snapshot tests and Pilot tests share them:

    def test_something(every_state_store, make_app):
        app = make_app(every_state_store, interval=5.0)
        async with app.run_test(size=(120, 32)) as pilot: ...
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from grokdash.api import GrokClient
from grokdash.errors import ApiError, NetworkError, NotFoundError
from grokdash.models import Task
from grokdash.secret import Secret
from grokdash.store import TaskStore
from grokdash.tracked import TrackedTask
from grokdash.tui.app import DashboardConfig, GrokdashApp

T0 = 1_764_300_000.0
"""The frozen "now" of every dashboard test (2025-11-28 03:20:00 UTC)."""

CLOSED_URL = "http://127.0.0.1:9/kyyReactApiServer"
"""Nothing listens on the discard port: a client never meant to be used, which fails at once if it is."""

VIDEO_HOST = "https://cdn.example.com/videos"


class Ids:
    """The id of the task in each state of `every_state_store`."""

    NEW = "fresh-added-id"
    QUEUED = "queued-harbor"
    PROCESSING = "processing-comet"
    COMPLETED = "done-sunset"
    SAVED = "done-saved-city"
    FAILED = "fail-dragon"
    MODERATED = "unknown-robot"
    STALE = "stale-glacier"
    NETWORK_ERROR = "netdown-meadow"
    GONE = "notfound-typo"
    LABELLED = COMPLETED
    HISTORY = ("done-pro-1", "done-pro-2", "done-pro-3")
    """Completed grok_video3_pro tasks seen running: the median the processing task's ETA comes from."""


NOT_FOUND = NotFoundError("the task was not found (HTTP 404)")


def frozen_clock() -> float:
    return T0


def _task(task_id: str, status: str, model: str, created: float, **fields: Any) -> Task:
    raw = {"id": task_id, "status": status, "model": model, "created": int(created)}
    for name, value in fields.items():
        raw[{"actual_duration": "actualDuration"}.get(name, name)] = value
    return Task(id=task_id, status=status, model=model, created=int(created), raw=raw, **fields)


def _answers(
    task_id: str, model: str, created: float, steps: list[tuple[float, str, dict[str, Any]]], **extra: Any
) -> TrackedTask:
    """A task added at `created` + 1 s and answered at each (time, status, fields) of `steps`."""
    tracked = TrackedTask(id=task_id, added_at=created + 1, **extra)
    for at, status, fields in steps:
        tracked = tracked.with_answer(_task(task_id, status, model, created, **fields), at)
    return tracked


def _errors(tracked: TrackedTask, errors: list[tuple[float, ApiError]]) -> TrackedTask:
    for at, error in errors:
        tracked = tracked.with_error(error, at)
    return tracked


def every_state_records() -> list[TrackedTask]:
    """A task in every state the dashboard draws, with fixed times relative to `T0`."""
    url = f"{VIDEO_HOST}/{{}}.mp4?token=abc123"
    done = {"video_url": url.format(Ids.COMPLETED), "actual_duration": 10.0}
    records = [
        TrackedTask(id=Ids.NEW, added_at=T0 - 5),
        _answers(Ids.QUEUED, "grok_video3", T0 - 40, [(T0 - 38, "queued", {}), (T0 - 8, "queued", {})]),
        _answers(
            Ids.PROCESSING,
            "grok_video3_pro",
            T0 - 120,
            [(T0 - 118, "queued", {}), (T0 - 90, "processing", {}), (T0 - 10, "processing", {})],
            label="comet tail, wide",
        ),
        _answers(
            Ids.COMPLETED,
            "grok_video3",
            T0 - 900,
            [(T0 - 898, "queued", {}), (T0 - 860, "processing", {}), (T0 - 650, "completed", done)],
            label="sunset over the bay",
        ),
        _answers(
            Ids.SAVED,
            "grok_video3_max",
            T0 - 2400,
            [
                (T0 - 2398, "processing", {}),
                (
                    T0 - 2000,
                    "completed",
                    {"video_url": url.format(Ids.SAVED), "actual_duration": 16.0},
                ),
            ],
            label="drone over the city",
            local_file="/home/user/Downloads/grokdash/done-saved-city.mp4",
        ),
        _answers(
            Ids.FAILED,
            "grok_video3_max",
            T0 - 300,
            [
                (T0 - 298, "queued", {}),
                (T0 - 270, "processing", {}),
                (T0 - 200, "failed", {"error": "content moderation: the prompt was refused"}),
            ],
            label="dragon flight",
        ),
        _answers(
            Ids.MODERATED,
            "grok_video3",
            T0 - 600,
            [(T0 - 598, "processing", {}), (T0 - 400, "moderated", {})],
        ),
        _answers(
            Ids.STALE, "grok_video3", T0 - 4000, [(T0 - 3990, "processing", {}), (T0 - 20, "processing", {})]
        ),
        _errors(
            _answers(Ids.NETWORK_ERROR, "grok_video3_stable", T0 - 200, [(T0 - 198, "queued", {})]),
            [(T0 - 30, NetworkError("cannot connect to api.example.com: connection refused"))],
        ),
        _errors(
            TrackedTask(id=Ids.GONE, added_at=T0 - 100),
            [
                (T0 - 99, NOT_FOUND),
                (T0 - 60, NOT_FOUND),
                (T0 - 15, NOT_FOUND),
            ],
        ),
    ]
    for n, took in enumerate((200.0, 240.0, 260.0)):
        created = T0 - 7200 + 600 * n
        records.append(
            _answers(
                Ids.HISTORY[n],
                "grok_video3_pro",
                created,
                [
                    (created + 2, "queued", {}),
                    (created + 30, "processing", {}),
                    (
                        created + took,
                        "completed",
                        {"video_url": url.format(Ids.HISTORY[n]), "actual_duration": 6.0},
                    ),
                ],
            )
        )
    return records


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """The details screen shows local times: pin the zone so snapshots are the same on every machine."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.fixture
def every_state_store(tmp_path: Path) -> TaskStore:
    """A task database in `tmp_path` holding a task in every state (see `Ids`)."""
    store = TaskStore(tmp_path / "tasks.json", clock=frozen_clock)
    store.import_records(every_state_records())
    return store


@pytest.fixture
def store(tmp_path: Path, clock) -> TaskStore:
    """An empty task database in `tmp_path`, on the test's fake clock (the one the simulator follows)."""
    return TaskStore(tmp_path / "tasks.json", clock=clock)


def closed_client() -> GrokClient:
    return GrokClient(CLOSED_URL, Secret("test-key"))


def build_app(store: TaskStore, **config_overrides: Any) -> GrokdashApp:
    """The real dashboard around `store`: a frozen clock, a poller that does not start by itself, a client
    at a closed port, no desktop notifications. Any `DashboardConfig` field can be overridden."""
    settings: dict[str, Any] = {
        "store": store,
        "make_client": closed_client,
        "start_polling": False,
        "clock": frozen_clock,
        "desktop_notifications": False,
        "auto_download": False,
    }
    settings.update(config_overrides)
    return GrokdashApp(DashboardConfig.of(**settings))


@pytest.fixture
def make_app() -> Callable[..., GrokdashApp]:
    """`make_app(store, **config_overrides) -> GrokdashApp` (see `build_app`)."""
    return build_app
