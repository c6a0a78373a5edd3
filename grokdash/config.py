"""Settings: command-line flag > environment > config file (TOML) > default.

Every setting is described once, in `SETTINGS`; flags, environment variables, the config file and the
docs all come from that table.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from grokdash.errors import UsageError, printable
from grokdash.files import file_kind
from grokdash.rules import MODELS
from grokdash.secret import Secret

APP_NAME = "grokdash"
DEFAULT_BASE_URL = "https://zcbservice.aizfw.cn/kyyReactApiServer"
"""The API the settings point at unless told otherwise (the client itself takes any base URL)."""


class ConfigError(UsageError):
    """A setting that cannot be used. The message names where it came from."""

    kind = "config"


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME)) / "tasks.json"


def default_download_dir() -> Path:
    return Path(platformdirs.user_downloads_dir()) / APP_NAME


def state_dir() -> Path:
    """Where the log file lives."""
    return Path(platformdirs.user_state_dir(APP_NAME))


# Each parser takes the raw value (a TOML value, or the text of a flag or environment variable) and
# returns the setting's value, or raises ValueError with the rule it breaks.


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be non-empty text")
    return value.strip()


def _path(value: Any) -> Path:
    text = _text(value)
    if "\x00" in text:  # no system call takes it: it would fail later, as a crash
        raise ValueError("must be a path without NUL characters")
    return Path(text).expanduser()


def _folder(value: Any) -> Path:
    """A folder whose files are remembered by path: absolute, so a later run from another folder (or
    `o` in the dashboard) finds them."""
    return _path(value).absolute()


def _base_url(value: Any) -> str:
    url = _text(value).rstrip("/")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # "https://[::1" and the like
        host = None
    if not host or parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL with a host")
    return url


def parse_api_key(value: Any) -> str:
    """The key goes into an HTTP header: a character that cannot go there would fail every request,
    and the error about it would quote the key. So it is refused here, where the key is never shown."""
    key = _text(value)
    if not all(" " <= char <= "~" for char in key):
        raise ValueError("must be printable ASCII text (no accents, line breaks or control characters)")
    return key


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _boolean(value: Any) -> bool:
    """A TOML boolean, or (from the environment) 1/0, true/false, yes/no, on/off in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError("must be true or false")


def _command(value: Any) -> str:
    """A program and its arguments, as one line of text (split like a shell would, but never run by one)."""
    from grokdash.desktop import split_command  # here: desktop loads subprocess, and few configs set one

    command = _text(value)
    split_command(command)
    return command


def _on_saved(value: Any) -> str:
    """A command line run after each save, its `{file}`… placeholders checked now, not at the first save."""
    from grokdash.aftersave import check_template  # here: aftersave loads subprocess

    template = _text(value)
    problem = check_template(template)
    if problem is not None:
        raise ValueError(problem)
    return template


class _EntryError(ValueError):
    """A rule broken by one entry of a table setting: the message names `setting.entry`."""

    def __init__(self, entry: str, rule: str, value: Any) -> None:
        super().__init__(rule)
        self.entry = entry
        self.value = value


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    # json.dumps escapes the C0 controls only; DEL, C1 and bidi overrides would reach the terminal.
    return key if _BARE_KEY.fullmatch(key) else printable(json.dumps(key, ensure_ascii=False))


THEMES = (
    "textual-dark",
    "textual-light",
    "nord",
    "gruvbox",
    "catppuccin-mocha",
    "dracula",
    "tokyo-night",
    "monokai",
    "flexoki",
    "catppuccin-latte",
    "catppuccin-frappe",
    "catppuccin-macchiato",
    "solarized-light",
    "solarized-dark",
    "rose-pine",
    "rose-pine-moon",
    "rose-pine-dawn",
    "atom-one-dark",
    "atom-one-light",
    "ansi-dark",
    "ansi-light",
)
"""Textual's built-in themes (`textual.theme.BUILTIN_THEMES`, which a test compares with this): config
must not import textual, which only the dashboard loads."""


def _theme(value: Any) -> str:
    name = value.strip() if isinstance(value, str) else value
    if name not in THEMES:
        raise ValueError(f"must be one of Textual's themes ({', '.join(THEMES)})")
    return name


def _keymap(value: Any) -> dict[str, str]:
    """`[keymap]`: binding id → keys (`"q,ctrl+c"`). Which ids exist is the dashboard's to check."""
    if not isinstance(value, Mapping):
        raise ValueError('must be a table of binding ids and keys, like [keymap] copy = "y"')
    keymap: dict[str, str] = {}
    for binding, keys in value.items():
        if not isinstance(binding, str) or not binding.strip():
            raise ValueError("has a binding id that is empty or not text")
        entry = _toml_key(binding)
        if not isinstance(keys, str) or not keys.strip():
            raise _EntryError(entry, 'must be non-empty text: one or more keys, like "y" or "q,ctrl+c"', keys)
        parts = [part.strip() for part in keys.split(",")]
        if not all(parts):
            raise _EntryError(entry, 'must be keys separated by commas, like "q,ctrl+c"', keys)
        keymap[binding] = ",".join(parts)
    return keymap


def _amount(value: Any, what: str) -> float:
    """A price or a budget: a finite number, 0 or more (in the user's own currency)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be {what}: a number, 0 or more")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"must be {what}: a number, 0 or more") from None
    if not 0 <= number < float("inf"):
        raise ValueError(f"must be {what}: a number, 0 or more")
    return number


def _prices(value: Any) -> dict[str, float]:
    """`[prices]`: model → its price, per second of video or per call, as the model is billed."""
    if not isinstance(value, Mapping):
        raise ValueError("must be a table of models and prices, like [prices] grok_video3 = 0.05")
    prices: dict[str, float] = {}
    for model, price in value.items():
        entry = _toml_key(str(model))
        if model in SPECS:  # TOML puts every key after [prices] in the table: a common slip
            raise _EntryError(entry, f"is a setting, not a model: move {model} above [prices]", price)
        if model not in MODELS:
            raise _EntryError(entry, f"is no model grokdash knows ({', '.join(MODELS)})", price)
        billed = "per second of video" if MODELS[model].billing == "per_second" else "per call"
        try:
            prices[model] = _amount(price, f"its price {billed}")
        except ValueError as error:
            raise _EntryError(entry, str(error), price) from None
    return prices


def _budget(value: Any) -> float:
    return _amount(value, "the most to spend a day, in the unit of [prices]")


def _number_at_least(minimum: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(f"must be a number of seconds (at least {minimum:g})")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number of seconds (at least {minimum:g})") from None
        if not number >= minimum or number == float("inf"):
            raise ValueError(f"must be a number of seconds, at least {minimum:g}")
        return number

    return parse


def _whole_number(minimum: int, maximum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool | float):
            raise ValueError(f"must be a whole number from {minimum} to {maximum}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a whole number from {minimum} to {maximum}") from None
        if not minimum <= number <= maximum:
            raise ValueError(f"must be a whole number from {minimum} to {maximum}")
        return number

    return parse


@dataclass(frozen=True, slots=True)
class SettingSpec:
    name: str
    """The field of `Settings`, and the key in the config file."""
    parse: Callable[[Any], Any]
    default: Callable[[], Any]
    help: str
    env: str | None = None
    flag: str | None = None


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "api_key",
        parse_api_key,
        lambda: None,
        "API key (never a flag, never printed)",
        env="GROKDASH_API_KEY",
    ),
    SettingSpec(
        "base_url",
        _base_url,
        lambda: DEFAULT_BASE_URL,
        "API base URL",
        env="GROKDASH_BASE_URL",
        flag="--base-url",
    ),
    SettingSpec("db", _path, default_db_path, "task database (TinyDB JSON)", env="GROKDASH_DB", flag="--db"),
    SettingSpec(
        "download_dir",
        _folder,
        default_download_dir,
        "folder for saved videos",
        env="GROKDASH_DOWNLOAD_DIR",
        flag="--download-dir",
    ),
    SettingSpec(
        "interval",
        _number_at_least(0.5),
        lambda: 30.0,
        "seconds between polls of one task",
        env="GROKDASH_INTERVAL",
        flag="--interval",
    ),
    SettingSpec(
        "concurrency",
        _whole_number(1, 64),
        lambda: 8,
        "most requests in flight at once",
        env="GROKDASH_CONCURRENCY",
    ),
    SettingSpec(
        "timeout",
        _number_at_least(0.1),
        lambda: 30.0,
        "seconds to wait for an answer",
        env="GROKDASH_TIMEOUT",
    ),
    SettingSpec(
        "player",
        _command,
        lambda: None,
        "program that opens videos (the video is added as its last argument)",
        env="GROKDASH_PLAYER",
    ),
    SettingSpec(
        "bell",
        _boolean,
        lambda: False,
        "ring the terminal bell when a task completes or fails",
        env="GROKDASH_BELL",
    ),
    SettingSpec(
        "desktop_notifications",
        _boolean,
        lambda: True,
        "desktop notification when a task completes or fails",
        env="GROKDASH_DESKTOP_NOTIFICATIONS",
    ),
    SettingSpec(
        "auto_download",
        _boolean,
        lambda: True,
        "save each video as soon as its task completes (the dashboard)",
        env="GROKDASH_AUTO_DOWNLOAD",
    ),
    SettingSpec(
        "max_downloads",
        _whole_number(1, 8),
        lambda: 2,
        "videos saved at once",
        env="GROKDASH_MAX_DOWNLOADS",
    ),
    SettingSpec(
        "label_in_filename",
        _boolean,
        lambda: False,
        "put the task's label in the saved file's name, after the id",
        env="GROKDASH_LABEL_IN_FILENAME",
    ),
    SettingSpec(
        "sidecar",
        _boolean,
        lambda: True,
        "write <video>.json of provenance (id, prompt, request, answer) beside each saved video",
        env="GROKDASH_SIDECAR",
    ),
    SettingSpec(
        "on_saved",
        _on_saved,
        lambda: None,
        "program run after each video is saved: {file}, {id}, {label}, {json} are filled in",
        env="GROKDASH_ON_SAVED",
    ),
    SettingSpec(
        "max_active",
        _whole_number(1, 64),
        lambda: 4,
        "a batch's tasks queued or processing at once (grokdash batch sends the next row when one ends)",
        env="GROKDASH_MAX_ACTIVE",
    ),
    SettingSpec(
        "prices",
        _prices,
        dict,
        "what each model costs, per second or per call as it is billed (config file only, a [prices] table)",
    ),
    SettingSpec(
        "budget_per_day",
        _budget,
        lambda: None,
        "the most the tasks grokdash creates may cost a day, at [prices]; unset: no budget",
        env="GROKDASH_BUDGET_PER_DAY",
    ),
    SettingSpec(
        "theme",
        _theme,
        lambda: None,
        "dashboard theme; unset: the one last chosen with ctrl+p, else textual-dark",
        env="GROKDASH_THEME",
    ),
    SettingSpec(
        "keymap",
        _keymap,
        dict,
        "dashboard keys: binding id = keys (config file only, a [keymap] table)",
    ),
)
SPECS = {spec.name: spec for spec in SETTINGS}


@dataclass(frozen=True, slots=True)
class Settings:
    api_key: Secret | None
    base_url: str
    db: Path
    download_dir: Path
    interval: float
    concurrency: int
    timeout: float
    config_path: Path
    player: str | None = None
    """A command line that opens videos; None: the desktop's own opener."""
    bell: bool = False
    desktop_notifications: bool = True
    auto_download: bool = True
    max_downloads: int = 2
    label_in_filename: bool = False
    sidecar: bool = True
    """Write `<video>.json` (id, prompt, request, answer) beside each saved video."""
    on_saved: str | None = None
    """A command line run after each save (`aftersave.run_on_saved`); None: nothing is run."""
    max_active: int = 4
    """A batch's tasks queued or processing at once."""
    prices: dict[str, float] = field(default_factory=dict, hash=False)
    """Model → price per second or per call (`[prices]`); empty: grokdash knows no price."""
    budget_per_day: float | None = None
    """The most the tasks grokdash creates may cost a day, at `prices`; None: no budget."""
    theme: str | None = None
    """The dashboard's theme (one of THEMES); None: the one remembered from the last run, else
    textual-dark."""
    keymap: dict[str, str] = field(default_factory=dict, hash=False)
    """Binding id → keys, from the config file's `[keymap]` table; the dashboard checks the ids."""
    warnings: tuple[str, ...] = field(default=(), compare=False)
    """Things the user should hear about but that do not stop grokdash (printed to standard error)."""

    def require_key(self) -> Secret:
        if not self.api_key:
            raise ConfigError(
                f"no API key: run grokdash login, or set GROKDASH_API_KEY or api_key in {self.config_path}"
            )
        return self.api_key

    def sends_key_in_clear(self) -> bool:
        """True when the key would travel unencrypted over a real network."""
        parts = urlsplit(self.base_url)
        return parts.scheme == "http" and not _is_loopback(parts.hostname or "")


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_settings() -> Settings:
    """Every setting at its default, read from nowhere: no flag, no environment, no file."""
    values = {spec.name: spec.default() for spec in SETTINGS}
    values.pop("api_key")
    return Settings(api_key=None, config_path=default_config_path(), **values)


def load_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    config_may_be_new: bool = False,
) -> Settings:
    """Settings from flags (None means not given), environment and config file, in that order. A named
    config file that does not exist is an error, unless `config_may_be_new` (login creates it)."""
    flags = {name: value for name, value in (flags or {}).items() if value is not None}
    env = os.environ if env is None else env

    config_path, explicit = _config_path(flags, env)
    file_values, warnings = _read_config_file(config_path, explicit and not config_may_be_new)

    values: dict[str, Any] = {}
    for spec in SETTINGS:
        if spec.name in flags:
            values[spec.name] = _parse(spec, flags[spec.name], f"{spec.flag or spec.name}")
        elif spec.env and env.get(spec.env, "") != "":
            values[spec.name] = _parse(spec, env[spec.env], spec.env)
        elif spec.name in file_values:
            values[spec.name] = _parse(
                spec, file_values[spec.name], f"config file {config_path}: {spec.name}"
            )
        else:
            values[spec.name] = spec.default()

    key = values.pop("api_key")
    settings = Settings(
        api_key=Secret(key) if key else None,
        config_path=config_path,
        warnings=tuple(warnings),
        **values,
    )
    _refuse_odd_paths(settings)
    if settings.api_key and settings.sends_key_in_clear():
        warning = (
            f"the base URL {settings.base_url} is plain http: the API key would cross the network unencrypted"
        )
        settings = dataclasses.replace(settings, warnings=(*settings.warnings, warning))
    return settings


def _config_path(flags: Mapping[str, Any], env: Mapping[str, str]) -> tuple[Path, bool]:
    if "config" in flags:
        return Path(flags["config"]).expanduser(), True
    if env.get("GROKDASH_CONFIG"):
        return Path(env["GROKDASH_CONFIG"]).expanduser(), True
    return default_config_path(), False


def _parse(spec: SettingSpec, raw: Any, source: str) -> Any:
    try:
        return spec.parse(raw)
    except _EntryError as exc:
        raise ConfigError(f"{source}.{exc.entry} {exc}, got {exc.value!r}") from None
    except ValueError as exc:
        shown = "(hidden)" if spec.name == "api_key" else repr(raw)
        raise ConfigError(f"{source} {exc}, got {shown}") from None


def _kind_of(path: Path) -> str | None:
    """What stands at `path` when it is neither a regular file nor a folder (a device, a FIFO, a
    socket); None when it is one of those, or nothing is there yet."""
    try:
        mode = path.stat().st_mode  # through a symlink: what would be opened
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return file_kind(mode)


def _refuse_odd_paths(settings: Settings) -> None:
    """A path setting naming a device, a FIFO or a socket is refused before anything opens it: grokdash
    would replace a device with a file (as root, /dev/null itself) or hang reading a FIFO."""
    named = (
        ("task database", settings.db, False),
        ("download folder", settings.download_dir, True),
        ("config file", settings.config_path, False),
    )
    for what, path, is_folder in named:
        kind = _kind_of(path)
        if kind is None and path.exists() and path.is_dir() != is_folder:
            kind = "a file" if is_folder else "a folder"
        if kind is not None:
            wanted = "a folder" if is_folder else "a regular file"
            raise ConfigError(f"the {what} {path} is {kind}, not {wanted}: it was left untouched")


def _read_config_file(path: Path, explicit: bool) -> tuple[dict[str, Any], list[str]]:
    """The config file's settings; a missing default file is no error, a missing named one is."""
    kind = _kind_of(path)
    if kind is not None:  # reading a FIFO would wait for ever
        raise ConfigError(f"the config file {path} is {kind}, not a regular file: it was left untouched")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}, []
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from None

    import tomllib  # only with a file to read: ~2 ms of the start of a command run without one

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except ValueError:  # an integer of thousands of digits, which Python refuses to convert
        raise ConfigError(
            f"config file {path} is not valid TOML: it holds a number too long to read"
        ) from None

    unknown = sorted(set(data) - set(SPECS))
    if unknown:
        known = ", ".join(SPECS)
        raise ConfigError(f"config file {path}: unknown setting {unknown[0]!r} (known settings: {known})")

    warnings = []
    if "api_key" in data and _readable_by_others(path):
        warnings.append(
            f"config file {path} holds the API key and other users can read it: run chmod 600 {path}"
        )
    return data, warnings


def _readable_by_others(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRGRP | stat.S_IROTH))
