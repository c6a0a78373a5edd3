"""The commands on a database past store.JOURNAL_FROM (here set to 0): `add` and `rm` append to the
journal and leave the TinyDB file alone, every command reads both, and a `watch` that follows its tasks
to the end writes the file whole on its way out."""

from __future__ import annotations

import json

import pytest

from grokdash import taskjournal
from grokdash.sim import SimServer, Timings

from .cli import listed_ids, run_cli

pytestmark = pytest.mark.usefixtures("journal_at_any_size")


def test_add_and_rm_leave_the_file_alone_and_every_command_sees_them(db, env):
    assert run_cli(["add", *[f"old-{n}" for n in range(50)]], env).exit_code == 0
    file_before = db.read_bytes()

    assert run_cli(["add", "new-1", "new-2"], env).exit_code == 0
    assert run_cli(["rm", "old-7"], env).exit_code == 0

    assert db.read_bytes() == file_before
    assert taskjournal.path_of(db).exists()
    ids = listed_ids(env)
    assert ids[-2:] == ["new-1", "new-2"] and "old-7" not in ids and len(ids) == 51
    exported = json.loads(run_cli(["export"], env).stdout)
    assert [task["id"] for task in exported["tasks"]] == ids


def test_a_watch_followed_to_the_end_writes_the_file_whole_and_once_does_not(db, env):
    with SimServer(timings=Timings(queued_seconds=0.2, processing_seconds=0.3)) as sim:
        env = {**env, "GROKDASH_BASE_URL": sim.base_url}
        run_cli(["add", *[f"old-{n}" for n in range(50)]], env)
        run_cli(["add", "good-1"], env)
        assert run_cli(["watch", "--once"], env).exit_code == 0
        assert taskjournal.path_of(db).exists()

        assert run_cli(["watch", "--interval", "0.5", "good-1"], env).exit_code == 0

    assert not taskjournal.path_of(db).exists()
    stored = {doc["id"]: doc for doc in json.loads(db.read_text())["tasks"].values()}
    assert stored["good-1"]["answer"]["status"] == "completed"
