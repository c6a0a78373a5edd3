"""Hostile API servers over real loopback, against the real `grokdash status` and `grokdash new`.

Each server here answers as a broken or malicious one would: headers or a body a byte a second, a
chunked body that never ends, a gzip bomb (10 MB that unpacks to 10 GiB), 100 MB of answer with and
without a Content-Length, JSON nested a thousand deep. What a user checks is checked: the command ends
within the timeout and a little, with exit status 1, one sentence and no traceback, the right
`query_error` kind, a peak memory far below the answer's size, and for a create, that it says the task
may have been created and keeps the request in the state folder.

The commands run as child processes, each under a small wrapper that reports the peak memory of that
one child. The server and the wrapper live in tests/hostile.py, shared with `grokdash watch`'s tests.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grokdash.api import GrokClient, Timeouts
from grokdash.config import state_dir
from grokdash.models import MAX_ERROR_LENGTH
from grokdash.secret import Secret
from grokdash.store import TaskStore
from tests.faults import assert_one_sentence
from tests.hostile import (
    HOSTILE,
    HOSTILE_IDS,
    PREFIX,
    TIMEOUT,
    HostileServer,
    Run,
    assert_bounded,
    assert_nothing_large_written,
    grokdash,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def server() -> Iterator[HostileServer]:
    hostile = HostileServer()
    yield hostile
    hostile.close()


@pytest.mark.parametrize(("behaviour", "kind", "says"), HOSTILE, ids=HOSTILE_IDS)
def test_status_against_a_hostile_server_ends_in_time_with_one_error(server, tmp_path, behaviour, kind, says):
    task_id = f"{behaviour}-1"
    run = grokdash(tmp_path, server.base_url, "status", task_id, "--json")

    assert run.exit_code == 1
    assert_bounded(run)
    [result] = json.loads(run.stdout)
    assert result["id"] == task_id and result["status"] is None
    assert result["query_error"]["kind"] == kind
    assert_one_sentence(result["query_error"]["message"], says)
    if kind == "timeout":
        assert f"task '{task_id}'" in result["query_error"]["message"]
    assert run.stderr == ""
    assert_nothing_large_written(tmp_path)


def test_a_healthy_task_is_answered_alongside_one_that_hangs(server, tmp_path):
    run = grokdash(tmp_path, server.base_url, "status", "slowheaders-1", "healthy-1", "--json")

    assert run.exit_code == 1
    assert_bounded(run)
    hanging, answered = json.loads(run.stdout)
    assert hanging["query_error"]["kind"] == "timeout"
    assert answered["query_error"] is None
    assert answered["status"] == "completed"
    assert answered["video_url"] == "https://cdn.example/v.mp4"


def unsent(tmp_path: Path) -> list[Path]:
    folder = state_dir() / "unsent"
    assert folder.is_relative_to(tmp_path)  # the `home` fixture's state folder, also the child's
    return sorted(folder.glob("*.json")) if folder.exists() else []


def create(tmp_path: Path, base_url: str, prompt: str) -> Run:
    return grokdash(tmp_path, base_url, "new", "--model", "grok_video3", "--prompt", prompt, "--yes")


@pytest.mark.parametrize(("behaviour", "kind", "says"), HOSTILE, ids=HOSTILE_IDS)
def test_a_create_answered_by_a_hostile_server_may_have_been_made_and_is_kept(
    server, tmp_path, behaviour, kind, says
):
    run = create(tmp_path, server.base_url, behaviour)

    assert run.exit_code == 1
    assert_bounded(run)
    [sentence] = [line for line in run.stderr.splitlines() if "may have been created" in line]
    assert_one_sentence(sentence, says)
    assert sentence.endswith("; the task may have been created: not sent again")
    [kept] = unsent(tmp_path)
    assert json.loads(kept.read_text())["prompt"] == behaviour
    assert f"the request is kept in {kept}" in run.stderr
    assert run.stdout == ""  # no task id: none is known
    assert_nothing_large_written(tmp_path)


def test_a_create_that_cannot_connect_in_time_was_not_sent_and_says_so(tmp_path):
    """A listener that never accepts, its one-place queue full: the next connection hangs unanswered."""
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        filler = socket.create_connection(listener.getsockname())
        port = listener.getsockname()[1]
        with filler:
            run = create(tmp_path, f"http://127.0.0.1:{port}{PREFIX}", "x")

    assert run.exit_code == 1
    assert_bounded(run)
    [sentence] = [line for line in run.stderr.splitlines() if line.startswith("grokdash: could not")]
    assert_one_sentence(sentence, f"could not connect to 127.0.0.1:{port} within 2 s")
    assert "may have been created" not in run.stderr
    assert unsent(tmp_path) == []


async def test_a_long_error_text_is_stored_cut_and_the_database_stays_small(server, tmp_path):
    db = tmp_path / "tasks.json"
    store = TaskStore(db)
    store.add(["longerror-1"])
    async with GrokClient(server.base_url, Secret("k"), timeouts=Timeouts(total=TIMEOUT)) as client:
        task = await client.get_task("longerror-1")
    store.update({task.id: lambda old: old.with_answer(task, time.time())})

    assert task.status == "failed"
    assert len(task.error) <= MAX_ERROR_LENGTH and task.error.endswith("more characters")
    assert db.stat().st_size < 16 * 1024
    [reread] = TaskStore(db).tasks()
    assert reread.task == task
    assert reread.task.raw == task.raw
