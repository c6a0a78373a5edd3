"""The task database: nothing tracked is lost, whatever the file or another process does.

Two `TaskStore` instances on one file stand for two processes (each has its own file lock handle, and
flock locks conflict between them exactly as between processes).
"""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import filelock
import pytest
from tinydb import TinyDB

import grokdash.store as store_module
from grokdash.downloads import DownloadError
from grokdash.errors import InvalidIdError, RateLimitedError
from grokdash.models import Task, task_from_dict
from grokdash.store import AddOutcome, StoreError, TaskStore
from grokdash.tracked import TrackedTask


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "tasks.json"


def answered(record: TrackedTask, status: str, now: float) -> TrackedTask:
    answer = {"id": record.id, "object": "video", "model": "grok_video3", "status": status, "created": 1}
    if status == "completed":
        answer["video_url"] = f"https://cdn.example/{record.id}.mp4"
    return record.with_answer(task_from_dict(answer, record.id), now)


def ids(store: TaskStore) -> list[str]:
    return [record.id for record in store.tasks()]


def stored_ids(path: Path) -> list[str]:
    """What a user would find in the file with any JSON tool."""
    return [doc["id"] for doc in json.loads(path.read_text())["tasks"].values()]


def leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


# ---- the round trip ---------------------------------------------------------------------------------


def test_added_tasks_survive_reopening_in_the_order_added(db, clock):
    store = TaskStore(db, clock=clock)
    outcome = store.add(["task_c", "task_a"], label="  first batch ")
    clock.advance(5)
    store.add(["task_b"], request={"model": "grok_video3", "prompt": "a cat"})

    assert outcome == AddOutcome(added=["task_c", "task_a"], already=[])
    reopened = TaskStore(db, clock=clock)
    assert ids(reopened) == ["task_c", "task_a", "task_b"]
    assert reopened.get("task_a").label == "first batch"
    assert reopened.get("task_a").added_at == clock.now - 5
    assert reopened.get("task_b").request == {"model": "grok_video3", "prompt": "a cat"}
    assert reopened.get("task_b").model == "grok_video3"
    assert len(reopened) == 3
    assert "task_c" in reopened
    assert "task_x" not in reopened
    assert reopened.get("task_x") is None
    assert reopened.notices == []


def test_answers_and_errors_survive_reopening(db, clock):
    store = TaskStore(db, clock=clock)
    store.add(["task_1"])
    store.update({"task_1": lambda r: answered(answered(r, "queued", 10.0), "completed", 20.0)})

    record = TaskStore(db, clock=clock).get("task_1")
    assert record.status == "completed"
    assert record.task.video_url == "https://cdn.example/task_1.mp4"
    assert record.status_seen == {"queued": 10.0, "completed": 20.0}
    assert record == store.get("task_1")


def test_the_file_is_a_tinydb_database_both_ways(db, clock):
    store = TaskStore(db, clock=clock)
    store.add(["task_1", "task_2"])

    document = json.loads(db.read_text())
    assert set(document) == {"tasks", "_meta"}
    assert document["_meta"]["1"]["schema"] == 1
    plain = TinyDB(db)
    assert [doc["id"] for doc in plain.table("tasks").all()] == ["task_1", "task_2"]
    plain.table("tasks").insert(TrackedTask(id="task_3", added_at=clock.now + 1).to_json())
    plain.close()

    assert ids(TaskStore(db, clock=clock)) == ["task_1", "task_2", "task_3"]


def test_duplicates_are_skipped_and_reported(db, clock):
    store = TaskStore(db, clock=clock)
    assert store.add(["a", "b", "a"]) == AddOutcome(added=["a", "b"], already=[])
    store.update({"a": lambda r: r.with_label("mine")})

    assert store.add(["b", "c", "a"], label="other") == AddOutcome(added=["c"], already=["b", "a"])
    assert store.get("a").label == "mine"
    assert store.writes == 3
    assert store.add(["a", "c"]) == AddOutcome(added=[], already=["a", "c"])
    assert store.writes == 3
    assert stored_ids(db) == ["a", "b", "c"]


def test_add_refuses_an_invalid_id_before_touching_the_file(db, clock):
    store = TaskStore(db, clock=clock)
    with pytest.raises(InvalidIdError):
        store.add(["good", "bad id"])
    assert store.writes == 0
    assert not db.exists()


def test_nothing_to_do_writes_nothing(db, clock):
    store = TaskStore(db, clock=clock)
    assert store.add([]) == AddOutcome(added=[], already=[])
    assert store.remove(["unknown"]) == []
    assert store.update({"unknown": lambda r: r.with_label("x")}) == []
    store.restore([])
    assert store.writes == 0
    assert not db.exists()


# ---- remove and undo ---------------------------------------------------------------------------------


def test_remove_returns_the_records_and_restore_puts_them_back_as_they_were(db, clock):
    store = TaskStore(db, clock=clock)
    store.add(["a", "b", "c"], label="batch")
    clock.advance(1)
    store.add(["d"])
    store.update({"b": lambda r: answered(r, "completed", 50.0)})
    before = store.tasks()

    removed = store.remove(["b", "unknown", "c", "b"])
    assert [record.id for record in removed] == ["b", "c"]
    assert ids(store) == ["a", "d"]
    assert stored_ids(db) == ["a", "d"]

    store.restore(removed)
    assert store.tasks() == before
    assert TaskStore(db, clock=clock).tasks() == before
    assert removed[0].task.video_url == "https://cdn.example/b.mp4"


def test_restore_leaves_an_id_tracked_again_meanwhile_alone(db, clock):
    store = TaskStore(db, clock=clock)
    store.add(["a", "b"], label="old")
    removed = store.remove(["a", "b"])
    clock.advance(10)
    store.add(["a"], label="new")

    store.restore(removed)
    assert store.get("a").label == "new"
    assert store.get("b").label == "old"


def test_import_records_adds_whole_records_and_skips_tracked_ones(db, clock):
    store = TaskStore(db, clock=clock)
    store.add(["a"], label="here")
    incoming = [
        answered(TrackedTask(id="a", added_at=1.0, label="theirs"), "completed", 2.0),
        answered(TrackedTask(id="b", added_at=1.0, label="theirs"), "failed", 2.0),
    ]
    assert store.import_records(incoming) == AddOutcome(added=["b"], already=["a"])
    assert store.get("a").label == "here"
    assert store.get("b") == incoming[1]
    assert ids(store) == ["b", "a"]  # b was added (by someone) long before


# ---- batched writes ------------------------------------------------------------------------------------


def test_update_writes_once_for_many_changes_and_not_at_all_when_nothing_changed(db, clock):
    store = TaskStore(db, clock=clock)
    store.add([f"t{n}" for n in range(50)])
    assert store.writes == 1

    changed = store.update({f"t{n}": lambda r: answered(r, "queued", 5.0) for n in range(50)})
    assert len(changed) == 50
    assert store.writes == 2

    # The same answer again, as equal but new objects, and the identity change: nothing to write.
    assert store.update({f"t{n}": lambda r: answered(r, "queued", 5.0) for n in range(50)}) == []
    assert store.update({f"t{n}": lambda r: r for n in range(50)}) == []
    assert store.writes == 2

    changed = store.update({"t1": lambda r: r, "t2": lambda r: r.with_label("two")})
    assert [record.id for record in changed] == ["t2"]
    assert store.writes == 3
    assert TaskStore(db, clock=clock).get("t2").label == "two"


def test_update_skips_ids_another_process_removed_and_never_brings_them_back(db, clock):
    poller = TaskStore(db, clock=clock)
    poller.add(["a", "b"])
    command = TaskStore(db, clock=clock)
    command.remove(["a"])

    changed = poller.update({"a": lambda r: answered(r, "completed", 9.0), "b": lambda r: r.with_label("x")})
    assert [record.id for record in changed] == ["b"]
    assert ids(poller) == ["b"]
    assert stored_ids(db) == ["b"]
    command.refresh()
    assert ids(command) == ["b"]


def test_two_processes_adding_without_refreshing_keep_each_others_tasks(db, clock):
    one = TaskStore(db, clock=clock)
    two = TaskStore(db, clock=clock)
    one.add(["from_one"])
    two.add(["from_two"])
    one.update({"from_one": lambda r: r.with_label("polled")})
    two.remove(["nothing"])

    assert sorted(stored_ids(db)) == ["from_one", "from_two"]
    assert ids(one) == ["from_one", "from_two"]
    assert TaskStore(db, clock=clock).get("from_one").label == "polled"


def test_an_update_sees_the_fresh_record_written_by_another_process(db, clock):
    poller = TaskStore(db, clock=clock)
    poller.add(["a"])
    TaskStore(db, clock=clock).update({"a": lambda r: r.with_label("from the command line")})

    poller.update({"a": lambda r: answered(r, "processing", 3.0)})
    record = TaskStore(db, clock=clock).get("a")
    assert record.label == "from the command line"
    assert record.status == "processing"


# ---- seeing other processes' changes -------------------------------------------------------------------


def test_refresh_sees_another_process_and_does_not_reparse_an_unchanged_file(db, clock, monkeypatch):
    dashboard = TaskStore(db, clock=clock)
    TaskStore(db, clock=clock).add(["a", "b"])

    parses = []
    real_parse = store_module._parse
    monkeypatch.setattr(store_module, "_parse", lambda *args: parses.append(1) or real_parse(*args))

    assert dashboard.refresh() is True
    assert ids(dashboard) == ["a", "b"]
    assert len(parses) == 1
    for _ in range(100):
        assert dashboard.refresh() is False
    assert len(parses) == 1

    dashboard.add(["c"])  # our own write is not "a change to pick up"
    assert dashboard.refresh() is False
    assert len(parses) == 1


def test_refresh_sees_a_removal_and_a_deleted_file(db, clock):
    dashboard = TaskStore(db, clock=clock)
    dashboard.add(["a", "b"])
    TaskStore(db, clock=clock).remove(["a"])
    assert dashboard.refresh() is True
    assert ids(dashboard) == ["b"]

    db.unlink()
    assert dashboard.refresh() is True
    assert ids(dashboard) == []
    assert dashboard.notices == []


def test_refresh_sees_changed_records_and_a_reused_document_id(db, clock):
    dashboard = TaskStore(db, clock=clock)
    dashboard.add(["a", "b", "c"])
    command = TaskStore(db, clock=clock)
    command.update({"a": lambda r: r.with_label("relabelled")})
    command.remove(["c"])
    command.add(["d"])  # takes the document id "c" had

    assert dashboard.refresh() is True
    assert ids(dashboard) == ["a", "b", "d"]
    assert dashboard.get("a").label == "relabelled"
    assert dashboard.get("c") is None
    assert dashboard.tasks() == TaskStore(db, clock=clock).tasks()


def test_every_write_changes_the_files_signature_even_when_the_clock_stands_still(db, clock, monkeypatch):
    # Same size each time, and a clock that does not move (a coarse filesystem tick): the mtime still
    # moves on, so a reader whose inode number gets reused cannot mistake a new file for the one it read.
    store = TaskStore(db, clock=clock)
    store.add(["a"])
    reader = TaskStore(db, clock=clock)
    monkeypatch.setattr(store_module.time, "time_ns", lambda: 1_764_300_000_000_000_000)
    seen = []
    for label in ["x1", "x2", "x3", "x4", "x5"]:
        store.update({"a": lambda r, label=label: r.with_label(label)})
        seen.append(os.stat(db).st_mtime_ns)
    assert seen == sorted(set(seen))
    assert reader.refresh() is True
    assert reader.get("a").label == "x5"


# ---- unreadable files ------------------------------------------------------------------------------------

BAD_FILES = {
    "garbage bytes": (b"\x00\xff\xfe garbage \x89PNG", "not UTF-8"),
    "truncated JSON": (b'{"tasks": {"1": {"id": "a", "added_at": 1.0', "not valid JSON"),
    "a JSON list": (b'[{"id": "a"}]', "JSON array"),
    "a tasks table that is a string": (b'{"tasks": "oops"}', "is a JSON string"),
    "a bad schema version": (b'{"tasks": {}, "_meta": {"1": {"schema": "one"}}}', "schema version"),
}


@pytest.mark.parametrize("content, why", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_an_unreadable_file_is_moved_aside_and_the_user_told(db, clock, content, why):
    db.parent.mkdir(parents=True)
    db.write_bytes(content)

    store = TaskStore(db, clock=clock)
    assert ids(store) == []
    [aside] = [path for path in db.parent.iterdir() if ".corrupt-" in path.name]
    assert aside.read_bytes() == content
    assert not db.exists()
    [notice] = store.notices
    assert str(db) in notice
    assert str(aside) in notice
    assert why in notice
    assert "starts with an empty list" in notice

    store.add(["fresh"])
    assert ids(TaskStore(db, clock=clock)) == ["fresh"]
    assert aside.read_bytes() == content


def test_the_moved_aside_name_carries_the_time_and_a_counter_when_taken(db, clock):
    db.parent.mkdir(parents=True)
    stamp = store_module.time.strftime("%Y%m%d-%H%M%S", store_module.time.localtime(clock.now))
    names = []
    for n in range(3):
        db.write_bytes(b"not json %d" % n)
        TaskStore(db, clock=clock)
        names.append(sorted(path.name for path in db.parent.iterdir() if ".corrupt-" in path.name))
    assert names[-1] == [
        f"tasks.json.corrupt-{stamp}",
        f"tasks.json.corrupt-{stamp}-2",
        f"tasks.json.corrupt-{stamp}-3",
    ]
    assert (db.parent / f"tasks.json.corrupt-{stamp}-3").read_bytes() == b"not json 2"


def good_doc(task_id: str) -> dict:
    return TrackedTask(id=task_id, added_at=1.0, label="kept").to_json()


BAD_RECORDS = {
    "missing its id": ({"added_at": 1.0}, "no 'id'"),
    "not an object": ([1, 2], "JSON array"),
    "a bad added_at": ({"id": "x", "added_at": "yesterday"}, "not a task record"),
    "an answer without a status": ({"id": "x", "added_at": 1.0, "answer": {"id": "x"}}, "no status"),
    "an unusable id": ({"id": "a b", "added_at": 1.0}, "whitespace"),
    "an infinite count": ({"id": "x", "added_at": 1.0, "consecutive_errors": float("inf")}, "infinity"),
    "a list for a dict": ({"id": "x", "added_at": 1.0, "status_seen": [1]}, "not a task record"),
}


@pytest.mark.parametrize("bad, why", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_one_unreadable_record_keeps_the_good_ones_and_sets_the_file_aside(db, clock, bad, why):
    db.parent.mkdir(parents=True)
    document = {"tasks": {"1": good_doc("a"), "2": bad, "3": good_doc("b")}, "_meta": {"1": {"schema": 1}}}
    original = json.dumps(document).encode()
    db.write_bytes(original)

    store = TaskStore(db, clock=clock)
    assert ids(store) == ["a", "b"]
    assert store.get("a").label == "kept"
    [aside] = [path for path in db.parent.iterdir() if ".corrupt-" in path.name]
    assert aside.read_bytes() == original
    [notice] = store.notices
    assert str(db) in notice
    assert str(aside) in notice
    assert "1 unreadable record of 3" in notice
    assert why in notice
    assert "keeps the other 2 tasks" in notice
    # The good records are saved at once: the next process sees them without any notice.
    again = TaskStore(db, clock=clock)
    assert ids(again) == ["a", "b"]
    assert again.notices == []


def test_a_file_edited_by_hand_after_the_store_wrote_it_is_checked_whole_again(db, clock):
    # The store skips some checks on a file whose digest says it is as written; an edit breaks the digest.
    store = TaskStore(db, clock=clock)
    store.add(["a", "b", "c"])
    text = db.read_text()
    assert '"id":"b"' in text and store_module.DIGEST_FIELD in text
    db.write_text(text.replace('"id":"b"', '"id":"b b"'))

    again = TaskStore(db, clock=clock)
    assert ids(again) == ["a", "c"]
    [notice] = again.notices
    assert "unusable task id" in notice and "whitespace" in notice


@pytest.mark.parametrize("why", ["kept digest", "no digest"])
def test_a_record_reads_back_the_same_whether_or_not_the_checks_are_skipped(db, clock, why):
    store = TaskStore(db, clock=clock)
    store.add(["a"], request={"model": "grok_video3", "prompt": "a kite"})
    answer = {
        "id": "a",
        "status": "COMPLETED ",
        "model": "m" * 500,
        "created": "17",
        "video_url": "https://x/a",
    }
    store.update({"a": lambda r: r.with_answer(task_from_dict(answer), 5.0).with_label("kites")})
    store.update({"a": lambda r: r.with_error(RateLimitedError("slow down", retry_after=3), 6.0)})
    if why == "no digest":
        document = json.loads(db.read_text())
        del document["_meta"]["1"][store_module.DIGEST_FIELD]
        db.write_text(json.dumps(document))
    assert store_module._decode(db.read_bytes())[1] is (why == "kept digest")
    read = TaskStore(db, clock=clock).get("a")
    assert read == store.get("a")
    assert read.task.status == "completed" and len(read.task.model) < 500


def test_a_record_repeating_an_id_is_set_aside(db, clock):
    db.parent.mkdir(parents=True)
    db.write_text(json.dumps({"tasks": {"1": good_doc("a"), "2": good_doc("a")}}))
    store = TaskStore(db, clock=clock)
    assert ids(store) == ["a"]
    assert "repeats task 'a'" in store.notices[0]


def test_a_newer_schema_is_refused_and_never_touched(db, clock):
    db.parent.mkdir(parents=True)
    content = json.dumps({"tasks": {"1": {"whatever": "v2"}}, "_meta": {"1": {"schema": 2}}}).encode()
    db.write_bytes(content)

    with pytest.raises(StoreError) as caught:
        TaskStore(db, clock=clock)
    assert caught.value.kind == "store"
    assert str(db) in caught.value.message
    assert "newer grokdash" in caught.value.message
    assert db.read_bytes() == content
    assert sorted(os.listdir(db.parent)) == ["tasks.json"]


def test_a_newer_schema_written_while_running_stops_writes_without_touching_it(db, clock):
    store = TaskStore(db, clock=clock)
    store.add(["a"])
    content = json.dumps({"tasks": {}, "_meta": {"1": {"schema": 7}}}).encode()
    db.write_bytes(content)

    with pytest.raises(StoreError, match="newer grokdash"):
        store.refresh()
    with pytest.raises(StoreError, match="newer grokdash"):
        store.add(["b"])
    assert db.read_bytes() == content
    assert ids(store) == ["a"]


def test_an_empty_file_is_an_empty_database(db, clock):
    db.parent.mkdir(parents=True)
    db.touch()
    store = TaskStore(db, clock=clock)
    assert ids(store) == []
    assert store.notices == []
    store.add(["a"])
    assert stored_ids(db) == ["a"]
    assert sorted(os.listdir(db.parent)) == ["tasks.json", "tasks.json.lock"]


def test_a_file_spoiled_while_running_keeps_the_tasks_already_loaded(db, clock):
    dashboard = TaskStore(db, clock=clock)
    dashboard.add(["a", "b"])
    db.write_bytes(b"{ spoiled by hand")

    assert dashboard.refresh() is True
    assert ids(dashboard) == ["a", "b"]
    [notice] = dashboard.notices
    assert "keeps the 2 tasks it had loaded before" in notice
    [aside] = [path for path in db.parent.iterdir() if ".corrupt-" in path.name]
    assert aside.read_bytes() == b"{ spoiled by hand"
    assert ids(TaskStore(db, clock=clock)) == ["a", "b"]


# ---- the file on disk ------------------------------------------------------------------------------------


def test_a_new_file_and_its_folders_are_created_private(db, clock):
    assert not db.parent.exists()
    TaskStore(db, clock=clock).add(["a"])
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600


def test_an_existing_files_permissions_are_kept(db, clock):
    TaskStore(db, clock=clock).add(["a"])
    db.chmod(0o640)
    TaskStore(db, clock=clock).add(["b"])
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o640


def test_no_temp_file_stays_behind_and_a_crashed_writers_is_swept(db, clock):
    store = TaskStore(db, clock=clock)
    store.add(["a"])
    store.update({"a": lambda r: r.with_label("x")})
    store.remove(["a"])
    assert leftovers(db.parent) == []

    (db.parent / ".tasks.json.k1ll3d.tmp").write_text('{"tasks": {"1": ')  # a writer killed mid-write
    other = TaskStore(db, clock=clock)
    assert other.notices == []
    other.add(["b"])
    assert leftovers(db.parent) == []


def test_a_write_that_fails_midway_leaves_the_old_file_intact(db, clock, monkeypatch):
    store = TaskStore(db, clock=clock)
    store.add(["a"])
    before = db.read_bytes()

    def broken_replace(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.os, "replace", broken_replace)
    with pytest.raises(StoreError) as caught:
        store.add(["b"])
    assert "No space left on device" in caught.value.message
    assert str(db) in caught.value.message
    assert db.read_bytes() == before
    assert leftovers(db.parent) == []
    assert ids(store) == ["a"]
    assert ids(TaskStore(db, clock=clock)) == ["a"]

    monkeypatch.undo()
    assert store.add(["b"]) == AddOutcome(added=["b"], already=[])
    assert ids(TaskStore(db, clock=clock)) == ["a", "b"]


def test_an_update_that_fails_midway_changes_nothing(db, clock, monkeypatch):
    store = TaskStore(db, clock=clock)
    store.add(["a", "b"])
    before = db.read_bytes()
    monkeypatch.setattr(store_module.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(5, "I/O error")))

    with pytest.raises(StoreError, match="I/O error"):
        store.update({"a": lambda r: r.with_label("lost?")})
    assert db.read_bytes() == before
    assert store.get("a").label is None

    monkeypatch.undo()
    store.update({"b": lambda r: r.with_label("b")})
    reopened = TaskStore(db, clock=clock)
    assert reopened.get("a").label is None
    assert reopened.get("b").label == "b"


def test_a_locked_database_is_one_clear_sentence(db, clock):
    store = TaskStore(db, clock=clock, lock_timeout=0.05)
    store.add(["a"])
    with filelock.FileLock(f"{db}.lock"), pytest.raises(StoreError) as caught:
        store.add(["b"])
    assert caught.value.message.startswith(f"the task database {db} is locked by another grokdash process")
    assert ids(TaskStore(db, clock=clock)) == ["a"]


def test_a_symlinked_database_stays_a_symlink(tmp_path, clock):
    real = tmp_path / "real" / "tasks.json"
    TaskStore(real, clock=clock).add(["a"])
    link = tmp_path / "tasks.json"
    link.symlink_to(real)

    TaskStore(link, clock=clock).add(["b"])
    assert link.is_symlink()
    assert stored_ids(real) == ["a", "b"]


def test_readers_on_another_thread_always_see_whole_records(db, clock):
    store = TaskStore(db, clock=clock)
    store.add([f"t{n}" for n in range(200)])
    done = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        while not done.is_set():
            snapshot = store.tasks()
            if len(snapshot) != 200 or len({record.label for record in snapshot}) > 1:
                problems.append(f"{len(snapshot)} tasks")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for round_ in range(10):
            store.update(
                {f"t{n}": lambda r, round_=round_: r.with_label(f"round {round_}") for n in range(200)}
            )
    finally:
        done.set()
        thread.join()
    assert problems == []
    assert {record.label for record in store.tasks()} == {"round 9"}


def test_a_record_survives_the_round_trip_with_every_field(tmp_path):
    record = (
        TrackedTask(id="task_1", added_at=0.0, request={"model": "grok_video3", "prompt": "a cat"})
        .with_answer(Task(id="task_1", status="processing", model="grok_video3", created=5), 10.0)
        .with_error(RateLimitedError("rate limited", retry_after=3), 20.0)
        .with_label("cats")
        .with_download_error(DownloadError("the disk is full"), 30.0)
    )
    assert TrackedTask.from_json(record.to_json()) == record
    saved = record.with_local_file("/videos/task_1.mp4")
    assert saved.download_error is None  # a saved video clears the last failure
    assert TrackedTask.from_json(saved.to_json()) == saved
    bare = TrackedTask(id="task_2", added_at=1.0)
    assert bare.to_json() == {"id": "task_2", "added_at": 1.0}
    assert TrackedTask.from_json(bare.to_json()) == bare


def test_the_file_is_compact_json_that_any_json_reader_reads_back_the_same():
    data = {
        "tasks": {"1": {"id": "a", "label": 'sunset ☀ "quoted"', "n": [1, 2.5, None, True]}, "2": {}},
        "_meta": {"1": {"schema": 1}},
        "empty": {},
    }
    encoded = store_module._encode(data)
    for read in (json.loads(encoded), store_module._decode(encoded)[0]):
        assert read["_meta"]["1"].pop(store_module.DIGEST_FIELD)
        assert read == data


@pytest.mark.parametrize(
    "odd",
    [
        pytest.param({"label": "bad \udcff byte"}, id="lone surrogate"),
        pytest.param({"answer": {"created": 10**30}}, id="beyond 64 bits"),
        pytest.param({"answer": {"created": -(2**63) - 1}}, id="below 64 bits"),
    ],
)
def test_what_the_fast_codec_refuses_or_misreads_round_trips_exactly(tmp_path, odd):
    # orjson refuses lone surrogates and integers beyond 64 bits when writing, and reads such an integer
    # as a float: the store writes those records with the standard library and reads that file with it.
    docs = {str(n): {"id": f"t{n}", "added_at": 1.0} for n in range(1, 5_000)}
    docs["2500"] = {"id": "t2500", "added_at": 1.0, **odd}
    data = {"tasks": docs, "_meta": {"1": {"schema": 1}}}
    encoded = store_module._encode(data)
    assert store_module._decode(encoded) == (json.loads(encoded), True)
    assert json.loads(encoded)["tasks"] == docs


def test_a_file_no_longer_holding_a_big_number_is_read_fast_again():
    big = {"tasks": {"1": {"id": "a", "answer": {"created": 10**30}}}, "_meta": {"1": {"schema": 1}}}
    assert store_module.EXACT_FLAG in json.loads(store_module._encode(big))["_meta"]["1"]
    small = {
        "tasks": {"1": {"id": "a", "answer": {"created": 5}}},
        "_meta": json.loads(store_module._encode(big))["_meta"],
    }
    assert store_module.EXACT_FLAG not in json.loads(store_module._encode(small))["_meta"]["1"]


# ---- staged answers: shown at once, written in batches, kept while the disk fails -------------------


def test_staged_answers_are_seen_at_once_and_written_by_one_flush(db, clock):
    store = TaskStore(db, clock=clock)
    store.add(["a", "b", "c"])
    writes = store.writes
    for task_id in ("a", "b"):
        store.stage({task_id: lambda r: answered(r, "processing", clock())})
    assert [store.get(i).status for i in ("a", "b", "c")] == ["processing", "processing", None]
    assert store.writes == writes, "staging writes nothing"
    assert store.unsaved == 2
    assert TaskStore(db, clock=clock).get("a").status is None

    assert store.flush() == 2
    assert store.writes == writes + 1
    assert store.unsaved == 0
    assert [r.status for r in TaskStore(db, clock=clock).tasks()] == ["processing", "processing", None]
    assert store.flush() == 0 and store.writes == writes + 1, "nothing staged: no write"


def test_a_failed_flush_keeps_the_answers_shown_and_staged_until_the_disk_works(db, clock, monkeypatch):
    store = TaskStore(db, clock=clock)
    store.add(["a"])
    before = db.read_bytes()
    store.stage({"a": lambda r: answered(r, "completed", clock())})
    monkeypatch.setattr(
        store_module.os, "replace", lambda s, d: (_ for _ in ()).throw(OSError(28, "No space"))
    )

    with pytest.raises(StoreError, match="No space"):
        store.flush()
    assert db.read_bytes() == before
    assert store.get("a").status == "completed" and store.unsaved == 1
    with pytest.raises(StoreError):
        store.update({"a": lambda r: r.with_label("x")})
    assert store.get("a").label is None, "a failed update keeps nothing of its own change"
    assert store.get("a").status == "completed", "but the staged answer stays"

    monkeypatch.undo()
    assert store.flush() == 1
    assert TaskStore(db, clock=clock).get("a").status == "completed"


def test_staged_errors_are_applied_once_on_top_of_another_processes_write(db, clock):
    mine, other = TaskStore(db, clock=clock), TaskStore(db, clock=clock)
    mine.add(["a", "b"])
    other.refresh()
    mine.stage({"a": lambda r: r.with_error(RateLimitedError("slow down"), clock())})
    other.update({"a": lambda r: r.with_label("theirs"), "b": lambda r: r.with_label("b")})

    assert mine.refresh()
    assert mine.get("a").label == "theirs" and mine.get("a").consecutive_errors == 1
    mine.flush()
    stored = TaskStore(db, clock=clock).get("a")
    assert (stored.label, stored.consecutive_errors, len(stored.recent_errors)) == ("theirs", 1, 1)


def test_a_staged_answer_for_a_task_another_process_removed_is_dropped(db, clock):
    mine, other = TaskStore(db, clock=clock), TaskStore(db, clock=clock)
    mine.add(["a", "b"])
    other.refresh()
    mine.stage({"a": lambda r: answered(r, "queued", clock())})
    other.remove(["a"])
    mine.refresh()
    assert ids(mine) == ["b"] and mine.unsaved == 0
    mine.flush()
    assert ids(TaskStore(db, clock=clock)) == ["b"], "never brought back"


def test_an_update_writes_the_staged_answers_with_it(db, clock):
    store = TaskStore(db, clock=clock)
    store.add(["a", "b"])
    store.stage({"a": lambda r: answered(r, "queued", clock())})
    writes = store.writes
    changed = store.update({"b": lambda r: r.with_label("bee")})
    assert [r.id for r in changed] == ["b"]
    assert store.writes == writes + 1 and store.unsaved == 0
    reopened = TaskStore(db, clock=clock)
    assert (reopened.get("a").status, reopened.get("b").label) == ("queued", "bee")
