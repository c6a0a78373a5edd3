"""The estimated cost of what grokdash creates, by the user's own prices, and the daily budget."""

from __future__ import annotations

import time

import pytest

from grokdash import spend
from grokdash.models import Task
from grokdash.rules import CreateRequest
from grokdash.tracked import TrackedTask

PRICES = {"grok_video3": 0.05, "grok_video3_pro": 0.80}
NOON = time.mktime((2026, 12, 2, 12, 0, 0, 0, 0, -1))
"""Noon, local time: the day's spend is by the user's own calendar day."""
DAY = 24 * 3600


def made(task_id: str, at: float, model: str = "grok_video3", duration: int | None = None, **answer):
    body = {"model": model, "prompt": "a kite"} | ({"duration": duration} if duration else {})
    tracked = TrackedTask(id=task_id, added_at=at, request=body)
    return tracked.with_answer(Task(id=task_id, status="completed", **answer), at + 60) if answer else tracked


def test_per_second_models_cost_their_length_and_per_call_ones_their_price():
    assert spend.request_price(CreateRequest("grok_video3", "x", duration=20), PRICES) == pytest.approx(1.0)
    assert spend.request_price(CreateRequest("grok_video3", "x"), PRICES) == pytest.approx(
        0.5
    )  # 10 s default
    assert spend.request_price(CreateRequest("grok_video3_pro", "x"), PRICES) == pytest.approx(0.8)
    assert spend.request_price(CreateRequest("grok_video3_max", "x"), PRICES) is None  # no price given
    # Once the video's real length is known, that is what it cost.
    assert spend.task_price(made("a", NOON, duration=20, actual_duration=12.0), PRICES) == pytest.approx(0.6)


def test_the_days_spend_counts_todays_tasks_created_here_only():
    tasks = [
        made("today-1", NOON - 3600, duration=20),  # 1.00
        made("today-2", NOON, model="grok_video3_pro"),  # 0.80
        made("yesterday", NOON - DAY, duration=30),  # another day
        TrackedTask(id="tracked-by-id", added_at=NOON),  # paid for elsewhere
        made("no-price", NOON, model="grok_video3_max"),
    ]
    today = spend.spent_on(tasks, PRICES, NOON + 60)
    assert today.spent == pytest.approx(1.8)
    assert today.unpriced == ("grok_video3_max",)


def test_the_budget_refuses_the_create_that_would_pass_it_and_names_the_figures():
    tasks = [made("today-1", NOON, duration=20)]  # 1.00 spent
    fits = CreateRequest("grok_video3", "x", duration=20)  # 1.00 more: exactly 2.00
    assert spend.check_budget(fits, tasks, PRICES, 2.0, NOON).price == pytest.approx(1.0)
    with pytest.raises(spend.BudgetError) as refused:
        spend.check_budget(CreateRequest("grok_video3", "x", duration=21), tasks, PRICES, 2.0, NOON)
    assert refused.value.message == (
        "this task (≈ 1.05) would pass today's budget of 2.00: 1.00 spent so far "
        "(--over-budget sends it anyway)"
    )
    assert spend.check_budget(fits, tasks, PRICES, None, NOON).price == pytest.approx(1.0)  # no budget


def test_with_a_budget_a_model_without_a_price_is_refused_not_guessed():
    with pytest.raises(spend.BudgetError, match="no price for grok_video3_max in \\[prices\\]"):
        spend.check_budget(CreateRequest("grok_video3_max", "x"), [], PRICES, 5.0, NOON)


def test_the_estimate_reads_as_one_line():
    estimated = spend.estimate(CreateRequest("grok_video3", "x"), [made("t", NOON)], PRICES, 10.0, NOON)
    assert estimated.describe() == "≈ 0.50; today 0.50 so far, of a budget of 10.00"
    assert spend.estimate(CreateRequest("grok_video3_max", "x"), [], PRICES, None, NOON).describe() == (
        "unknown: no price for this model in [prices]"
    )
