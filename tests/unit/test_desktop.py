"""The desktop around the terminal: every branch runs the exact argv it should, never through a shell,
and a failure is a value (a sentence, None, False), never an exception."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from grokdash import desktop

HOSTILE = ["; rm -rf ~ #", "--help", "-u critical", "$(touch pwned)", "`id`", "a  b c", "' \" \\"]
LINUX_X11 = {"DISPLAY": ":0"}
LINUX_WAYLAND = {"WAYLAND_DISPLAY": "wayland-0"}
WSL = {"WSL_DISTRO_NAME": "Ubuntu"}


def on_path(*names: str):
    """A `shutil.which` that finds exactly these programs, in /usr/bin."""
    return lambda name: f"/usr/bin/{name}" if name in names else None


class FakeProcess:
    def wait(self, timeout: float | None = None) -> int:
        return 0


class Spawned:
    """Stands in for subprocess.Popen: records each argv and its keyword arguments."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.calls: list[tuple[list[str], dict[str, Any]]] = []
        self.error = error

    def __call__(self, argv: list[str], **kwargs: Any) -> FakeProcess:
        self.calls.append((argv, kwargs))
        if self.error is not None:
            raise self.error
        return FakeProcess()

    @property
    def argvs(self) -> list[list[str]]:
        return [argv for argv, _ in self.calls]


class Ran:
    """Stands in for subprocess.run: records each call; `outcomes` maps a program name to a return
    code or an exception (default 0)."""

    def __init__(self, outcomes: dict[str, int | BaseException] | None = None) -> None:
        self.calls: list[tuple[list[str], dict[str, Any]]] = []
        self.outcomes = outcomes or {}

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        self.calls.append((argv, kwargs))
        outcome = self.outcomes.get(Path(argv[0]).name, 0)
        if isinstance(outcome, BaseException):
            raise outcome
        return subprocess.CompletedProcess(argv, outcome)

    @property
    def argvs(self) -> list[list[str]]:
        return [argv for argv, _ in self.calls]


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> Spawned:
    fake = Spawned()
    monkeypatch.setattr(desktop.subprocess, "Popen", fake)
    return fake


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> Ran:
    fake = Ran()
    monkeypatch.setattr(desktop.subprocess, "run", fake)
    return fake


def assert_detached(kwargs: dict[str, Any]) -> None:
    assert kwargs["stdin"] is subprocess.DEVNULL
    assert kwargs["stdout"] is subprocess.DEVNULL
    assert kwargs["stderr"] is subprocess.DEVNULL
    assert "shell" not in kwargs
    if os.name != "nt":
        assert kwargs["start_new_session"] is True


# ---- the clipboard ---------------------------------------------------------------------------------


def test_the_clipboard_tries_each_tool_in_order_and_only_where_it_fits(ran):
    ran.outcomes = dict.fromkeys(["pbcopy", "wl-copy", "xclip", "xsel", "clip.exe", "clip"], 1)
    everything = on_path("pbcopy", "wl-copy", "xclip", "xsel", "clip.exe", "clip")
    result = desktop.copy_to_system_clipboard(
        "https://v.example/a.mp4", env={**LINUX_X11, **LINUX_WAYLAND}, which=everything
    )
    assert result is None
    assert ran.argvs == [
        ["/usr/bin/pbcopy"],
        ["/usr/bin/wl-copy"],
        ["/usr/bin/xclip", "-selection", "clipboard"],
        ["/usr/bin/xsel", "--clipboard", "--input"],
        ["/usr/bin/clip.exe"],
        ["/usr/bin/clip"],
    ]
    for _, kwargs in ran.calls:
        assert kwargs["input"] == b"https://v.example/a.mp4"
        assert 0 < kwargs["timeout"] <= desktop.CLIPBOARD_TIMEOUT
        assert kwargs["stdout"] is subprocess.DEVNULL
        assert kwargs["stderr"] is subprocess.DEVNULL
        assert "shell" not in kwargs


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ["clip.exe"]),
        (LINUX_WAYLAND, ["wl-copy", "clip.exe"]),
        (LINUX_X11, ["xclip", "xsel", "clip.exe"]),
    ],
)
def test_wayland_and_x11_tools_are_tried_only_with_their_display(ran, env, expected):
    ran.outcomes = dict.fromkeys(["wl-copy", "xclip", "xsel", "clip.exe"], 1)
    which = on_path("wl-copy", "xclip", "xsel", "clip.exe")
    assert desktop.copy_to_system_clipboard("x", env=env, which=which) is None
    assert [Path(argv[0]).name for argv in ran.argvs] == expected


def test_the_first_tool_that_works_is_named_and_the_rest_are_not_tried(ran):
    ran.outcomes = {"wl-copy": 1}
    which = on_path("wl-copy", "xclip", "xsel")
    env = {**LINUX_X11, **LINUX_WAYLAND}
    assert desktop.copy_to_system_clipboard("x", env=env, which=which) == "xclip"
    assert [Path(argv[0]).name for argv in ran.argvs] == ["wl-copy", "xclip"]


def test_pbcopy_is_told_the_text_is_utf8(ran):
    assert desktop.copy_to_system_clipboard("é", env={}, which=on_path("pbcopy")) == "pbcopy"
    (argv, kwargs) = ran.calls[0]
    assert argv == ["/usr/bin/pbcopy"]
    assert kwargs["input"] == "é".encode()
    assert kwargs["env"]["LC_CTYPE"] == "UTF-8"


def test_windows_clip_gets_unicode_text_with_a_byte_order_mark(ran):
    which = on_path("clip.exe")
    assert desktop.copy_to_system_clipboard("vidéo", env={}, which=which) == "clip.exe"
    assert ran.calls[0][1]["input"] == b"\xff\xfe" + "vidéo".encode("utf-16-le")
    desktop.copy_to_system_clipboard("plain", env={}, which=which)
    assert ran.calls[1][1]["input"] == b"plain"


@pytest.mark.parametrize(
    "error",
    [
        FileNotFoundError(2, "No such file or directory"),
        PermissionError(13, "Permission denied"),
        subprocess.TimeoutExpired(["xclip"], 2),
        ValueError("embedded null byte"),
    ],
)
def test_a_clipboard_tool_that_breaks_is_skipped_never_raised(ran, error):
    ran.outcomes = {"xclip": error}
    which = on_path("xclip", "xsel")
    assert desktop.copy_to_system_clipboard("x", env=LINUX_X11, which=which) == "xsel"
    ran.outcomes["xsel"] = error
    assert desktop.copy_to_system_clipboard("x", env=LINUX_X11, which=which) is None


def test_no_clipboard_tool_runs_nothing(ran):
    assert desktop.copy_to_system_clipboard("x", env=LINUX_X11, which=on_path()) is None
    assert ran.calls == []


def test_the_clipboard_never_takes_longer_than_its_budget_in_all(ran, monkeypatch):
    now = [100.0]

    def slow(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        ran.calls.append((argv, kwargs))
        now[0] += kwargs["timeout"]  # as if the tool hung until the timeout
        raise subprocess.TimeoutExpired(argv, kwargs["timeout"])

    monkeypatch.setattr(desktop.subprocess, "run", slow)
    monkeypatch.setattr(desktop, "time", SimpleNamespace(monotonic=lambda: now[0]))
    which = on_path("wl-copy", "xclip", "xsel")
    env = {**LINUX_X11, **LINUX_WAYLAND}
    assert desktop.copy_to_system_clipboard("x", env=env, which=which) is None
    assert len(ran.calls) == 1  # the first tool used the whole budget; the others were not started
    assert ran.calls[0][1]["timeout"] == desktop.CLIPBOARD_TIMEOUT
    assert now[0] == 100.0 + desktop.CLIPBOARD_TIMEOUT


# ---- opening a video: the player -------------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE)
def test_the_player_gets_the_target_as_one_last_argument(spawned, hostile):
    url = f"https://v.example/a.mp4?q={hostile}"
    assert desktop.open_target(url, "mpv --fs", env={}, platform="linux", which=on_path()) is None
    [(argv, kwargs)] = spawned.calls
    assert argv == ["mpv", "--fs", url]
    assert_detached(kwargs)


def test_the_player_setting_is_split_like_a_shell_would_but_never_run_by_one(spawned, tmp_path):
    video = tmp_path / "a.mp4"
    video.write_bytes(b"")
    player = "'/opt/My Player/play' --title \"my video\" --volume=50"
    assert desktop.open_target(str(video), player, env={}, platform="linux", which=on_path()) is None
    assert spawned.argvs == [["/opt/My Player/play", "--title", "my video", "--volume=50", str(video)]]


def test_a_windows_player_path_keeps_its_backslashes(spawned):
    player = '"C:\\Program Files\\VLC\\vlc.exe" --fullscreen'
    url = "https://v.example/a.mp4"
    assert desktop.open_target(url, player, env={}, platform="win32", which=on_path()) is None
    assert spawned.argvs == [["C:\\Program Files\\VLC\\vlc.exe", "--fullscreen", url]]


def test_a_player_that_cannot_start_is_a_sentence(monkeypatch):
    monkeypatch.setattr(
        desktop.subprocess, "Popen", Spawned(FileNotFoundError(2, "No such file or directory"))
    )
    problem = desktop.open_target("https://v.example/a.mp4", "mvp --fs", env={}, platform="linux")
    assert problem == "could not start the player 'mvp' (GROKDASH_PLAYER): No such file or directory"


@pytest.mark.parametrize("player", ["'mpv", 'mpv "--fs'])
def test_a_player_with_a_quote_left_open_is_a_sentence(spawned, player):
    problem = desktop.open_target("https://v.example/a.mp4", player, env={}, platform="linux")
    assert problem is not None
    assert "GROKDASH_PLAYER" in problem
    assert "quote" in problem
    assert spawned.calls == []


# ---- opening a video: what may be opened -----------------------------------------------------------


@pytest.mark.parametrize("name", ["--help", "; rm -rf ~ #", "-u critical.mp4", "$(touch pwned).mp4"])
def test_a_saved_file_with_a_hostile_name_is_one_absolute_argument(spawned, tmp_path, monkeypatch, name):
    (tmp_path / name).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert desktop.open_target(name, env=LINUX_X11, platform="linux", which=on_path("xdg-open")) is None
    assert spawned.argvs == [["/usr/bin/xdg-open", str(tmp_path / name)]]


@pytest.mark.parametrize(
    "target",
    [
        "--help",
        "; rm -rf ~ #",
        "-a Calculator",
        "file:///etc/passwd",
        "smb://host/share/a.mp4",
        "ms-msdt:/id PCWDiagnostic",
        "javascript:alert(1)",
        "https://",
        "https://v.example/a.mp4\n--help",
        "https://v.example/a\x00.mp4",
        "",
        "   ",
    ],
)
def test_anything_but_an_http_address_or_a_file_is_refused_with_a_sentence(spawned, target):
    problem = desktop.open_target(target, env=LINUX_X11, platform="linux", which=on_path("xdg-open"))
    assert isinstance(problem, str)
    assert problem
    assert "\n" not in problem.replace(target, "")
    assert spawned.calls == []
    assert desktop.open_target(target, "mpv", env={}, platform="linux") == problem
    assert spawned.calls == []


def test_a_saved_file_that_is_gone_says_so(spawned, tmp_path):
    gone = tmp_path / "gone.mp4"
    problem = desktop.open_target(gone, env=LINUX_X11, platform="linux", which=on_path("xdg-open"))
    assert problem == f"cannot open {gone}: there is no such file, and it is not an http or https address"


# ---- opening a video: the desktop's opener ---------------------------------------------------------


URL = "https://v.example/a.mp4?token=1&x=; rm -rf ~ #"


@pytest.mark.parametrize(
    ("env", "platform", "which", "expected"),
    [
        (LINUX_X11, "linux", on_path("xdg-open"), ["/usr/bin/xdg-open", URL]),
        (LINUX_WAYLAND, "freebsd14", on_path("xdg-open"), ["/usr/bin/xdg-open", URL]),
        ({}, "darwin", on_path("open"), ["/usr/bin/open", URL]),
        ({**WSL, **LINUX_X11}, "linux", on_path("wslview", "xdg-open"), ["/usr/bin/wslview", URL]),
        (WSL, "linux", on_path("wslview"), ["/usr/bin/wslview", URL]),
        (WSL, "linux", on_path("xdg-open"), ["/usr/bin/xdg-open", URL]),
        ({"WSL_INTEROP": "/run/WSL/1_interop"}, "linux", on_path("wslview"), ["/usr/bin/wslview", URL]),
        # wslview outside WSL is not the opener
        (LINUX_X11, "linux", on_path("wslview", "xdg-open"), ["/usr/bin/xdg-open", URL]),
    ],
)
def test_the_desktop_opener_runs_with_the_target_as_one_argument(spawned, env, platform, which, expected):
    assert desktop.open_target(URL, env=env, platform=platform, which=which) is None
    [(argv, kwargs)] = spawned.calls
    assert argv == expected
    assert_detached(kwargs)


def test_no_opener_names_the_setting_and_the_package(spawned):
    problem = desktop.open_target(URL, env=LINUX_X11, platform="linux", which=on_path())
    assert problem == "no program to open videos was found: set GROKDASH_PLAYER or install xdg-utils"
    assert spawned.calls == []


def test_no_display_says_so_rather_than_starting_xdg_open_blind(spawned):
    problem = desktop.open_target(URL, env={}, platform="linux", which=on_path("xdg-open"))
    assert problem == desktop.NO_DISPLAY
    assert "GROKDASH_PLAYER" in problem
    assert spawned.calls == []


def test_an_opener_that_cannot_start_is_a_sentence(monkeypatch):
    monkeypatch.setattr(desktop.subprocess, "Popen", Spawned(PermissionError(13, "Permission denied")))
    problem = desktop.open_target(URL, env=LINUX_X11, platform="linux", which=on_path("xdg-open"))
    assert problem == "could not start xdg-open: Permission denied"


def test_windows_opens_through_startfile(monkeypatch, spawned):
    opened: list[str] = []
    monkeypatch.setattr(os, "startfile", opened.append, raising=False)
    assert desktop.open_target(URL, env={}, platform="win32", which=on_path()) is None
    assert opened == [URL]
    assert spawned.calls == []

    def refuse(target: str) -> None:
        raise OSError(22, "No application is associated with the specified file")

    monkeypatch.setattr(os, "startfile", refuse, raising=False)
    problem = desktop.open_target(URL, env={}, platform="win32", which=on_path())
    assert problem == f"Windows could not open {URL}: No application is associated with the specified file"


def test_the_player_wins_over_the_desktop_opener(spawned):
    assert desktop.open_target(URL, "vlc", env=LINUX_X11, platform="linux", which=on_path("xdg-open")) is None
    assert spawned.argvs == [["vlc", URL]]
    for blank in ["", "   "]:
        desktop.open_target(URL, blank, env=LINUX_X11, platform="linux", which=on_path("xdg-open"))
    assert spawned.argvs[1:] == [["/usr/bin/xdg-open", URL]] * 2


def test_a_real_player_receives_exactly_the_target(tmp_path, monkeypatch):
    """End to end: a real detached process, started from the setting's text, gets the target whole."""
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "player.py"
    script.write_text(
        "import json, os, sys\n"
        "out = sys.argv[1]\n"
        "seen = {'argv': sys.argv[2:], 'sid': os.getsid(0) if hasattr(os, 'getsid') else None}\n"
        "with open(out + '.tmp', 'w') as f:\n"
        "    json.dump(seen, f)\n"
        "os.replace(out + '.tmp', out)\n"
    )
    out = tmp_path / "seen it.json"
    player = " ".join(shlex.quote(str(part)) for part in (sys.executable, script, out))
    target = "https://v.example/a.mp4?x=1&y=2; touch pwned #$(touch pwned2) `touch pwned3` --help"

    assert desktop.open_target(target, player) is None

    deadline = time.monotonic() + 10
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    seen = json.loads(out.read_text())
    assert seen["argv"] == [target]
    if hasattr(os, "getsid"):
        assert seen["sid"] != os.getsid(0)  # its own session: the terminal's signals do not reach it
    assert list(tmp_path.glob("pwned*")) == []  # no shell ever saw the target


# ---- desktop notifications -------------------------------------------------------------------------


@pytest.mark.parametrize("env", [LINUX_X11, LINUX_WAYLAND])
@pytest.mark.parametrize("title", HOSTILE)
def test_notify_send_gets_title_and_text_after_the_end_of_options(spawned, env, title):
    assert desktop.notify_desktop(
        title, "body; rm -rf ~", env=env, platform="linux", which=on_path("notify-send")
    )
    [(argv, kwargs)] = spawned.calls
    assert argv == ["/usr/bin/notify-send", "--app-name=grokdash", "--", title, "body; rm -rf ~"]
    assert_detached(kwargs)


def test_macos_passes_title_and_text_as_arguments_never_as_applescript(spawned):
    title = 'done" & (do shell script "touch /tmp/pwned") & "'
    body = "-e end run"
    assert desktop.notify_desktop(title, body, env={}, platform="darwin", which=on_path("osascript"))
    [(argv, kwargs)] = spawned.calls
    assert argv == [
        "/usr/bin/osascript",
        "-e",
        "on run argv",
        "-e",
        "display notification (text 2 thru -1 of item 2 of argv)"
        " with title (text 2 thru -1 of item 1 of argv)",
        "-e",
        "end run",
        "+" + title,
        "+" + body,
    ]
    assert_detached(kwargs)


def test_macos_empty_title_and_text_still_make_a_notification(spawned):
    assert desktop.notify_desktop("", "", env={}, platform="darwin", which=on_path("osascript"))
    assert spawned.argvs[0][-2:] == ["+grokdash", "+ "]


@pytest.mark.parametrize(
    ("env", "platform", "which"),
    [
        ({}, "linux", on_path("notify-send")),  # no display: over SSH, on a console
        (LINUX_X11, "linux", on_path()),  # no notifier installed
        ({}, "darwin", on_path()),
        (LINUX_X11, "win32", on_path("notify-send")),
    ],
)
def test_no_notifier_is_false_and_starts_nothing(spawned, env, platform, which):
    assert desktop.notify_desktop("t", "b", env=env, platform=platform, which=which) is False
    assert spawned.calls == []


@pytest.mark.parametrize(
    "error", [FileNotFoundError(2, "No such file or directory"), ValueError("embedded null byte")]
)
def test_a_notifier_that_cannot_start_is_false_never_raised(monkeypatch, error):
    monkeypatch.setattr(desktop.subprocess, "Popen", Spawned(error))
    assert (
        desktop.notify_desktop("t", "b", env=LINUX_X11, platform="linux", which=on_path("notify-send"))
        is False
    )


def test_a_missing_body_is_no_error(spawned):
    body: Any = None  # a failed task without an error message
    assert desktop.notify_desktop(
        "grokdash: a failed", body, env=LINUX_X11, platform="linux", which=on_path("notify-send")
    )
    assert spawned.argvs[0][-2:] == ["grokdash: a failed", ""]


# ---- splitting the player setting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "platform", "expected"),
    [
        ("mpv", "linux", ["mpv"]),
        ("mpv --fs --really-quiet", "linux", ["mpv", "--fs", "--really-quiet"]),
        (
            "'/Applications/IINA.app/Contents/MacOS/iina-cli' --no-stdin",
            "darwin",
            ["/Applications/IINA.app/Contents/MacOS/iina-cli", "--no-stdin"],
        ),
        ('"C:\\Program Files\\mpv\\mpv.exe" --fs', "win32", ["C:\\Program Files\\mpv\\mpv.exe", "--fs"]),
        ("C:\\mpv\\mpv.exe", "win32", ["C:\\mpv\\mpv.exe"]),
    ],
)
def test_split_command(command, platform, expected):
    assert desktop.split_command(command, platform=platform) == expected


@pytest.mark.parametrize("command", ["", "   ", "'mpv", "''"])
def test_split_command_refuses_what_is_not_a_command_line(command):
    with pytest.raises(ValueError, match="must"):
        desktop.split_command(command, platform="linux")


def test_tmux_without_set_clipboard_on_is_said_with_the_fix():
    import subprocess

    from grokdash.desktop import tmux_clipboard_problem

    def answers(value: str):
        def run(argv, **kwargs):
            assert argv == ["tmux", "show-options", "-gv", "set-clipboard"]
            return subprocess.CompletedProcess(argv, 0, stdout=value + "\n", stderr="")

        return run

    tmux = {"TMUX": "/tmp/tmux-0/default,1,0"}
    said = tmux_clipboard_problem(tmux, run=answers("external"))
    assert said is not None and "set-clipboard is external" in said and "set -g set-clipboard on" in said
    assert tmux_clipboard_problem(tmux, run=answers("on")) is None
    assert tmux_clipboard_problem({}, run=answers("external")) is None  # not tmux: nothing to say
