"""Fixtures shared by every test folder: a fake clock and a running simulator over real loopback HTTP."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grokdash.logs import setup_logging
from grokdash.secret import Secret
from grokdash.sim import SimServer, Timings

SIM_KEY = "test-key"


class FakeClock:
    """A clock tests advance by hand, so task progress never needs a sleep."""

    def __init__(self, now: float = 1_764_300_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config, data, state and download places, and no GROKDASH_* settings
    from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("GROKDASH_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    for variable, sub in [
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_DOWNLOAD_DIR", "Downloads"),
    ]:
        monkeypatch.setenv(variable, str(home / sub))
    return home


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim_key() -> str:
    return SIM_KEY


@pytest.fixture
def sim(clock: FakeClock, sim_key: str) -> Iterator[SimServer]:
    """A started simulator: tasks are queued for 10 s and processing for 20 s of the fake clock."""
    server = SimServer(
        clock=clock,
        key=sim_key,
        timings=Timings(queued_seconds=10, processing_seconds=20),
        slow_seconds=1.0,
    )
    with server:
        yield server


@pytest.fixture
def log_to_state_dir(home: Path) -> Iterator[Callable[..., Path]]:
    """`log_to_state_dir(key, level=INFO)`: grokdash logs to the real log file in this test's state dir,
    masking `key`, as a command would set it up; the file is closed after the test."""

    def start(key: str, level: int = logging.INFO) -> Path:
        path = setup_logging(Secret(key), level=level)
        assert path is not None and home in path.parents
        return path

    yield start
    root = logging.getLogger("grokdash")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()


@pytest.fixture
def journal_at_any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """store.JOURNAL_FROM at 0: a database of a few records takes the path one of 100,000 takes (the
    journal, the ids index). Use with `pytestmark = pytest.mark.usefixtures("journal_at_any_size")`."""
    import grokdash.store

    monkeypatch.setattr(grokdash.store, "JOURNAL_FROM", 0)
