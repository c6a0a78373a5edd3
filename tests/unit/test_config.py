"""Settings: precedence, the config file, and one clear sentence for anything wrong."""

import os
from pathlib import Path

import pytest

from grokdash.config import DEFAULT_BASE_URL, ConfigError, load_settings


def write_config(home: Path, text: str, mode: int = 0o600) -> Path:
    path = home / "config" / "grokdash" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_defaults_follow_the_platform_places(home):
    settings = load_settings({}, env={})
    assert settings.base_url == DEFAULT_BASE_URL
    assert settings.db == home / "data" / "grokdash" / "tasks.json"
    assert settings.download_dir == home / "Downloads" / "grokdash"
    assert settings.config_path == home / "config" / "grokdash" / "config.toml"
    assert settings.interval == 30
    assert settings.concurrency == 8
    assert settings.api_key is None
    assert settings.player is None
    assert settings.bell is False
    assert settings.desktop_notifications is True
    assert settings.keymap == {}


def test_flag_beats_environment_beats_file_beats_default(home):
    write_config(home, 'interval = 40\nbase_url = "https://file.example/api"\ndb = "~/file.json"\n')
    env = {"GROKDASH_INTERVAL": "50", "GROKDASH_BASE_URL": "https://env.example/api"}
    settings = load_settings({"interval": "60"}, env=env)
    assert settings.interval == 60
    assert settings.base_url == "https://env.example/api"
    assert settings.db == Path("~/file.json").expanduser()
    assert load_settings({}, env=env).interval == 50
    assert load_settings({}, env={}).interval == 40


def test_the_key_comes_from_the_environment_or_the_file_and_never_shows(home):
    write_config(home, 'api_key = "from-file-key"\n')
    assert load_settings({}, env={}).api_key.reveal() == "from-file-key"
    settings = load_settings({}, env={"GROKDASH_API_KEY": "from-env-key"})
    assert settings.api_key.reveal() == "from-env-key"
    assert "from-env-key" not in repr(settings)
    assert "from-env-key" not in f"{settings}"


def test_a_missing_key_names_both_places_to_set_it(home):
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env={}).require_key()
    expected = (
        "no API key: run grokdash login, or set GROKDASH_API_KEY or api_key in "
        f"{home / 'config' / 'grokdash' / 'config.toml'}"
    )
    assert caught.value.message == expected


def test_a_config_file_given_by_flag_or_environment_is_used(home, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text("interval = 5\n")
    assert load_settings({"config": str(other)}, env={}).interval == 5
    assert load_settings({}, env={"GROKDASH_CONFIG": str(other)}).interval == 5


def test_a_named_config_file_that_does_not_exist_is_an_error(home, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"config": str(tmp_path / "nope.toml")}, env={})


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("interval = ", "is not valid TOML"),
        ('interval = "soon"', "interval must be a number of seconds"),
        ("interval = 0.1", "at least 0.5"),
        ("interval = true", "interval must be a number"),
        ("base_url = 3", "base_url must be non-empty text"),
        ('base_url = "ftp://x"', "base_url must be an http:// or https:// URL"),
        ("concurrency = 0", "concurrency must be a whole number from 1 to 64"),
        ("concurrency = 2.5", "concurrency must be a whole number"),
        ("intervall = 30", "unknown setting 'intervall'"),
        ('api_key = ""', "api_key must be non-empty text"),
        ('player = ""', "player must be non-empty text"),
        ("player = ['mpv', '--fs']", "player must be non-empty text"),
        ('player = "\'mpv --fs"', "player must be a program and its arguments, with every quote closed"),
        ('bell = "maybe"', "bell must be true or false, got 'maybe'"),
        ("bell = 1", "bell must be true or false, got 1"),
        ("desktop_notifications = 0", "desktop_notifications must be true or false"),
        ('keymap = "y"', "keymap must be a table of binding ids and keys"),
        ("[keymap]\ncopy = 3", "keymap.copy must be non-empty text"),
        ('[keymap]\ncopy = ""', "keymap.copy must be non-empty text"),
        ("[keymap]\nquit = ['q', 'ctrl+c']", "keymap.quit must be non-empty text"),
        ('[keymap]\nquit = "q,,ctrl+c"', "keymap.quit must be keys separated by commas"),
        ('[keymap.copy]\nkey = "y"', "keymap.copy must be non-empty text"),
        ('[keymap]\n"copy url" = true', 'keymap."copy url" must be non-empty text'),
        ('keymaps = {copy = "y"}', "unknown setting 'keymaps'"),
        ('sidecar = "maybe"', "sidecar must be true or false"),
        ('on_saved = ""', "on_saved must be non-empty text"),
        ('on_saved = "mpv {filename}"', "on_saved has an unknown placeholder {filename}"),
        (
            'on_saved = "\'mpv {file}"',
            "on_saved must be a program and its arguments, with every quote closed",
        ),
    ],
)
def test_a_bad_config_file_is_one_sentence_naming_the_file_and_the_field(home, text, words):
    path = write_config(home, text)
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env={})
    message = caught.value.message
    assert str(path) in message
    assert words in message
    assert "\n" not in message


def test_a_bad_key_value_is_not_repeated_in_the_error(home):
    write_config(home, "api_key = 12345678\n")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env={})
    assert "12345678" not in caught.value.message


def test_bad_flag_and_environment_values_name_their_source(home):
    with pytest.raises(ConfigError, match="--interval must be a number"):
        load_settings({"interval": "x"}, env={})
    with pytest.raises(ConfigError, match="GROKDASH_INTERVAL must be a number"):
        load_settings({}, env={"GROKDASH_INTERVAL": "0"})
    with pytest.raises(ConfigError, match="GROKDASH_BASE_URL must be an http"):
        load_settings({}, env={"GROKDASH_BASE_URL": "localhost:8750"})


def test_a_key_file_that_others_can_read_brings_a_warning(home):
    path = write_config(home, 'api_key = "k"\n', mode=0o644)
    settings = load_settings({}, env={})
    assert any("chmod 600" in warning and str(path) in warning for warning in settings.warnings)
    path.chmod(0o600)
    assert load_settings({}, env={}).warnings == ()


def test_plain_http_to_another_host_warns_before_the_key_is_sent(home):
    env = {"GROKDASH_API_KEY": "k", "GROKDASH_BASE_URL": "http://api.example/x"}
    assert any("unencrypted" in warning for warning in load_settings({}, env=env).warnings)
    for local in [
        "http://127.0.0.1:8750/x",
        "http://localhost:1/x",
        "http://[::1]:5/x",
        "https://api.example",
    ]:
        assert load_settings({}, env={**env, "GROKDASH_BASE_URL": local}).warnings == ()


def test_the_environment_default_is_the_process_environment(home, monkeypatch):
    monkeypatch.setenv("GROKDASH_INTERVAL", "7")
    assert load_settings({}).interval == 7
    assert os.environ["GROKDASH_INTERVAL"] == "7"


def test_player_and_bell_come_from_the_environment_then_the_file_then_the_default(home):
    assert (load_settings({}, env={}).player, load_settings({}, env={}).bell) == (None, False)
    write_config(home, 'player = "mpv --fs"\nbell = true\ndesktop_notifications = false\n')
    settings = load_settings({}, env={})
    assert (settings.player, settings.bell, settings.desktop_notifications) == ("mpv --fs", True, False)
    env = {"GROKDASH_PLAYER": "vlc", "GROKDASH_BELL": "off", "GROKDASH_DESKTOP_NOTIFICATIONS": "on"}
    settings = load_settings({}, env=env)
    assert (settings.player, settings.bell, settings.desktop_notifications) == ("vlc", False, True)
    # An empty variable is as good as unset: the file still counts.
    empty = dict.fromkeys(env, "")
    settings = load_settings({}, env=empty)
    assert (settings.player, settings.bell, settings.desktop_notifications) == ("mpv --fs", True, False)


@pytest.mark.parametrize(
    ("word", "value"),
    [
        *[(word, True) for word in ["1", "true", "TRUE", "yes", "Yes", "on", " on "]],
        *[(word, False) for word in ["0", "false", "False", "no", "NO", "off"]],
    ],
)
def test_booleans_from_the_environment(home, word, value):
    assert load_settings({}, env={"GROKDASH_BELL": word}).bell is value
    assert load_settings({}, env={"GROKDASH_DESKTOP_NOTIFICATIONS": word}).desktop_notifications is value


@pytest.mark.parametrize("word", ["2", "y", "enable", "truee", "-1"])
def test_a_bad_boolean_in_the_environment_names_the_variable(home, word):
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env={"GROKDASH_BELL": word})
    assert caught.value.message == f"GROKDASH_BELL must be true or false, got {word!r}"


def test_a_player_with_a_quote_left_open_is_refused_before_it_is_ever_run(home):
    with pytest.raises(ConfigError, match="GROKDASH_PLAYER must be a program and its arguments"):
        load_settings({}, env={"GROKDASH_PLAYER": "'/opt/my player/play"})
    assert load_settings({}, env={"GROKDASH_PLAYER": "'/opt/my player/play' -f"}).player == (
        "'/opt/my player/play' -f"
    )


def test_the_keymap_comes_from_the_config_file_only(home):
    write_config(home, '[keymap]\ncopy = "y"\nquit = "q, ctrl+c"\n"open-video" = " O "\n')
    settings = load_settings({}, env={"GROKDASH_KEYMAP": "copy=x"})
    assert settings.keymap == {"copy": "y", "quit": "q,ctrl+c", "open-video": "O"}
    hash(settings)  # still usable as a key, keymap and all
    assert load_settings({}, env={}) == settings


def test_an_empty_keymap_table_is_no_keymap(home):
    write_config(home, "[keymap]\n")
    assert load_settings({}, env={}).keymap == {}


def test_sidecar_and_on_saved_default_to_a_sidecar_and_no_program(home):
    settings = load_settings({}, env={})
    assert (settings.sidecar, settings.on_saved) == (True, None)


def test_sidecar_and_on_saved_come_from_the_environment_then_the_file(home):
    write_config(home, 'sidecar = false\non_saved = "mpv --fs {file}"\n')
    settings = load_settings({}, env={})
    assert (settings.sidecar, settings.on_saved) == (False, "mpv --fs {file}")
    settings = load_settings({}, env={"GROKDASH_SIDECAR": "yes", "GROKDASH_ON_SAVED": "notify {id} {json}"})
    assert (settings.sidecar, settings.on_saved) == (True, "notify {id} {json}")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("mpv {nope}", "GROKDASH_ON_SAVED has an unknown placeholder {nope}"),
        ("'mpv {file}", "GROKDASH_ON_SAVED must be a program and its arguments, with every quote closed"),
    ],
)
def test_a_bad_on_saved_template_is_refused_before_anything_is_saved(home, value, words):
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env={"GROKDASH_ON_SAVED": value})
    assert words in caught.value.message
    assert "\n" not in caught.value.message


def test_theme_defaults_to_none_the_remembered_one(home):
    assert load_settings({}, env={}).theme is None


def test_theme_comes_from_the_environment_then_the_file(home):
    write_config(home, 'theme = "nord"\n')
    assert load_settings({}, env={}).theme == "nord"
    assert load_settings({}, env={"GROKDASH_THEME": "dracula"}).theme == "dracula"


@pytest.mark.parametrize(
    ("env", "text", "source"),
    [
        ({"GROKDASH_THEME": "bogus"}, "", "GROKDASH_THEME"),
        ({}, 'theme = "bogus"\n', "theme"),
        ({}, "theme = 3\n", "theme"),
    ],
)
def test_an_unknown_theme_is_one_sentence_naming_its_source(home, env, text, source):
    if text:
        write_config(home, text)
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env=env)
    message = str(caught.value)
    assert source in message and "textual-dark" in message
    assert "\n" not in message and message.count(". ") == 0


def test_the_themes_are_textuals_own():
    """config keeps a list, as it must not import textual; the list is Textual's, whole."""
    from textual.theme import BUILTIN_THEMES

    from grokdash.config import THEMES

    assert set(THEMES) == set(BUILTIN_THEMES)


def test_an_unknown_theme_on_the_command_line_is_exit_2(home, tmp_path):
    from tests.integration.cli import run_cli

    result = run_cli(["ls"], {"GROKDASH_THEME": "bogus", "GROKDASH_DB": str(tmp_path / "tasks.json")})
    assert result.exit_code == 2
    assert result.stderr.startswith("grokdash: GROKDASH_THEME must be one of Textual's themes")
    assert result.stderr.count("\n") == 1
