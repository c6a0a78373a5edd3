"""The desktop around the terminal: the system clipboard, opening a video, a desktop notification.

Plain functions over `subprocess`, for the dashboard to call. None of them raises or blocks for long:
each says what happened in its return value. Programs are run with an argument list (never a shell),
and what they open or show is always one argument of its own.

The functions take what they look at (the environment, `sys.platform`, the PATH lookup `shutil.which`)
as keyword arguments that default to the real ones, so that tests can walk every branch without the real
programs; the programs themselves are started through `subprocess.run` and `subprocess.Popen`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Which = Callable[[str], str | None]

CLIPBOARD_TIMEOUT = 2.0
"""Seconds `copy_to_system_clipboard` may take in all, whichever tools it tries."""

NO_OPENER = "no program to open videos was found: set GROKDASH_PLAYER or install xdg-utils"
NO_DISPLAY = (
    "there is no graphical display here (DISPLAY and WAYLAND_DISPLAY are not set): "
    "set GROKDASH_PLAYER to a program that can play videos in this session"
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _context(
    env: Mapping[str, str] | None, platform: str | None, which: Which | None
) -> tuple[Mapping[str, str], str, Which]:
    return (
        os.environ if env is None else env,
        sys.platform if platform is None else platform,
        shutil.which if which is None else which,
    )


def _is_wsl(env: Mapping[str, str]) -> bool:
    return bool(env.get("WSL_DISTRO_NAME") or env.get("WSL_INTEROP"))


def _has_display(env: Mapping[str, str]) -> bool:
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# ---- the clipboard ---------------------------------------------------------------------------------


def clipboard_commands(
    *, env: Mapping[str, str] | None = None, which: Which | None = None
) -> list[tuple[str, list[str]]]:
    """The clipboard programs worth trying here, in order: (name, argv) for each one on PATH.

    No platform test: each tool is only ever on PATH where it works (clip.exe is there under WSL too).
    """
    env, _, which = _context(env, None, which)
    candidates: list[tuple[str, list[str]]] = [("pbcopy", [])]
    if env.get("WAYLAND_DISPLAY"):
        candidates.append(("wl-copy", []))
    if env.get("DISPLAY"):
        candidates += [("xclip", ["-selection", "clipboard"]), ("xsel", ["--clipboard", "--input"])]
    candidates += [("clip.exe", []), ("clip", [])]
    found = []
    for name, arguments in candidates:
        path = which(name)
        if path:
            found.append((name, [path, *arguments]))
    return found


def _clipboard_bytes(name: str, text: str) -> bytes:
    # clip.exe reads the console's code page unless the text starts with a UTF-16 byte order mark.
    if name in ("clip.exe", "clip") and not text.isascii():
        return ("\ufeff" + text).encode("utf-16-le")
    return text.encode("utf-8")


def copy_to_system_clipboard(
    text: str,
    *,
    env: Mapping[str, str] | None = None,
    which: Which | None = None,
    timeout: float = CLIPBOARD_TIMEOUT,
) -> str | None:
    """Put `text` on the system clipboard through the first program that takes it.

    The name of that program (`"xclip"`, `"pbcopy"`, …), or None when none is here or none worked.
    Takes at most `timeout` seconds in all: call it off the event loop if even that is too long.
    """
    env, _, which = _context(env, None, which)
    deadline = time.monotonic() + timeout
    try:
        commands = clipboard_commands(env=env, which=which)
    except Exception:  # a broken PATH lookup is not worth a traceback
        return None
    for name, argv in commands:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        child_env = {**env, "LC_CTYPE": "UTF-8"} if name == "pbcopy" else None
        try:
            # stdout and stderr go nowhere: xclip and wl-copy leave a child behind to serve the
            # selection, and a pipe it inherits would keep us waiting for it.
            result = subprocess.run(
                argv,
                input=_clipboard_bytes(name, text),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=remaining,
                env=child_env,
                check=False,
            )
        except (OSError, subprocess.SubprocessError, ValueError):
            continue
        if result.returncode == 0:
            return name
    return None


# ---- starting programs that outlive the call ---------------------------------------------------------


def _start_detached(argv: Sequence[str]) -> None:
    """Start a program that does not share the terminal: no standard streams, its own session.

    Raises OSError (or ValueError) when it cannot be started; a thread reaps it when it ends.
    """
    options: dict[str, Any] = {
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
        "close_fds": True,
    }
    if os.name == "nt":
        options["creationflags"] = getattr(subprocess, "DETACHED_PROCESS", 0) | getattr(
            subprocess, "CREATE_NEW_PROCESS_GROUP", 0
        )
    else:
        options["start_new_session"] = True
    process = subprocess.Popen(list(argv), **options)
    # No thread to spare (RuntimeError): then the child is reaped by the next Popen instead.
    with contextlib.suppress(RuntimeError):
        threading.Thread(target=process.wait, name="grokdash-reaper", daemon=True).start()


def split_command(command: str, *, platform: str | None = None) -> list[str]:
    """A command line (`mpv --fs`, `"C:\\Program Files\\VLC\\vlc.exe"`) as an argument list.

    POSIX shell quoting rules; on Windows, backslashes are kept and double quotes group words.
    Raises ValueError when it is not a command line (empty, or a quote left open).
    """
    platform = sys.platform if platform is None else platform
    try:
        if platform == "win32":
            words = [
                word[1:-1] if len(word) >= 2 and word[0] == word[-1] == '"' else word
                for word in shlex.split(command, posix=False)
            ]
        else:
            words = shlex.split(command)
    except ValueError:
        raise ValueError("must be a program and its arguments, with every quote closed") from None
    if not words or not words[0]:
        raise ValueError("must name a program")
    return words


# ---- opening a video ---------------------------------------------------------------------------------


def _checked_target(target: str) -> tuple[str | None, str | None]:
    """(what to open, None), or (None, why not).

    Only a file that exists (made absolute) or an http(s) address is opened: so what the opener gets
    never starts with "-" (it cannot pass for an option), and an address a server sent cannot start
    some other handler (`file:`, `smb:`, a custom scheme, a program on disk).
    """
    if not target or not target.strip():
        return None, "there is nothing to open"
    if _CONTROL.search(target):
        return None, f"will not open {target!r}: it holds control characters"
    path = Path(target).expanduser()
    try:
        is_file = path.is_file()
    except (OSError, ValueError):
        is_file = False
    if is_file:
        return str(path.absolute()), None
    parts = urlsplit(target)
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return target, None
    if "://" in target or parts.scheme.lower() in ("http", "https"):
        return None, f"will not open {target}: only http and https addresses and saved files are opened"
    return None, f"cannot open {target}: there is no such file, and it is not an http or https address"


def open_target(
    target: str | os.PathLike[str],
    player: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    which: Which | None = None,
) -> str | None:
    """Open a saved video or a video URL, without waiting for the program that shows it.

    With `player` (the GROKDASH_PLAYER setting, a command line), that program gets the target as its
    last argument; without it, the desktop's own opener. None when a program was started, else one
    sentence saying why nothing could be opened.
    """
    env, platform, which = _context(env, platform, which)
    try:
        checked, problem = _checked_target(os.fspath(target))
    except (TypeError, ValueError) as exc:
        return f"cannot open {target!r}: {_reason(exc)}"
    if checked is None:
        return problem

    if player is not None and player.strip():
        try:
            argv = [*split_command(player, platform=platform), checked]
        except ValueError as exc:
            return f"the player {player!r} (GROKDASH_PLAYER) {exc}"
        try:
            _start_detached(argv)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            return f"could not start the player {argv[0]!r} (GROKDASH_PLAYER): {_reason(exc)}"
        return None

    if platform == "darwin":
        argv = [which("open") or "open", checked]
    elif platform == "win32":
        startfile = getattr(os, "startfile", None)
        if startfile is None:
            return NO_OPENER
        try:
            startfile(checked)
        except (OSError, ValueError) as exc:
            return f"Windows could not open {checked}: {_reason(exc)}"
        return None
    else:
        wslview = which("wslview") if _is_wsl(env) else None
        if wslview:
            argv = [wslview, checked]
        elif not _has_display(env) and not _is_wsl(env):
            return NO_DISPLAY
        else:
            xdg_open = which("xdg-open")
            if not xdg_open:
                return NO_OPENER
            # xdg-open takes no "--"; the target is one argument and never starts with "-".
            argv = [xdg_open, checked]
    try:
        _start_detached(argv)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return f"could not start {Path(argv[0]).name}: {_reason(exc)}"
    return None


# ---- desktop notifications ---------------------------------------------------------------------------

# AppleScript that reads the title and the text from its arguments, so they are never part of the code.
# Each arrives with one character in front (see notify_desktop), which the script drops.
_APPLESCRIPT = (
    "on run argv",
    "display notification (text 2 thru -1 of item 2 of argv) with title (text 2 thru -1 of item 1 of argv)",
    "end run",
)


def notification_command(
    title: str,
    body: str,
    *,
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    which: Which | None = None,
) -> list[str] | None:
    """The argv that would show this notification here, or None when there is no notifier."""
    env, platform, which = _context(env, platform, which)
    title = title or "grokdash"
    body = body or ""
    if platform == "darwin":
        osascript = which("osascript")
        if not osascript:
            return None
        script = [part for line in _APPLESCRIPT for part in ("-e", line)]
        # "+" in front: an argument can never be taken for an option of osascript, and is never
        # empty (AppleScript's `text 2 thru -1` of a one-character text fails).
        return [osascript, *script, "+" + title, "+" + (body or " ")]
    if platform == "win32" or not _has_display(env):
        return None
    notify_send = which("notify-send")
    if not notify_send:
        return None
    # "--" ends notify-send's options (GLib's parser), so a title like "-u critical" is only text.
    return [notify_send, "--app-name=grokdash", "--", title, body]


def notify_desktop(
    title: str,
    body: str,
    *,
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    which: Which | None = None,
) -> bool:
    """Show a desktop notification where the system has a notifier; never waits for it.

    True when a notifier was started (not a promise that anyone saw it).
    """
    try:
        argv = notification_command(title, body, env=env, platform=platform, which=which)
        if argv is None:
            return False
        _start_detached(argv)
    except (OSError, ValueError, TypeError, subprocess.SubprocessError):
        return False
    return True


def tmux_clipboard_problem(
    env: Mapping[str, str] | None = None,
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
    timeout: float = 1.0,
) -> str | None:
    """Inside tmux, the sentence saying why a copy (OSC 52) may not reach the terminal's clipboard, or
    None when it will (or this is not tmux). tmux passes OSC 52 on only with `set-clipboard on`; its
    default, `external`, keeps the copy in tmux's own buffer."""
    env = os.environ if env is None else env
    if not env.get("TMUX"):
        return None
    try:
        answer = run(
            ["tmux", "show-options", "-gv", "set-clipboard"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env),
        )
    except (OSError, subprocess.SubprocessError):
        return None  # cannot tell: say nothing rather than something wrong
    value = answer.stdout.strip() if answer.returncode == 0 else ""
    if value == "on" or not value:
        return None
    return (
        f"tmux keeps copies to itself (set-clipboard is {value}): add `set -g set-clipboard on` to "
        "~/.tmux.conf and run `tmux source ~/.tmux.conf` to copy to your terminal's clipboard"
    )
