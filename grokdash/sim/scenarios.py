"""The simulator's fault scenarios, as data: a task id chooses one by its name.

An id selects a scenario when it equals the scenario's name or starts with the name and a dash
(`fail`, `fail-1`, `ratelimit-abc`). Any other id is a normal task that queues, processes and completes.
The descriptions are written for users: `grokdash sim --help` prints this table.
"""

from __future__ import annotations

SCENARIOS: dict[str, str] = {
    "notfound": "404: the task does not exist",
    "fail": "queued, then processing, then failed with a content-moderation error",
    "flaky": "500 on the 1st, 3rd, 5th… query of the id; the other queries answer normally",
    "html": "502 with an nginx-style HTML error page instead of JSON",
    "truncated": "200 with a JSON body cut off in the middle",
    "ratelimit": "429 Too Many Requests with Retry-After in seconds",
    "ratelimitdate": "429 Too Many Requests with Retry-After as an HTTP date",
    "slow": "answers normally, but only after a delay (5 seconds unless configured)",
    "hang": "accepts the request and never answers",
    "wrapped": 'normal answers wrapped as {"code": 200, "msg": "success", "data": {…}}',
    "unknown": 'ends in the undocumented status "moderated" instead of completed, and stays there',
    "strings": "numbers sent as strings, plus an extra field the API does not document",
    "mismatch": "answers with a different task's id",
    "nostatus": "200 with a JSON object that has no status",
    "expire": "completes, but every video URL it hands out has already expired (410 Gone)",
    "expireonce": "completes; the first video URL is expired (410 Gone), later queries hand out working ones",
}

SCENARIO_RULE = (
    "An id picks a scenario when it is the scenario's name or starts with the name and a dash "
    "(e.g. fail-1); any other id is a normal task that completes."
)

# Longest first, so that `ratelimitdate-x` picks ratelimitdate even if a shorter name were its prefix.
_BY_LENGTH = tuple(sorted(SCENARIOS, key=len, reverse=True))


def scenario_for(task_id: str) -> str | None:
    """The scenario a task id selects, or None for a normal task."""
    for name in _BY_LENGTH:
        if task_id == name or task_id.startswith(name + "-"):
            return name
    return None
