"""The poll schedule: plain functions of (task, now), checked on a fake clock."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grokdash.errors import NotFoundError, RateLimitedError, ServerError
from grokdash.models import Status, Task
from grokdash.poller import PollPolicy, backoff_delay, is_due, jitter_factor, next_poll_at
from grokdash.pollstate import is_gone, is_settled, is_stale
from grokdash.tracked import TrackedTask

T0 = 1_764_300_000.0
POLICY = PollPolicy(interval=30, jitter=0.1, backoff_cap=600)


def tracked(**changes) -> TrackedTask:
    return dataclasses.replace(TrackedTask(id="task_1", added_at=T0), **changes)


def answered(status: str, at: float, model: str = "grok_video3") -> TrackedTask:
    return tracked().with_answer(Task(id="task_1", status=status, model=model), at)


def test_a_new_id_is_due_at_once():
    assert next_poll_at(tracked(), POLICY) <= T0
    assert is_due(tracked(), T0, POLICY)
    # even when another process with a clock ahead of ours added it
    assert is_due(tracked(added_at=T0 + 3600), T0, POLICY)


def test_an_active_task_is_due_one_interval_after_its_check_never_sooner():
    task = answered(Status.PROCESSING, at=T0 + 5)
    due = next_poll_at(task, POLICY)
    assert T0 + 35 <= due <= T0 + 35 + 3
    assert not is_due(task, T0 + 34.9, POLICY)
    assert is_due(task, T0 + 38.1, POLICY)


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.FAILED, "moderated"])
def test_final_statuses_are_not_polled_again(status):
    task = answered(status, at=T0)
    assert next_poll_at(task, POLICY) is None
    assert not is_due(task, T0 + 10**6, POLICY)
    assert is_settled(task)


def test_errors_back_off_exponentially_up_to_a_cap():
    delays = [backoff_delay(n, POLICY) for n in range(1, 8)]
    assert delays == [60, 120, 240, 480, 600, 600, 600]
    task = tracked()
    for n in range(1, 5):
        task = task.with_error(ServerError("the server failed (HTTP 500)", 500), T0 + 100 * n)
        due = next_poll_at(task, POLICY)
        assert backoff_delay(n, POLICY) <= due - task.checked_at <= backoff_delay(n, POLICY) * 1.1


def test_an_answer_after_errors_resets_the_backoff():
    task = tracked().with_error(ServerError("x", 500), T0).with_error(ServerError("x", 500), T0 + 60)
    task = task.with_answer(Task(id="task_1", status=Status.QUEUED), T0 + 200)
    assert task.consecutive_errors == 0
    assert next_poll_at(task, POLICY) <= T0 + 200 + 33


def test_retry_after_is_honoured_even_when_longer_than_the_backoff():
    task = tracked().with_error(RateLimitedError("rate limited", retry_after=900), T0)
    assert next_poll_at(task, POLICY) == T0 + 900


def test_a_task_not_found_three_times_running_is_given_up():
    task = tracked()
    for n in range(3):
        assert not is_gone(task)
        task = task.with_error(NotFoundError("task 'task_1' was not found (HTTP 404)"), T0 + n)
    assert is_gone(task)
    assert next_poll_at(task, POLICY) is None
    mixed = tracked().with_error(NotFoundError("x"), T0).with_error(ServerError("x", 500), T0 + 1)
    assert not is_gone(mixed.with_error(NotFoundError("x"), T0 + 2))


def test_a_task_stuck_far_longer_than_its_model_usually_takes_is_stale():
    task = answered(Status.PROCESSING, at=T0)
    assert not is_stale(task, T0 + 600)
    assert is_stale(task, T0 + 901)
    slow_model = answered(Status.PROCESSING, at=T0, model="grok_video3_max")
    assert not is_stale(slow_model, T0 + 901)
    assert not is_stale(answered(Status.COMPLETED, at=T0), T0 + 10**6)


@given(st.text(min_size=1, max_size=20), st.floats(min_value=0, max_value=2e9))
def test_jitter_only_stretches_and_stays_within_its_spread(task_id, checked_at):
    factor = jitter_factor(task_id, checked_at, 0.1)
    assert 1.0 <= factor <= 1.1
    assert factor == jitter_factor(task_id, checked_at, 0.1)


def test_jitter_spreads_tasks_checked_together():
    checked_together = [TrackedTask(id=f"task_{n}", added_at=T0, checked_at=T0) for n in range(100)]
    dues = {next_poll_at(task, POLICY) for task in checked_together}
    assert len(dues) > 90
    assert max(dues) - min(dues) > 2
