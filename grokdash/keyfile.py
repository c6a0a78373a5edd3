"""Saving the API key into the config file, readable by its owner only (`grokdash login`).

The file may hold other settings and comments: only the top-level `api_key` line is replaced (or one
is put first), and the result must read back as the same settings with the new key, or nothing is
written. The new file is written beside the old one with mode 0600 and renamed over it, so the key is
never in a file that others could read, not even for a moment, and a crash leaves the old file or the
new one.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from grokdash.config import ConfigError, parse_api_key
from grokdash.files import replace_atomically

MAX_KEY_LENGTH = 1000
_KEY_LINE = re.compile(r"^[ \t]*api_key[ \t]*=.*$")
_TABLE_HEADER = re.compile(r"^[ \t]*\[")


def key_problem(key: str) -> str | None:
    """Why `key` cannot be an API key, or None."""
    if not key:
        return "the API key is empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"the API key is longer than {MAX_KEY_LENGTH} characters"
    try:
        parsed = parse_api_key(key)  # what every later command checks: printable ASCII, for a header
    except ValueError as exc:
        return f"the API key {exc}"
    if parsed != key or " " in key:  # the loader would strip the ends; inside, a slip of the mouse
        return "the API key holds spaces or line breaks"
    return None


def with_api_key(text: str, key: str) -> str:
    """The config file `text` with its top-level api_key set to `key`; other lines are kept as they are."""
    line = f'api_key = "{_toml_escape(key)}"'
    lines = text.splitlines()
    for number, current in enumerate(lines):
        if _TABLE_HEADER.match(current):
            break  # past the top level: an api_key below belongs to a table
        if _KEY_LINE.match(current):
            lines[number] = line
            return "\n".join(lines) + "\n"
    return "\n".join([line, *lines]) + "\n"


def save_api_key(path: Path, key: str) -> bool:
    """Put `key` into the config file at `path` (made if missing), mode 0600. Returns whether the file was
    readable by others before. Raises ConfigError, having changed nothing, when it cannot."""
    problem = key_problem(key)
    if problem:
        raise ConfigError(f"{problem}: nothing was saved")
    try:
        old_text = path.read_text(encoding="utf-8")
        was_open = bool(path.stat().st_mode & 0o077)
    except FileNotFoundError:
        old_text, was_open = "", False
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "it is not UTF-8 text"
        raise ConfigError(f"config file {path} cannot be read ({reason}): nothing was saved") from None
    try:
        before = tomllib.loads(old_text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:  # ValueError: a number of 4,300+ digits
        raise ConfigError(f"config file {path} is not valid TOML ({exc}): nothing was saved") from None
    new_text = with_api_key(old_text, key)
    if not _same_but_the_key(before, new_text, key):
        raise ConfigError(
            f"config file {path} sets api_key in a way grokdash cannot edit safely (nothing was saved): "
            "put the key there by hand"
        )
    # Through a symlink to its target, as the store writes: a dotfiles repository's file gets the key,
    # and the link stays a link.
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        _write_private(target, new_text.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot write config file {path} ({(exc.strerror or str(exc)).lower()}): nothing was saved"
        ) from None
    return was_open


def _same_but_the_key(before: dict[str, object], new_text: str, key: str) -> bool:
    """Whether `new_text` reads back as the settings `before`, with api_key set to `key`."""
    try:
        after = tomllib.loads(new_text)
    except ValueError:  # TOMLDecodeError is one
        return False
    return after.pop("api_key", None) == key and after == {k: v for k, v in before.items() if k != "api_key"}


def _toml_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _write_private(target: Path, payload: bytes) -> None:
    """A new file readable by its owner only, renamed into place; its folder made owner-only if new."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    replace_atomically(target, payload)
