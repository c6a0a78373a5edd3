"""Sending a batch: the next row's create goes out only while fewer than `max_active` of the batch's
tasks are queued or processing; each is recorded in the journal before it is sent and after it is
answered; between creates, the batch's tasks are polled.

A create that surely made nothing (no connection, the server busy or limiting) puts its row back to
wait and sending pauses a while; one that may have made a task is never sent again by itself; a refusal
is kept with the server's words; the key refused, or the day's budget reached, stops the sending (the
rows left wait for the next run).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from grokdash import core, spend
from grokdash.api import GrokClient
from grokdash.batchfile import BatchRow
from grokdash.batchjournal import CREATED, REFUSED, SENDING, UNCERTAIN, WAITING, Journal
from grokdash.errors import ApiError
from grokdash.poller import Poller
from grokdash.pollstate import is_settled
from grokdash.rules import MODELS, CreateRequest, label_from_prompt
from grokdash.store import TaskStore
from grokdash.tracked import TrackedTask

RETRY_SENDING_AFTER = 30.0
"""Seconds sending pauses after a create that surely made nothing (no connection, server busy)."""
REFUSED_KIND = "refused"
"""The server's refusal of the request itself (400, 422): the row is kept with the server's words."""
TRIED_AGAIN = frozenset({"network", "timeout", "rate_limited", "server"})
"""Kinds of a create's failure, made nothing for sure, that are worth sending again later."""


@dataclass(frozen=True, slots=True)
class BatchSettings:
    max_active: int
    interval: float
    label: str | None = None
    """The batch's label, for rows without their own (default: the start of the prompt)."""
    prices: spend.Prices | None = None
    budget: float | None = None
    over_budget: bool = False
    """Send past the day's budget, on purpose (--over-budget)."""


async def send_batch(
    journal: Journal,
    rows: dict[int, BatchRow],
    client: GrokClient,
    store: TaskStore,
    poller: Poller,
    settings: BatchSettings,
    *,
    say: Callable[[str], None],
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], object] = asyncio.sleep,
) -> str | None:
    """Send every waiting row and poll until each of the batch's tasks is final; returns why sending
    stopped early (the budget, the key, the address), or None. Stopped early, it still follows the
    tasks it sent to their end."""
    pause_until = 0.0
    stopped: str | None = None
    while True:
        active = _active(journal, store)
        now = clock()
        for row in [] if stopped else journal.waiting():
            if len(active) >= settings.max_active or now < pause_until:
                break
            wanted = rows[row.line]
            problem = None if settings.over_budget else _over_budget(wanted, store, settings, now)
            if problem is not None:
                stopped = f"stopped sending at line {row.line}: {problem}"
                break
            journal.mark(row, SENDING)  # on disk before the POST leaves
            label = wanted.label or settings.label or label_from_prompt(wanted.request.prompt)
            try:
                task = await core.create_and_track(client, store, wanted.request, label=label)
            except core.CreateUncertainError as error:
                journal.mark(row, UNCERTAIN, said=error.message)
                say(f"line {row.line}: may have been created, not sent again: {error.message}")
                continue
            except core.CreatedNotTrackedError as error:
                journal.mark(row, CREATED, task_id=error.task.id, said=error.message)
                say(f"line {row.line}: {error.message}")
                continue
            except ApiError as error:
                if error.kind in TRIED_AGAIN:
                    journal.mark(row, WAITING)
                    pause_until = clock() + max(RETRY_SENDING_AFTER, _retry_after(error))
                    say(f"line {row.line}: not sent ({error.message}); trying again in a while")
                    break
                if error.kind != REFUSED_KIND:
                    # The key, or the address (a wrong base URL answers 404 or a web page): no row can
                    # go through, and none is to blame; the rows wait for a run with that fixed.
                    journal.mark(row, WAITING)
                    stopped = f"stopped sending at line {row.line}: {error.message}"
                    break
                journal.mark(row, REFUSED, said=error.message)
                say(f"line {row.line}: refused: {error.message}")
                continue
            journal.mark(row, CREATED, task_id=task.id)
            active.append(task.id)
            say(f"line {row.line}: created {task.id}")
        if (stopped or not journal.waiting()) and not active:
            return stopped
        if active:
            await poller.poll_round(set(active))
            active = _active(journal, store)
        now = clock()
        waits = [settings.interval]
        if active:
            wake = poller.next_wake(now, set(active))
            if wake is not None:
                waits.append(wake - now)
        if journal.waiting() and not stopped and len(active) < settings.max_active:
            waits.append(pause_until - now)
        result = sleep(max(0.05, min(waits)))
        if asyncio.iscoroutine(result):
            await result


def _over_budget(row: BatchRow, store: TaskStore, settings: BatchSettings, now: float) -> str | None:
    """Why the day's budget refuses this row's create, or None."""
    if settings.budget is None:
        return None
    estimated = spend.estimate(row.request, store.tasks(), settings.prices or {}, settings.budget, now)
    return spend.budget_problem(estimated, row.request.model)


def _active(journal: Journal, store: TaskStore) -> list[str]:
    """The batch's tasks not final yet (a task no longer tracked is not waited for)."""
    active = []
    for task_id in journal.created_ids():
        tracked = store.get(task_id)
        if tracked is not None and not is_settled(tracked):
            active.append(task_id)
    return active


def _retry_after(error: ApiError) -> float:
    value = getattr(error, "retry_after", None)
    return float(value) if isinstance(value, int | float) else 0.0


def _tasks(count: int) -> str:
    return f"{count} task" if count == 1 else f"{count} tasks"


def summary_lines(
    requests: list[CreateRequest],
    prices: spend.Prices,
    budget: float | None,
    tasks: Iterable[TrackedTask],
    now: float,
) -> list[str]:
    """What a batch (or a rerun) will send: per model the tasks, the seconds of video, how it bills and
    the estimated price; the total; and the day's spend against the budget."""
    lines = []
    by_model: dict[str, list[CreateRequest]] = {}
    for request in requests:
        by_model.setdefault(request.model, []).append(request)
    total: float | None = 0.0
    for model, group in by_model.items():
        rules = MODELS[model]
        seconds = sum(request.duration or rules.default_duration for request in group)
        billed = "per second of video" if rules.billing == "per_second" else "per call"
        costs = [spend.request_price(request, prices) for request in group]
        price = None if None in costs else sum(cost for cost in costs if cost is not None)
        total = None if total is None or price is None else total + price
        shown = f", ≈ {spend.money(price)}" if price is not None else ""
        lines.append(f"  {model}: {_tasks(len(group))}, {seconds} s of video, billed {billed}{shown}")
    if prices:
        lines.append(f"  estimated price: {'≈ ' + spend.money(total) if total is not None else 'unknown'}")
    if budget is not None:
        today = spend.spent_on(tasks, prices, now)
        lines.append(
            f"  today so far: {spend.money(today.spent)} of a budget of {spend.money(budget)}"
            " (sending stops before a task that would pass it)"
        )
    return lines
