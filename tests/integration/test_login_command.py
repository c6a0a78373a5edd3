"""`grokdash login`: the key goes into the config file, owner-only, and the next command uses it;
the key itself is never printed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from grokdash.config import default_config_path
from grokdash.secret import Secret

from .cli import run_cli

KEY = "sk-login-test-0123456789abcdef"

pytestmark = pytest.mark.skipif(os.name == "nt", reason="file modes are POSIX")


def test_the_key_is_saved_owner_only_and_used_by_the_next_command(sim, sim_key, home):
    result = run_cli(["login"], stdin=sim_key + "\n")
    assert result.exit_code == 0, result.stderr
    path = default_config_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert result.stdout == f"saved the API key {Secret(sim_key).masked()} in {path}, readable by you only\n"
    assert sim_key not in result.stdout + result.stderr

    status = run_cli(["status", "--json", "--base-url", sim.base_url, "login-check"])
    assert status.exit_code == 0, status.stderr
    assert '"query_error": null' in status.stdout


def test_a_config_file_others_could_read_is_closed_and_keeps_its_settings(home, tmp_path: Path):
    path = tmp_path / "mine.toml"
    path.write_text("interval = 12\n")
    path.chmod(0o644)
    result = run_cli(["login", "--config", str(path)], stdin=KEY)
    assert result.exit_code == 0, result.stderr
    assert "other users could read that file before; they cannot any more" in result.stdout
    assert path.read_text() == f'api_key = "{KEY}"\ninterval = 12\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_empty_key_is_one_sentence_exit_2_and_no_file(home):
    result = run_cli(["login"], stdin="\n")
    assert result.exit_code == 2
    assert result.stderr == "grokdash: the API key is empty: nothing was saved\n"
    assert not default_config_path().exists()


def test_a_broken_config_file_is_said_before_the_key_is_asked_and_left_alone(home, tmp_path: Path):
    path = tmp_path / "broken.toml"
    path.write_text("interval = [\n")
    result = run_cli(["login", "--config", str(path)], stdin=KEY)
    assert result.exit_code == 2
    assert str(path) in result.stderr and "not valid TOML" in result.stderr
    assert path.read_text() == "interval = [\n"


def test_replacing_a_key_others_could_read_says_it_is_fixed_not_to_chmod(home, tmp_path: Path):
    path = tmp_path / "open.toml"
    path.write_text('api_key = "sk-old-key-0123456789"\n')
    path.chmod(0o644)
    result = run_cli(["login", "--config", str(path)], stdin=KEY)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # no "run chmod 600" for what login has just done
    assert "they cannot any more" in result.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
