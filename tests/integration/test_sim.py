"""The simulator over real loopback HTTP: what a client of the Grok API would see from it."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from grokdash.errors import ProtocolError
from grokdash.models import parse_task
from grokdash.sim import API_PREFIX, SCENARIOS, SimServer, scenario_for
from grokdash.sim.media import sample_video

SAMPLE = sample_video()


def http_client(**kwargs: Any) -> httpx.Client:
    """A plain-HTTP client for loopback: no proxies from the environment, and no CA bundle to load
    (verify=False only skips reading certifi, about 70 ms per client; nothing here speaks TLS)."""
    return httpx.Client(timeout=5, trust_env=False, verify=False, **kwargs)


@pytest.fixture
def client(sim: SimServer, sim_key: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sim_key}"}
    with http_client(base_url=sim.base_url, headers=headers) as client:
        yield client


@pytest.fixture
def media() -> Iterator[httpx.Client]:
    """A client without the Bearer key, as downloads should be."""
    with http_client() as client:
        yield client


def query(client: httpx.Client, task_id: str, **kwargs: Any) -> httpx.Response:
    return client.get(f"/v1/result/{task_id}", **kwargs)


def completed(client: httpx.Client, clock: Any, task_id: str) -> dict[str, Any]:
    """Query once (creating the task), let the fake clock pass the whole lifecycle, query again."""
    query(client, task_id)
    clock.advance(30)
    answer = query(client, task_id)
    assert answer.status_code == 200
    return answer.json()


# -- the public interface ------------------------------------------------------------------------------


def test_base_url_is_known_before_start_and_has_the_real_prefix() -> None:
    server = SimServer()
    try:
        assert API_PREFIX == "/kyyReactApiServer"
        assert server.base_url == f"http://127.0.0.1:{server.port}{API_PREFIX}"
        assert server.port > 0
    finally:
        server.stop()
        server.stop()  # idempotent


def test_scenario_names_are_chosen_by_the_longest_matching_name() -> None:
    assert scenario_for("fail") == "fail"
    assert scenario_for("fail-1") == "fail"
    assert scenario_for("failure") is None
    assert scenario_for("ratelimit-abc") == "ratelimit"
    assert scenario_for("ratelimitdate-x") == "ratelimitdate"
    assert scenario_for("expireonce-2") == "expireonce"
    assert scenario_for("task_abc") is None
    assert all(description and "\n" not in description for description in SCENARIOS.values())


# -- the normal lifecycle -----------------------------------------------------------------------------


def test_a_new_id_goes_queued_processing_completed_on_the_sim_clock(
    client: httpx.Client, media: httpx.Client, clock: Any
) -> None:
    start = clock.now
    first = query(client, "task_abc").json()
    assert first == {
        "id": "task_abc",
        "object": "video",
        "created": int(start),
        "model": "grok_video3",
        "status": "queued",
    }
    clock.advance(9.9)
    assert query(client, "task_abc").json()["status"] == "queued"
    clock.advance(0.1)
    assert query(client, "task_abc").json()["status"] == "processing"
    clock.advance(19.9)
    assert query(client, "task_abc").json()["status"] == "processing"
    clock.advance(0.1)
    done = query(client, "task_abc").json()
    assert done["status"] == "completed"
    assert done["created"] == int(start)
    assert done["actualDuration"] == 10
    assert "error" not in done

    video = media.get(done["video_url"])
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert video.headers["accept-ranges"] == "bytes"
    assert int(video.headers["content-length"]) == len(SAMPLE)
    assert video.content[4:8] == b"ftyp"
    assert video.content == SAMPLE


def test_the_video_url_is_absolute_on_the_host_the_client_used(
    sim: SimServer, client: httpx.Client, clock: Any
) -> None:
    url = completed(client, clock, "task_url")["video_url"]
    assert url.startswith(f"http://127.0.0.1:{sim.port}{API_PREFIX}/media/task_url.mp4?token=")


def test_answers_parse_as_tasks(client: httpx.Client, clock: Any) -> None:
    query(client, "task_parse")
    clock.advance(30)
    task = parse_task(query(client, "task_parse").content, expected_id="task_parse")
    assert task.status == "completed"
    assert task.actual_duration == 10.0
    assert task.video_url is not None


def test_pre_seeded_task_keeps_its_model_and_creation_time(
    sim: SimServer, client: httpx.Client, clock: Any
) -> None:
    sim.add_task("demo-1", model="grok_video3_max", created=clock.now - 15, duration=20)
    answer = query(client, "demo-1").json()
    assert answer["status"] == "processing"
    assert answer["model"] == "grok_video3_max"
    assert answer["created"] == int(clock.now - 15)
    clock.advance(15)
    assert query(client, "demo-1").json()["actualDuration"] == 20


def test_an_id_with_an_encoded_slash_is_one_task(
    sim: SimServer, client: httpx.Client, media: httpx.Client, clock: Any
) -> None:
    answer = query(client, "a%2Fb")
    assert answer.status_code == 200
    assert answer.json()["id"] == "a/b"
    clock.advance(30)
    done = query(client, "a%2Fb").json()
    assert done["id"] == "a/b"
    assert "/media/a%2Fb.mp4?" in done["video_url"]
    assert media.get(done["video_url"]).content == SAMPLE
    records = sim.log.for_task("a/b")
    assert [record.path for record in records[:2]] == [f"{API_PREFIX}/v1/result/a%2Fb"] * 2
    assert sim.result_url("a/b") == f"{sim.base_url}/v1/result/a%2Fb"


def test_unknown_paths_and_methods(client: httpx.Client) -> None:
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404
    assert missing.json()["code"] == 404
    assert client.get("/v1/result/").status_code == 404
    assert client.get("/v1/result/a/b").status_code == 404

    wrong_method = client.post("/v1/result/task_x")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "GET"
    assert client.get("/v1/grok/videos").status_code == 405
    assert client.request("PURGE", "/v1/result/task_x").status_code == 405
    assert client.request("PURGE", "/anywhere").status_code == 405
    assert client.delete("/v1/result/task_x").json()["code"] == 405


# -- the key --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-secret-123"},
        {"Authorization": "Bearer"},
        {"Authorization": "test-key"},
    ],
    ids=["none", "wrong", "empty", "no-scheme"],
)
def test_a_missing_or_wrong_key_is_refused_without_echoing_it(
    sim: SimServer, headers: dict[str, str]
) -> None:
    with http_client(base_url=sim.base_url) as bare:
        answer = bare.get("/v1/result/task_1", headers=headers)
        created = bare.post(
            "/v1/grok/videos", headers=headers, json={"model": "grok_video3", "prompt": "a cat"}
        )
    assert answer.status_code == 401
    assert answer.json() == {"code": 401, "msg": "invalid api key"}
    assert "wrong-secret" not in answer.text
    assert created.status_code == 401
    assert sim.log.records()[-1].authorized is False


def test_the_right_key_is_accepted(client: httpx.Client, sim: SimServer) -> None:
    assert query(client, "task_1").status_code == 200
    assert sim.log.records()[-1].authorized is True


def test_without_a_configured_key_any_bearer_key_is_accepted() -> None:
    with (
        SimServer() as server,
        http_client(base_url=server.base_url) as bare,
    ):
        assert query(bare, "task_1", headers={"Authorization": "Bearer anything"}).status_code == 200
        assert query(bare, "task_1", headers={"Authorization": "bearer other"}).status_code == 200
        assert query(bare, "task_1").status_code == 401
        assert query(bare, "task_1", headers={"Authorization": "Bearer"}).status_code == 401


# -- media: ranges, HEAD, expiry --------------------------------------------------------------------------


@pytest.fixture
def video_url(client: httpx.Client, clock: Any) -> str:
    return completed(client, clock, "task_media")["video_url"]


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, len(SAMPLE) - 1),
        ("bytes=-50", len(SAMPLE) - 50, len(SAMPLE) - 1),
        (f"bytes=1000-{len(SAMPLE) + 500}", 1000, len(SAMPLE) - 1),
        (f"bytes=-{len(SAMPLE) + 10}", 0, len(SAMPLE) - 1),
    ],
)
def test_range_requests_get_the_slice(
    media: httpx.Client, video_url: str, range_header: str, start: int, end: int
) -> None:
    part = media.get(video_url, headers={"Range": range_header})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes {start}-{end}/{len(SAMPLE)}"
    assert int(part.headers["content-length"]) == end - start + 1
    assert part.content == SAMPLE[start : end + 1]


@pytest.mark.parametrize(
    "range_header", [f"bytes={len(SAMPLE)}-", f"bytes={len(SAMPLE) + 5}-{len(SAMPLE) + 9}", "bytes=-0"]
)
def test_an_unsatisfiable_range_is_416(media: httpx.Client, video_url: str, range_header: str) -> None:
    answer = media.get(video_url, headers={"Range": range_header})
    assert answer.status_code == 416
    assert answer.headers["content-range"] == f"bytes */{len(SAMPLE)}"


@pytest.mark.parametrize("range_header", ["items=0-5", "bytes=5-2", "bytes=0-1,4-5", "bytes=x"])
def test_a_range_the_server_does_not_understand_gets_the_whole_file(
    media: httpx.Client, video_url: str, range_header: str
) -> None:
    answer = media.get(video_url, headers={"Range": range_header})
    assert answer.status_code == 200
    assert answer.content == SAMPLE


def test_if_range_resumes_only_the_same_file(media: httpx.Client, video_url: str) -> None:
    etag = media.head(video_url).headers["etag"]
    same = media.get(video_url, headers={"Range": "bytes=10-", "If-Range": etag})
    assert same.status_code == 206
    other = media.get(video_url, headers={"Range": "bytes=10-", "If-Range": '"something-else"'})
    assert other.status_code == 200
    assert other.content == SAMPLE


def test_head_gives_the_headers_without_the_body(media: httpx.Client, video_url: str) -> None:
    head = media.head(video_url)
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(SAMPLE)
    assert head.headers["content-type"] == "video/mp4"
    assert head.headers["accept-ranges"] == "bytes"


def test_media_needs_no_key_and_the_log_tells_whether_one_was_sent(
    sim: SimServer, media: httpx.Client, video_url: str
) -> None:
    assert media.get(video_url).status_code == 200
    assert media.get(video_url, headers={"Authorization": "Bearer leaked"}).status_code == 200
    downloads = [record for record in sim.log.for_task("task_media") if "/media/" in record.path]
    assert [record.authorized for record in downloads] == [False, True]


def test_media_urls_the_server_never_handed_out_are_refused(
    sim: SimServer, media: httpx.Client, video_url: str
) -> None:
    assert media.get(video_url.replace("token=1", "token=99")).status_code == 403
    assert media.get(video_url.split("?")[0]).status_code == 403
    assert media.get(f"{sim.base_url}/media/never-seen.mp4?token=1").status_code == 404


def test_expire_hands_out_urls_that_are_already_gone(
    client: httpx.Client, media: httpx.Client, clock: Any
) -> None:
    done = completed(client, clock, "expire-1")
    assert done["status"] == "completed"
    gone = media.get(done["video_url"])
    assert gone.status_code == 410
    assert "expired" in gone.text
    assert media.get(query(client, "expire-1").json()["video_url"]).status_code == 410


def test_expireonce_gives_410_then_a_working_url(
    client: httpx.Client, media: httpx.Client, clock: Any
) -> None:
    first_url = completed(client, clock, "expireonce-1")["video_url"]
    assert media.get(first_url).status_code == 410
    fresh_url = query(client, "expireonce-1").json()["video_url"]
    assert fresh_url != first_url
    fresh = media.get(fresh_url)
    assert fresh.status_code == 200
    assert fresh.content == SAMPLE


# -- creating tasks ---------------------------------------------------------------------------------------

CREATE_CASES = [
    # (body, accepted, words the refusal names)
    ({"model": "grok_video3", "prompt": "a cat"}, True, ""),
    ({"model": "grok_video3", "prompt": "a cat", "duration": 30, "aspect_ratio": "3:2"}, True, ""),
    ({"model": "grok_video3", "prompt": "a cat", "duration": 31}, False, "6 to 30 seconds"),
    ({"model": "grok_video3", "prompt": "a cat", "image_urls": ["https://x/i.png"] * 8}, False, "at most 7"),
    ({"model": "grok_video3_pro", "prompt": "a cat", "resolution": "480p"}, True, ""),
    ({"model": "grok_video3_pro", "prompt": "a cat", "aspect_ratio": "9:16"}, False, "16:9"),
    ({"model": "grok_video3_max", "prompt": "a cat", "duration": 12, "aspect_ratio": "1:1"}, True, ""),
    ({"model": "grok_video3_max", "prompt": "a cat", "duration": 8}, False, "one of 6, 10, 12, 16, 20, 30"),
    (
        {"model": "grok_video3_max", "prompt": "a cat", "image_urls": ["data:image/png;base64,AAAA"]},
        False,
        "public",
    ),
    ({"model": "grok_video3_stable", "prompt": "a cat", "duration": 10}, True, ""),
    ({"model": "grok_video3_stable", "prompt": "a cat", "duration": 6}, False, "10 seconds only, not 6"),
    ({"model": "grok_video3_stable", "prompt": "a cat", "resolution": "480p"}, False, "720p"),
    ({"model": "grok_video4", "prompt": "a cat"}, False, "grok_video4"),
    ({"model": "grok_video3", "prompt": "   "}, False, "prompt is empty"),
    ({"model": "grok_video3", "prompt": "x", "duration": 31, "aspect_ratio": "4:3"}, False, "not 31; "),
    ({"prompt": "a cat"}, False, "'model' is required"),
    ({"model": "grok_video3"}, False, "'prompt' is required"),
    ({"model": "grok_video3", "prompt": 5}, False, "'prompt' must be a string"),
    ({"model": "grok_video3", "prompt": "a cat", "duration": "10"}, False, "integer"),
    ({"model": "grok_video3", "prompt": "a cat", "duration": True}, False, "integer"),
    ({"model": "grok_video3", "prompt": "a cat", "image_urls": "https://x/i.png"}, False, "array of strings"),
    (["grok_video3", "a cat"], False, "JSON object"),
]


@pytest.mark.parametrize(("body", "accepted", "words"), CREATE_CASES)
def test_create_follows_the_strict_model_rules(
    sim: SimServer, client: httpx.Client, clock: Any, body: Any, accepted: bool, words: str
) -> None:
    answer = client.post("/v1/grok/videos", json=body)
    record = sim.log.records()[-1]
    assert record.method == "POST"
    assert record.path == f"{API_PREFIX}/v1/grok/videos"
    if accepted:
        assert answer.status_code == 200
        task = answer.json()
        assert task["id"].startswith("task_")
        assert task["status"] == "queued"
        assert task["model"] == body["model"]
        assert task["created"] == int(clock.now)
        assert record.task_id == task["id"]
        assert record.status == 200
        assert query(client, task["id"]).json()["status"] == "queued"
    else:
        assert answer.status_code == 400
        refusal = answer.json()
        assert refusal["code"] == 400
        assert words in refusal["msg"]
        assert record.task_id is None
        assert record.status == 400


def test_create_refuses_a_body_that_is_not_json(client: httpx.Client) -> None:
    answer = client.post(
        "/v1/grok/videos",
        content=b'{"model": "grok_video3", "prompt":',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json() == {"code": 400, "msg": "the request body is not valid JSON"}
    # The connection stays usable after a refused body.
    assert query(client, "task_after").status_code == 200


def test_created_tasks_complete_with_the_requested_duration(client: httpx.Client, clock: Any) -> None:
    task_id = client.post(
        "/v1/grok/videos", json={"model": "grok_video3", "prompt": "a cat", "duration": 15}
    ).json()["id"]
    clock.advance(30)
    done = query(client, task_id).json()
    assert done["status"] == "completed"
    assert done["actualDuration"] == 15


def test_a_fail_prompt_makes_a_task_that_fails(client: httpx.Client, clock: Any) -> None:
    task_id = client.post("/v1/grok/videos", json={"model": "grok_video3", "prompt": "a cat [fail]"}).json()[
        "id"
    ]
    clock.advance(30)
    done = query(client, task_id).json()
    assert done["status"] == "failed"
    assert done["error"] == "content moderation: the prompt was refused"
    assert "video_url" not in done


def test_each_create_makes_a_new_task(client: httpx.Client) -> None:
    body = {"model": "grok_video3", "prompt": "a cat"}
    ids = {client.post("/v1/grok/videos", json=body).json()["id"] for _ in range(3)}
    assert len(ids) == 3


# -- fault scenarios ------------------------------------------------------------------------------------


def test_notfound(client: httpx.Client) -> None:
    answer = query(client, "notfound-7")
    assert answer.status_code == 404
    assert answer.json() == {"code": 404, "msg": "task not found"}


def test_fail_goes_through_processing_to_failed(client: httpx.Client, clock: Any) -> None:
    assert query(client, "fail-1").json()["status"] == "queued"
    clock.advance(10)
    assert query(client, "fail-1").json()["status"] == "processing"
    clock.advance(20)
    failed = query(client, "fail-1").json()
    assert failed["status"] == "failed"
    assert failed["error"] == "content moderation: the prompt was refused"
    assert "video_url" not in failed


def test_flaky_fails_every_odd_query(client: httpx.Client) -> None:
    answers = [query(client, "flaky-1") for _ in range(5)]
    assert [answer.status_code for answer in answers] == [500, 200, 500, 200, 500]
    assert answers[0].headers["content-type"] == "application/json"
    assert answers[0].json()["code"] == 500
    assert answers[1].json()["id"] == "flaky-1"
    # Counters are per id.
    assert query(client, "flaky-2").status_code == 500


def test_html_is_a_bad_gateway_page(client: httpx.Client) -> None:
    answer = query(client, "html-1")
    assert answer.status_code == 502
    assert answer.headers["content-type"].startswith("text/html")
    assert "<title>502 Bad Gateway</title>" in answer.text
    with pytest.raises(ProtocolError, match="HTML"):
        parse_task(answer.content, "html-1")


def test_truncated_json_is_cut_mid_object(client: httpx.Client) -> None:
    answer = query(client, "truncated-1")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert answer.content.startswith(b'{"id": "truncated-1"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.content)
    with pytest.raises(ProtocolError, match="not valid JSON"):
        parse_task(answer.content, "truncated-1")
    # The connection is still in step: the next answer on it is whole.
    assert query(client, "task_next").json()["id"] == "task_next"


def test_ratelimit_says_when_to_retry_in_seconds(client: httpx.Client) -> None:
    answer = query(client, "ratelimit-1")
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "2"
    assert answer.json()["code"] == 429


def test_ratelimitdate_says_when_to_retry_as_an_http_date(client: httpx.Client) -> None:
    answer = query(client, "ratelimitdate-x")
    assert answer.status_code == 429
    when = email.utils.parsedate_to_datetime(answer.headers["retry-after"])
    assert answer.headers["retry-after"].endswith("GMT")
    assert 0 <= when.timestamp() - time.time() <= 3


def test_retry_after_seconds_are_configurable() -> None:
    with (
        SimServer(retry_after_seconds=7) as server,
        http_client(base_url=server.base_url) as bare,
    ):
        answer = query(bare, "ratelimit", headers={"Authorization": "Bearer k"})
    assert answer.headers["retry-after"] == "7"


def test_slow_answers_normally_but_late(client: httpx.Client) -> None:
    started = time.monotonic()
    answer = query(client, "slow-1")
    assert time.monotonic() - started >= 0.9  # the fixture's slow_seconds is 1.0
    assert answer.status_code == 200
    assert answer.json()["id"] == "slow-1"


def test_hang_never_answers_and_stop_is_still_prompt(sim: SimServer, client: httpx.Client) -> None:
    with pytest.raises(httpx.ReadTimeout):
        query(client, "hang-1", timeout=0.3)
    assert sim.log.for_task("hang-1")[0].status == 0  # recorded as left unanswered
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 1


def test_stop_is_prompt_with_idle_keep_alive_connections(sim: SimServer, client: httpx.Client) -> None:
    assert query(client, "task_1").status_code == 200  # leaves a keep-alive connection open
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 1
    with pytest.raises(httpx.TransportError):
        query(client, "task_1")


def test_wrapped_puts_the_task_under_data(client: httpx.Client) -> None:
    answer = query(client, "wrapped-1").json()
    assert answer["code"] == 200
    assert answer["msg"] == "success"
    assert answer["data"]["id"] == "wrapped-1"
    assert answer["data"]["status"] == "queued"
    assert parse_task(json.dumps(answer), "wrapped-1").status == "queued"


def test_unknown_ends_in_an_undocumented_status_and_stays(client: httpx.Client, clock: Any) -> None:
    assert query(client, "unknown-1").json()["status"] == "queued"
    clock.advance(10)
    assert query(client, "unknown-1").json()["status"] == "processing"
    clock.advance(20)
    assert query(client, "unknown-1").json()["status"] == "moderated"
    clock.advance(1000)
    answer = query(client, "unknown-1").json()
    assert answer["status"] == "moderated"
    assert "video_url" not in answer


def test_strings_sends_numbers_as_strings(client: httpx.Client, clock: Any) -> None:
    done = completed(client, clock, "strings-1")
    assert done["created"] == str(int(clock.now - 30))
    assert done["actualDuration"] == "10.0"
    assert set(done) - {"id", "object", "created", "model", "status", "video_url", "actualDuration"}
    task = parse_task(json.dumps(done), "strings-1")
    assert task.actual_duration == 10.0
    assert task.created == int(clock.now - 30)


def test_mismatch_answers_about_another_task(client: httpx.Client) -> None:
    answer = query(client, "mismatch-1")
    assert answer.status_code == 200
    assert answer.json()["id"] != "mismatch-1"
    with pytest.raises(ProtocolError, match="asked for task"):
        parse_task(answer.content, "mismatch-1")


def test_nostatus_has_no_status(client: httpx.Client) -> None:
    answer = query(client, "nostatus-1")
    assert answer.status_code == 200
    assert answer.json()["id"] == "nostatus-1"
    assert "status" not in answer.json()
    with pytest.raises(ProtocolError, match="no status"):
        parse_task(answer.content, "nostatus-1")


def test_every_scenario_has_a_test_here() -> None:
    tested = {
        "notfound", "fail", "flaky", "html", "truncated", "ratelimit", "ratelimitdate", "slow", "hang",
        "wrapped", "unknown", "strings", "mismatch", "nostatus", "expire", "expireonce",
    }  # fmt: skip
    assert set(SCENARIOS) == tested


def test_latency_delays_every_answer() -> None:
    with (
        SimServer(latency=0.2) as server,
        http_client(base_url=server.base_url) as bare,
    ):
        started = time.monotonic()
        assert query(bare, "task_1", headers={"Authorization": "Bearer k"}).status_code == 200
        assert time.monotonic() - started >= 0.2


# -- the request log and concurrency -----------------------------------------------------------------------


def test_the_log_records_paths_ids_statuses_and_ranges(
    sim: SimServer, client: httpx.Client, media: httpx.Client, clock: Any
) -> None:
    sim.log.clear()
    query(client, "task_log")
    query(client, "notfound-log")
    clock.advance(30)
    url = query(client, "task_log").json()["video_url"]
    media.get(url, headers={"Range": "bytes=0-9"})

    records = sim.log.records()
    assert [(record.method, record.task_id, record.status) for record in records] == [
        ("GET", "task_log", 200),
        ("GET", "notfound-log", 404),
        ("GET", "task_log", 200),
        ("GET", "task_log", 206),
    ]
    assert records[0].path == f"{API_PREFIX}/v1/result/task_log"
    assert records[0].time == records[1].time == records[2].time - 30
    assert records[3].path == url.removeprefix(f"http://127.0.0.1:{sim.port}")
    assert records[3].range == "bytes=0-9"
    assert records[0].range is None
    assert len(sim.log.for_task("task_log")) == 3
    sim.log.clear()
    assert sim.log.records() == []


def test_many_clients_at_once_over_few_connections(sim: SimServer, sim_key: str, clock: Any) -> None:
    ids = [f"task_{n}" for n in range(200)]
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    headers = {"Authorization": f"Bearer {sim_key}"}
    with http_client(base_url=sim.base_url, headers=headers, limits=limits) as pooled:
        with ThreadPoolExecutor(max_workers=8) as pool:
            first = list(pool.map(lambda task_id: query(pooled, task_id).json()["status"], ids))
        clock.advance(30)
        with ThreadPoolExecutor(max_workers=8) as pool:
            done = list(pool.map(lambda task_id: query(pooled, task_id).json()["status"], ids))
    assert first == ["queued"] * 200
    assert done == ["completed"] * 200
    assert len(sim.log) == 400
