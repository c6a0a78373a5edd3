"""`grokdash rerun ID…` (issue 14): a task created here again from its request, one not created here from
--model and --prompt, through the same checks, summary and confirmation as a batch."""

from __future__ import annotations

from .cli import run_cli, sim_env
from .test_new_command import posts, tracked


def test_a_task_created_here_runs_again_from_its_request(sim, sim_key, tmp_path):
    env = sim_env(sim, sim_key, tmp_path)
    args = [
        "new",
        "--model",
        "grok_video3_max",
        "--prompt",
        "a kite",
        "--duration",
        "16",
        "--label",
        "k",
        "-y",
    ]
    first = run_cli(args, env).stdout.strip()
    result = run_cli(["rerun", first, "--yes"], env)
    assert result.exit_code == 0, result.stderr
    again = result.stdout.strip()
    assert again != first and f"ran {first} again as {again}" in result.stderr
    assert "grok_video3_max: 1 task, 16 s of video, billed per second of video" in result.stderr
    records = {task.id: task for task in tracked(tmp_path / "t.json")}
    assert records[again].request == records[first].request and records[again].label == "k"
    assert len(posts(sim)) == 2


def test_a_task_tracked_by_id_needs_a_model_and_a_prompt(sim, sim_key, tmp_path):
    env = sim_env(sim, sim_key, tmp_path)
    run_cli(["add", "someone-elses-1"], env)
    refused = run_cli(["rerun", "someone-elses-1", "--yes"], env)
    assert refused.exit_code == 2
    assert "someone-elses-1 was not created here: give --model and --prompt" in refused.stderr
    unknown = run_cli(["rerun", "never-tracked", "--yes"], env)
    assert unknown.exit_code == 2 and "never-tracked is not tracked" in unknown.stderr
    assert posts(sim) == []
    given = run_cli(
        ["rerun", "someone-elses-1", "--model", "grok_video3", "--prompt", "a boat", "--yes"], env
    )
    assert given.exit_code == 0, given.stderr
    assert len(posts(sim)) == 1


def test_without_a_terminal_it_asks_for_yes_and_sends_nothing(sim, sim_key, tmp_path):
    env = sim_env(sim, sim_key, tmp_path)
    first = run_cli(["new", "--model", "grok_video3", "--prompt", "a kite", "-y"], env).stdout.strip()
    result = run_cli(["rerun", first], env)
    assert result.exit_code == 2 and "pass --yes" in result.stderr
    assert len(posts(sim)) == 1
