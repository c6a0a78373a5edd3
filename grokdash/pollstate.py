"""Where each tracked task stands with the API: gone (not found again and again), settled (nothing more
will happen to it), stale (far past the time its model takes).

Plain functions of the record, apart from the poller's engine (`poller`): the commands' tables and the
dashboard say them without loading asyncio.
"""

from __future__ import annotations

from grokdash.models import Status
from grokdash.tracked import TrackedTask

# How long each model usually takes, start to finish (seconds); a task far beyond it is stale.
TYPICAL_SECONDS = {
    "grok_video3": 300.0,
    "grok_video3_pro": 300.0,
    "grok_video3_max": 600.0,
    "grok_video3_stable": 300.0,
}
DEFAULT_TYPICAL_SECONDS = 300.0
STALE_FACTOR = 3.0
NOT_FOUND_GIVE_UP = 3
"""A task not found this many times in a row is taken as gone: it is no longer polled by itself."""


def is_gone(tracked: TrackedTask) -> bool:
    """Not found several times running: a mistyped id or a task the provider has dropped."""
    recent = tracked.recent_errors[-NOT_FOUND_GIVE_UP:]
    return (
        tracked.consecutive_errors >= NOT_FOUND_GIVE_UP
        and len(recent) == NOT_FOUND_GIVE_UP
        and all(failure.kind == "not_found" for failure in recent)
    )


def is_settled(tracked: TrackedTask) -> bool:
    """Nothing more will happen to it unless the user asks: final, or gone."""
    return tracked.is_final or is_gone(tracked)


def is_stale(tracked: TrackedTask, now: float) -> bool:
    """Queued or processing for far longer than its model usually takes to finish."""
    if tracked.task is None or tracked.task.status not in (Status.QUEUED, Status.PROCESSING):
        return False
    since = tracked.status_seen.get(str(tracked.task.status))
    if since is None:
        return False
    typical = TYPICAL_SECONDS.get(tracked.model or "", DEFAULT_TYPICAL_SECONDS)
    return now - since > typical * STALE_FACTOR
