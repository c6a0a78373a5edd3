"""The simulator's key-wide rate limit over real loopback HTTP, as a client of the API would meet it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from grokdash.api import GrokClient
from grokdash.errors import RateLimitedError
from grokdash.secret import Secret
from grokdash.sim import RateLimit, SimServer
from tests.conftest import FakeClock
from tests.integration.cli import run_cli


def http_client(**kwargs) -> httpx.Client:
    return httpx.Client(timeout=5, trust_env=False, verify=False, **kwargs)


@pytest.fixture
def limited(sim: SimServer) -> SimServer:
    sim.rate_limit = RateLimit(3, 10)
    return sim


@pytest.fixture
def client(limited: SimServer, sim_key: str) -> Iterator[httpx.Client]:
    with http_client(base_url=limited.base_url, headers={"Authorization": f"Bearer {sim_key}"}) as client:
        yield client


def query(client: httpx.Client, task_id: str, **kwargs) -> httpx.Response:
    return client.get(f"/v1/result/{task_id}", **kwargs)


def test_the_limit_is_off_unless_asked_for(sim: SimServer, sim_key: str) -> None:
    assert sim.rate_limit is None
    with http_client(base_url=sim.base_url, headers={"Authorization": f"Bearer {sim_key}"}) as client:
        assert {query(client, f"task_{n}").status_code for n in range(50)} == {200}


def test_beyond_the_limit_the_answer_is_429_with_retry_after_in_the_api_error_shape(
    limited: SimServer, client: httpx.Client, clock: FakeClock
) -> None:
    assert [query(client, f"task_{n}").status_code for n in range(3)] == [200, 200, 200]
    refused = query(client, "task_3")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "10"
    assert refused.json() == {"code": 429, "msg": "too many requests: at most 3 requests per 10 s per key"}
    assert limited.log.records()[-1].task_id == "task_3"
    assert limited.log.records()[-1].status == 429

    clock.advance(4)
    assert query(client, "task_3").headers["Retry-After"] == "6"
    clock.advance(6)
    assert query(client, "task_3").status_code == 200


def test_every_id_and_the_create_endpoint_share_the_allowance(client: httpx.Client, clock: FakeClock) -> None:
    created = client.post("/v1/grok/videos", json={"model": "grok_video3", "prompt": "a cat"})
    assert created.status_code == 200
    assert query(client, "fail-1").status_code == 200
    assert query(client, "wrapped-2").status_code == 200
    assert query(client, "task_x").status_code == 429
    assert client.post("/v1/grok/videos", json={"model": "grok_video3", "prompt": "a dog"}).status_code == 429


def test_refusals_wrong_keys_and_video_downloads_do_not_count(
    limited: SimServer, client: httpx.Client, clock: FakeClock
) -> None:
    with http_client(base_url=limited.base_url) as anonymous:
        for _ in range(5):
            assert query(anonymous, "task_1", headers={"Authorization": "Bearer wrong"}).status_code == 401
    query(client, "task_1")
    clock.advance(30)
    url = query(client, "task_1").json()["video_url"]
    with http_client() as media:
        assert {media.get(url).status_code for _ in range(5)} == {200}
    # One query of this window went on the video URL: two more are let through, then refusals only.
    assert [query(client, "task_1").status_code for _ in range(7)] == [200, 200] + [429] * 5
    clock.advance(10)
    assert query(client, "task_1").status_code == 200


def test_each_key_has_its_own_allowance(clock: FakeClock) -> None:
    with (
        SimServer(clock=clock, rate_limit=RateLimit(1, 60)) as server,
        http_client(base_url=server.base_url) as c,
    ):
        assert query(c, "a", headers={"Authorization": "Bearer alice"}).status_code == 200
        assert query(c, "a", headers={"Authorization": "Bearer bob"}).status_code == 200
        assert query(c, "a", headers={"Authorization": "Bearer alice"}).status_code == 429


@pytest.mark.anyio
async def test_grokdash_reads_the_refusal_as_a_rate_limit_with_its_wait(
    limited: SimServer, sim_key: str
) -> None:
    async with GrokClient(limited.base_url, Secret(sim_key)) as client:
        for n in range(3):
            await client.get_task(f"task_{n}")
        with pytest.raises(RateLimitedError) as caught:
            await client.get_task("task_3")
    assert caught.value.retry_after == 10


def test_the_sim_command_explains_the_option_and_refuses_a_limit_that_means_nothing() -> None:
    shown = run_cli(["sim", "--help"])
    assert shown.exit_code == 0
    assert "--rate-limit N[/SECONDS]" in shown.stdout
    assert "429 with Retry-After" in shown.stdout
    refused = run_cli(["sim", "--rate-limit", "0/10"])
    assert refused.exit_code == 2
    assert "at least 1 request" in refused.stderr
    refused = run_cli(["sim", "--rate-limit", "fast"])
    assert refused.exit_code == 2
    assert "N or N/SECONDS" in refused.stderr
