"""The sidecar beside each saved video, as a user finds it in the download folder: for a task created with
`grokdash new`, its prompt and the whole create request; for a task only tracked, what the API said."""

from __future__ import annotations

import json

import pytest

from .cli import run_cli

PROMPT = "a paper boat sailing down a rainy street"


def test_a_task_created_here_is_saved_with_its_prompt_and_request_beside_it(sim, sim_key, clock, env, videos):
    """Created (queued, as a real server answers a create), completed later, saved by watch --save."""
    env = {**env, "GROKDASH_BASE_URL": sim.base_url, "GROKDASH_API_KEY": sim_key}
    args = ["new", "--model", "grok_video3", "--prompt", PROMPT, "--duration", "6", "--aspect-ratio", "9:16"]
    created = run_cli([*args, "--yes"], env)
    assert created.exit_code == 0, created.stderr
    task_id = created.stdout.strip()
    assert "(queued)" in created.stderr
    clock.advance(60)  # the simulator's clock: the task has completed

    saved = run_cli(["watch", "--save"], env)

    assert saved.exit_code == 0, saved.stderr
    sidecar = json.loads((videos / f"{task_id}.json").read_text(encoding="utf-8"))
    assert sidecar["id"] == task_id
    assert sidecar["prompt"] == PROMPT
    assert sidecar["request"] == {
        "model": "grok_video3",
        "prompt": PROMPT,
        "duration": 6,
        "aspect_ratio": "9:16",
    }
    assert sidecar["model"] == "grok_video3"
    assert sidecar["label"] == PROMPT  # the start of the prompt
    assert sidecar["file"] == str(videos / f"{task_id}.mp4")
    assert sidecar["completed"] and sidecar["created"]


def test_a_task_only_tracked_is_saved_with_what_the_answer_said(env, videos):
    assert run_cli(["add", "clip-1", "--label", "from yesterday"], env).exit_code == 0

    saved = run_cli(["download", "clip-1"], env)

    assert saved.exit_code == 0, saved.stderr
    sidecar = json.loads((videos / "clip-1.json").read_text(encoding="utf-8"))
    assert sidecar["prompt"] is None and sidecar["request"] is None
    assert sidecar["label"] == "from yesterday"
    answer = sidecar["answer"]
    assert answer["id"] == "clip-1" and answer["status"] == "completed"
    assert answer["model"] == "grok_video3" and answer["actualDuration"] == sidecar["duration"] == 10
    # The URL without its query: the signed token stays out of a folder that may be shared.
    assert answer["video_url"].endswith("/media/clip-1.mp4")
    assert "token" not in json.dumps(sidecar)


@pytest.fixture
def env(saving_env: dict[str, str]) -> dict[str, str]:
    return saving_env
