"""What the tasks grokdash created cost, by the user's own prices: the estimate of a request before it
is sent, a day's spend so far, and the daily budget every create passes.

grokdash knows no price: `[prices]` in the config file gives one per model (per second of video for a
model billed per second, per call for the others). The spend is estimated from the requests grokdash
sent (a task tracked by id only was paid for elsewhere, or not by this user), each at its request's
length until the video's real length is known. Amounts are in whatever unit the prices are in.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from grokdash.errors import UsageError
from grokdash.rules import MODELS, CreateRequest
from grokdash.tracked import TrackedTask

Prices = Mapping[str, float]
"""Model name → price: per second of video, or per call, as the model is billed (rules.MODELS)."""


class BudgetError(UsageError):
    """A create that would pass the day's budget, or whose cost cannot be told against it (exit 2:
    the user's own setting refuses it, and nothing was sent)."""

    kind = "budget"


def money(amount: float) -> str:
    """An amount as it is shown: two decimals, no currency (the prices' own unit)."""
    return f"{amount:,.2f}"


def request_price(request: CreateRequest, prices: Prices, seconds: float | None = None) -> float | None:
    """What `request` costs at `prices` (`seconds`: the video's real length, once known); None when
    there is no price for its model."""
    rules = MODELS.get(request.model)
    price = prices.get(request.model)
    if rules is None or price is None:
        return None
    if rules.billing == "per_call":
        return price
    if seconds is None:
        seconds = request.duration if request.duration is not None else rules.default_duration
    return price * seconds


def sent_request(tracked: TrackedTask) -> CreateRequest | None:
    """The request grokdash sent to create this task; None for a task tracked by id, or a request no
    longer readable."""
    if not tracked.request:
        return None
    try:
        return CreateRequest.from_json(tracked.request)
    except (KeyError, TypeError, ValueError):
        return None


def task_price(tracked: TrackedTask, prices: Prices) -> float | None:
    """The estimated cost of a task grokdash created; None when it created none, or has no price."""
    request = sent_request(tracked)
    if request is None:
        return None
    seconds = tracked.task.actual_duration if tracked.task is not None else None
    return request_price(request, prices, seconds)


def day_of(stamp: float) -> tuple[int, int, int]:
    """The local calendar day of a time (what "today" means to the user)."""
    moment = time.localtime(stamp)
    return moment.tm_year, moment.tm_mon, moment.tm_mday


@dataclass(frozen=True, slots=True)
class DaySpend:
    spent: float
    """The estimated cost of the day's tasks grokdash created and has a price for."""
    unpriced: tuple[str, ...]
    """Models of the day's created tasks with no price: their cost is not in `spent`."""


def spent_on(tasks: Iterable[TrackedTask], prices: Prices, now: float) -> DaySpend:
    """What the tasks grokdash created on `now`'s local day cost, by `prices`."""
    today = day_of(now)
    spent, unpriced = 0.0, set()
    for tracked in tasks:
        request = sent_request(tracked)
        if request is None or day_of(tracked.added_at) != today:
            continue
        price = task_price(tracked, prices)
        if price is None:
            unpriced.add(request.model)
        else:
            spent += price
    return DaySpend(spent, tuple(sorted(unpriced)))


@dataclass(frozen=True, slots=True)
class Estimate:
    """What one more create would cost, and where it leaves the day's budget."""

    price: float | None
    """The request's estimated cost; None: no price for its model."""
    today: DaySpend
    budget: float | None

    def describe(self) -> str:
        """One line for a recap: `≈ 1.50; today 3.20 of a budget of 10.00`."""
        if self.price is None:
            return "unknown: no price for this model in [prices]"
        line = f"≈ {money(self.price)}"
        if self.budget is not None:
            line += f"; today {money(self.today.spent)} so far, of a budget of {money(self.budget)}"
        return line


def estimate(
    request: CreateRequest, tasks: Iterable[TrackedTask], prices: Prices, budget: float | None, now: float
) -> Estimate:
    return Estimate(request_price(request, prices), spent_on(tasks, prices, now), budget)


OVER_BUDGET = "--over-budget sends it anyway"
"""How a command is told to pass the budget on purpose."""


def budget_problem(estimated: Estimate, model: str, way_past: str = OVER_BUDGET) -> str | None:
    """Why the budget refuses this create, in one sentence; None when it allows it (or none is set).
    `way_past`: how to send it anyway, where the sentence is read."""
    budget = estimated.budget
    if budget is None:
        return None
    if estimated.price is None:
        return (
            f"no price for {model} in [prices], so today's budget of {money(budget)} cannot be checked: "
            f"add its price ({way_past})"
        )
    after = estimated.today.spent + estimated.price
    if after > budget + 1e-9:
        return (
            f"this task (≈ {money(estimated.price)}) would pass today's budget of {money(budget)}: "
            f"{money(estimated.today.spent)} spent so far ({way_past})"
        )
    return None


def check_budget(
    request: CreateRequest, tasks: Iterable[TrackedTask], prices: Prices, budget: float | None, now: float
) -> Estimate:
    """The estimate of `request`; raises BudgetError when the day's budget refuses it."""
    estimated = estimate(request, tasks, prices, budget, now)
    problem = budget_problem(estimated, request.model)
    if problem is not None:
        raise BudgetError(problem)
    return estimated
