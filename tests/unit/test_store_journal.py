"""The task database at scale: changes go to a journal beside the TinyDB file (taskjournal.py), and the
file is rewritten whole only when the journal has grown as large as it, or on `compact()`.

Here JOURNAL_FROM is 0, so databases of a few records take the path a database of 100,000 takes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tinydb import TinyDB

import grokdash.store as store_module
from grokdash import taskjournal
from grokdash.models import task_from_dict
from grokdash.store import StoreError, TaskStore

from .test_store import answered, ids, stored_ids

pytestmark = pytest.mark.usefixtures("journal_at_any_size")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "tasks.json"


def journal_of(db: Path) -> Path:
    return taskjournal.path_of(db)


def big_store(db: Path, clock, n: int = 200) -> TaskStore:
    """A database written whole with `n` tasks, and no journal."""
    store = TaskStore(db, clock=clock)
    store.add([f"old-{k}" for k in range(n)])
    assert not journal_of(db).exists()
    return store


def test_an_add_appends_one_short_line_and_leaves_the_file_alone(db, clock):
    store = big_store(db, clock)
    before = db.read_bytes()

    store.add(["new-1"], label="kites")

    assert db.read_bytes() == before
    assert 0 < journal_of(db).stat().st_size < 400
    again = TaskStore(db, clock=clock)
    assert ids(again)[-1] == "new-1"
    assert again.get("new-1").label == "kites"
    assert again.notices == []


def test_compact_writes_the_file_whole_with_every_change_and_removes_the_journal(db, clock):
    store = big_store(db, clock)
    store.add(["new-1", "new-2"])
    store.remove(["old-3"])
    store.update({"new-1": lambda record: answered(record, "completed", clock.now)})
    assert "new-1" not in stored_ids(db)  # a JSON tool reading the file alone sees it as last compacted

    assert store.compact() is True

    assert not journal_of(db).exists()
    on_disk = stored_ids(db)
    assert "old-3" not in on_disk and {"new-1", "new-2"} <= set(on_disk)
    assert TaskStore(db, clock=clock).get("new-1").status == "completed"
    assert store.compact() is False


def test_the_journal_is_compacted_once_it_is_as_large_as_the_file(db, clock):
    store = big_store(db, clock, n=20)
    size = db.stat().st_size
    for k in range(60):
        store.update({f"old-{k % 20}": lambda record, k=k: record.with_label(f"label {k}")})
        journal = journal_of(db)
        # Compacted when it has grown as large as the file: it is at most one line larger.
        assert not journal.exists() or journal.stat().st_size <= db.stat().st_size + 200
    assert db.stat().st_size != size  # it was written whole at least once
    assert {record.label for record in TaskStore(db, clock=clock).tasks()} == {
        f"label {k}" for k in range(40, 60)
    }


def test_a_poll_round_writes_about_the_bytes_of_the_records_it_changed(db, clock):
    store = big_store(db, clock, n=1_000)
    changed = [f"old-{k}" for k in range(0, 1_000, 100)]
    store.update({task_id: lambda record: answered(record, "processing", clock.now) for task_id in changed})
    their_bytes = sum(len(json.dumps(store.get(task_id).to_json())) for task_id in changed)
    assert journal_of(db).stat().st_size <= 2 * their_bytes


def test_a_line_cut_short_by_a_kill_is_ignored_and_cut_off_by_the_next_write(db, clock):
    store = big_store(db, clock)
    store.add(["kept"])
    with open(journal_of(db), "ab") as journal:
        journal.write(b'0123 {"put":{"999":{"id":"half')  # a kill in the middle of an append

    reader = TaskStore(db, clock=clock)
    assert "half" not in ids(reader) and "kept" in ids(reader)
    assert reader.notices == []
    reader.add(["after"])

    assert b"half" not in journal_of(db).read_bytes()
    assert ids(TaskStore(db, clock=clock))[-2:] == ["kept", "after"]


def test_a_journal_left_by_a_compaction_killed_before_removing_it_is_ignored(db, clock):
    store = big_store(db, clock)
    store.add(["in-both"])
    store.remove(["in-both"])
    stale = journal_of(db).read_bytes()
    store.compact()  # the file holds the same 200 records as before the journal, and a new digest
    journal_of(db).write_bytes(stale)  # …as if the kill came between the rename and the removal
    store.add(["after"])  # the journal is started again: nothing of the stale one is replayed

    assert b"in-both" not in journal_of(db).read_bytes()
    assert ids(TaskStore(db, clock=clock))[-1] == "after"


def test_an_unreadable_line_is_skipped_the_others_applied_and_the_journal_kept_aside(db, clock):
    store = big_store(db, clock)
    for task_id in ("one", "two", "three"):
        store.add([task_id])
    lines = journal_of(db).read_bytes().split(b"\n")
    lines[2] = b"x" * len(lines[2])  # the disk garbled the line of "two" in place
    journal_of(db).write_bytes(b"\n".join(lines))

    reader = TaskStore(db, clock=clock)
    assert ids(reader)[-2:] == ["one", "three"]
    [notice] = reader.notices
    assert str(journal_of(db)) in notice and "line 3" in notice
    assert "applied the 2 changes it could read" in notice
    [aside] = [path for path in db.parent.iterdir() if ".journal.corrupt-" in path.name]
    assert b"xxxx" in aside.read_bytes()  # kept on disk for the user to look at
    assert {"one", "three"} <= set(stored_ids(db))  # written whole at once
    assert not journal_of(db).exists()
    store.add(["last"])  # the writer that had it open loses nothing either
    assert ids(TaskStore(db, clock=clock))[-3:] == ["one", "three", "last"]


def test_a_journal_whose_header_is_garbled_still_gives_back_its_tasks(db, clock):
    store = big_store(db, clock)
    store.add(["one"])
    store.add(["two"])
    text = journal_of(db).read_bytes()
    journal_of(db).write_bytes(b"not a header" + text[text.index(b"\n") :])

    reader = TaskStore(db, clock=clock)
    assert ids(reader)[-2:] == ["one", "two"]
    [notice] = reader.notices
    assert "first line is not a journal header" in notice


def test_a_file_rewritten_by_plain_tinydb_while_a_journal_exists_loses_no_task(db, clock):
    store = big_store(db, clock)
    store.add(["from-the-journal"])
    plain = TinyDB(db)  # keeps the _meta record, digest and all, and takes the next free document id
    plain.table("tasks").insert({"id": "from-tinydb", "added_at": clock.now + 5})
    plain.close()

    reader = TaskStore(db, clock=clock)
    assert {"from-the-journal", "from-tinydb"} <= set(ids(reader))
    [notice] = reader.notices
    assert "had changed without its journal" in notice
    assert {"from-the-journal", "from-tinydb"} <= set(stored_ids(db))


@pytest.mark.parametrize("how", ["deleted", "restored from an older copy"])
def test_a_journal_beside_a_file_that_is_not_the_one_it_was_written_on_keeps_its_tasks(db, clock, how):
    store = big_store(db, clock, n=20)
    older = db.read_bytes()
    store.add(["since-the-copy"])
    store.compact()
    store.add(["in-the-journal"])
    if how == "deleted":
        db.unlink()
    else:
        db.write_bytes(older)

    reader = TaskStore(db, clock=clock)
    assert "in-the-journal" in ids(reader)
    assert "in-the-journal" in stored_ids(db)
    assert [notice for notice in reader.notices if "had changed without its journal" in notice]


def test_a_line_edited_by_hand_is_checked_like_any_record_read_from_outside(db, clock):
    store = big_store(db, clock)
    store.add(["edited"])
    text = journal_of(db).read_text()
    journal_of(db).write_text(text.replace('"id":"edited"', '"id":"edited by hand"'))

    reader = TaskStore(db, clock=clock)
    assert "edited by hand" not in ids(reader) and "old-1" in ids(reader)
    [notice] = reader.notices
    assert "unusable task id" in notice


@pytest.mark.parametrize("label", ["bad \udcff byte", "sun ☀"])
def test_what_orjson_refuses_goes_through_the_journal_exactly(db, clock, label):
    store = big_store(db, clock)
    store.add(["odd"], label=label)
    store.update({"odd": lambda record: answered(record, "queued", clock.now)})
    assert TaskStore(db, clock=clock).get("odd") == store.get("odd")


def test_a_number_beyond_64_bits_stays_exact_through_the_journal_and_a_compaction(db, clock):
    store = big_store(db, clock)
    store.add(["big"])
    huge = {"id": "big", "status": "queued", "created": 123456789012345678901234567890}
    store.update({"big": lambda record: record.with_answer(task_from_dict(huge, "big"), clock.now)})
    assert TaskStore(db, clock=clock).get("big").task.raw["created"] == huge["created"]
    store.compact()
    assert TaskStore(db, clock=clock).get("big").task.raw["created"] == huge["created"]


def test_another_process_sees_an_append_at_its_next_refresh(db, clock):
    dashboard = big_store(db, clock)
    TaskStore(db, clock=clock).add(["from-a-command"])
    assert dashboard.refresh() is True
    assert "from-a-command" in dashboard
    assert dashboard.refresh() is False


@pytest.mark.parametrize("kind", ["fifo", "folder", "symlink"])
def test_a_journal_that_is_no_regular_file_is_one_sentence_and_left_alone(db, clock, kind, tmp_path):
    big_store(db, clock)
    journal = journal_of(db)
    if kind == "fifo":
        os.mkfifo(journal)
    elif kind == "folder":
        journal.mkdir()
    else:
        (tmp_path / "elsewhere").write_text("x")
        journal.symlink_to(tmp_path / "elsewhere")

    with pytest.raises(StoreError) as caught:
        TaskStore(db, clock=clock)
    assert str(journal) in caught.value.message
    assert "journal" in caught.value.message.split("(")[-1]
    assert journal.exists() or journal.is_symlink()


def test_a_journal_from_a_newer_grokdash_is_left_untouched(db, clock):
    big_store(db, clock).add(["x"])
    newer = journal_of(db).read_bytes().replace(b'"journal":1', b'"journal":7', 1)
    journal_of(db).write_bytes(newer)
    with pytest.raises(StoreError) as caught:
        TaskStore(db, clock=clock)
    assert "newer grokdash" in caught.value.message
    assert journal_of(db).read_bytes() == newer


def test_a_full_disk_in_the_middle_of_an_append_leaves_no_half_line_and_loses_nothing(db, clock, monkeypatch):
    store = big_store(db, clock)
    store.add(["before"])
    size = journal_of(db).stat().st_size
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(taskjournal.os, "write", half_then_full)
    with pytest.raises(StoreError) as caught:
        store.add(["refused"])
    assert "No space left on device" in caught.value.message
    assert journal_of(db).stat().st_size == size  # the half line was cut off again
    monkeypatch.setattr(taskjournal.os, "write", real_write)

    assert "refused" not in ids(TaskStore(db, clock=clock))
    store.add(["after"])
    assert ids(TaskStore(db, clock=clock))[-2:] == ["before", "after"]


def test_a_refresh_after_another_process_appended_reads_only_what_it_appended(db, clock, monkeypatch):
    dashboard = big_store(db, clock)
    untouched = dashboard.get("old-5")
    command = TaskStore(db, clock=clock)
    command.add(["one"])  # starts the journal
    dashboard.refresh()
    command.add(["two"])
    command.remove(["old-1"])
    command.update({"one": lambda record: record.with_label("kites")})

    whole_reads = []
    monkeypatch.setattr(store_module, "_parse", lambda *args: whole_reads.append(args) or None)
    assert dashboard.refresh() is True

    assert whole_reads == []
    assert ids(dashboard)[-2:] == ["one", "two"] and "old-1" not in dashboard
    assert dashboard.get("one").label == "kites"
    assert dashboard.get("old-5") is untouched  # the records nobody changed are the same objects
    monkeypatch.undo()
    assert ids(dashboard) == ids(TaskStore(db, clock=clock))


def test_an_answer_staged_here_stays_on_top_of_what_another_process_appended(db, clock):
    dashboard = big_store(db, clock)
    command = TaskStore(db, clock=clock)
    command.add(["one"])
    dashboard.refresh()
    dashboard.stage({"one": lambda record: answered(record, "processing", clock.now)})
    command.update({"one": lambda record: record.with_label("kites")})

    assert dashboard.refresh() is True
    assert dashboard.get("one").status == "processing" and dashboard.get("one").label == "kites"
    dashboard.flush()
    reread = TaskStore(db, clock=clock).get("one")
    assert reread.status == "processing" and reread.label == "kites"


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_database_that_is_no_regular_file_is_one_sentence_and_never_a_hang(tmp_path, clock, kind):
    # The archive's path is derived, not checked like --db: the store itself must not block on a FIFO.
    db = tmp_path / "tasks.archive.json"
    if kind == "fifo":
        os.mkfifo(db)
    else:
        db.mkdir()
    with pytest.raises(StoreError) as caught:
        TaskStore(db, clock=clock)
    assert str(db) in caught.value.message
    assert ("a FIFO" if kind == "fifo" else "Is a directory") in caught.value.message
