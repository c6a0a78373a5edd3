"""The API key in the dashboard: with a sentinel key, use the dashboard as a person would (details, copy,
save, the new-task form, a server that refuses the key), take screenshots, export the list, and search
the screenshots, the exports, the log, the database, the clipboard and the toasts for the key and its
obvious encodings: it is never there. The warnings that protect the key are tested alongside: a config
file others can read, and plain http to another host, said before the key is ever sent."""

from __future__ import annotations

import base64
import html
import logging
import re
import sys
from pathlib import Path

import httpx
import pytest
from textual.widgets import TextArea

from grokdash import desktop
from grokdash.store import TaskStore
from grokdash.tui.app import GrokdashApp
from grokdash.tui.screens.details import DetailsScreen
from grokdash.tui.screens.new_task import NewTaskScreen

from ..integration.cli import run_cli
from .board import dashboard

pytestmark = pytest.mark.anyio

SENTINEL = "sk-SENTINEL-dash-7f3a9c1e5b2d4068"
WRONG = SENTINEL + "-wrong"


def needles(key: str) -> dict[str, str]:
    """The key as it could leak: whole, in its header, encoded, or all of it but the last 4 characters
    (which `Secret.masked` may show on purpose, to tell keys apart)."""
    bearer = f"Bearer {key}"
    return {
        "the key": key,
        "the key but its last 4": key[:-4],
        "the key's end": key[8:],
        "the header": bearer,
        "base64": base64.b64encode(key.encode()).decode().rstrip("="),
        "base64 of the header": base64.b64encode(bearer.encode()).decode().rstrip("="),
        "urlsafe base64": base64.urlsafe_b64encode(key.encode()).decode().rstrip("="),
        "hex": key.encode().hex(),
        "reversed": key[::-1],
    }


def leaks(text: str, key: str = SENTINEL) -> list[str]:
    folded = text.lower()
    return [name for name, needle in needles(key).items() if needle.lower() in folded]


def svg_text(svg: str) -> str:
    """What an SVG screenshot shows, as text: tags dropped, entities decoded, so a key split across
    styled runs is found too."""
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


@pytest.fixture
def sim_key() -> str:
    """The simulator accepts the sentinel key only (overrides the conftest's key)."""
    return SENTINEL


@pytest.fixture
def store(tmp_path: Path, clock) -> TaskStore:
    return TaskStore(tmp_path / "tasks.json", clock=clock)


@pytest.fixture
def log_file(log_to_state_dir) -> Path:
    """The real log file in the state dir, at DEBUG so every record that could hold the key is written."""
    return log_to_state_dir(SENTINEL, level=logging.DEBUG)


@pytest.fixture(autouse=True)
def quiet_desktop(monkeypatch) -> list[str]:
    """No real clipboard tools, openers or notifications; what would have gone to them is kept."""
    sent: list[str] = []
    monkeypatch.setattr(desktop, "copy_to_system_clipboard", sent.append)
    monkeypatch.setattr(desktop, "open_target", lambda target, player=None: sent.append(str(target)))
    monkeypatch.setattr(desktop, "notify_desktop", lambda title, body: sent.append(f"{title} {body}") or True)
    return sent


async def test_the_dashboard_never_shows_logs_stores_or_exports_the_key(
    store, clock, sim, tmp_path, home, log_file, quiet_desktop
):
    store.add(["done-1", "fail-1", "notfound-1", "html-1", "truncated-1", "ratelimit-1"], label="hygiene")
    seen: list[str] = []  # everything shown to the user besides the screenshots
    screenshots: list[str] = []

    async with dashboard(store, clock, sim, key=SENTINEL, download_dir=tmp_path / "videos") as board:
        # ratelimit-1's 429 pauses every task: one that had not gone out by then waits a round more.
        for _ in range(3):
            await board.next_round(advance=35)
            if store.get("done-1").task and store.get("done-1").task.video_url:
                break
        assert store.get("done-1").task.video_url
        await board.screenshot()

        for task_id in ("done-1", "html-1", "notfound-1"):  # an answer, a server error, a 404
            await board.select(task_id)
            await board.press("enter")
            assert isinstance(board.app.screen, DetailsScreen)
            await board.screenshot()
            await board.press("escape")

        await board.select("done-1")
        await board.press("c")
        assert board.app.clipboard == store.get("done-1").task.video_url
        seen.append(board.app.clipboard)
        await board.press("s")
        await board.until(lambda: store.get("done-1").local_file is not None, "the video to be saved")

        await board.press("n")
        form = board.app.screen
        assert isinstance(form, NewTaskScreen)
        form.query_one("#prompt", TextArea).text = "a lighthouse in a storm"
        await board.pilot.pause()
        await board.screenshot()
        await board.press("ctrl+s")
        await board.press("tab", "enter")  # "Yes, create it"
        await board.until(lambda: not isinstance(board.app.screen, NewTaskScreen), "the form to close")
        assert [record.method for record in sim.log.records()].count("POST") == 1
        await board.screenshot()
        seen += [board.summary(), *board.toasts()]
        screenshots += board.screenshots

    # The same database, a key the server refuses: the refusal is said, the key is not.
    clock.advance(60)  # so the unfinished tasks are due at the first round
    async with dashboard(store, clock, sim, key=WRONG, download_dir=tmp_path / "videos") as board:
        await board.until(lambda: "API key was refused" in board.summary(), "the refusal")
        await board.screenshot()
        await board.select("fail-1")
        await board.press("enter")
        await board.screenshot()
        seen += [board.summary(), *board.toasts()]
        screenshots += board.screenshots

    env = {"GROKDASH_DB": str(store.path)}
    exports = [run_cli(["export"], env), run_cli(["export", "--format", "csv"], env)]
    assert all(result.exit_code == 0 for result in exports)
    assert "done-1" in exports[0].stdout and "done-1" in exports[1].stdout

    # The key was really in play: every API request carried it (the sim accepts no other).
    api_requests = [record for record in sim.log.records() if "/media/" not in record.path]
    assert any(record.authorized for record in api_requests)
    # ... and the video host never got it.
    media = [record for record in sim.log.records() if "/media/" in record.path]
    assert media and not any(record.authorized for record in media)

    # The screenshots are of what was meant: the details of the task, the refusal of the wrong key.
    assert "done-1" in svg_text(screenshots[1]) and "html-1" in svg_text(screenshots[2])
    assert "API key was refused" in svg_text(screenshots[-2])
    assert leaks(svg_text(f"<text>Bearer&#160;{SENTINEL[:9]}</text><text>{SENTINEL[9:]}</text>"))

    shown = {
        **{f"screenshot {n}": svg for n, svg in enumerate(screenshots)},
        **{f"screenshot {n} as text": svg_text(svg) for n, svg in enumerate(screenshots)},
        "export json": exports[0].stdout + exports[0].stderr,
        "export csv": exports[1].stdout + exports[1].stderr,
        "summary, toasts and clipboard": "\n".join(seen),
        "desktop (clipboard, notifications)": "\n".join(quiet_desktop),
    }
    for where, text in shown.items():
        assert not leaks(text) and not leaks(text, WRONG), f"the key is in the {where}: {leaks(text)}"

    assert "GET v1/result/done-1" in log_file.read_text()  # the log did record the requests
    written = [path for root in (home, tmp_path) for path in root.rglob("*") if path.is_file()]
    assert store.path in written and log_file in written
    for path in written:
        text = path.read_bytes().decode("utf-8", errors="replace")
        assert not leaks(text) and not leaks(text, WRONG), f"the key is in {path}: {leaks(text)}"


# ---- the warnings that protect the key -----------------------------------------------------------


def write_config(home: Path, text: str, mode: int) -> Path:
    path = home / "config" / "grokdash" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    ("mode", "warned"), [(0o644, True), (0o640, True), (0o604, True), (0o600, False), (0o400, False)]
)
def test_a_key_in_a_config_file_others_can_read_is_warned_about_by_name(home, tmp_path, mode, warned):
    path = write_config(home, f'api_key = "{SENTINEL}"\n', mode)
    result = run_cli(["ls"], {"GROKDASH_DB": str(tmp_path / "tasks.json")})
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("grokdash: warning:")]
    if warned:
        assert warnings == [
            f"grokdash: warning: config file {path} holds the API key and other users can read it: "
            f"run chmod 600 {path}"
        ]
    else:
        assert warnings == []
    assert not leaks(result.stdout + result.stderr)


def test_a_readable_config_file_without_a_key_is_no_concern(home, tmp_path):
    write_config(home, "interval = 10\n", 0o644)
    result = run_cli(["ls"], {"GROKDASH_DB": str(tmp_path / "tasks.json")})
    assert "warning" not in result.stderr


def test_the_dashboard_is_given_the_config_warning_to_show(home, tmp_path, monkeypatch):
    """The dashboard prints nothing to the terminal; it shows the warning as a notice at start."""
    path = write_config(home, f'api_key = "{SENTINEL}"\n', 0o644)
    shown: list[tuple[str, ...]] = []
    monkeypatch.setattr(GrokdashApp, "run", lambda app: shown.append(app.config.notices))
    result = run_cli([], {"GROKDASH_DB": str(tmp_path / "tasks.json")})
    assert result.exit_code == 0 and result.stderr == ""
    [notices] = shown
    assert any(str(path) in notice and "chmod 600" in notice for notice in notices)


class RecordingTransport(httpx.AsyncBaseTransport):
    """Stands in for the network: keeps each request with what standard error held when it was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[httpx.Request, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request, sys.stderr.getvalue()))
        body = b'{"id": "t-1", "status": "queued", "model": "grok_video3"}'
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})


@pytest.fixture
def network(monkeypatch) -> RecordingTransport:
    """Every client the commands make sends through one recording transport; nothing leaves the host."""
    transport = RecordingTransport()
    original = httpx.AsyncClient.__init__

    def init(self, *args, **kwargs) -> None:
        kwargs["transport"] = transport
        original(self, *args, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "__init__", init)
    return transport


@pytest.mark.parametrize(
    "args",
    [
        ["status", "t-1"],
        ["watch", "--once", "t-1"],
        ["download", "t-1"],
        ["new", "--model", "grok_video3", "--prompt", "waves", "--yes"],
    ],
    ids=["status", "watch", "download", "new"],
)
def test_plain_http_to_another_host_is_warned_about_before_the_key_is_sent(args, network, tmp_path):
    env = {
        "GROKDASH_API_KEY": SENTINEL,
        "GROKDASH_BASE_URL": "http://api.example.test/kyyReactApiServer",
        "GROKDASH_DB": str(tmp_path / "tasks.json"),
        "GROKDASH_DOWNLOAD_DIR": str(tmp_path / "videos"),
    }
    result = run_cli(args, env)
    warning = (
        "grokdash: warning: the base URL http://api.example.test/kyyReactApiServer is plain http: "
        "the API key would cross the network unencrypted"
    )
    assert warning in result.stderr.splitlines()
    keyed = [(request, stderr) for request, stderr in network.sent if "authorization" in request.headers]
    assert keyed, "the command sent no request with the key"
    for request, stderr_then in keyed:
        assert request.url.scheme == "http" and request.url.host == "api.example.test"
        assert warning in stderr_then.splitlines(), f"{request.method} {request.url} went before the warning"
    assert not leaks(result.stdout + result.stderr)


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.example.test/x",
        "http://127.0.0.1:8750/x",
        "http://localhost:8750/x",
        "http://[::1]:8750/x",
    ],
)
def test_no_warning_when_the_key_is_encrypted_or_stays_on_this_machine(base_url, network, tmp_path):
    env = {
        "GROKDASH_API_KEY": SENTINEL,
        "GROKDASH_BASE_URL": base_url,
        "GROKDASH_DB": str(tmp_path / "t.json"),
    }
    result = run_cli(["status", "t-1"], env)
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr
    assert len(network.sent) == 1
