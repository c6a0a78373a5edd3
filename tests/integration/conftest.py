"""What the integration tests share: a command's database and environment; and for the saving tests, the
simulator's clients, a downloader, the download folder, and a simulator whose tasks complete at once,
for commands run against it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from grokdash.api import GrokClient, Timeouts
from grokdash.downloads import Downloader
from grokdash.secret import Secret
from grokdash.sim import SimServer, Timings
from grokdash.store import TaskStore


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The task database of a command run in a test (a module may name its own)."""
    return tmp_path / "tasks.json"


@pytest.fixture
def env(db: Path) -> dict[str, str]:
    """A command's environment: `db` as its task database, and an API key (a module may name its own)."""
    return {"GROKDASH_DB": str(db), "GROKDASH_API_KEY": "k"}


@pytest.fixture
def store(tmp_path: Path, clock) -> TaskStore:
    return TaskStore(tmp_path / "tasks.json", clock=clock)


@pytest.fixture
async def client(sim: SimServer, sim_key: str) -> AsyncIterator[GrokClient]:
    async with GrokClient(sim.base_url, Secret(sim_key), timeouts=Timeouts(read=5)) as client:
        yield client


@pytest.fixture
async def dl() -> AsyncIterator[Downloader]:
    async with Downloader(timeouts=Timeouts(connect=5, read=5), chunk_size=4096) as downloader:
        yield downloader


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "Downloads" / "grokdash"


@pytest.fixture
def done_sim() -> Iterator[SimServer]:
    """Tasks complete as soon as they are first asked about."""
    with SimServer(timings=Timings(queued_seconds=0, processing_seconds=0)) as server:
        yield server


@pytest.fixture
def videos(tmp_path: Path) -> Path:
    return tmp_path / "videos"


@pytest.fixture
def saving_env(done_sim: SimServer, tmp_path: Path, videos: Path) -> dict[str, str]:
    """A command's environment: `done_sim` as the API, this test's database and download folder."""
    return {
        "GROKDASH_BASE_URL": done_sim.base_url,
        "GROKDASH_API_KEY": "k",
        "GROKDASH_DB": str(tmp_path / "tasks.json"),
        "GROKDASH_DOWNLOAD_DIR": str(videos),
        "GROKDASH_INTERVAL": "0.5",
    }


@pytest.fixture
def fast_sim() -> Iterator[SimServer]:
    """A simulator on the real clock whose tasks finish within a second (key "kill-key"): for commands
    that follow their tasks to the end, as `grokdash batch` does."""
    server = SimServer(key="kill-key", timings=Timings(queued_seconds=0.2, processing_seconds=0.3))
    with server:
        yield server
