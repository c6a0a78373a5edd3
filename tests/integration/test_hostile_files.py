"""Hostile files a user hands grokdash: config files (TOML) and `grokdash import` files.

A config file that cannot be used is one sentence naming the file (and the setting), exit status 2,
no traceback, nothing changed on disk; a value that is accepted is one the program can live with.
An import file that cannot be read is one sentence, exit status 2, the task database byte for byte as
it was; what it does import can be listed and exported again (as strict JSON) without a crash.

The commands run in this process (run_cli) and never reach a network: `ls`, `export` and `import`
ask no API. The default run is small and derandomized; `soak` variants (pytest -m soak) try more.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grokdash.config import SETTINGS, ConfigError, Settings, load_settings

from .cli import CliResult, run_cli

COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
FAST = settings(max_examples=60, derandomize=True, **COMMON)
SOAK = settings(max_examples=2000, **COMMON)

SETTING_NAMES = [spec.name for spec in SETTINGS]
SECRET_PART = "sk-HOSTILE-1c9e"
"""Part of every api_key value generated, so a test can see that it is never shown."""


# ---- helpers ----------------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file under `root` with its bytes, except the log (which each command appends to)."""
    return {
        str(path.relative_to(root)): None if path.is_dir() else path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.name != "grokdash.log" and not path.name.startswith("grokdash.log.")
    }


def assert_one_sentence(result: CliResult) -> str:
    """Exit status 2 and exactly one line on standard error, readable in a terminal."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("grokdash: ")
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr
    assert all(char.isprintable() for char in lines[0]), repr(lines[0])
    return lines[0]


def strict_json(text: str) -> Any:
    """JSON as other programs read it: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


# ---- config files ----------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """A TOML rendering of `value` (basic strings, inline tables): enough for hostile config files."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # JSON string escapes are TOML's, except that TOML wants DEL escaped too.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{toml_value(key)} = {toml_value(item)}" for key, item in value.items())
        return "{" + items + "}"
    raise TypeError(value)


def hostile_text(min_size: int = 0) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            ["", " ", "\t", "0", "-1", "nan", "inf", "1e400", "true", "yes", "\x00", "a\x00b", "~", "/"]
        ),
        st.text(min_size=min_size, max_size=30),
        st.text(st.sampled_from("a1 .,:/\\'\"\x00\x1b\n\té😀"), min_size=min_size, max_size=12),
    )


SCALARS = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 64, 65, 8, 9, 2**63 - 1, -(2**63)]),
    st.floats(),
    st.sampled_from([0.0, 0.1, 0.4999, 0.5, 1e-300, 1e300, -0.0]),
    hostile_text(),
)
TOML_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(hostile_text(min_size=1), children, max_size=3)
    ),
    max_leaves=6,
)
# The keymap is a table of binding ids and keys: give it hostile tables more often than chance would.
KEYMAPS = st.dictionaries(hostile_text(min_size=1), TOML_VALUES, max_size=3)


def accepted_values_are_usable(settings: Settings) -> None:
    """Whatever a config file got past the checks is a value the program can work with."""
    for name in ("interval", "timeout"):
        value = getattr(settings, name)
        assert isinstance(value, float) and math.isfinite(value) and value >= 0.1, (name, value)
    assert settings.interval >= 0.5
    assert type(settings.concurrency) is int and 1 <= settings.concurrency <= 64
    assert type(settings.max_downloads) is int and 1 <= settings.max_downloads <= 8
    for name in ("bell", "desktop_notifications", "auto_download", "label_in_filename"):
        assert type(getattr(settings, name)) is bool, name
    assert settings.base_url.startswith(("http://", "https://"))
    for path in (settings.db, settings.download_dir):
        assert "\x00" not in str(path) and str(path).strip()
    if settings.api_key is not None:
        key = settings.api_key.reveal()
        # It goes into an HTTP header: printable ASCII, or the request cannot be sent at all.
        assert key and all(" " <= char <= "~" for char in key), repr(key)
    assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in settings.keymap.items())


@contextmanager
def config_file(text: str | bytes, mode: int = 0o600) -> Iterator[Path]:
    """A config file in a folder of its own, removed afterwards (one per hypothesis example)."""
    folder = Path(tempfile.mkdtemp(prefix="grokdash-config-"))
    try:
        path = folder / "config.toml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        path.chmod(mode)
        yield path
    finally:
        shutil.rmtree(folder)


def check_one_setting(name: str, value: Any) -> None:
    if name == "api_key" and isinstance(value, str):
        value = SECRET_PART + value
    text = f"{name} = {toml_value(value)}\n"
    with config_file(text) as path:
        try:
            settings = load_settings({"config": str(path)}, env={})
        except ConfigError as error:
            message = error.message
            assert "\n" not in message
            assert str(path) in message
            assert name in message or "not valid TOML" in message, message
            assert SECRET_PART not in message
        else:
            accepted_values_are_usable(settings)


@FAST
@given(name=st.sampled_from(SETTING_NAMES), value=TOML_VALUES)
def test_any_value_of_any_setting_is_refused_by_name_or_is_usable(name, value):
    check_one_setting(name, value)


@FAST
@given(value=KEYMAPS)
def test_any_keymap_table_is_refused_by_name_or_is_usable(value):
    check_one_setting("keymap", value)


@pytest.mark.soak
@SOAK
@given(name=st.sampled_from([*SETTING_NAMES, "keymap"]), value=st.one_of(TOML_VALUES, KEYMAPS))
def test_any_value_of_any_setting_soak(name, value):
    check_one_setting(name, value)


@pytest.fixture
def ls_env(tmp_path: Path) -> dict[str, str]:
    """`ls` on a database that exists, in a folder the snapshot covers."""
    env = {"GROKDASH_DB": str(tmp_path / "tasks.json")}
    assert run_cli(["add", "seed-1"], env).exit_code == 0
    return env


def check_config_file_through_the_command(content: bytes, env: dict[str, str], root: Path) -> None:
    with config_file(content) as path:
        before, config_before = snapshot(root), path.read_bytes()
        result = run_cli(["--config", str(path), "ls"], env)
        assert snapshot(root) == before, "a config file changed something on disk"
        assert path.read_bytes() == config_before
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, "grokdash changed the config file's mode"
    if result.exit_code == 0:
        assert "seed-1" in result.stdout
        return
    line = assert_one_sentence(result)
    assert str(path) in line


# Files that look nearly right: a setting line with a value of the wrong kind, a broken table, etc.
NEARLY_TOML = st.builds(
    lambda name, value, junk: f"{name} = {toml_value(value)}\n{junk}".encode(),
    st.sampled_from([*SETTING_NAMES, "intervall", "api-key", "KEYMAP", "keymap.copy"]),
    TOML_VALUES,
    st.sampled_from(["", "[keymap]\n", "[keymap]\ncopy = 3\n", "[[x]]\n", "= 1\n", "a = 1\na = 2\n", "\x00"]),
)
CONFIG_BYTES = st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode), NEARLY_TOML)


@FAST
@given(content=CONFIG_BYTES)
def test_any_config_file_is_used_or_refused_in_one_sentence_naming_it(content, ls_env, tmp_path):
    check_config_file_through_the_command(content, ls_env, tmp_path)


@pytest.mark.soak
@SOAK
@given(content=CONFIG_BYTES)
def test_any_config_file_soak(content, ls_env, tmp_path):
    check_config_file_through_the_command(content, ls_env, tmp_path)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # Numbers with thousands of digits: Python refuses to read them as an int at all.
        ("interval = 1" + "0" * 5000, "number"),
        ("concurrency = " + "9" * 4400, "number"),
        ("[keymap]\ncopy = " + "1" * 5000, "number"),
        # Places with a NUL in them cannot be opened; the database is read at once, the folder later.
        ('db = "tasks\\u0000.json"', "db"),
        ('download_dir = "videos\\u0000"', "download_dir"),
        ('base_url = "https://[::1"', "base_url must be an http:// or https:// URL"),
        # A key that cannot go into an HTTP header: refused here, never echoed back later.
        (f'api_key = "{SECRET_PART}\\n2"', "api_key"),
        (f'api_key = "{SECRET_PART}\\r\\nX-Evil: 1"', "api_key"),
        (f'api_key = "{SECRET_PART}é"', "api_key"),
        (f'api_key = "{SECRET_PART}\\u0000"', "api_key"),
        # A keymap entry named by a character a terminal acts on (found by the soak run): named escaped.
        ('keymap = {"\\u007f" = false}', 'keymap."\\x7f"'),
        ('keymap = {"\\u202e" = false}', 'keymap."\\u202e"'),
    ],
)
def test_a_config_value_that_cannot_work_is_one_sentence_naming_file_and_setting(
    text, words, ls_env, tmp_path
):
    # The file's own db setting is read only when no GROKDASH_DB hides it (ls then uses the home's).
    env = {} if text.startswith("db") else ls_env
    with config_file(text) as path:
        before = snapshot(tmp_path)
        result = run_cli(["--config", str(path), "ls"], env)
        line = assert_one_sentence(result)
        assert str(path) in line and words in line
        assert SECRET_PART not in result.stdout + result.stderr
        assert snapshot(tmp_path) == before


def test_a_key_that_cannot_be_sent_from_the_environment_is_refused_unseen(ls_env):
    # Nothing listens on the discard port: had the key got through, no request would leave the machine.
    env = {**ls_env, "GROKDASH_BASE_URL": "http://127.0.0.1:9/x", "GROKDASH_TIMEOUT": "0.5"}
    result = run_cli(["status", "x"], {**env, "GROKDASH_API_KEY": SECRET_PART + "\nX-Evil: 1"})
    line = assert_one_sentence(result)
    assert "GROKDASH_API_KEY" in line
    assert SECRET_PART not in result.stdout + result.stderr


# ---- import files ----------------------------------------------------------------------------------

EXPORT_HEAD = {"format": "grokdash-export", "version": 1}
RECORD_FIELDS = [
    "id",
    "added_at",
    "answer",
    "label",
    "status_seen",
    "checked_at",
    "last_error",
    "recent_errors",
    "consecutive_errors",
    "retry_after",
    "local_file",
    "download_error",
    "request",
]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**400, -(10**30), 0, -1])
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["nan", "inf", "-inf", "1e400", "", " ", "queued", "task_1"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
# Times and ids that are nearly right are the ones that slip through: give them more often than chance.
BAD_TIMES = st.sampled_from(
    [math.nan, math.inf, -math.inf, "nan", "inf", "-Infinity", "1e400", 10**400, "1,5"]
)
BAD_IDS = st.sampled_from([None, True, 0, -1, 1.5, ["x"], {"id": "x"}, "", " ", "a b", "..", "x" * 201])
TIMES = st.one_of(st.just(1_764_000_000.0), BAD_TIMES, JSON_VALUES)
TIMED = ("added_at", "checked_at", "retry_after")
# A record that is nearly right: mostly a good id and time, and any other field holding anything.
RECORDS = st.fixed_dictionaries(
    {"id": st.one_of(st.just("imported-1"), BAD_IDS, JSON_VALUES), "added_at": TIMES},
    optional={
        "status_seen": st.dictionaries(st.sampled_from(["queued", "completed"]), TIMES, max_size=2),
        "last_error": st.fixed_dictionaries(
            {"kind": st.just("server"), "message": st.just("m"), "at": TIMES}
        ),
        **{name: TIMES for name in TIMED if name != "added_at"},
        **{name: JSON_VALUES for name in RECORD_FIELDS if name not in ("id", *TIMED)},
    },
)
ANSWERS = st.fixed_dictionaries(
    {"id": st.just("imported-1"), "status": st.sampled_from(["queued", "completed", "failed", "x"])},
    optional={
        name: JSON_VALUES for name in ("model", "created", "video_url", "actualDuration", "error", "code")
    },
)
RECORDS_WITH_ANSWERS = st.builds(lambda record, answer: {**record, "answer": answer}, RECORDS, ANSWERS)


def json_text(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


CSV_TEXT = st.builds(
    lambda header, rows: "\n".join([header, *rows]),
    st.sampled_from(["id,label,added_at", "id", "label,id", "id,id,added_at", '"id",x', "ID , Label"]),
    st.lists(
        st.lists(
            st.one_of(
                st.text(max_size=10),
                st.sampled_from(['"', '""', '"a,b"', "nan", "inf", "-1e400", "1e308", "\x00", "\r"]),
                st.sampled_from(["nan", "inf", "-inf", "1e400"]).map(lambda time: f"csv-{time},,{time}"),
            ),
            max_size=4,
        ).map(",".join),
        max_size=4,
    ),
)
# Three kinds of file, each its own test so each gets its share of examples.
GARBAGE_FILES = st.one_of(
    st.binary(max_size=120),
    st.text(max_size=120).map(str.encode),
    JSON_VALUES.map(lambda value: json_text(value).encode()),
    st.lists(st.one_of(st.text(max_size=12), JSON_VALUES), max_size=4).map(lambda v: json_text(v).encode()),
)
EXPORT_FILES = st.one_of(
    st.lists(RECORDS, max_size=2).map(lambda tasks: json_text({**EXPORT_HEAD, "tasks": tasks}).encode()),
    RECORDS_WITH_ANSWERS.map(lambda record: json_text({**EXPORT_HEAD, "tasks": [record]}).encode()),
)
CSV_FILES = CSV_TEXT.map(str.encode)
IMPORT_FILES = st.one_of(GARBAGE_FILES, EXPORT_FILES, CSV_FILES)


@pytest.fixture
def seeded(tmp_path: Path) -> bytes:
    """The bytes of a database holding one task; each example starts from a copy."""
    db = tmp_path / "seed.json"
    assert run_cli(["add", "seed-1"], {"GROKDASH_DB": str(db)}).exit_code == 0
    return db.read_bytes()


def check_import(content: bytes, seeded: bytes) -> None:
    folder = Path(tempfile.mkdtemp(prefix="grokdash-import-"))
    try:
        db, source = folder / "tasks.json", folder / "import.txt"
        db.write_bytes(seeded)
        source.write_bytes(content)
        env = {"GROKDASH_DB": str(db)}

        result = run_cli(["import", str(source)], env)

        text = result.stdout + result.stderr
        assert "Traceback" not in text and "unexpected error" not in text, text
        assert result.exit_code in (0, 2), (result.exit_code, text)
        assert all(line.startswith("grokdash: ") for line in result.stderr.splitlines())
        assert all(char.isprintable() for char in result.stderr.replace("\n", "")), repr(result.stderr)
        if result.exit_code == 2 and "(not imported)" not in result.stderr:
            # The whole file was refused: one sentence naming it, the database untouched.
            line = assert_one_sentence(result)
            assert str(source) in line
            assert db.read_bytes() == seeded
        # Whatever went in can be shown, listed as strict JSON and exported again.
        listed = run_cli(["ls"], env)
        assert listed.exit_code == 0, listed.stderr
        as_json = run_cli(["ls", "--json"], env)
        assert as_json.exit_code == 0, as_json.stderr
        tasks = strict_json(as_json.stdout)
        assert "seed-1" in [task["id"] for task in tasks]
        for task in tasks:
            assert isinstance(task["id"], str) and 0 < len(task["id"]) <= 200
            assert all(char.isprintable() and not char.isspace() for char in task["id"])
            assert math.isfinite(task["added_at"])
        exported = run_cli(["export"], env)
        assert exported.exit_code == 0, exported.stderr
        assert len(strict_json(exported.stdout)["tasks"]) == len(tasks)
        assert run_cli(["export", "--format", "csv"], env).exit_code == 0
    finally:
        shutil.rmtree(folder)


@FAST
@given(content=GARBAGE_FILES)
def test_any_bytes_or_json_go_in_or_are_refused_in_one_sentence(content, seeded):
    check_import(content, seeded)


@FAST
@given(content=EXPORT_FILES)
def test_any_export_record_goes_in_whole_or_is_refused_in_one_sentence(content, seeded):
    check_import(content, seeded)


@FAST
@given(content=CSV_FILES)
def test_any_csv_goes_in_or_is_refused_in_one_sentence(content, seeded):
    check_import(content, seeded)


@pytest.mark.soak
@SOAK
@given(content=IMPORT_FILES)
def test_any_import_file_soak(content, seeded):
    check_import(content, seeded)


def export_of(**fields: Any) -> str:
    return json_text({**EXPORT_HEAD, "tasks": [{"id": "imported-1", "added_at": 1_764_000_000, **fields}]})


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"", "holds no task ids"),
        (b" \n\t\n", "holds no task ids"),
        (b"[" * 100_000, "not valid JSON"),
        (b"[1" + b"0" * 5000 + b"]", "a number too long"),
        (b'{"tasks": []}', "not a grokdash export"),
        (b"[42]", "entry 1"),
        (b"[null]", "entry 1"),
        (b'[{"id": 5}]', "entry 1"),
        (b"id,label\nabc," + b"x" * 200_000, "not readable CSV"),
        # An export's record must be a record: a task id that is not text is not quietly made one.
        (export_of(id=None).encode(), "task 1 of the export"),
        (export_of(id=True).encode(), "task 1 of the export"),
        (export_of(id=["a"]).encode(), "task 1 of the export"),
        (export_of(id={"a": 1}).encode(), "task 1 of the export"),
        # Times that are not finite numbers cannot be shown, sorted or written as JSON.
        (export_of(added_at=float("nan")).encode(), "task 1 of the export"),
        (export_of(added_at="inf").encode(), "task 1 of the export"),
        (export_of(added_at=1e400).encode(), "task 1 of the export"),
        (export_of().replace("1764000000", "1" + "0" * 400).encode(), "task 1 of the export"),
        (export_of(checked_at="nan").encode(), "task 1 of the export"),
        (export_of(retry_after="-inf").encode(), "task 1 of the export"),
        (export_of(status_seen={"queued": "nan"}).encode(), "task 1 of the export"),
        (export_of(last_error={"kind": "x", "message": "y", "at": "inf"}).encode(), "task 1 of the export"),
        (export_of(answer={"id": "someone-else", "status": "queued"}).encode(), "task 1 of the export"),
        (export_of(answer={"id": "imported-1", "status": "queued", "created": 10**400}).encode(), "task 1"),
        (export_of(answer="queued").encode(), "task 1 of the export"),
    ],
)
def test_a_file_that_is_not_a_task_list_is_one_sentence_and_changes_nothing(content, words, seeded, tmp_path):
    db, source = tmp_path / "tasks.json", tmp_path / "import.json"
    db.write_bytes(seeded)
    source.write_bytes(content)
    result = run_cli(["import", str(source)], {"GROKDASH_DB": str(db)})
    line = assert_one_sentence(result)
    assert words in line and str(source) in line
    assert db.read_bytes() == seeded


@pytest.mark.parametrize(
    "content",
    [
        "id,added_at\ncsv-nan,nan\ncsv-inf,inf\ncsv-neg,-inf\ncsv-big,1e400\n",
        json.dumps([{"id": "huge-label", "label": "L" * 1_000_000}]),
        json.dumps([{"id": "odd-label", "label": "\x1b[2J\x1b]0;pwned\x07"}]),
        "\n".join(f"bulk-{n}" for n in range(5000)),
    ],
)
def test_what_an_odd_file_imports_can_be_listed_and_exported(content, seeded, tmp_path):
    db, source = tmp_path / "tasks.json", tmp_path / "import.txt"
    db.write_bytes(seeded)
    source.write_text(content)
    env = {"GROKDASH_DB": str(db)}
    result = run_cli(["import", str(source)], env)
    assert result.exit_code == 0, result.stderr
    listed = run_cli(["ls"], env)
    assert listed.exit_code == 0, listed.stderr
    assert all(char.isprintable() for char in listed.stdout.replace("\n", ""))
    tasks = strict_json(run_cli(["ls", "--json"], env).stdout)
    assert all(math.isfinite(task["added_at"]) for task in tasks)
    assert run_cli(["export", "--format", "csv"], env).exit_code == 0


@pytest.mark.parametrize(
    ("variable", "make", "says"),
    [
        ("GROKDASH_DB", lambda tmp: Path("/dev/null"), "the task database /dev/null is a device"),
        ("GROKDASH_DB", lambda tmp: _fifo(tmp / "db.fifo"), "is a FIFO, not a regular file"),
        ("GROKDASH_CONFIG", lambda tmp: _fifo(tmp / "config.fifo"), "the config file"),
        ("GROKDASH_DOWNLOAD_DIR", lambda tmp: Path("/dev/null"), "the download folder /dev/null is a device"),
    ],
    ids=["db-device", "db-fifo", "config-fifo", "download-dir-device"],
)
def test_a_path_setting_naming_a_device_or_fifo_is_refused_and_left_untouched(
    variable, make, says, tmp_path, home
):
    """As root, GROKDASH_DB=/dev/null used to replace the system's /dev/null with a file; a FIFO as the
    config file made every command hang. Now: one sentence, exit 2, the path as it was."""
    target = make(tmp_path)
    before = os.stat(target)
    result = subprocess.run(
        [sys.executable, "-m", "grokdash", "ls"],
        env={**os.environ, variable: str(target)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    after = os.stat(target)
    assert (after.st_mode, after.st_ino, after.st_rdev) == (before.st_mode, before.st_ino, before.st_rdev)


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path
