"""The dashboard driven by its keys (Pilot), against the simulator on a fake clock shared by both.

Polling runs for real; a test moves the clock and wakes the poller, then waits for the round it
started to finish (a condition, never a fixed sleep)."""

from __future__ import annotations

import threading

import pytest
from textual import events
from textual.widgets import Button, Select, Static, TextArea

from grokdash import desktop
from grokdash.api import GrokClient
from grokdash.errors import AuthError, ServerError
from grokdash.models import Status, task_from_dict
from grokdash.rules import label_from_prompt
from grokdash.sim import SimServer
from grokdash.sim.media import sample_video
from grokdash.store import StoreError, TaskStore
from grokdash.tui.app import DashboardConfig, GrokdashApp
from grokdash.tui.details_text import describe
from grokdash.tui.screens.add import AddIdsScreen
from grokdash.tui.screens.details import DetailsScreen
from grokdash.tui.screens.help import HelpScreen
from grokdash.tui.screens.new_task import NewTaskScreen
from tests.integration.test_new_command import FirstCreateHeld

from .board import INTERVAL, SIZE, Dashboard, dashboard, plain_text

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def quiet_desktop(monkeypatch) -> dict[str, list]:
    """No real clipboard tools, openers or desktop notifications from tests; record the calls."""
    calls: dict[str, list] = {"clipboard": [], "open": [], "notify": []}
    monkeypatch.setattr(desktop, "copy_to_system_clipboard", lambda text: calls["clipboard"].append(text))
    monkeypatch.setattr(desktop, "open_target", lambda target, player=None: calls["open"].append(target))
    monkeypatch.setattr(desktop, "notify_desktop", lambda title, body: calls["notify"].append(title) or True)
    return calls


async def workers_ended(board: Dashboard, group: str) -> None:
    """Wait for the workers of `group` a key started ("create", "add"): none, when the key started none."""
    started = [worker for worker in board.app.workers if worker.group == group]
    if started:  # an empty list would mean every worker, the poller's endless one too
        await board.app.workers.wait_for_complete(started)


async def add_ids(board: Dashboard, text: str) -> None:
    await board.press("a")
    assert isinstance(board.app.screen, AddIdsScreen)
    await board.pilot.press(*text)
    await board.press("enter")


# ---- watching tasks move -------------------------------------------------------------------------


async def test_ids_added_with_a_go_queued_processing_completed_or_failed(store, clock, sim):
    async with dashboard(store, clock, sim) as board:
        await add_ids(board, "one two fail-three")
        assert [tracked.id for tracked in store.tasks()] == ["one", "two", "fail-three"]  # as typed
        assert any("Tracking 3: one, two, fail-three" in toast for toast in board.toasts())
        assert sorted(board.row_ids()) == ["fail-three", "one", "two"]
        assert board.table.selected.id == "one"
        await board.next_round()
        assert {board.status(i) for i in ("one", "two", "fail-three")} == {Status.QUEUED}
        await board.next_round(advance=15)
        assert board.status("one") == Status.PROCESSING
        await board.next_round(advance=20)
        assert board.status("one") == board.status("two") == Status.COMPLETED
        assert board.status("fail-three") == Status.FAILED
        summary = board.summary()
        assert "2 completed" in summary and "1 failed" in summary
        assert any("completed" in toast and "failed" in toast for toast in board.toasts())


async def test_no_request_for_a_task_once_it_is_final(store, clock, sim):
    store.add(["fail-1"])
    async with dashboard(store, clock, sim) as board:
        await board.next_round(advance=35)
        assert board.status("fail-1") == Status.FAILED
        asked = len(sim.log.for_task("fail-1"))
        for _ in range(3):
            await board.next_round(advance=INTERVAL * 2)
        assert len(sim.log.for_task("fail-1")) == asked


async def test_rows_update_in_place_and_the_selection_stays_on_its_task(store, clock, sim):
    store.add(["aaa", "bbb", "ccc"])
    async with dashboard(store, clock, sim) as board:
        await board.select("bbb")
        await board.next_round(advance=15)
        assert board.table.selected.id == "bbb"
        for _ in range(3):
            await board.press("t")  # every sort order
            assert board.table.selected.id == "bbb"


async def test_the_summary_counts_each_status_and_says_what_polling_does(store, clock, sim):
    store.add(["aaa", "fail-b"])
    async with dashboard(store, clock, sim) as board:
        assert "2 queued" in board.summary()
        assert f"polling every {INTERVAL:g} s" in board.summary()
        await board.press("p")
        assert "paused" in board.summary()
        asked = len(sim.log.records())
        clock.advance(60)
        await board.polled(board.app.wake_poller())  # it took the wake-up and went idle again
        assert len(sim.log.records()) == asked, "a paused dashboard asked the API"
        await board.press("p")
        await board.until(lambda: len(sim.log.records()) > asked, "polling to resume")


# ---- the keys ------------------------------------------------------------------------------------


async def test_add_names_invalid_ids_and_says_which_were_already_tracked(store, clock, sim):
    store.add(["old-1"])
    async with dashboard(store, clock, sim) as board:
        await add_ids(board, "old-1 .. new-1")
        assert "new-1" in board.row_ids() and ".." not in board.row_ids()
        toasts = " | ".join(board.toasts())
        assert "Already tracked: old-1" in toasts
        assert "invalid task id '..'" in toasts
        assert "Tracking 1: new-1" in toasts
        assert board.table.selected.id == "new-1"


async def test_add_dialog_escape_adds_nothing(store, clock):
    async with dashboard(store, clock) as board:
        await board.press("a")
        await board.pilot.press(*"abc")
        await board.press("escape")
        assert not isinstance(board.app.screen, AddIdsScreen)
        await workers_ended(board, "add")
        assert store.tasks() == []


async def test_ids_typed_in_the_same_read_as_enter_go_in(store, clock):
    async with dashboard(store, clock) as board:
        await board.press("a")
        for character in "x1\r":  # keys that reached the terminal in one read: none waits for the last
            board.app.post_message(events.Key("enter" if character == "\r" else character, character))
        await board.until(lambda: "x1" in store, "the ids to go in")


async def test_enter_shows_details_with_the_raw_answer_and_timeline(store, clock, sim):
    store.add(["fail-x"])
    async with dashboard(store, clock, sim) as board:
        await board.next_round(advance=35)
        await board.select("fail-x")
        await board.press("enter")
        assert isinstance(board.app.screen, DetailsScreen)
        text = plain_text(describe(store.get("fail-x"), clock()))
        assert "content moderation" in text
        assert '"status": "failed"' in text
        assert "Timeline" in text and "queued" in text and "failed" in text
        await board.press("escape")
        assert not isinstance(board.app.screen, DetailsScreen)


async def test_copy_puts_the_url_on_the_clipboard_and_says_what(store, clock, sim, quiet_desktop):
    store.add(["done-1"])
    async with dashboard(store, clock, sim) as board:
        await board.next_round(advance=35)
        await board.select("done-1")
        await board.press("c")
        url = store.get("done-1").task.video_url
        assert board.app.clipboard == url
        assert any(url in toast and "Copied" in toast for toast in board.toasts())
        await board.until(lambda: quiet_desktop["clipboard"] == [url], "the system clipboard fallback")


async def test_copy_is_greyed_out_until_the_task_has_a_url(store, clock, sim):
    store.add(["early"])
    async with dashboard(store, clock, sim) as board:
        await board.select("early")
        assert board.app.check_action("copy_url", ()) is None
        await board.press("c")
        assert board.app.clipboard == ""
        await board.next_round(advance=35)
        assert board.app.check_action("copy_url", ()) is True


async def test_open_uses_the_saved_file_else_the_url(store, clock, sim, quiet_desktop, tmp_path):
    store.add(["done-1", "done-2", "done-3"])
    saved = tmp_path / "done-2.mp4"
    saved.write_bytes(b"video")
    async with dashboard(store, clock, sim) as board:
        await board.next_round(advance=35)
        store.update(
            {
                "done-2": lambda t: t.with_local_file(str(saved)),
                "done-3": lambda t: t.with_local_file(str(tmp_path / "deleted-since.mp4")),
            }
        )
        await board.app.rebuild()
        for task_id in ("done-1", "done-2", "done-3"):
            await board.select(task_id)
            await board.press("o")
        url = store.get("done-1").task.video_url
        assert quiet_desktop["open"] == [url, str(saved), store.get("done-3").task.video_url]


@pytest.mark.parametrize(
    ("video_url", "local_file"),
    [
        ("/usr/bin/id", None),
        ("~/.bashrc", None),
        ("evil.desktop", None),
        ("file:///etc/passwd", None),
        ("https://cdn.example/v.mp4", "/usr/bin/id"),  # an imported record's file that is no video
    ],
    ids=["program", "dotfile", "relative-desktop-file", "file-url", "imported-local-file"],
)
async def test_open_never_hands_the_opener_a_path_or_scheme_a_server_named(
    store, clock, quiet_desktop, video_url, local_file
):
    store.add(["x-1"])
    answer = {"id": "x-1", "status": "completed", "video_url": video_url}
    store.update({"x-1": lambda t: t.with_answer(task_from_dict(answer, "x-1"), clock())})
    if local_file:
        store.update({"x-1": lambda t: t.with_local_file(local_file)})
    async with dashboard(store, clock) as board:
        await board.select("x-1")
        await board.press("o")
        opened = quiet_desktop["open"]
        if local_file:
            assert opened == ["https://cdn.example/v.mp4"], "the URL, not the imported path"
        else:
            assert opened == [], f"{video_url!r} reached the opener"
            assert any("only http and https" in toast for toast in board.toasts())


async def test_d_stops_tracking_and_u_brings_it_back(store, clock):
    store.add(["keep", "drop"], label="x")
    async with dashboard(store, clock) as board:
        await board.select("drop")
        await board.press("d")
        assert "drop" not in store and board.row_ids() == ["keep"]
        assert any("u undoes" in toast for toast in board.toasts())
        await board.press("u")
        assert store.get("drop").label == "x"
        assert sorted(board.row_ids()) == ["drop", "keep"]


async def test_l_labels_and_the_filter_finds_the_label(store, clock):
    store.add(["t1", "t2"])
    async with dashboard(store, clock) as board:
        await board.select("t2")
        await board.press("l")
        await board.pilot.press(*"sunset cats")
        await board.press("enter")
        assert store.get("t2").label == "sunset cats"
        await board.press("slash")
        await board.pilot.press(*"cats")
        await board.until(lambda: board.row_ids() == ["t2"], "the filter to apply")
        await board.press("enter")
        assert board.row_ids() == ["t2"] and board.app.focused is board.table
        await board.press("escape")
        await board.until(lambda: sorted(board.row_ids()) == ["t1", "t2"], "the filter to clear")


async def test_a_filter_that_matches_nothing_says_so_not_that_nothing_is_tracked(store, clock):
    store.add(["t1", "t2"])
    async with dashboard(store, clock) as board:
        await board.press("slash")
        await board.pilot.press(*"zzz")
        await board.until(lambda: board.row_ids() == [], "the filter to apply")
        assert board.table.empty_message.startswith("No task matches what the view shows")
        await board.press("escape")
        await board.until(lambda: sorted(board.row_ids()) == ["t1", "t2"], "the filter to clear")


async def test_r_polls_the_selected_task_now_even_when_final(store, clock, sim):
    store.add(["fail-1", "other"])
    async with dashboard(store, clock, sim) as board:
        await board.next_round(advance=35)
        asked = len(sim.log.for_task("fail-1"))
        await board.select("fail-1")
        await board.press("r")
        await board.polled()
        assert len(sim.log.for_task("fail-1")) == asked + 1


async def test_capital_r_polls_every_unfinished_task_now(store, clock, sim):
    store.add(["a1", "a2"])
    async with dashboard(store, clock, sim) as board:
        sim.log.clear()
        await board.press("R")  # nothing is due yet: only the key makes this round
        await board.polled()
        assert sorted(record.task_id for record in sim.log.records()) == ["a1", "a2"]


async def test_space_marks_rows_and_bulk_actions_use_them(store, clock, sim):
    store.add(["m1", "m2", "m3"])
    async with dashboard(store, clock, sim) as board:
        await board.next_round(advance=35)
        await board.press("home", "space", "space")
        assert len(board.table.marked) == 2
        marked = {t.id for t in board.table.targets()}
        await board.press("c")
        assert board.app.clipboard.count("\n") == 1
        await board.press("d")
        assert {t.id for t in store.tasks()} == {"m1", "m2", "m3"} - marked
        assert board.table.marked == set()


async def test_hide_finished_and_failed_only(store, clock, sim):
    store.add(["ok-1", "fail-1", "later"])
    async with dashboard(store, clock, sim) as board:
        await board.next_round(advance=35)
        store.add(["late"])
        await board.app.tick()
        await board.press("h")
        assert board.row_ids() == ["late"]
        await board.press("h", "f")
        assert board.row_ids() == ["fail-1"]
        assert "failed only" in board.summary()


async def test_help_lists_every_key_of_the_contract(store, clock):
    async with dashboard(store, clock) as board:
        await board.press("question_mark")
        assert isinstance(board.app.screen, HelpScreen)
        keys = {row[0] for row in board.app.key_help()}
        for key in ["a", "⏎", "c", "o", "d", "u", "l", "r", "R", "p", "/", "?", "q", "space"]:
            assert key in keys, key
        await board.press("escape")
        assert not isinstance(board.app.screen, HelpScreen)


async def test_q_quits(store, clock):
    async with dashboard(store, clock) as board:
        await board.pilot.press("q")
        await board.until(lambda: not board.app.is_running, "the dashboard to close")
        assert board.app.return_code == 0


async def test_a_changed_keymap_moves_the_action_to_its_new_key(store, clock, sim):
    store.add(["done-1"])
    async with dashboard(store, clock, sim, keymap={"copy": "y", "nonsense": "z"}) as board:
        await board.next_round(advance=35)
        await board.press("y")
        assert board.app.clipboard == store.get("done-1").task.video_url
        assert any("nonsense" in toast for toast in board.toasts())
        assert ("y", "copy") in {(row[0], row[2]) for row in board.app.key_help()}


# ---- the world around it -------------------------------------------------------------------------


async def test_ids_added_by_another_process_appear_at_the_next_tick(store, clock, tmp_path, sim):
    async with dashboard(store, clock, sim) as board:
        TaskStore(tmp_path / "tasks.json").add(["from-cli"])  # `grokdash add` in another terminal
        await board.app.tick()
        assert "from-cli" in board.row_ids()
        await board.until(lambda: board.status("from-cli") == Status.QUEUED, "the new id to be polled")


async def test_a_worker_failure_is_shown_and_polling_carries_on(store, clock, sim, monkeypatch):
    store.add(["t1"])
    async with dashboard(store, clock, sim) as board:
        original = board.app._poller._scan
        calls = {"n": 0}

        def broken_once(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("disk on fire")
            return original(*args, **kwargs)

        monkeypatch.setattr(board.app._poller, "_scan", broken_once)
        board.clock.advance(INTERVAL * 2)
        board.app.wake_poller()
        await board.until(lambda: "polling failed: disk on fire" in board.summary(), "the failure shown")
        await board.next_round(advance=INTERVAL * 2)
        assert board.app.is_running and calls["n"] >= 2
        assert "disk on fire" not in board.summary(), "a step that works again clears it"


async def test_a_refused_key_pauses_polling_and_says_so_once(store, clock, sim):
    store.add(["t1", "t2", "t3"])
    async with dashboard(store, clock, sim, key="wrong") as board:
        summary = board.summary()
        assert "API key was refused" in summary and "paused" in summary
        assert len(board.toasts()) == 0, "one line in the summary, not a flood of toasts"


async def test_a_dead_server_is_one_line_in_the_summary(store, clock, sim):
    store.add(["t1", "t2"])
    async with dashboard(store, clock, sim) as board:
        sim.stop()
        await board.press("R")
        await board.until(lambda: "cannot connect" in board.summary(), "the connection problem")
        assert board.app.is_running


async def test_completion_rings_the_bell_and_notifies_the_desktop_when_enabled(
    store, clock, sim, quiet_desktop
):
    store.add(["ding"])
    async with dashboard(store, clock, sim, bell=True, desktop_notifications=True) as board:
        rings = []
        board.app.bell = lambda: rings.append(1)
        await board.next_round(advance=35)
        assert rings == [1]
        assert quiet_desktop["notify"] == ["grokdash: ✔ ding completed"]


REVOKED = "the key was revoked by its owner (HTTP 403)"


@pytest.mark.parametrize(
    ("error", "pauses"),
    [
        pytest.param(lambda: AuthError(REVOKED), True, id="auth"),
        pytest.param(lambda: ServerError(REVOKED, 503), False, id="other"),
    ],
)
async def test_an_auth_error_type_is_what_pauses(store, clock, sim, monkeypatch, error, pauses):
    # The type pauses, not the words; and the summary's wording comes from the error itself.
    async def failing(client: GrokClient, task_id: str) -> None:
        raise error()

    monkeypatch.setattr(GrokClient, "get_task", failing)
    store.add(["t1"])
    async with dashboard(store, clock, sim) as board:  # after the first round
        summary = board.summary()
        assert ("paused · p resumes" in summary) is pauses
        assert (f"{REVOKED}: polling paused (p resumes)" in summary) is pauses


async def test_a_database_opened_after_the_first_frame_fills_the_table(tmp_path, clock):
    TaskStore(tmp_path / "tasks.json").add(["t1", "t2"])
    config = DashboardConfig.of(
        store=None,
        open_store=lambda: TaskStore(tmp_path / "tasks.json"),
        make_client=None,
        clock=clock,
        desktop_notifications=False,
    )
    app = GrokdashApp(config)
    async with app.run_test(size=SIZE) as pilot:
        board = Dashboard(app, pilot, clock)
        await board.until(lambda: app.ready and board.row_ids() == ["t1", "t2"], "the database to open")
        await board.press("d")
        assert [t.id for t in app.store.tasks()] == ["t2"]


async def test_ids_added_while_the_database_opens_go_in_once_it_is_open(tmp_path, clock):
    TaskStore(tmp_path / "tasks.json").add(["old"])
    gate = threading.Event()

    def slow_open() -> TaskStore:
        gate.wait(10)  # a big database: still opening while the user types
        return TaskStore(tmp_path / "tasks.json")

    config = DashboardConfig.of(store=None, open_store=slow_open, make_client=None, clock=clock)
    app = GrokdashApp(config)
    async with app.run_test(size=SIZE) as pilot:
        board = Dashboard(app, pilot, clock)
        await add_ids(board, "typed-early")
        assert not app.ready
        gate.set()
        await board.until(lambda: sorted(board.row_ids()) == ["old", "typed-early"], "the early ids to go in")


async def test_a_database_that_cannot_be_opened_is_said_and_the_dashboard_stays_up(tmp_path, clock):
    def locked() -> TaskStore:
        raise StoreError("the task database /x/tasks.json is locked by another grokdash process")

    config = DashboardConfig.of(store=None, open_store=locked, make_client=None, clock=clock)
    app = GrokdashApp(config)
    async with app.run_test(size=SIZE) as pilot:
        board = Dashboard(app, pilot, clock)
        await board.until(lambda: "locked by another" in board.summary(), "the problem to show")
        await board.press("d", "slash", "c")  # nothing to act on: no crash
        assert app.is_running and app.screen is app.screen_stack[0]


# ---- saving videos -------------------------------------------------------------------------------


async def test_s_saves_the_video_and_remembers_the_file(store, clock, sim, tmp_path):
    store.add(["done-1", "later-1"])
    folder = tmp_path / "videos"
    async with dashboard(store, clock, sim, download_dir=folder) as board:
        await board.select("later-1")
        assert board.app.check_action("save", ()) is None  # no video yet: greyed out
        await board.next_round(advance=35)
        await board.select("done-1")
        await board.press("s")
        await board.until(lambda: store.get("done-1").local_file is not None, "the video to be saved")
        assert (folder / "done-1.mp4").read_bytes() == sample_video()
        await board.until(lambda: any("Saved done-1" in toast for toast in board.toasts()), "the toast")
        await board.until(lambda: "done-1" not in board.app.saving, "the queue to empty")
        media = [r for r in sim.log.records() if "/media/" in r.path]
        assert len(media) == 1 and not media[0].authorized  # the key never goes to the video host


async def test_videos_are_saved_on_completion_when_auto_download_is_on(store, clock, sim, tmp_path):
    store.add(["auto-1", "fail-1"])
    folder = tmp_path / "videos"
    async with dashboard(store, clock, sim, download_dir=folder, auto_download=True) as board:
        await board.next_round(advance=35)
        await board.until(lambda: store.get("auto-1").local_file is not None, "save on complete")
        # The video and its sidecar; the failed task has no video.
        assert sorted(p.name for p in folder.iterdir()) == ["auto-1.json", "auto-1.mp4"]


async def test_an_expired_video_url_is_said_plainly(store, clock, sim, tmp_path):
    store.add(["expire-1"])
    async with dashboard(store, clock, sim, download_dir=tmp_path / "videos") as board:
        await board.next_round(advance=35)
        await board.select("expire-1")
        await board.press("s")
        await board.until(lambda: any("Not saved: expire-1" in t for t in board.toasts()), "the failure")
        assert any("has expired" in toast for toast in board.toasts())
        assert store.get("expire-1").local_file is None


# ---- creating tasks ------------------------------------------------------------------------------


def posts(sim: SimServer) -> list:
    return [record for record in sim.log.records() if record.method == "POST"]


async def open_form(board: Dashboard, prompt: str = "") -> NewTaskScreen:
    await board.press("n")
    form = board.app.screen
    assert isinstance(form, NewTaskScreen)
    if prompt:
        form.query_one("#prompt", TextArea).text = prompt
        await board.pilot.pause()
    return form


async def test_n_creates_a_task_after_one_confirmation_and_tracks_it(store, clock, sim):
    async with dashboard(store, clock, sim) as board:
        form = await open_form(board, "a red fox running through fresh snow at dawn, slow motion")
        await board.press("ctrl+s")
        assert posts(sim) == [], "the first press only asks"
        assert "billed" in str(form.query_one("#create", Button).label)
        await board.press("tab", "enter")  # from Back to "Yes, create it (this is billed)"
        await board.until(lambda: not isinstance(board.app.screen, NewTaskScreen), "the form to close")
        assert len(posts(sim)) == 1
        created = board.table.selected
        assert created.label == label_from_prompt(created.request["prompt"])
        assert created.label.startswith("a red fox") and len(created.label) <= 41
        assert created.request["prompt"].startswith("a red fox") and created.request["model"] == "grok_video3"
        assert created.status == Status.QUEUED


async def test_the_form_offers_only_what_the_model_allows(store, clock, sim):
    async with dashboard(store, clock, sim) as board:
        form = await open_form(board, "a cat")
        form.query_one("#model", Select).value = "grok_video3_pro"
        await board.pilot.pause()
        assert not form.query_one("#duration", Select).display
        assert "10 s (fixed)" in str(form.query_one("#duration-fixed", Static).render())
        assert not form.query_one("#images", TextArea).display  # pro takes no reference images
        assert "per call" in str(form.query_one("#billing", Static).render())
        form.query_one("#model", Select).value = "grok_video3_max"
        await board.pilot.pause()
        durations = [value for _, value in form.query_one("#duration", Select)._options]
        assert durations == ["6", "10", "12", "16", "20", "30"]
        assert "per second" in str(form.query_one("#billing", Static).render())


async def test_a_problem_quoting_what_was_typed_shows_it_as_typed(store, clock, sim):
    async with dashboard(store, clock, sim) as board:
        form = await open_form(board)
        form.query_one("#model", Select).value = "grok_video3_max"
        form.query_one("#prompt", TextArea).text = "x"
        form.query_one("#images", TextArea).text = "ftp://[b]img[/b]"
        await board.pilot.pause()
        shown = form.query_one("#problems", Static).render()
        assert "not 'ftp://[b]img[/b]'" in str(shown)  # "[b]" is not read as bold


async def test_an_invalid_request_cannot_be_sent(store, clock, sim):
    async with dashboard(store, clock, sim) as board:
        form = await open_form(board)
        assert form.query_one("#create", Button).disabled  # empty prompt
        assert "prompt is empty" in str(form.query_one("#problems", Static).render())
        form.query_one("#model", Select).value = "grok_video3_max"
        form.query_one("#prompt", TextArea).text = "x"
        form.query_one("#images", TextArea).text = "\n".join(f"https://img/{n}.png" for n in range(6))
        await board.pilot.pause()
        assert "at most 5 reference images" in str(form.query_one("#problems", Static).render())
        await board.press("ctrl+s", "ctrl+s")  # ask, then confirm
        await workers_ended(board, "create")
        assert posts(sim) == []


async def test_the_servers_refusal_is_shown_as_it_is_and_nothing_is_tracked(store, clock, sim):
    async with dashboard(store, clock, sim) as board:
        form = await open_form(board, "waves")
        form.query_one("#model", Select).value = "grok_video3_stable"
        await board.pilot.pause()
        form.query_one("#duration", Select).value = "6"  # the second provider page allows it; the server not
        await board.pilot.pause()
        await board.press("ctrl+s")
        await board.press("tab", "enter")  # "Yes, create it"
        await board.until(
            lambda: "refused" in str(form.query_one("#problems", Static).render()), "the refusal"
        )
        assert len(posts(sim)) == 1 and store.tasks() == []
        assert isinstance(board.app.screen, NewTaskScreen)


async def test_run_again_opens_the_form_filled_with_the_request(store, clock, sim):
    async with dashboard(store, clock, sim) as board:
        form = await open_form(board, "a lighthouse in a storm")
        form.query_one("#model", Select).value = "grok_video3_max"
        await board.pilot.pause()
        form.query_one("#duration", Select).value = "16"
        await board.pilot.pause()
        await board.press("ctrl+s")
        await board.press("tab", "enter")  # "Yes, create it"
        await board.until(lambda: not isinstance(board.app.screen, NewTaskScreen), "the form to close")
        await board.press("enter", "n")  # details, then run again
        again = board.app.screen
        assert isinstance(again, NewTaskScreen)
        request = again.request()
        assert (request.model, request.duration, request.prompt) == (
            "grok_video3_max",
            16,
            "a lighthouse in a storm",
        )
        assert len(posts(sim)) == 1


async def test_a_created_task_is_polled_until_it_completes(store, clock, sim):
    async with dashboard(store, clock, sim) as board:
        await open_form(board, "a kite over a beach")
        await board.press("ctrl+s", "tab", "enter")  # the recap, then its "Yes, create it"
        await board.until(lambda: not isinstance(board.app.screen, NewTaskScreen), "the form to close")
        created = board.table.selected.id
        await board.next_round(advance=35)
        assert board.status(created) == Status.COMPLETED


async def test_a_create_that_times_out_is_sent_once_and_said_so(store, clock):
    held = FirstCreateHeld()  # answered only once the client has given up (after 0.3 s)
    with SimServer(clock=clock, on_request=held) as slow:
        try:
            async with dashboard(store, clock, slow, read_timeout=0.3, start_polling=False) as board:
                form = await open_form(board, "a kite over a beach")
                await board.press("ctrl+s", "tab", "enter")
                problems = form.query_one("#problems", Static)
                await board.until(lambda: "may have been created" in str(problems.render()), "the timeout")
                assert form.query_one("#create", Button).disabled  # look before trying again
                await board.press("ctrl+s")
                await workers_ended(board, "create")
                # A second create would have been answered at once, and so logged, by now.
                assert len(posts(slow)) == 1 and store.tasks() == []
        finally:
            held.release()


async def test_the_palette_over_a_dialog_offers_what_the_dialog_can_do_not_the_lists_commands(store, clock):
    """ctrl+p opens everywhere; over the add dialog the list's commands (which its keys would refuse)
    are not offered, and over the details screen only what acts on the task it shows."""
    store.add(["a-1"])
    async with dashboard(store, clock) as board:
        app = board.app
        listed = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Poll all now", "Stop tracking", "Details pane"} <= listed
        await board.press("a")
        assert isinstance(app.screen, AddIdsScreen)
        over_add = {command.title for command in app.get_system_commands(app.screen)}
        assert not over_add & {"Poll all now", "Stop tracking", "Copy video URL", "Add task ids"}
        assert "Quit" in over_add  # Textual's own: quit and the themes stay
        await board.press("escape", "enter")
        assert isinstance(app.screen, DetailsScreen)
        over_details = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Copy video URL", "Open video", "Run again"} <= over_details
        assert "Stop tracking" not in over_details


async def test_run_again_is_greyed_out_in_the_details_of_a_task_not_created_here(store, clock):
    store.add(["added-1"])
    store.add(["made-1"], request={"model": "grok_video3", "prompt": "a kite"})
    async with dashboard(store, clock) as board:
        await board.select("added-1")
        await board.press("enter")
        assert isinstance(board.app.screen, DetailsScreen)
        assert board.app.check_action("run_again", ()) is None
        await board.press("escape")
        await board.select("made-1")
        await board.press("enter")
        assert board.app.check_action("run_again", ()) is True
