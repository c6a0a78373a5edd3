"""The command line's tables: columns stay in line whatever the labels hold."""

from __future__ import annotations

from grokdash.output import render_table


def test_a_cjk_label_does_not_shift_the_later_columns():
    rows = [
        (["task_1", "completed", "海辺の夕日", "5s"], "green"),
        (["task_2", "completed", "beach", "7s"], "green"),
    ]
    text = render_table(["ID", "STATUS", "LABEL", "AGE"], rows, color=False)
    first, second = text.splitlines()[1:]
    # "海辺の夕日" is 5 characters but 10 terminal cells: the AGE column starts in the same cell on both.
    assert first.index("5s") + 5 == second.index("7s")


def test_a_combining_accent_takes_no_cell():
    rows = [(["a", "ok", "cafe\u0301", "1s"], "green"), (["b", "ok", "cafe", "2s"], "green")]
    first, second = render_table(["ID", "S", "LABEL", "AGE"], rows, color=False).splitlines()[1:]
    assert first.index("1s") == second.index("2s") + 1


def test_a_very_long_label_is_cut_in_the_table_but_kept_whole_in_json():
    from grokdash.output import tracked_json, tracked_row
    from grokdash.tracked import TrackedTask

    tracked = TrackedTask(id="task_1", added_at=0.0, label="x" * 5000)
    cells, _ = tracked_row(tracked, 10.0)
    assert cells[4] == "x" * 39 + "…"
    assert tracked_json(tracked)["label"] == "x" * 5000
