"""With a sentinel key, run the commands as separate processes and search everything they wrote to the
terminal and the disk: the key is never there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grokdash.sim import SimServer, Timings

SENTINEL = "sk-SENTINEL-7f3a9c1e5b2d4068"

COMMANDS = [
    ["--help"],
    ["status", "--help"],
    ["status", "hello", "notfound-1", "html-1", "truncated-1", "ratelimit-1", "mismatch-1", "nostatus-1"],
    ["status", "--json", "hello", "fail-1", "wrapped-1", "strings-1", "unknown-1", "", "a b"],
    ["status", "--json", "hang-1", "slow-1"],
    ["--interval", "nope", "status", "x"],
    ["add", "hello", "fail-1", "notfound-1", "ratelimit-1", "--label", "hygiene"],
    ["add", "-"],
    ["ls"],
    ["ls", "--json", "--status", "new"],
    ["watch", "--once", "--json"],
    ["watch", "--interval", "0.5", "--exit-status", "hello", "fail-1"],
    ["export"],
    ["export", "--format", "csv"],
    ["import", "-"],
    ["rm", "ratelimit-1", "never-tracked"],
]


@pytest.fixture
def sentinel_sim() -> SimServer:
    timings = Timings(queued_seconds=0.2, processing_seconds=0.2)
    with SimServer(key=SENTINEL, slow_seconds=2, timings=timings) as server:
        yield server


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grokdash", *args],
        env=env,
        input="from-stdin-1, from-stdin-2\n",
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_key_is_never_printed_logged_or_stored(sentinel_sim, home):
    env = {
        **os.environ,
        "GROKDASH_API_KEY": SENTINEL,
        "GROKDASH_BASE_URL": sentinel_sim.base_url,
        "GROKDASH_TIMEOUT": "0.5",
        "GROKDASH_DB": str(home / "data" / "tasks.json"),
    }
    outputs = []
    for args in COMMANDS:
        result = run(args, env)
        outputs.append((args, result.stdout + result.stderr))
        assert "Traceback" not in result.stderr, args

    # A server that refuses the key must not make us echo it either.
    result = run(["status", "hello"], {**env, "GROKDASH_API_KEY": SENTINEL + "-wrong"})
    outputs.append((["wrong key"], result.stdout + result.stderr))
    assert "API key was refused" in result.stdout

    for args, text in outputs:
        assert SENTINEL not in text, f"the key was printed by grokdash {' '.join(args)}"
    written = [path for path in home.rglob("*") if path.is_file()]
    assert {"grokdash.log", "tasks.json"} <= {path.name for path in written}, (
        "the commands should have written"
    )
    for path in written:
        assert SENTINEL.encode() not in Path(path).read_bytes(), f"the key was written to {path}"
