"""An unexpected error inside the dashboard: the terminal gets one sentence, the log file gets the
traceback with the key masked, and the command exits 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from grokdash.logs import log_path
from grokdash.tui.app import GrokdashApp

SENTINEL = "sk-crash-sentinel-8d1f0c"


@pytest.fixture
def logging_with_key(log_to_state_dir) -> Path:
    return log_to_state_dir(SENTINEL)


def test_an_unexpected_error_is_one_sentence_on_the_terminal_and_a_masked_traceback_in_the_log(
    every_state_store, make_app, monkeypatch, capfd, logging_with_key
):
    def broken_help(self: GrokdashApp) -> None:
        authorization = f"Bearer {SENTINEL}"  # a local of the failing frame, as in a request's code
        raise RuntimeError(f"help is broken for {authorization[:6]}")

    monkeypatch.setattr(GrokdashApp, "action_help", broken_help)
    app = make_app(every_state_store)

    async def press_help(pilot) -> None:
        await pilot.press("question_mark")

    app.run(headless=True, size=(100, 30), auto_pilot=press_help)

    terminal = capfd.readouterr()
    shown = terminal.out + terminal.err
    assert app.return_code == 1
    assert (
        "grokdash stopped on an unexpected error (RuntimeError); every tracked task is kept, "
        f"and the details are in {log_path()}\n"
    ) in shown
    assert "Traceback" not in shown and "broken_help" not in shown
    assert SENTINEL not in shown

    logged = log_path().read_text(encoding="utf-8")
    assert "the dashboard stopped on an unexpected error" in logged
    assert "Traceback" in logged and "RuntimeError: help is broken" in logged
    assert SENTINEL not in logged


@pytest.mark.anyio
async def test_the_once_a_second_tick_of_a_closing_dashboard_is_no_error(every_state_store, make_app):
    app = make_app(every_state_store)
    async with app.run_test(size=(100, 30)):
        await app.table.remove()  # as while the dashboard closes: the table is gone
        await app.tick()  # the ticker fires one last time
        app.refresh_footer()  # and a cursor move arrives late
        assert app.crash is None and app.return_code in (None, 0)
