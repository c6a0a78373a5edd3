"""`add` and `rm` without reading the database (quickchange.py): the ids index beside the TinyDB file
says which tasks are tracked and where, and the change is appended to the journal as the store would.

Here JOURNAL_FROM is 0, so databases of a few records take the path a database of 100,000 takes. Every
test checks what a later reader sees: a fresh `TaskStore`, which reads everything.
"""

from __future__ import annotations

import errno
import json
import os
import random
from pathlib import Path

import pytest

import grokdash.store as store_module
from grokdash import quickchange, taskindex, taskjournal
from grokdash.store import StoreError, TaskStore

from .test_store import answered, ids

pytestmark = pytest.mark.usefixtures("journal_at_any_size")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "tasks.json"


def written_whole(db: Path, clock, n: int = 50) -> TaskStore:
    store = TaskStore(db, clock=clock)
    store.add([f"old-{k}" for k in range(n)])
    assert taskindex.path_of(db).exists() and not taskjournal.path_of(db).exists()
    return store


def test_a_quick_add_appends_to_the_journal_and_every_reader_sees_it(db, clock):
    written_whole(db, clock)
    before = db.read_bytes()
    clock.advance(5)

    outcome = quickchange.add(db, ["new-1", "old-3", "new-2", "new-1"], label="  kites ", clock=clock)

    assert outcome is not None
    assert (outcome.added, outcome.already) == (["new-1", "new-2"], ["old-3"])
    assert db.read_bytes() == before
    reader = TaskStore(db, clock=clock)
    assert ids(reader)[-2:] == ["new-1", "new-2"]
    assert reader.get("new-1").label == "kites"
    assert reader.get("new-1").added_at == clock.now
    assert reader.get("old-3").label is None
    assert reader.notices == []


def test_a_quick_add_makes_the_record_the_store_would_make(db, clock, tmp_path):
    written_whole(db, clock)
    other = tmp_path / "other" / "tasks.json"
    written_whole(other, clock)

    quickchange.add(db, ["new-1"], label="kites", clock=clock)
    TaskStore(other, clock=clock).add(["new-1"], label="kites")

    assert TaskStore(db, clock=clock).get("new-1") == TaskStore(other, clock=clock).get("new-1")
    assert json.loads(db.with_name("tasks.json.journal").read_bytes().splitlines()[1].split(b" ", 1)[1]) == (
        json.loads(other.with_name("tasks.json.journal").read_bytes().splitlines()[1].split(b" ", 1)[1])
    )


def test_a_quick_remove_takes_the_tasks_out_and_names_only_those_tracked(db, clock):
    written_whole(db, clock, n=5)

    assert quickchange.remove(db, ["old-1", "nope", "old-4"]) == ["old-1", "old-4"]

    assert ids(TaskStore(db, clock=clock)) == ["old-0", "old-2", "old-3"]


def test_an_add_after_a_remove_and_the_journal_lines_of_others_are_all_counted(db, clock):
    store = written_whole(db, clock, n=5)
    store.add(["by-store"])  # a journal line the index does not hold
    assert quickchange.remove(db, ["old-4", "by-store"]) == ["old-4", "by-store"]

    outcome = quickchange.add(db, ["old-0", "by-store", "again"], clock=clock)

    assert (outcome.added, outcome.already) == (["by-store", "again"], ["old-0"])
    reader = TaskStore(db, clock=clock)
    assert ids(reader) == ["old-0", "old-1", "old-2", "old-3", "by-store", "again"]
    assert reader.notices == []


def test_a_running_store_takes_a_quick_add_from_the_journal_alone(db, clock):
    dashboard = written_whole(db, clock)
    dashboard.add(["seen-first"])
    dashboard.stage({"old-1": lambda record: answered(record, "processing", clock.now)})

    quickchange.add(db, ["from-a-script"], clock=clock)

    assert dashboard.refresh() is True
    assert dashboard.get("from-a-script") is not None
    assert dashboard.get("old-1").status == "processing"  # still staged on top
    dashboard.flush()
    assert TaskStore(db, clock=clock).get("old-1").status == "processing"


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda db: taskindex.path_of(db).unlink(), id="no index"),
        pytest.param(
            lambda db: taskindex.path_of(db).write_bytes(taskindex.path_of(db).read_bytes()[:-3] + b"99}"),
            id="garbled index",
        ),
        pytest.param(lambda db: db.touch(), id="the file touched since"),
        pytest.param(lambda db: fifo(taskindex.path_of(db)), id="index a FIFO"),
        pytest.param(lambda db: forged(taskindex.path_of(db)), id="index forged with a sum"),
        pytest.param(
            lambda db: taskjournal.path_of(db).write_bytes(b'{"journal":1,"base":"other:abc"}\n'),
            id="a journal on another version",
        ),
        pytest.param(
            lambda db: taskjournal.path_of(db).write_bytes(
                taskjournal.path_of(db).read_bytes() + b"0123 " + b'{"put":{"99":{"id":"forged"}}}\n'
            ),
            id="a line the store did not write",
        ),
        pytest.param(lambda db: taskjournal.path_of(db).write_bytes(b"nonsense\n"), id="a garbled journal"),
    ],
)
def test_anything_not_exactly_as_the_store_left_it_is_left_to_the_long_way(db, clock, spoil):
    store = written_whole(db, clock)
    store.add(["in-journal"])
    spoil(db)
    files = {path: path.read_bytes() for path in db.parent.iterdir() if path.is_file()}

    assert quickchange.add(db, ["new-1"], clock=clock) is None
    assert quickchange.remove(db, ["old-1"]) is None

    assert {path: path.read_bytes() for path in db.parent.iterdir() if path.is_file()} == files


def test_the_long_way_writes_a_missing_index_again_and_the_quick_way_works_after(db, clock):
    written_whole(db, clock)
    taskindex.path_of(db).unlink()
    assert quickchange.add(db, ["a"], clock=clock) is None

    TaskStore(db, clock=clock).add(["a"])  # what `grokdash add` then does: the long way, a journal line

    assert taskindex.path_of(db).exists()
    outcome = quickchange.add(db, ["a", "b"], clock=clock)
    assert (outcome.added, outcome.already) == (["b"], ["a"])
    assert ids(TaskStore(db, clock=clock))[-2:] == ["a", "b"]


def test_below_the_journal_size_there_is_no_index_and_no_quick_way(db, clock, monkeypatch):
    monkeypatch.setattr(store_module, "JOURNAL_FROM", 1 << 20)
    TaskStore(db, clock=clock).add(["a"])

    assert not taskindex.path_of(db).exists()
    assert quickchange.add(db, ["b"], clock=clock) is None


def test_a_journal_as_large_as_the_file_goes_the_long_way_which_compacts_it(db, clock):
    store = written_whole(db, clock, n=3)
    journal = taskjournal.path_of(db)
    for k in range(1000):
        store.update({"old-1": lambda record, k=k: record.with_label(f"label {k}")})
        assert journal.exists(), "compacted before the journal was as large as the file"
        if journal.stat().st_size >= db.stat().st_size:
            break
    # The store compacts on its next write; until then the quick way must not add to the pile.
    assert quickchange.add(db, ["new"], clock=clock) is None


def test_the_index_moves_past_a_long_journal_so_the_next_add_reads_only_what_follows(db, clock, monkeypatch):
    monkeypatch.setattr(quickchange, "INDEX_REFRESH", 1)
    store = written_whole(db, clock)
    store.add(["by-store"])

    quickchange.add(db, ["quick"], clock=clock)

    index = taskindex.read(taskindex.path_of(db), main=store_module._stat_signature(db))
    journal = taskjournal.path_of(db).stat()
    assert index.journal == (journal.st_ino, journal.st_size)
    assert {"by-store", "quick", "old-0"} <= set(index.doc_ids)
    assert quickchange.add(db, ["quick", "later"], clock=clock).already == ["quick"]
    assert ids(TaskStore(db, clock=clock))[-3:] == ["by-store", "quick", "later"]


def test_a_full_disk_is_one_sentence_and_the_journal_is_left_as_it_was(db, clock, monkeypatch):
    store = written_whole(db, clock)
    store.add(["in-journal"])
    journal = taskjournal.path_of(db).read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(taskjournal, "append", full)
    with pytest.raises(StoreError, match=r"could not save the task database .*No space left on device"):
        quickchange.add(db, ["new"], clock=clock)
    assert taskjournal.path_of(db).read_bytes() == journal


def test_a_lock_held_by_another_process_is_waited_for_and_then_named(db, clock, monkeypatch):
    written_whole(db, clock)
    monkeypatch.setattr(quickchange, "LOCK_TIMEOUT", 0.05)
    holder = store_module.database_lock(db.resolve(), 1)
    holder.acquire()
    try:
        with pytest.raises(StoreError, match="is locked by another grokdash process"):
            quickchange.add(db, ["new"], clock=clock)
    finally:
        holder.release()


@pytest.mark.parametrize("seed", range(6))
def test_quick_and_long_changes_mixed_in_any_order_lose_nothing(db, clock, seed):
    """A script's quick adds and removes between a dashboard's writes and compactions, checked after
    every step against what a fresh reader finds."""
    rng = random.Random(seed)
    store = written_whole(db, clock, n=10)
    expected = [f"old-{k}" for k in range(10)]
    for step in range(40):
        clock.advance(1)
        action = rng.choice(["quick add", "quick rm", "store add", "store rm", "store label", "compact"])
        task_id = f"t-{rng.randrange(30)}"
        if action == "quick add":
            outcome = quickchange.add(db, [task_id], clock=clock)
            if outcome is None:  # as `grokdash add` does
                assert_due_for_compaction(db, step)
                outcome = TaskStore(db, clock=clock).add([task_id])
            expected += outcome.added
        elif action == "quick rm":
            wanted = [task_id, rng.choice(expected or ["x"])]
            gone = quickchange.remove(db, wanted)
            if gone is None:
                assert_due_for_compaction(db, step)
                gone = [record.id for record in TaskStore(db, clock=clock).remove(wanted)]
            expected = [i for i in expected if i not in gone]
        elif action == "store add":
            expected += store.add([task_id]).added
        elif action == "store rm":
            gone = {record.id for record in store.remove([task_id])}
            expected = [i for i in expected if i not in gone]
        elif action == "store label":
            store.update({rng.choice(expected or ["x"]): lambda record: record.with_label("x")})
        else:
            store.compact()
        reader = TaskStore(db, clock=clock)
        assert ids(reader) == expected, f"step {step} ({action})"
        assert reader.notices == []


def assert_due_for_compaction(db: Path, step: int) -> None:
    """The one reason the quick way may give up on files the store wrote: the journal is as large as
    the file, and the next write must be a whole one."""
    journal = taskjournal.path_of(db)
    assert journal.exists() and journal.stat().st_size >= db.stat().st_size, f"step {step}: gave up"


def fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def forged(path: Path) -> None:
    """An index whose sum was made for a body that is not ids → document ids."""
    head, body = path.read_bytes().split(b"\n", 1)
    body = body.replace(b":1,", b':"one",', 1)
    header = json.loads(head)
    header["sum"] = taskindex._sum(body)
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)
