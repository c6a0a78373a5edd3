"""The dashboard's remembered view: theme, sort, hide-finished, failed-only, the details pane, kept
between runs.

A small JSON file in the state folder (`config.state_dir()`), written atomically. It is a convenience,
never a reason to stop: a missing, unreadable or garbled file gives the defaults (and a log line), a
value that no longer fits (a theme gone, a sort order renamed) is dropped alone, and a file that cannot
be written is a log line.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from grokdash.config import state_dir
from grokdash.files import replace_atomically
from grokdash.tui.view import ViewOptions

log = logging.getLogger(__name__)

PREFS_FILE = "dashboard.json"
NOT_REMEMBERED = frozenset({"filter_text"})
"""View options that last one run only: a filter kept across runs would hide tasks without a word."""
PANE_PLACES = ("auto", "right", "bottom")
"""Where the details pane sits: `auto` is beside the list on a wide terminal, under it on a narrow one."""
MAX_BYTES = 64 * 1024
"""More than this is no file grokdash wrote: it is not read."""


def prefs_path() -> Path:
    return state_dir() / PREFS_FILE


@dataclass(frozen=True, slots=True)
class Prefs:
    theme: str | None = None
    """The theme last chosen; None: none remembered."""
    view: ViewOptions = field(default_factory=ViewOptions)
    """The view options last chosen (the filter excepted: see NOT_REMEMBERED)."""
    pane: bool = False
    """The details pane is open."""
    pane_place: str = "auto"
    """Where it sits: one of PANE_PLACES."""


def _remembered(options: ViewOptions) -> dict[str, Any]:
    """The fields of `options` worth keeping, as JSON values: whatever ViewOptions has, so a field added
    to it (a sort direction) is kept with no change here."""
    kept: dict[str, Any] = {}
    for item in dataclasses.fields(ViewOptions):
        if item.name in NOT_REMEMBERED:
            continue
        value = getattr(options, item.name)
        kept[item.name] = value.value if isinstance(value, Enum) else value
    return kept


def _restore(data: Any) -> ViewOptions:
    """ViewOptions from the JSON of `_remembered`; each value that does not fit is left at its default."""
    if not isinstance(data, dict):
        return ViewOptions()
    defaults = ViewOptions()
    changes: dict[str, Any] = {}
    for item in dataclasses.fields(ViewOptions):
        if item.name in NOT_REMEMBERED or item.name not in data:
            continue
        default, raw = getattr(defaults, item.name), data[item.name]
        if isinstance(default, Enum):
            try:
                changes[item.name] = type(default)(raw)
            except ValueError:
                log.info("remembered view: %s %r is no longer known, the default is used", item.name, raw)
        elif type(raw) is type(default):  # bool is not int, int is not bool
            changes[item.name] = raw
        else:
            log.info("remembered view: %s %r is not a %s, the default is used", item.name, raw, type(default))
    return dataclasses.replace(defaults, **changes)


def load(path: Path | None = None) -> Prefs:
    """The remembered preferences; the defaults when there are none or they cannot be read."""
    path = prefs_path() if path is None else path
    try:
        if not path.is_file():  # missing, or a folder, a FIFO (reading one would wait for ever)…
            if path.exists():
                log.warning("remembered view %s is not a regular file: the defaults are used", path)
            return Prefs()
        with path.open("rb") as file:  # no more than the limit is read, whatever the file's size
            raw = file.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES} bytes")
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        log.warning("remembered view %s cannot be read (%s): the defaults are used", path, error)
        return Prefs()
    theme = data.get("theme")
    if theme is not None and not (isinstance(theme, str) and theme.strip()):
        log.info("remembered view: theme %r is not a theme name, none is used", theme)
        theme = None
    pane = data.get("pane", False)
    if not isinstance(pane, bool):
        log.info("remembered view: pane %r is not true or false, the pane is closed", pane)
        pane = False
    place = data.get("pane_place", "auto")
    if place not in PANE_PLACES:
        log.info("remembered view: pane_place %r is not one of %s, auto is used", place, PANE_PLACES)
        place = "auto"
    return Prefs(theme=theme, view=_restore(data.get("view")), pane=pane, pane_place=place)


def save(prefs: Prefs, path: Path | None = None) -> bool:
    """Write `prefs` so a crash leaves the old file or the new one. False (and a log line) when it
    cannot be written: the dashboard goes on, it just will not remember."""
    path = prefs_path() if path is None else path
    payload = {
        "theme": prefs.theme,
        "view": _remembered(prefs.view),
        "pane": prefs.pane,
        "pane_place": prefs.pane_place,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())
    except OSError as error:
        log.warning("the view could not be remembered in %s: %s", path, error)
        return False
    return True
