"""How each state of a task looks: one colour and one icon per state, for every screen that shows one.

A state is a status the API sent, or "new" (not asked about yet), "error" (asked about, never answered:
every query failed), or "gone" (not found again and again).
"""

from __future__ import annotations

from grokdash.models import Status

COLORS = {
    "new": "bright_black",
    "error": "red",
    Status.QUEUED: "blue",
    Status.PROCESSING: "yellow",
    Status.COMPLETED: "green",
    Status.FAILED: "red",
    "gone": "red",
}
ICONS = {
    "new": "…",
    "error": "⚠",  # not failed's ✘: the compact summary tells them apart by icon alone
    Status.QUEUED: "◷",
    Status.PROCESSING: "▶",
    Status.COMPLETED: "✔",
    Status.FAILED: "✘",
    "gone": "!",
}
OTHER_COLOR = "magenta"
"""An undocumented status: shown as the API sent it, in a colour no documented one uses."""
OTHER_ICON = "?"
ALARMING = frozenset({Status.FAILED, "error", "gone"})
"""States drawn in bold."""


def color(state: str) -> str:
    return COLORS.get(state, OTHER_COLOR)


def icon(state: str) -> str:
    return ICONS.get(state, OTHER_ICON)
