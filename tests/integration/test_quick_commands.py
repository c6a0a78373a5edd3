"""`grokdash add` and `rm` on a large database (here store.JOURNAL_FROM is 0) do not read it: the ids
index and the journal say what is tracked (quickchange.py). Where the index cannot be trusted they read
everything, as before, and the user sees no difference but the time."""

from __future__ import annotations

import json

import pytest

import grokdash.store as store_module
from grokdash import taskindex, taskjournal
from grokdash.store import TaskStore

from .cli import listed_ids, run_cli

pytestmark = pytest.mark.usefixtures("journal_at_any_size")


def never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self, *args, **kwargs):
        raise AssertionError("the whole database was read")

    monkeypatch.setattr(TaskStore, "_reload", refuse)


def test_add_and_rm_answer_from_the_index_without_reading_the_database(db, env, monkeypatch):
    assert run_cli(["add", "old-1", "old-2", "old-3"], env).exit_code == 0
    with monkeypatch.context() as patch:
        never_read(patch)

        added = run_cli(["add", "new-1", "old-2", "--label", "kites"], env)
        removed = run_cli(["rm", "old-1", "nope"], env)

    assert added.exit_code == 0, added.stderr
    assert "tracking (1): new-1" in added.stdout and "already tracked (1): old-2" in added.stdout
    assert removed.exit_code == 2 and "stopped tracking (1): old-1" in removed.stdout
    assert "'nope' is not tracked" in removed.stderr
    assert listed_ids(env) == ["old-2", "old-3", "new-1"]
    labels = {item["id"]: item["label"] for item in json.loads(run_cli(["ls", "--json"], env).stdout)}
    assert labels["new-1"] == "kites"


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda db: taskindex.path_of(db).unlink(), id="index deleted"),
        pytest.param(lambda db: taskindex.path_of(db).write_text("not an index"), id="index garbled"),
        pytest.param(lambda db: db.write_text(db.read_text()), id="file rewritten by hand"),
        pytest.param(lambda db: taskjournal.path_of(db).write_text("garbled\n"), id="journal garbled"),
    ],
)
def test_where_the_index_cannot_be_trusted_add_and_rm_read_everything_as_before(db, env, spoil):
    assert run_cli(["add", "old-1", "old-2"], env).exit_code == 0
    assert run_cli(["add", "in-journal"], env).exit_code == 0
    spoil(db)

    assert run_cli(["add", "new-1"], env).exit_code == 0
    assert run_cli(["rm", "old-1"], env).exit_code == 0

    ids = listed_ids(env)
    assert "new-1" in ids and "old-1" not in ids and "old-2" in ids
    assert run_cli(["add", "new-2"], env).exit_code == 0  # and the index is back for the next one
    assert taskindex.describes(taskindex.path_of(db), store_module._stat_signature(db))
