"""`grokdash batch` against the simulator (issue 14): a file checked whole before anything is sent, at
most `max_active` of its tasks active at once (read from the simulator's own record of creates), every
row POSTed once, and a batch killed at any moment and run again never sending a row twice."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from grokdash.api import GrokClient
from grokdash.batchfile import Defaults, read_batch
from grokdash.batchjournal import (
    CREATED,
    SENDING,
    UNCERTAIN,
    WAITING,
    Journal,
    JournalError,
    batches_dir,
    source_of,
)
from grokdash.batchrun import BatchSettings, send_batch
from grokdash.poller import Poller, PollPolicy
from grokdash.secret import Secret
from grokdash.sim import SimServer

from .cli import run_cli, sim_env

pytestmark = pytest.mark.anyio
ACTIVE_SECONDS = 30.0
"""How long a task of the `sim` fixture stays queued or processing (10 s + 20 s of its clock)."""


def jsonl(prompts: list[str], **fields) -> str:
    return "".join(
        json.dumps({"model": "grok_video3", "prompt": p, "duration": 6, **fields}) + "\n" for p in prompts
    )


def posts(sim: SimServer) -> list:
    return [record for record in sim.log.records() if record.method == "POST"]


async def test_forty_rows_never_more_than_four_active_and_each_row_posted_once(store, clock, sim, sim_key):
    prompts = [f"kite {n}" for n in range(40)]
    parsed = read_batch(jsonl(prompts), "jsonl", Defaults())
    assert not parsed.problems
    journal, notices = Journal.open("kites", "kites.jsonl", parsed)
    said: list[str] = []

    async def sleep(seconds: float) -> None:  # the fake clock moves on: no wall-clock wait
        clock.advance(seconds)

    try:
        async with GrokClient(sim.base_url, Secret(sim_key)) as client:
            poller = Poller(client.get_task, store, policy=PollPolicy(interval=5.0), clock=clock)
            settings = BatchSettings(max_active=4, interval=5.0)
            rows = {row.line: row for row in parsed.rows}
            why = await send_batch(
                journal, rows, client, store, poller, settings, say=said.append, clock=clock, sleep=sleep
            )
    finally:
        journal.close()
    assert why is None and notices == []
    created = sim.store.created()
    assert sorted(prompt for _, prompt, _ in created) == sorted(prompts)  # each row once, none twice
    assert len(posts(sim)) == 40
    for _, _, at in created:  # by the simulator's own timings: the creates still active at each create
        active = sum(1 for _, _, other in created if other <= at < other + ACTIVE_SECONDS)
        assert active <= 4, (at, active)
    assert journal.counts() == {CREATED: 40}
    assert {row.task_id for row in journal.rows} == {task_id for task_id, _, _ in created}
    assert all(store.get(task_id).status == "completed" for task_id in journal.created_ids())


def test_a_bad_row_on_line_17_is_named_and_nothing_is_sent(sim, sim_key, tmp_path):
    lines = [json.dumps({"model": "grok_video3", "prompt": f"kite {n}"}) for n in range(1, 41)]
    lines[16] = json.dumps({"model": "grok_video3", "prompt": "kite 17", "duration": 99})
    path = tmp_path / "kites.jsonl"
    path.write_text("\n".join(lines) + "\n")
    env = sim_env(sim, sim_key, tmp_path)
    result = run_cli(["batch", str(path), "--yes"], env)
    assert result.exit_code == 2
    assert (
        result.stderr.splitlines()[0]
        == "grokdash: line 17: grok_video3 takes a duration of 6 to 30 seconds, not 99"
    )
    assert "nothing sent" in result.stderr
    assert posts(sim) == []


def test_every_format_reads_the_same_rows():
    expected = [("grok_video3", "a kite", 6), ("grok_video3", "a boat", 6)]
    as_jsonl = read_batch(jsonl(["a kite", "a boat"]), "jsonl", Defaults())
    as_csv = read_batch(
        "model,prompt,duration\ngrok_video3,a kite,6\ngrok_video3,a boat,6\n", "csv", Defaults()
    )
    as_text = read_batch("# kites\na kite\n\na boat\n", "text", Defaults(model="grok_video3", duration=6))
    for parsed in (as_jsonl, as_csv, as_text):
        assert not parsed.problems
        assert [(r.request.model, r.request.prompt, r.request.duration) for r in parsed.rows] == expected
    assert [row.line for row in as_text.rows] == [2, 4]  # as an editor numbers them


def test_a_dry_run_sends_nothing_and_says_what_would_be(sim, sim_key, tmp_path):
    path = tmp_path / "kites.txt"
    path.write_text("a kite\na boat\n")
    env = sim_env(sim, sim_key, tmp_path)
    result = run_cli(["batch", str(path), "--model", "grok_video3", "--dry-run"], env)
    assert result.exit_code == 0, result.stderr
    assert "grok_video3: 2 tasks, 20 s of video, billed per second of video" in result.stderr
    assert "dry run: nothing sent" in result.stderr
    assert posts(sim) == []


# ---- killed at any moment ----------------------------------------------------------------------------


ROWS = 40
KILLS = 20


def grokdash() -> list[str]:
    return [sys.executable, "-m", "grokdash"]


def test_killed_at_random_moments_and_resumed_no_row_is_ever_sent_twice(fast_sim, tmp_path):
    prompts = [f"kite {n}" for n in range(ROWS)]
    path = tmp_path / "kites.jsonl"
    path.write_text(jsonl(prompts))
    env = {
        **os.environ,
        "GROKDASH_BASE_URL": fast_sim.base_url,
        "GROKDASH_API_KEY": "kill-key",
        "GROKDASH_DB": str(tmp_path / "tasks.json"),
        "GROKDASH_INTERVAL": "0.5",
    }
    command = [*grokdash(), "batch", str(path), "--yes", "--max-active", "4"]
    chance = random.Random(14)

    def waiting_rows() -> int:
        try:
            return Journal.read("kites").counts()[WAITING]
        except Exception:  # not written yet, or a run is replacing it: look again next time
            return 1

    victim: list[subprocess.Popen] = []
    posts_seen = threading.Semaphore(0)
    fast_sim.on_request = lambda record: posts_seen.release() if record.method == "POST" else None
    for kill in range(KILLS):
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        victim.append(process)
        if kill % 2 == 0 and waiting_rows():  # the moment a create reached the server: "sending"
            posts_seen.acquire(timeout=10)
        else:  # anywhere: starting, reading the journal, polling, between two creates
            time.sleep(chance.uniform(0.05, 0.8))  # when to pull the plug, not a wait for work
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        while posts_seen.acquire(blocking=False):
            pass
    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    creates_before = len(fast_sim.store.created())
    final_again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert len(fast_sim.store.created()) == creates_before  # a batch run once more sends nothing

    created = fast_sim.store.created()
    per_prompt = {prompt: [task_id for task_id, p, _ in created if p == prompt] for prompt in prompts}
    journal = Journal.read("kites")
    rows = {row.prompt: row for row in journal.rows}
    for prompt, ids in per_prompt.items():
        assert len(ids) <= 1, f"{prompt} was created {len(ids)} times: {ids}"
        row = rows[prompt]
        assert row.state in (CREATED, UNCERTAIN), (prompt, row)
        if row.state == CREATED:
            assert ids == [row.task_id], (prompt, ids, row)
    assert journal.counts()[WAITING] == 0
    uncertain = [row for row in journal.rows if row.state == UNCERTAIN]
    assert final.returncode == (1 if uncertain else 0), final.stderr
    for row in uncertain:  # reported, line by line, on every run after
        assert f"line {row.line} may have been created" in final_again.stderr
    assert len(victim) == KILLS
    print(f"\n{len(victim)} runs killed; {len(created)} creates for {ROWS} rows; {len(uncertain)} uncertain")


@pytest.mark.soak
def test_killed_200_times(fast_sim, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "KILLS", 200)
    monkeypatch.setattr(sys.modules[__name__], "ROWS", 40)
    test_killed_at_random_moments_and_resumed_no_row_is_ever_sent_twice(fast_sim, tmp_path)


def test_a_second_run_of_the_same_batch_at_once_is_refused(sim, sim_key, tmp_path):
    parsed = read_batch("a kite\n", "text", Defaults(model="grok_video3"))
    journal, _ = Journal.open("busy", "busy.txt", parsed)
    try:
        path = tmp_path / "busy.txt"
        path.write_text("a kite\n")
        env = sim_env(sim, sim_key, tmp_path)
        result = run_cli(["batch", str(path), "--model", "grok_video3", "--yes"], env)
        assert result.exit_code == 1
        assert "batch busy is running in another grokdash" in result.stderr
        assert posts(sim) == []
    finally:
        journal.close()


def test_an_edited_row_is_a_new_row_and_the_sent_one_is_said(home):
    first = read_batch("a kite\na boat\n", "text", Defaults(model="grok_video3"))
    journal, _ = Journal.open("edits", "edits.txt", first)
    journal.mark(journal.rows[0], CREATED, task_id="task_1")
    journal.close()
    edited = read_batch("a plane\na kite, red\na boat\n", "text", Defaults(model="grok_video3"))
    journal, notices = Journal.open("edits", "edits.txt", edited)
    journal.close()
    assert len(notices) == 1 and "(created as task_1, “a kite”) is no longer in the file" in notices[0]
    states = [(row.prompt, row.state) for row in journal.rows]
    assert states == [
        ("a plane", WAITING),
        ("a kite, red", WAITING),
        ("a boat", WAITING),
        ("a kite", CREATED),
    ]


def test_a_removed_sent_row_does_not_hide_a_new_row_on_its_line(home):
    first = read_batch("a kite\na boat\n", "text", Defaults(model="grok_video3"))
    journal, _ = Journal.open("moves", "moves.txt", first)
    journal.mark(journal.rows[0], CREATED, task_id="task_1")
    journal.close()
    later = read_batch("a plane\na boat\n", "text", Defaults(model="grok_video3"))  # a kite removed
    journal, _ = Journal.open("moves", "moves.txt", later)
    journal.close()
    assert [(row.prompt, row.state) for row in journal.waiting()] == [
        ("a plane", WAITING),
        ("a boat", WAITING),
    ]


def test_another_file_of_the_same_name_is_not_taken_for_the_batch(sim, sim_key, tmp_path):
    env = sim_env(sim, sim_key, tmp_path)
    for folder in ("p1", "p2"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "prompts.txt").write_text(f"a kite from {folder}\n")
    # The fixture's clock never moves: its task stays queued, so the first run stops at the budget.
    dry = run_cli(["batch", str(tmp_path / "p1" / "prompts.txt"), "--model", "grok_video3", "--dry-run"], env)
    assert dry.exit_code == 0
    journal, _ = Journal.open(
        "prompts",
        str((tmp_path / "p1" / "prompts.txt").resolve()),
        read_batch("a kite from p1\n", "text", Defaults(model="grok_video3")),
    )
    journal.mark(journal.rows[0], CREATED, task_id="task_p1")
    journal.close()
    other = run_cli(["batch", str(tmp_path / "p2" / "prompts.txt"), "--model", "grok_video3", "--yes"], env)
    assert other.exit_code == 2
    assert "batch prompts holds the rows of" in other.stderr and "give --name" in other.stderr
    assert posts(sim) == []


def test_a_dry_run_or_a_no_changes_nothing_in_the_journal(home, sim, sim_key, tmp_path):
    path = tmp_path / "careful.txt"
    path.write_text("a kite\n")
    parsed = read_batch("a kite\n", "text", Defaults(model="grok_video3"))
    journal, _ = Journal.open("careful", source_of(str(path)), parsed)
    journal.mark(journal.rows[0], SENDING)  # a run killed with its create out
    journal.close()
    before = (batches_dir() / "careful.json").read_bytes()
    env = sim_env(sim, sim_key, tmp_path)
    args = ["batch", str(path), "--name", "careful", "--model", "grok_video3", "--resend-uncertain"]
    result = run_cli([*args, "--dry-run"], env)
    assert result.exit_code == 0 and "sending it again (--resend-uncertain)" in result.stderr
    assert (batches_dir() / "careful.json").read_bytes() == before
    again = run_cli(["batch", str(path), "--name", "careful", "--model", "grok_video3", "--yes"], env)
    assert "line 1 may have been created" in again.stderr and posts(sim) == []


def test_a_wrong_address_stops_the_sending_and_the_rows_wait(sim, sim_key, tmp_path):
    path = tmp_path / "kites.txt"
    path.write_text("a kite\na boat\n")
    env = sim_env(sim, sim_key, tmp_path) | {"GROKDASH_BASE_URL": sim.base_url + "/wrong"}
    result = run_cli(["batch", str(path), "--model", "grok_video3", "--yes"], env)
    assert result.exit_code == 1
    assert "stopped sending at line 1" in result.stderr
    assert Journal.read("kites").counts() == {WAITING: 2}  # nothing refused for good: fix it, run again


def test_a_row_whose_task_was_tracked_before_the_kill_is_created_not_uncertain(home, store):
    parsed = read_batch("a kite\n", "text", Defaults(model="grok_video3"))
    journal, _ = Journal.open("tracked", "tracked.txt", parsed)
    journal.mark(journal.rows[0], SENDING)
    journal.close()
    store.add(["task_made"], request=parsed.rows[0].request.to_json())  # the create answered, then the kill
    journal, notices = Journal.open("tracked", "tracked.txt", parsed, tasks=store.tasks())
    journal.close()
    assert journal.rows[0].state == CREATED and journal.rows[0].task_id == "task_made"
    assert notices == ["line 1: its task task_made was made before the last run stopped"]


def test_a_last_journal_line_cut_short_by_a_crash_is_left_out(home):
    parsed = read_batch("a kite\na boat\n", "text", Defaults(model="grok_video3"))
    journal, _ = Journal.open("cut", "cut.txt", parsed)
    journal.mark(journal.rows[0], CREATED, task_id="task_1")
    journal.close()
    path = batches_dir() / "cut.json"
    path.write_text(path.read_text() + '{"n": 1, "line": 2, "dig')
    assert Journal.read("cut").counts() == {CREATED: 1, WAITING: 1}


@pytest.mark.parametrize(
    ("text", "fmt", "said"),
    [
        ('{"model": "grok_video3", "prompt": ' + "[" * 5000 + "]" * 5000 + "}\n", "jsonl", "line 1: "),
        ('{"model": "grok_video3", "prompt": "x", "duration": ' + "9" * 5000 + "}\n", "jsonl", "line 1: "),
        ('model,prompt\ngrok_video3,"a kite\ngrok_video3,a boat\n', "csv", "quote left open"),
        ("model,prompt\ngrok_video3," + "x" * 200_000 + "\n", "csv", "not CSV grokdash can read"),
        ("[1, 2]\n", "jsonl", "line 1: not a JSON object"),
        ("", "text", "no rows"),
    ],
)
def test_a_hostile_file_is_named_line_by_line_and_nothing_is_sent(text, fmt, said):
    parsed = read_batch(text, fmt, Defaults(model="grok_video3"))
    assert parsed.problems and said in " ".join(parsed.problems), parsed.problems


@pytest.mark.parametrize("kind", ["fifo", "folder", "symlink"])
def test_a_journal_that_is_not_a_file_is_one_sentence(home, tmp_path, kind):
    path = batches_dir() / "odd.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to(tmp_path / "elsewhere.json")
    parsed = read_batch("a kite\n", "text", Defaults(model="grok_video3"))
    with pytest.raises(JournalError, match="is not a regular file: move it aside"):
        Journal.open("odd", "odd.txt", parsed)


def test_a_rows_label_wins_over_the_batchs():
    parsed = read_batch(jsonl(["a kite"], label="beach") + jsonl(["a boat"]), "jsonl", Defaults(), "shoot")
    assert [row.label for row in parsed.rows] == ["beach", "shoot"]


def test_save_saves_each_finished_video_as_watch_save_does(fast_sim, tmp_path):
    path = tmp_path / "kites.txt"
    path.write_text("a kite\na boat\n")
    env = {
        **sim_env(fast_sim, "kill-key", tmp_path),
        "GROKDASH_INTERVAL": "0.5",
        "GROKDASH_DOWNLOAD_DIR": str(tmp_path / "videos"),
    }
    fast_sim.add_task("other-1", created=time.time() - 60)  # finished long ago, not the batch's
    assert run_cli(["add", "other-1"], env).exit_code == 0
    assert run_cli(["watch", "--once"], env).exit_code == 0  # known completed, its video owed
    result = run_cli(["batch", str(path), "--model", "grok_video3", "--yes", "--save"], env)
    assert result.exit_code == 0, result.stderr
    saved = sorted(p.name for p in (tmp_path / "videos").glob("*.mp4"))
    assert len(saved) == 2 and result.stdout.count("saved task_") == 2  # the batch's two, not other-1


def test_the_commands_batch_formats_are_the_files():
    from grokdash import batchfile, cli

    assert cli.BATCH_FORMATS == batchfile.FORMATS
