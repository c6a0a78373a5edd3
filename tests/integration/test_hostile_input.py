"""Hostile task ids through the commands a user types: `status`, `add`, `rm`, `watch`, `download`.

The contract: an id that is empty, `.` or `..`, longer than 200 characters, or holds whitespace or a
control character is refused before any request, with one sentence naming it and exit status 2, and the
task database is left byte for byte as it was. Any other id, however odd (`/`, `%2F`, `..x`, emoji), is
sent percent-encoded as exactly one path segment.

Each command runs in this process (run_cli) against the simulator over loopback HTTP; the simulator's
request log shows exactly what reached the server. The default run is small and derandomized; the
`soak` variants (pytest -m soak) try many more ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from grokdash.errors import safe_snippet
from grokdash.sim import API_PREFIX, SimServer, scenario_for

from .cli import CliResult, run_cli

# One sim, one database and one home for all the examples of a test: every example leaves them as it
# found them (checked), so sharing the function-scoped fixtures is sound.
COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
FAST = settings(max_examples=40, derandomize=True, **COMMON)
SOAK = settings(max_examples=1500, **COMMON)

RESULT_PATH = f"{API_PREFIX}/v1/result/"

# The ids a careless script or a hostile paste produces, and the odd-but-valid ones a sloppy encoder
# gets wrong.
SPECIAL_IDS = [
    "",
    ".",
    "..",
    "...",
    "..x",
    "/",
    "//",
    "a/b",
    "../etc/passwd",
    "%2F",
    "%2e%2e",
    "a%2Fb",
    "%",
    "%zz",
    "50%",
    "?",
    "#",
    "a?b=1#c",
    "a;b",
    "\\",
    "~",
    "+",
    " ",
    "a b",
    " lead",
    "trail ",
    "\t",
    "a\nb",
    "a\r\nb",
    "\x00",
    "nul\x00byte",
    "\x1b[31mred",
    "\x1b]0;title\x07",
    "\x7f",
    "\x9b",
    "\u00a0",
    "\u2028",
    "\u200b",
    "\u202eevil",
    "\ufeff",
    "\udcff",  # what a non-UTF-8 byte in argv becomes (surrogateescape)
    "vidéo-😀",
    "日本語",
    "Ω≈ç√",
    "x" * 200,
    "x" * 201,
    "é" * 200,
    "é" * 201,
    "y" * 5000,
    "-x",
    "--",
    "-",
]
HOSTILE_IDS = st.one_of(
    st.sampled_from(SPECIAL_IDS),
    st.text(max_size=12),
    st.text(st.sampled_from("./%2Fa é\t\x00\x1b\u2028😀"), max_size=8),
    st.text(st.characters(codec="utf-8"), min_size=195, max_size=206),
    st.integers(min_value=190, max_value=3000).map(lambda n: "z" * n),
)


def contract_refuses(task_id: str) -> bool:
    """The contract's rule, written out independently of grokdash.models."""
    return (
        task_id in {"", ".", ".."}
        or len(task_id) > 200
        or any(char.isspace() or not char.isprintable() for char in task_id)
    )


def shows_raw_control_characters(text: str) -> bool:
    """Output a terminal would act on rather than show: anything non-printable but the line ends."""
    return any(not char.isprintable() and char != "\n" for char in text)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "tasks.json"


@pytest.fixture
def env(sim: SimServer, sim_key: str, db: Path, tmp_path: Path) -> dict[str, str]:
    env = {
        "GROKDASH_BASE_URL": sim.base_url,
        "GROKDASH_API_KEY": sim_key,
        "GROKDASH_TIMEOUT": "0.5",
        "GROKDASH_DB": str(db),
        "GROKDASH_DOWNLOAD_DIR": str(tmp_path / "videos"),
    }
    # A database that exists and holds a task, so "unchanged" means something.
    assert run_cli(["add", "seed-1"], env).exit_code == 0
    return env


def tracked_ids(env: dict[str, str]) -> list[str]:
    result = run_cli(["ls", "--json"], env)
    assert result.exit_code == 0, result.stderr
    return [item["id"] for item in json.loads(result.stdout)]


def assert_one_request_for(sim: SimServer, task_id: str) -> None:
    """Exactly one query reached the server, for this id, as one percent-encoded path segment."""
    records = sim.log.records()
    assert len(records) == 1, [record.path for record in records]
    path = records[0].path
    assert records[0].method == "GET"
    assert path.startswith(RESULT_PATH)
    segment = path[len(RESULT_PATH) :]
    assert "/" not in segment and "?" not in segment and "#" not in segment
    assert segment not in {"", ".", ".."}
    assert unquote(segment, errors="strict") == task_id
    assert segment == quote(task_id, safe="")
    assert records[0].task_id == task_id


def assert_refused(result: CliResult, task_id: str, *, snippet: int = 40) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("grokdash: ")
    assert safe_snippet(task_id, snippet) in lines[0]


def assert_no_crash(result: CliResult, *, json_out: bool = False) -> None:
    text = result.stdout + result.stderr
    assert "Traceback" not in text and "unexpected error" not in text, text
    # What a person reads must not carry escape sequences; JSON is for programs (and escapes C0).
    shown = result.stderr if json_out else text
    assert not shows_raw_control_characters(shown), repr(shown)


COMMANDS = {
    "status": ["status", "--json", "--"],
    "add": ["add", "--"],
    "watch": ["watch", "--once", "--"],
    "download": ["download", "--"],
}


def check_one_id(command: str, task_id: str, env: dict[str, str], sim: SimServer, db: Path) -> None:
    # A valid id that names a simulator scenario would hang or fail by design; "-" means stdin to add.
    assume(contract_refuses(task_id) or scenario_for(task_id) is None)
    assume(not (command == "add" and task_id == "-"))
    before = db.read_bytes()
    sim.log.clear()

    result = run_cli([*COMMANDS[command], task_id], env)

    assert_no_crash(result, json_out=command == "status")
    if contract_refuses(task_id):
        assert_refused(result, task_id)
        assert "invalid task id" in result.stderr
        assert sim.log.records() == [], "a refused id reached the server"
        assert db.read_bytes() == before, "a refused id changed the database"
        return

    if command == "status":
        assert result.exit_code == 0, result.stderr
        [shown] = json.loads(result.stdout)
        assert (shown["id"], shown["status"]) == (task_id, "queued")
        assert db.read_bytes() == before, "status stores nothing"
    elif command == "add":
        assert result.exit_code == 0, result.stderr
        assert sim.log.records() == []
        assert tracked_ids(env) == ["seed-1", task_id]
    elif command == "watch":
        assert result.exit_code == 0, result.stderr
        assert tracked_ids(env) == ["seed-1", task_id]
    else:  # download: tracked, asked once, and queued, so nothing to save yet
        assert result.exit_code == 1
        assert "has no video yet" in result.stderr
        assert tracked_ids(env) == ["seed-1", task_id]
    if command != "add":
        assert_one_request_for(sim, task_id)
    if command == "status":
        return

    # rm takes the odd id back out, and leaves the database as the next example expects it.
    removed = run_cli(["rm", "--", task_id], env)
    assert_no_crash(removed)
    assert removed.exit_code == 0, removed.stderr
    assert tracked_ids(env) == ["seed-1"]


@pytest.mark.parametrize("command", list(COMMANDS))
@FAST
@given(task_id=HOSTILE_IDS)
def test_each_command_refuses_bad_ids_unsent_and_sends_odd_ids_encoded(command, task_id, env, sim, db):
    check_one_id(command, task_id, env, sim, db)


@pytest.mark.soak
@pytest.mark.parametrize("command", list(COMMANDS))
@SOAK
@given(task_id=HOSTILE_IDS)
def test_each_command_handles_hostile_ids_soak(command, task_id, env, sim, db):
    check_one_id(command, task_id, env, sim, db)


@pytest.mark.parametrize("task_id", SPECIAL_IDS)
def test_rm_of_an_untracked_odd_id_names_it_and_changes_nothing(task_id, env, sim, db):
    before = db.read_bytes()
    result = run_cli(["rm", "--", task_id], env)
    assert_no_crash(result)
    assert_refused(result, task_id, snippet=60)
    assert db.read_bytes() == before
    assert sim.log.records() == []


def check_many_ids(ids: list[str], env: dict[str, str], sim: SimServer, db: Path) -> None:
    assume(all(contract_refuses(task_id) or scenario_for(task_id) is None for task_id in ids))
    before = db.read_bytes()
    sim.log.clear()

    result = run_cli(["status", "--json", "--", *ids], env)

    assert_no_crash(result, json_out=True)
    wanted = list(dict.fromkeys(ids))
    refused = [task_id for task_id in wanted if contract_refuses(task_id)]
    sent = [task_id for task_id in wanted if not contract_refuses(task_id)]
    assert result.exit_code == (2 if refused else 0), result.stderr
    shown = json.loads(result.stdout)
    assert [item["id"] for item in shown] == wanted
    for item in shown:
        kind = (item["query_error"] or {}).get("kind")
        assert kind == ("invalid_id" if contract_refuses(item["id"]) else None)
    # One sentence per refused id, each naming it.
    lines = result.stderr.splitlines()
    assert len(lines) == len(refused)
    for line, task_id in zip(lines, refused, strict=True):
        assert safe_snippet(task_id, 40) in line
    # Every request that reached the server carried one valid id as one encoded segment.
    paths = sorted(record.path for record in sim.log.records())
    assert paths == sorted(RESULT_PATH + quote(task_id, safe="") for task_id in sent)
    assert db.read_bytes() == before


@FAST
@given(ids=st.lists(HOSTILE_IDS, min_size=1, max_size=6))
def test_status_of_a_mix_sends_only_the_valid_ids_each_once_encoded(ids, env, sim, db):
    check_many_ids(ids, env, sim, db)


@pytest.mark.soak
@SOAK
@given(ids=st.lists(HOSTILE_IDS, min_size=1, max_size=12))
def test_status_of_a_mix_soak(ids, env, sim, db):
    check_many_ids(ids, env, sim, db)


def check_ids_from_stdin(text: str, env: dict[str, str], db: Path) -> None:
    """`add -` splits on whitespace and commas, so only the length and control rules can bite."""
    before_ids = tracked_ids(env)
    before = db.read_bytes()

    result = run_cli(["add", "-"], env, stdin=text)

    assert_no_crash(result)
    parts = [part for part in text.replace(",", " ").split() if part]
    wanted = list(dict.fromkeys(parts))
    refused = [task_id for task_id in wanted if contract_refuses(task_id)]
    fresh = [task_id for task_id in wanted if not contract_refuses(task_id) and task_id not in before_ids]
    assert result.exit_code == (2 if refused or not wanted else 0), result.stderr
    assert tracked_ids(env) == before_ids + fresh
    if not fresh:
        assert db.read_bytes() == before
    if fresh:
        assert run_cli(["rm", "--", *fresh], env).exit_code == 0


STDIN_TEXT = st.lists(HOSTILE_IDS, max_size=5).map(lambda ids: "\n".join(ids))


@FAST
@given(text=STDIN_TEXT)
def test_add_from_standard_input_refuses_bad_ids_and_keeps_the_rest(text, env, db):
    check_ids_from_stdin(text, env, db)


@pytest.mark.soak
@SOAK
@given(text=STDIN_TEXT)
def test_add_from_standard_input_soak(text, env, db):
    check_ids_from_stdin(text, env, db)


def test_the_status_table_shows_refused_ids_without_their_control_characters(env, sim):
    """A pasted id holding an escape sequence must not recolour or retitle the user's terminal."""
    refused = [task_id for task_id in SPECIAL_IDS if contract_refuses(task_id)]
    result = run_cli(["status", "--", *refused], env)
    assert result.exit_code == 2
    assert_no_crash(result)
    assert sim.log.records() == []
    assert len(result.stdout.splitlines()) == 1 + len(refused)  # the header, then one row per id
