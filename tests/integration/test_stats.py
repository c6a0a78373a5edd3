"""`grokdash stats` (issue 14): the numbers computed by hand for a fixture database, from the store alone."""

from __future__ import annotations

import json
import time

import pytest

from grokdash.stats import compute, parse_since
from grokdash.store import TaskStore
from tests.tui.conftest import _answers

from .cli import run_cli

T0 = time.mktime((2026, 11, 30, 10, 0, 0, 0, 0, -1))
"""10:00 local time, two days before the day the tests below call "now"."""
NOW = T0 + 2 * 86400
MADE = {"model": "grok_video3", "prompt": "a kite", "duration": 10}
DONE = {"video_url": "https://cdn.example/v.mp4", "actual_duration": 8.0}


def fixture_tasks():
    tasks = []
    for n, took in enumerate((60, 120, 180, 240)):  # completed after 1, 2, 3 and 4 minutes
        created = T0 + n
        steps = [(created + 5, "queued", {}), (created + took, "completed", DONE)]
        tasks.append(_answers(f"done-{n}", "grok_video3", created, steps, request=MADE))
    refused = [(T0 + 10, "failed", {"error": "content moderation: the prompt was refused"})]
    tasks.append(_answers("failed-1", "grok_video3", T0, refused, request=MADE))
    tasks.append(_answers("mod-1", "grok_video3_pro", T0 + 86400, [(T0 + 86400 + 30, "moderated", {})]))
    old = [(T0 - 30 * 86400 + 60, "completed", DONE)]
    tasks.append(_answers("old-1", "grok_video3_pro", T0 - 30 * 86400, old))  # a month before
    return tasks


@pytest.fixture
def db(tmp_path):
    store = TaskStore(tmp_path / "tasks.json")
    store.import_records(fixture_tasks())
    return tmp_path / "tasks.json"


def test_the_json_gives_the_medians_rates_and_spend_computed_by_hand(db, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[prices]\ngrok_video3 = 0.05\n")
    result = run_cli(["stats", "--json"], {"GROKDASH_DB": str(db), "GROKDASH_CONFIG": str(config)})
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    video3, pro = data["models"]
    assert video3["model"] == "grok_video3" and video3["tasks"] == 5
    assert (video3["completed"], video3["failed"], video3["moderated"]) == (4, 1, 0)
    assert video3["completed_rate"] == pytest.approx(0.8) and video3["failed_rate"] == pytest.approx(0.2)
    assert video3["median_seconds"] == pytest.approx(150)  # (120 + 180) / 2
    assert video3["p90_seconds"] == pytest.approx(240)  # nearest rank: the 4th of 4
    assert video3["video_seconds"] == pytest.approx(32)  # 4 videos of 8 s
    # 4 completed at their real 8 s (0.40 each) and the failed one at its asked 10 s (0.50).
    assert video3["spend"] == pytest.approx(4 * 0.4 + 0.5)
    assert (
        pro["tasks"] == 2 and pro["moderated"] == 1 and pro["spend"] is None
    )  # tracked by id: paid elsewhere
    assert data["failures"] == [{"reason": "content moderation: the prompt was refused", "count": 1}]
    days = {day["day"]: day["tasks"] for day in data["days"]}
    assert days[time.strftime("%Y-%m-%d", time.localtime(T0))] == 5


def test_since_keeps_the_recent_tasks_only(db):
    stats = compute(TaskStore(db).tasks(), {}, since=parse_since("7d"), now=NOW)
    assert sum(model.tasks for model in stats.models.values()) == 6  # not the one of a month ago
    assert stats.models["grok_video3_pro"].tasks == 1
    assert compute(TaskStore(db).tasks(), {}, since=parse_since("12h"), now=NOW).models == {}


def test_the_table_reads_for_a_person_and_a_bad_span_is_one_sentence(db):
    result = run_cli(["stats"], {"GROKDASH_DB": str(db)})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "MODEL",
        "TASKS",
        "DONE",
        "FAILED",
        "MODERATED",
        "MEDIAN",
        "P90",
        "VIDEO",
        "SPEND",
    ]
    assert lines[1].split()[:7] == ["grok_video3", "5", "80%", "20%", "0%", "2m", "30s"]
    assert "content moderation: the prompt was refused" in result.stdout
    bad = run_cli(["stats", "--since", "soon"], {"GROKDASH_DB": str(db)})
    assert bad.exit_code == 2 and bad.stderr.startswith("grokdash: --since takes a span like 7d")
