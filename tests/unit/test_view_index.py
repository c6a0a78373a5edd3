"""The dashboard's view over many tasks (issue 15): a search key built once per record, and an index that
follows the records that changed, giving exactly what the plain functions give over every task."""

import random

import pytest

from grokdash.errors import NetworkError, NotFoundError
from grokdash.models import task_from_dict
from grokdash.savestate import save_state
from grokdash.tracked import TrackedTask
from grokdash.tui import view
from grokdash.tui.view import SortOrder, ViewIndex, ViewOptions

T0 = 1_764_300_000.0
MODELS = ("grok_video3", "grok_video3_pro", "grok_video3_max")
TEXTS = (
    "",
    "clip",
    "clip 1",
    "done-01",
    "status:failed",
    "error",
    "saved:no",
    "model:pro clip",
    "colour:red x",
)


def record(n: int) -> TrackedTask:
    """A mix: completed ones seen running, running ones, failed ones, labelled or not, some with errors."""
    task_id = f"done-{n:03d}" if n % 4 else f"Bulk-{n}"
    created = T0 - 3600 + (n % 7) * 60  # equal starts, so ties fall to the id and then the store's order
    tracked = TrackedTask(id=task_id, added_at=created + 1, label=f"clip {n % 11}" if n % 3 else None)
    base = {"id": task_id, "model": MODELS[n % len(MODELS)], "created": int(created)}
    tracked = tracked.with_answer(task_from_dict({**base, "status": "processing"}), created + 10)
    if n % 5 == 1:
        return tracked.with_error(NetworkError("down"), created + 20)
    if n % 5 == 2:
        return tracked.with_answer(task_from_dict({**base, "status": "failed", "error": "moderated"}), T0)
    if n % 5 == 3:
        url = f"https://cdn.example.com/{task_id}.mp4"
        return tracked.with_answer(task_from_dict({**base, "status": "completed", "video_url": url}), T0 - n)
    return tracked


def every_option(rnd: random.Random, count: int) -> list[ViewOptions]:
    return [
        ViewOptions(
            sort=rnd.choice(list(SortOrder)),
            reverse=rnd.random() < 0.5,
            filter_text=rnd.choice(TEXTS),
            hide_finished=rnd.random() < 0.3,
            failed_only=rnd.random() < 0.2,
        )
        for _ in range(count)
    ]


def saved(tracked: TrackedTask) -> str | None:
    return save_state(tracked, None)


def assert_same_as_plain(index: ViewIndex, tasks: list[TrackedTask], options: list[ViewOptions]) -> None:
    index.update(tasks, None, saved)
    medians = index.medians()
    assert medians == view.model_medians(tasks)
    assert index.counts == view.status_counts(tasks)
    assert index.not_on_disk() == {t.id for t in tasks if saved(t) in view.NOT_ON_DISK}
    for chosen in options:
        shown = index.shown(chosen, T0, medians, saved)
        assert shown.rows == view.visible_tasks(tasks, chosen, T0, medians, saved), chosen
        assert shown.index == {tracked.id: n for n, tracked in enumerate(shown.rows)}


def test_the_search_key_is_built_once_per_record_and_again_when_the_record_is_replaced(monkeypatch):
    built: list[str] = []
    build = view._build_search_key

    def counted(tracked: TrackedTask) -> view.SearchKey:
        built.append(tracked.id)
        return build(tracked)

    monkeypatch.setattr(view, "_build_search_key", counted)
    tasks = [TrackedTask(id=f"once-{n}", added_at=T0 - n, label=f"shot {n}") for n in range(5)]
    for text in ("shot", "shot 3", "once-1 shot", "label:shot"):
        view.visible_tasks(tasks, ViewOptions(filter_text=text, sort=SortOrder.ID), T0)
        view.matches(tasks[3], text, T0)
    assert sorted(built) == sorted(tracked.id for tracked in tasks)  # once each, whatever was typed

    relabelled = tasks[2].with_label("sunset")
    assert view.matches(relabelled, "sunset") and not view.matches(tasks[2], "sunset")
    assert built.count("once-2") == 3  # the new record, then the old one again: a key is per record


def test_the_index_gives_what_the_plain_functions_give_as_records_change():
    rnd = random.Random(15)
    tasks = [record(n) for n in range(160)]
    tasks += [TrackedTask(id=f"bulk-0{n}", added_at=T0 - 600) for n in range(4)]  # `bulk-01` ties `Bulk-1`
    index = ViewIndex()
    assert_same_as_plain(index, tasks, every_option(rnd, 40))
    for step in range(60):
        n = rnd.randrange(len(tasks))
        roll = rnd.random()
        if roll < 0.3:
            tasks[n] = tasks[n].with_label(rnd.choice([None, "clip 99", "zz"]))
        elif roll < 0.5:
            tasks[n] = tasks[n].with_error(NetworkError("again"), T0)
        elif roll < 0.6:
            for _ in range(3):
                tasks[n] = tasks[n].with_error(NotFoundError("not found"), T0)
        elif roll < 0.8:
            del tasks[n]
        else:
            tasks.insert(rnd.randrange(len(tasks)), TrackedTask(id=f"new-{step}", added_at=T0 - step))
        assert_same_as_plain(index, tasks, every_option(rnd, 6))


def test_answers_that_keep_every_row_in_its_place_sort_nothing_again(monkeypatch):
    tasks = [record(n) for n in range(50)]
    index = ViewIndex()
    options = ViewOptions(sort=SortOrder.STATUS)
    index.update(tasks, None, saved)
    first = index.shown(options, T0, index.medians(), saved)
    sorts: list[int] = []
    sorted_places = view.sorted_places
    monkeypatch.setattr(view, "sorted_places", lambda *args: sorts.append(1) or sorted_places(*args))

    checked = [t.with_error(NetworkError("down"), T0) if t.consecutive_errors else t for t in tasks]
    index.update(checked, None, saved)  # a round's errors: new records, the same states and starts
    again = index.shown(options, T0, index.medians(), saved)
    assert sorts == []
    assert [t.id for t in again.rows] == [t.id for t in first.rows]
    assert again.rows == view.visible_tasks(checked, options, T0, index.medians(), saved)

    sorts.clear()  # (the plain function sorts, of course)
    relabelled = [*checked[:-1], checked[-1].with_label("aaa")]
    index.update(relabelled, None, saved)
    index.shown(replace_sort(options, SortOrder.LABEL), T0, index.medians(), saved)
    assert sorts == [1]  # another sort: sorted once, then kept
    index.shown(replace_sort(options, SortOrder.LABEL), T0, index.medians(), saved)
    assert sorts == [1]


def replace_sort(options: ViewOptions, order: SortOrder) -> ViewOptions:
    return ViewOptions(sort=order, filter_text=options.filter_text)


@pytest.mark.parametrize("order", [SortOrder.ELAPSED, SortOrder.AGE])
def test_sorts_that_move_with_the_clock_are_sorted_again_at_each_moment(order):
    tasks = [record(n) for n in range(30)]
    index = ViewIndex()
    index.update(tasks, None, saved)
    for now in (T0, T0 + 5000):
        options = ViewOptions(sort=order)
        assert index.shown(options, now, {}, saved).rows == view.visible_tasks(tasks, options, now, {}, saved)
