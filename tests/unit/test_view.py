"""What the dashboard shows, decided without a terminal: order, filter, cells, ETA, narrow layouts."""

import pytest

from grokdash import palette
from grokdash.errors import NetworkError, NotFoundError
from grokdash.models import Status, Task
from grokdash.tracked import TrackedTask
from grokdash.tui.details_text import Transfer
from grokdash.tui.view import (
    COLUMNS,
    SortOrder,
    ViewOptions,
    cell_text,
    elapsed,
    eta,
    filter_problems,
    fit,
    layout,
    matches,
    model_medians,
    status_counts,
    visible_tasks,
)
from grokdash.tui.widgets.summary import summary_text

T0 = 1_764_300_000.0


def task(
    task_id,
    status=None,
    *,
    created=T0,
    at=T0,
    model="grok_video3",
    label=None,
    error=None,
    request=None,
    **extra,
):
    tracked = TrackedTask(id=task_id, added_at=created, label=label, request=request)
    if status is None:
        return tracked
    answer = Task(id=task_id, status=status, model=model, created=int(created), error=error, **extra)
    return tracked.with_answer(answer, at)


def finished(task_id, took, *, model="grok_video3", created=T0):
    queued = task(task_id, Status.QUEUED, created=created, at=created, model=model)
    answer = Task(id=task_id, status=Status.COMPLETED, model=model, created=int(created), video_url="u")
    return queued.with_answer(answer, created + took)


def test_the_default_order_puts_active_tasks_first():
    tasks = [
        task("done", Status.COMPLETED),
        task("waiting", Status.QUEUED),
        task("broken", Status.FAILED),
        task("running", Status.PROCESSING),
        task("fresh"),
        task("odd", "moderated"),
    ]
    order = [t.id for t in visible_tasks(tasks, ViewOptions(), T0)]
    assert order == ["fresh", "running", "waiting", "broken", "odd", "done"]


def test_other_orders_newest_first_and_longest_running_first():
    old = task("old", Status.PROCESSING, created=T0 - 600)
    new = task("new", Status.PROCESSING, created=T0 - 60)
    assert [t.id for t in visible_tasks([old, new], ViewOptions(sort=SortOrder.AGE), T0)] == ["new", "old"]
    assert [t.id for t in visible_tasks([new, old], ViewOptions(sort=SortOrder.ELAPSED), T0)] == [
        "old",
        "new",
    ]
    assert SortOrder.STATUS.next is SortOrder.ID and SortOrder.ERROR.next is SortOrder.STATUS
    assert [order.value for order in SortOrder] == [column.key for column in COLUMNS]


def ids(tasks, options, **kwargs):
    return [t.id for t in visible_tasks(tasks, options, T0, **kwargs)]


def gone(task_id, *, created=T0):
    record = task(task_id, created=created)
    for n in range(3):
        record = record.with_error(NotFoundError("not found"), T0 + n)
    return record


def test_ids_and_labels_sort_naturally_and_a_second_press_reverses():
    tasks = [task(f"bulk-{n}", Status.QUEUED, label=f"Shot {n}") for n in (10, 2, 1, 33)]
    by_id = ViewOptions().sorted_by(SortOrder.ID)
    assert ids(tasks, by_id) == ["bulk-1", "bulk-2", "bulk-10", "bulk-33"]
    assert by_id.sorted_by(SortOrder.ID).reverse
    assert ids(tasks, by_id.sorted_by(SortOrder.ID)) == ["bulk-33", "bulk-10", "bulk-2", "bulk-1"]
    assert ids(tasks, ViewOptions(sort=SortOrder.LABEL)) == ["bulk-1", "bulk-2", "bulk-10", "bulk-33"]
    # Another column starts in its own first order again.
    assert by_id.sorted_by(SortOrder.ID).sorted_by(SortOrder.LABEL) == ViewOptions(sort=SortOrder.LABEL)


def test_every_column_sorts_and_empty_cells_go_last_either_way():
    tasks = [
        task("a", Status.COMPLETED, label="zoo", actual_duration=6.0, video_url="u"),
        task("b", Status.COMPLETED, label="ant", actual_duration=16.0, video_url="u"),
        task("c"),
    ]
    for order in SortOrder:
        for reverse in (False, True):
            assert sorted(ids(tasks, ViewOptions(sort=order, reverse=reverse))) == ["a", "b", "c"]
    assert ids(tasks, ViewOptions(sort=SortOrder.LABEL)) == ["b", "a", "c"]
    assert ids(tasks, ViewOptions(sort=SortOrder.LABEL, reverse=True)) == ["a", "b", "c"]
    assert ids(tasks, ViewOptions(sort=SortOrder.VIDEO)) == ["b", "a", "c"]  # the longest first
    assert ViewOptions(sort=SortOrder.VIDEO).descending and not ViewOptions(sort=SortOrder.ID).descending


def test_active_first_puts_gone_and_failing_unanswered_tasks_after_the_running_ones():
    tasks = [
        gone("lost", created=T0 + 50),  # the newest: newest-first must not lift it above running ones
        task("running", Status.PROCESSING),
        task("waiting", Status.QUEUED),
        task("broken", Status.FAILED),
        task("done", Status.COMPLETED),
        task("unreachable", created=T0 + 40).with_error(NetworkError("cannot connect"), T0),
    ]
    assert ids(tasks, ViewOptions()) == ["running", "waiting", "unreachable", "lost", "broken", "done"]


def test_a_task_whose_first_query_failed_says_so_not_new():
    failing = task("x").with_error(NetworkError("cannot connect"), T0)
    assert cell_text("status", failing, T0, {}) == "⚠ error"
    assert cell_text("status", task("n"), T0, {}) == "… new"
    assert matches(failing, "status:error") and not matches(failing, "status:new")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("cat", {"a"}),
        ("CAT", {"a"}),
        ("max", {"b"}),
        ("failed", {"b"}),
        ("moderation", {"b"}),
        ("task_c", {"c"}),
        ("refused", {"c"}),
        ("cat video3", {"a"}),
        ("", {"a", "b", "c"}),
        ("zebra", set()),
    ],
)
def test_the_filter_matches_id_label_model_status_and_error(text, found):
    tasks = [
        task("task_a", Status.QUEUED, label="cat video"),
        task("task_b", Status.FAILED, model="grok_video3_max", error="content moderation"),
        task("task_c").with_error(NetworkError("connection refused"), T0),
    ]
    shown = {t.id.removeprefix("task_") for t in tasks if matches(t, text)}
    assert shown == found


def test_hide_finished_and_failed_only():
    tasks = [
        task("done", Status.COMPLETED),
        task("broken", Status.FAILED),
        task("running", Status.PROCESSING),
        task("lost").with_error(NotFoundError("x"), T0),
        task("odd", "moderated"),
        gone("typo"),
    ]
    # Gone is as settled as finished: h hides it too.
    assert {t.id for t in visible_tasks(tasks, ViewOptions(hide_finished=True), T0)} == {"running", "lost"}
    # f: every ending but completed (moderated and any other undocumented status), gone, a failing query.
    assert {t.id for t in visible_tasks(tasks, ViewOptions(failed_only=True), T0)} == {
        "broken",
        "lost",
        "odd",
        "typo",
    }


def field_tasks():
    prompt = {"model": "grok_video3_max", "prompt": "Waves at dawn"}
    return [
        task(
            "t1",
            Status.FAILED,
            model="grok_video3_max",
            label="beach day",
            error="moderation",
            request=prompt,
        ),
        task("t2", Status.COMPLETED, model="grok_video3", label="beach", video_url="u"),
        task("t3", Status.COMPLETED, model="grok_video3_max", label="city", video_url="u").with_local_file(
            "/v"
        ),
        task("t4", Status.QUEUED, model="grok_video3_pro", label="Beach night"),
    ]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("status:failed", {"t1"}),
        ("status:comp", {"t2", "t3"}),
        ("status:failed,queued", {"t1", "t4"}),
        ("model:max", {"t1", "t3"}),
        ("label:beach", {"t1", "t2", "t4"}),
        ('label:"beach day"', {"t1"}),
        ("label:beach model:max", {"t1"}),
        ("saved:no", {"t2"}),
        ("saved:yes", {"t3"}),
        ("saved:owed", {"t2"}),
        ("saved:none", {"t1", "t4"}),
        ("dawn", {"t1"}),  # the prompt of a task created here
        ("moderation", {"t1"}),
        ("beach night", {"t4"}),  # words AND together
        ('"beach day"', {"t1"}),
        ("status:", {"t1", "t2", "t3", "t4"}),  # a field being typed narrows nothing yet
        ("prompt:waves", {"t1"}),
        ("error:moder", {"t1"}),
        ("id:t3", {"t3"}),
    ],
)
def test_filters_know_fields(text, found):
    assert {t.id for t in visible_tasks(field_tasks(), ViewOptions(filter_text=text), T0)} == found


def test_an_unknown_field_is_said_and_saved_uses_the_disk_facts_given():
    assert filter_problems("colour:red beach") == (
        "no field “colour” (fields: status, id, label, model, prompt, error, saved)",
    )
    assert filter_problems("status:failed label:x") == ()
    assert "saved: maybe?" in filter_problems("saved:maybe")[0]
    # The saver's look at the disk wins over the record: t3's file is missing.
    states = {"t2": "saved", "t3": "missing"}
    shown = ids(field_tasks(), ViewOptions(filter_text="saved:no"), save_state_of=lambda t: states.get(t.id))
    assert shown == ["t3"]


def test_elapsed_ticks_while_running_and_stops_once_final():
    running = task("r", Status.PROCESSING, created=T0 - 90)
    assert elapsed(running, T0) == 90
    assert elapsed(running, T0 + 10) == 100
    done = finished("d", took=240)
    assert elapsed(done, T0 + 10_000) == 240
    assert cell_text("elapsed", done, T0 + 10_000, {}) == "4m 00s"
    assert elapsed(task("new"), T0) is None


def test_eta_comes_from_the_median_this_model_took_for_this_user():
    history = [finished(f"h{n}", took) for n, took in enumerate([100, 200, 300])]
    history.append(finished("other", 1000, model="grok_video3_max"))
    medians = model_medians(history)
    assert medians == {"grok_video3": 200, "grok_video3_max": 1000}
    running = task("r", Status.PROCESSING, created=T0 - 50)
    assert eta(running, T0, medians) == 150
    assert cell_text("eta", running, T0, medians) == "~2m 30s"
    assert cell_text("eta", running, T0 + 500, medians) == "any time"
    assert eta(task("r2", Status.PROCESSING, model="grok_video3_pro"), T0, medians) is None
    assert eta(history[0], T0, medians) is None


def test_cells_read_like_the_table_shows_them():
    done = task("d", Status.COMPLETED, actual_duration=10.0, video_url="http://x/v.mp4")
    assert cell_text("status", done, T0, {}) == "✔ completed"
    assert cell_text("video", done, T0, {}) == "10s"
    assert cell_text("model", done, T0, {}) == "video3"
    assert cell_text("status", task("n"), T0, {}) == "… new"
    failing = task("e", Status.QUEUED).with_error(NetworkError("cannot connect"), T0 + 5)
    assert cell_text("error", failing, T0 + 65, {}) == "network: cannot connect"
    assert cell_text("checked", failing, T0 + 65, {}) == "1m 00s"
    gone = task("g")
    for n in range(3):
        gone = gone.with_error(NotFoundError("not found"), T0 + n)
    assert cell_text("status", gone, T0, {}) == "! gone"
    stale = task("s", Status.PROCESSING, at=T0)
    assert cell_text("status", stale, T0 + 3600, {}) == "▶ stale"


def test_status_counts_include_new_gone_and_undocumented_statuses():
    gone = task("e")
    for n in range(3):
        gone = gone.with_error(NotFoundError("not found"), T0 + n)
    never_answered = task("f").with_error(NetworkError("cannot connect"), T0)
    tasks = [task("a"), task("b", Status.QUEUED), task("c", "moderated"), task("d", Status.QUEUED), gone]
    assert status_counts([*tasks, never_answered]) == {
        "new": 1,
        "error": 1,  # as its STATUS cell says: it was asked about, it is not new
        "queued": 2,
        "moderated": 1,
        "gone": 1,
    }


def test_a_task_never_answered_reads_error_in_red_in_the_table_and_the_summary():
    never_answered = task("f").with_error(NetworkError("cannot connect"), T0)
    assert cell_text("status", never_answered, T0, {}) == "⚠ error"
    assert palette.color("error") == palette.color(Status.FAILED)  # not the muted grey of "new"
    assert "error" in palette.ALARMING
    line = summary_text(status_counts([never_answered, task("n")]), 2, "polling", None)
    assert line.plain.startswith("1 new  1 error")


def test_a_cut_cell_ends_with_an_ellipsis():
    assert fit("sunset over the bay", 10) == "sunset ov…"
    assert fit("short", 8) == "short   "
    assert fit("日本語の説明", 7) == "日本語…"


@pytest.mark.parametrize("width", [60, 78, 100, 140, 200])
def test_narrow_terminals_drop_the_least_useful_columns_first(width):
    columns = layout(width)
    used = sum(size for _, size in columns) + len(columns) - 1
    assert used <= width
    kept = {column.key for column, _ in columns}
    assert {"status", "id"} <= kept
    for dropped in set(c.key for c in COLUMNS) - kept:
        dropped_priority = next(c.priority for c in COLUMNS if c.key == dropped)
        assert all(column.priority > dropped_priority for column, _ in columns)


def test_80_columns_keep_what_matters_most():
    kept = [column.key for column, _ in layout(78)]
    assert kept[:2] == ["status", "id"]
    assert "elapsed" in kept and "error" in kept
    wide = [column.key for column, _ in layout(200)]
    assert wide == [column.key for column in COLUMNS]


def test_a_task_first_seen_finished_has_only_an_upper_bound_and_no_say_in_the_eta():
    seen_done = task("late", Status.COMPLETED, created=T0 - 900, at=T0, video_url="u")
    assert cell_text("elapsed", seen_done, T0, {}) == "≤15m 00s"
    assert model_medians([seen_done]) == {}
    assert cell_text("elapsed", finished("watched", took=120), T0 + 999, {}) == "2m 00s"


def test_a_running_save_reads_in_megabytes_and_speed():
    assert Transfer(50_000_000, 200_000_000, 2.0).describe() == "saving: 50.0 MB of 200.0 MB, 25.0 MB/s"
    assert Transfer(1_500_000, None, 0.0).describe() == "saving: 1.5 MB"
