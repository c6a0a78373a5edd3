"""Saving the API key into the config file: owner-only from the first byte, other settings kept, and
nothing changed when the file cannot be edited safely."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grokdash.config import ConfigError
from grokdash.keyfile import key_problem, save_api_key, with_api_key

KEY = "sk-test-0123456789abcdef"

pytestmark = pytest.mark.skipif(os.name == "nt", reason="file modes are POSIX")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_config_file_is_made_readable_by_its_owner_only(tmp_path: Path):
    path = tmp_path / "config" / "grokdash" / "config.toml"
    assert save_api_key(path, KEY) is False
    assert tomllib.loads(path.read_text()) == {"api_key": KEY}
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700


def test_other_settings_and_comments_are_kept_and_an_open_file_is_closed(tmp_path: Path):
    path = tmp_path / "config.toml"
    text = '# my settings\napi_key = "old-key"\ninterval = 10\n\n[keymap]\nsave = "S"\n'
    path.write_text(text)
    path.chmod(0o644)
    assert save_api_key(path, KEY) is True
    saved = path.read_text()
    assert saved == text.replace('"old-key"', f'"{KEY}"')
    assert mode(path) == 0o600


def test_a_file_without_a_key_gets_one_at_the_top_level(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text('interval = 10\n[keymap]\napi_key = "S"\n')  # a keymap entry, not the setting
    save_api_key(path, KEY)
    assert tomllib.loads(path.read_text()) == {"api_key": KEY, "interval": 10, "keymap": {"api_key": "S"}}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("interval = [\n", id="bad-toml"),
        pytest.param('api_key = """\nold\n"""\n', id="multi-line-key"),
        pytest.param('"api_key" = "old"\n', id="quoted-key"),
        pytest.param("interval = " + "9" * 5000 + "\n", id="number-too-long-to-read"),
    ],
)
def test_a_file_that_cannot_be_edited_safely_is_left_as_it_was(tmp_path: Path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(0o640)
    with pytest.raises(ConfigError, match="nothing was saved"):
        save_api_key(path, KEY)
    assert path.read_text() == text
    assert mode(path) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no temp file left behind


@pytest.mark.parametrize("key", ["", "sk two", "sk\tx", "sk\x1bx", "sk-é", "sk\nx", "x" * 1001])
def test_what_cannot_be_a_key_is_refused_and_nothing_is_written(tmp_path: Path, key: str):
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError, match="nothing was saved") as caught:
        save_api_key(path, key)
    assert not path.exists()
    if key:
        assert key not in str(caught.value)  # the refusal never repeats what was typed


@given(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80))
def test_any_printable_ascii_key_reads_back_exactly(key: str):
    assert key_problem(key) is None
    assert tomllib.loads(with_api_key("interval = 5\n", key)) == {"api_key": key, "interval": 5}


def test_a_symlinked_config_file_gets_the_key_in_its_target_and_stays_a_link(tmp_path: Path):
    # A dotfiles repository: ~/.config/grokdash/config.toml -> ~/dotfiles/grokdash.toml
    target = tmp_path / "dotfiles" / "grokdash.toml"
    target.parent.mkdir()
    target.write_text("interval = 10\n")
    link = tmp_path / "config" / "config.toml"
    link.parent.mkdir()
    link.symlink_to(target)
    save_api_key(link, KEY)
    assert link.is_symlink() and link.resolve() == target
    assert tomllib.loads(target.read_text()) == {"api_key": KEY, "interval": 10}
    assert mode(target) == 0o600
