"""The dashboard against a server that misbehaves the way real ones do (tests/hostile.py): headers or a
body a byte a second, an endless body, a gzip bomb, 100 MB of answer, JSON a thousand deep.

What a user would check: the dashboard stays up, each hostile task's row says its own error, a healthy
task beside them is answered, and nothing of the huge answers reaches the database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grokdash.store import TaskStore
from tests.hostile import HOSTILE, SMALL_FILE, TIMEOUT, HostileServer
from tests.tui.board import dashboard

pytestmark = pytest.mark.anyio

HEALTHY = "healthy-1"


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    yield server
    server.close()


async def test_every_hostile_answer_is_its_own_tasks_error_and_the_dashboard_carries_on(
    hostile: HostileServer, clock, tmp_path
):
    db = tmp_path / "tasks.json"
    store = TaskStore(db, clock=clock)
    ids = [f"{name}-1" for name, _, _ in HOSTILE]
    store.add([*ids, HEALTHY])
    # The whole exchange's deadline is the client's timeout: a byte a second never reaches it.
    async with dashboard(store, clock, hostile, read_timeout=TIMEOUT, concurrency=16) as board:

        def settled() -> bool:
            records = [store.get(task_id) for task_id in ids]
            return store.get(HEALTHY).status is not None and all(r.last_error for r in records)

        await board.until(settled, "every hostile task's error and the healthy answer", timeout=30)
        for (name, kind, words), task_id in zip(HOSTILE, ids, strict=True):
            failure = store.get(task_id).last_error
            assert failure.kind == kind, f"{name}: {failure}"
            assert words in failure.message, f"{name}: {failure.message}"
        assert store.get(HEALTHY).status == "completed"
        assert {t.id: t.status for t in board.table.rows}[HEALTHY] == "completed", "shown, not only stored"
        assert board.app.is_running
        await board.until(lambda: store.unsaved == 0, "the answers to be written")
    assert db.stat().st_size < SMALL_FILE, "nothing of a huge answer is kept"
    assert TaskStore(db, clock=clock).get(HEALTHY).status == "completed"
