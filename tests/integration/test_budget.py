"""`[prices]` and `budget_per_day` from the command line, against the simulator: the estimated price is
shown before anything is sent, a create that would pass the day's budget is refused with one sentence
and no POST leaves, and `--over-budget` lets it through on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cli import run_cli
from .test_new_command import posts, tracked

PRICES = "[prices]\ngrok_video3 = 0.05\ngrok_video3_pro = 0.80\n"


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "tasks.json"


def env_with(sim, sim_key, db: Path, tmp_path: Path, config: str) -> dict[str, str]:
    path = tmp_path / "config.toml"
    path.write_text(config)
    return {
        "GROKDASH_BASE_URL": sim.base_url,
        "GROKDASH_API_KEY": sim_key,
        "GROKDASH_DB": str(db),
        "GROKDASH_CONFIG": str(path),
    }


def new(env, duration: int, *more: str):
    args = ["new", "--model", "grok_video3", "--prompt", "a kite", "--duration", str(duration), "--yes"]
    return run_cli([*args, *more], env)


def test_with_prices_the_estimate_is_shown_before_sending(sim, sim_key, db, tmp_path):
    env = env_with(sim, sim_key, db, tmp_path, PRICES)
    result = new(env, 20)
    assert result.exit_code == 0, result.stderr
    assert "estimated price: ≈ 1.00" in result.stderr


def test_the_create_that_would_pass_the_budget_is_refused_and_nothing_is_sent(sim, sim_key, db, tmp_path):
    env = env_with(sim, sim_key, db, tmp_path, "budget_per_day = 2.0\n" + PRICES)
    assert new(env, 20).exit_code == 0  # 1.00 of 2.00
    refused = new(env, 30)  # 1.50 more
    assert refused.exit_code == 2
    assert refused.stderr.splitlines() == [
        "grokdash: this task (≈ 1.50) would pass today's budget of 2.00: 1.00 spent so far "
        "(--over-budget sends it anyway)"
    ]
    assert len(posts(sim)) == 1 and len(tracked(db)) == 1
    on_purpose = new(env, 30, "--over-budget")
    assert on_purpose.exit_code == 0, on_purpose.stderr
    assert "past today's budget, on purpose" in on_purpose.stderr
    assert len(posts(sim)) == 2


def test_with_a_budget_a_model_without_a_price_is_refused(sim, sim_key, db, tmp_path):
    env = env_with(sim, sim_key, db, tmp_path, "budget_per_day = 50\n" + PRICES)
    result = run_cli(["new", "--model", "grok_video3_max", "--prompt", "a kite", "--yes"], env)
    assert result.exit_code == 2
    assert "no price for grok_video3_max in [prices]" in result.stderr
    assert posts(sim) == []


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ("[prices]\ngrok_video9 = 1\n", "prices.grok_video9"),
        ("[prices]\ngrok_video3 = -1\n", "prices.grok_video3"),
        ('[prices]\ngrok_video3 = "cheap"\n', "prices.grok_video3"),
        ("prices = 3\n", "prices"),
        ("budget_per_day = -5\n", "budget_per_day"),
        ("budget_per_day = inf\n", "budget_per_day"),
        (PRICES + "budget_per_day = 5\n", "move budget_per_day above [prices]"),
    ],
)
def test_a_bad_price_or_budget_is_one_sentence_and_sends_nothing(sim, sim_key, db, tmp_path, config, said):
    env = env_with(sim, sim_key, db, tmp_path, config)
    result = new(env, 10)
    assert result.exit_code == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert said in line and "Traceback" not in line
    assert posts(sim) == []


def test_the_budget_from_the_environment(sim, sim_key, db, tmp_path):
    env = env_with(sim, sim_key, db, tmp_path, PRICES) | {"GROKDASH_BUDGET_PER_DAY": "0.10"}
    result = new(env, 10)  # 0.50
    assert result.exit_code == 2 and "budget of 0.10" in result.stderr
    bad = new(env | {"GROKDASH_BUDGET_PER_DAY": "lots"}, 10)
    assert bad.exit_code == 2 and "GROKDASH_BUDGET_PER_DAY" in bad.stderr
    assert posts(sim) == []


def test_a_batch_stops_sending_before_the_row_that_would_pass_the_budget(fast_sim, db, tmp_path):
    sim = fast_sim  # the sent tasks are followed to their end: they must end
    env = env_with(sim, "kill-key", db, tmp_path, "budget_per_day = 1.0\n" + PRICES)
    env["GROKDASH_INTERVAL"] = "0.5"
    rows = tmp_path / "kites.txt"
    rows.write_text("a kite\na boat\na plane\na train\n")  # 0.50 each at 10 s
    result = run_cli(["batch", str(rows), "--model", "grok_video3", "--yes"], env)
    assert result.exit_code == 1
    assert "stopped sending at line 3: this task (≈ 0.50) would pass today's budget of 1.00" in result.stderr
    assert "estimated price: ≈ 2.00" in result.stderr  # the summary said so before sending
    assert len(posts(sim)) == 2
    assert "batch kites: 2 created, 2 waiting" in result.stderr  # the rest waits for another day
