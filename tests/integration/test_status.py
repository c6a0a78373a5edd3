"""`grokdash status` against the simulator over loopback HTTP, as a user or a script sees it."""

from __future__ import annotations

import json
import socket

import pytest

from grokdash.sim import SimServer

from .cli import run_cli


@pytest.fixture
def env(sim: SimServer, sim_key: str) -> dict[str, str]:
    return {"GROKDASH_BASE_URL": sim.base_url, "GROKDASH_API_KEY": sim_key, "GROKDASH_TIMEOUT": "0.5"}


def status_json(env, *ids):
    result = run_cli(["status", "--json", *ids], env)
    return result, {item["id"]: item for item in json.loads(result.stdout)}


@pytest.mark.parametrize(
    ("task_id", "status", "kind"),
    [
        ("hello", "queued", None),
        ("wrapped-1", "queued", None),
        ("strings-1", "queued", None),
        ("notfound-1", None, "not_found"),
        ("html-1", None, "server"),
        ("flaky-1", None, "server"),
        ("truncated-1", None, "protocol"),
        ("mismatch-1", None, "protocol"),
        ("nostatus-1", None, "protocol"),
        ("ratelimit-1", None, "rate_limited"),
        ("ratelimitdate-1", None, "rate_limited"),
        ("slow-1", None, "timeout"),
        ("hang-1", None, "timeout"),
    ],
)
def test_each_scenario_gives_its_status_or_error_kind(env, task_id, status, kind):
    result, by_id = status_json(env, task_id)
    item = by_id[task_id]
    assert item["status"] == status
    assert (item["query_error"] or {}).get("kind") == kind
    assert result.exit_code == (0 if kind is None else 1)
    assert "Traceback" not in result.stderr


def test_tasks_move_through_their_lifecycle(env, clock):
    _, by_id = status_json(env, "hello", "fail-1", "unknown-1", "wrapped-2", "strings-2")
    assert {item["status"] for item in by_id.values()} == {"queued"}
    clock.advance(15)
    _, by_id = status_json(env, "hello", "fail-1")
    assert by_id["hello"]["status"] == "processing"
    clock.advance(20)
    result, by_id = status_json(env, "hello", "fail-1", "unknown-1", "wrapped-2", "strings-2")
    hello = by_id["hello"]
    assert hello["status"] == "completed"
    assert hello["video_url"].startswith("http://127.0.0.1:")
    assert hello["actualDuration"] == 10
    assert hello["model"] == "grok_video3"
    assert isinstance(hello["created"], int)
    assert by_id["fail-1"]["status"] == "failed"
    assert "moderation" in by_id["fail-1"]["error"]
    assert by_id["unknown-1"]["status"] == "moderated"
    assert by_id["wrapped-2"]["status"] == "completed"
    assert by_id["strings-2"]["actualDuration"] == 10.0
    assert result.exit_code == 1  # fail-1 failed


def test_exit_status_is_zero_when_every_task_is_found_and_none_failed(env, clock):
    assert run_cli(["status", "hello", "unknown-1"], env).exit_code == 0
    clock.advance(40)
    result, by_id = status_json(env, "hello", "unknown-1")
    assert by_id["hello"]["status"] == "completed" and by_id["unknown-1"]["status"] == "moderated"
    assert result.exit_code == 0


def test_the_table_has_one_readable_line_per_id(env, clock):
    run_cli(["status", "hello", "fail-2"], env)
    clock.advance(40)
    result = run_cli(["status", "hello", "notfound-1", "html-1", "fail-2"], env)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "MODEL", "AGE", "RESULT"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"hello", "notfound-1", "html-1", "fail-2"}
    assert "completed" in rows["hello"] and "/media/hello.mp4" in rows["hello"]
    assert "not_found" in rows["notfound-1"] and "was not found" in rows["notfound-1"]
    assert "HTTP 502" in rows["html-1"]
    assert "failed" in rows["fail-2"] and "moderation" in rows["fail-2"]
    assert result.stderr == ""


def test_ids_are_sent_percent_encoded_as_one_segment(env, sim):
    _, by_id = status_json(env, "a/b", "50%", "vidéo?x=1")
    assert {item["status"] for item in by_id.values()} == {"queued"}
    paths = {record.task_id: record.path for record in sim.log.records()}
    assert paths["a/b"].endswith("/v1/result/a%2Fb")
    assert paths["50%"].endswith("/v1/result/50%25")
    assert paths["vidéo?x=1"].endswith("/v1/result/vid%C3%A9o%3Fx%3D1")


def test_invalid_ids_are_named_refused_unsent_and_exit_2(env, sim):
    result, by_id = status_json(env, "hello", "", "a b", "x" * 201)
    assert result.exit_code == 2
    assert by_id["hello"]["status"] == "queued"
    assert by_id[""]["query_error"]["kind"] == "invalid_id"
    assert by_id["a b"]["query_error"]["kind"] == "invalid_id"
    assert "invalid task id 'a b': it holds whitespace" in result.stderr
    assert [record.task_id for record in sim.log.records()] == ["hello"]


def test_a_wrong_key_is_an_auth_error(env):
    result, by_id = status_json({**env, "GROKDASH_API_KEY": "wrong-key"}, "hello")
    assert by_id["hello"]["query_error"]["kind"] == "auth"
    assert "API key was refused" in by_id["hello"]["query_error"]["message"]
    assert result.exit_code == 1


def test_no_server_listening_is_a_network_error(env):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    result, by_id = status_json({**env, "GROKDASH_BASE_URL": f"http://127.0.0.1:{closed_port}/x"}, "hello")
    error = by_id["hello"]["query_error"]
    assert error["kind"] == "network"
    assert "connection refused" in error["message"]
    assert result.exit_code == 1


def test_a_missing_key_is_one_sentence_and_exit_2(env, home):
    result = run_cli(["status", "hello"], {**env, "GROKDASH_API_KEY": ""})
    assert result.exit_code == 2
    config = home / "config" / "grokdash" / "config.toml"
    assert result.stderr.strip() == (
        f"grokdash: no API key: run grokdash login, or set GROKDASH_API_KEY or api_key in {config}"
    )
    assert result.stdout == ""


def test_a_bad_config_file_is_one_sentence_naming_file_and_field(env, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('interval = "often"\n')
    result = run_cli(["status", "hello", "--config", str(config)], env)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert str(config) in result.stderr and "interval" in result.stderr


def test_flags_after_the_command_beat_the_environment(env, sim):
    result = run_cli(
        ["status", "--json", "hello", "--base-url", sim.base_url], {**env, "GROKDASH_BASE_URL": "x"}
    )
    assert result.exit_code == 0
    result = run_cli(["--base-url", sim.base_url, "status", "hello"], {**env, "GROKDASH_BASE_URL": "x"})
    assert result.exit_code == 0


def test_usage_errors_exit_2(env):
    assert run_cli(["status"], env).exit_code == 2
    assert run_cli(["status", "--nope", "x"], env).exit_code == 2
    assert run_cli(["nosuchcommand"], env).exit_code == 2
