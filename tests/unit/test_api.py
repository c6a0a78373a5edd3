"""The API client's mapping of answers and transport failures to error kinds (mock transport)."""

import email.utils
import json
import logging

import httpx
import pytest

from grokdash.api import GrokClient, Timeouts, parse_retry_after
from grokdash.errors import (
    AuthError,
    InvalidIdError,
    NetworkError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RequestRefusedError,
    RequestTimeoutError,
    ServerError,
)
from grokdash.models import Status
from grokdash.rules import CreateRequest
from grokdash.secret import Secret

pytestmark = pytest.mark.anyio

KEY = "sk-SENTINEL-0123456789abcdef"
BASE = "https://api.example/kyyReactApiServer"


def client_answering(handler, **kwargs) -> tuple[GrokClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = GrokClient(BASE, Secret(KEY), transport=httpx.MockTransport(record), **kwargs)
    return client, seen


def task_json(task_id="task_1", **changes):
    return {
        "id": task_id,
        "object": "video",
        "created": 1764300000,
        "model": "grok_video3",
        "status": "queued",
    } | changes


async def test_get_task_sends_the_key_and_the_id_as_one_encoded_segment():
    client, seen = client_answering(lambda request: httpx.Response(200, json=task_json("a/b%2F?x")))
    async with client:
        task = await client.get_task("a/b%2F?x")
    assert task.id == "a/b%2F?x"
    assert seen[0].url.raw_path == b"/kyyReactApiServer/v1/result/a%2Fb%252F%3Fx"
    assert seen[0].headers["Authorization"] == f"Bearer {KEY}"


async def test_an_invalid_id_is_refused_before_any_request():
    client, seen = client_answering(lambda request: httpx.Response(200, json=task_json()))
    async with client:
        for bad in ["", "..", "a b", "x" * 201, "a\nb"]:
            with pytest.raises(InvalidIdError):
                await client.get_task(bad)
    assert seen == []


@pytest.mark.parametrize(
    ("status", "body", "headers", "error_type", "words"),
    [
        (404, {"code": 404, "msg": "task not found"}, {}, NotFoundError, "was not found"),
        (401, {"code": 401, "msg": "invalid api key"}, {}, AuthError, "API key was refused"),
        (403, "Forbidden", {}, AuthError, "HTTP 403"),
        (429, {"msg": "slow down"}, {"Retry-After": "7"}, RateLimitedError, "retry after 7 s"),
        (500, {"msg": "boom"}, {}, ServerError, "HTTP 500"),
        (502, "<html><title>502 Bad Gateway</title></html>", {}, ServerError, "HTTP 502"),
        (200, "<html>maintenance</html>", {}, ProtocolError, "HTML"),
        (200, '{"id": "task_1", "sta', {}, ProtocolError, "not valid JSON"),
        (200, task_json("task_2"), {}, ProtocolError, "task_2"),
        (400, {"msg": "bad request"}, {}, ProtocolError, "HTTP 400"),
    ],
)
async def test_each_failure_answer_is_its_own_error_kind(status, body, headers, error_type, words):
    def answer(request):
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    client, _ = client_answering(answer)
    async with client:
        with pytest.raises(error_type) as caught:
            await client.get_task("task_1")
    assert words in caught.value.message
    assert KEY not in caught.value.message


async def test_a_rate_limit_carries_the_delay_the_server_asked_for():
    client, _ = client_answering(lambda request: httpx.Response(429, headers={"Retry-After": "12"}))
    async with client:
        with pytest.raises(RateLimitedError) as caught:
            await client.get_task("task_1")
    assert caught.value.retry_after == 12
    assert caught.value.kind == "rate_limited"


def test_retry_after_reads_seconds_and_http_dates():
    now = 1_764_300_000.0
    assert parse_retry_after("30", now) == 30
    assert parse_retry_after(email.utils.formatdate(now + 90, usegmt=True), now) == pytest.approx(90)
    assert parse_retry_after(email.utils.formatdate(now - 90, usegmt=True), now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("99999999999", now) == 86_400


@pytest.mark.parametrize(
    ("exception", "error_type", "words"),
    [
        (httpx.ConnectError("All connection attempts failed"), NetworkError, "cannot connect"),
        (httpx.ConnectTimeout("timed out"), RequestTimeoutError, "could not connect"),
        (httpx.ReadTimeout("timed out"), RequestTimeoutError, "no answer"),
        (httpx.RemoteProtocolError("Server disconnected"), NetworkError, "broke"),
        (httpx.ReadError("reset"), NetworkError, "failed"),
    ],
)
async def test_transport_failures_are_network_or_timeout_errors(exception, error_type, words):
    def fail(request):
        raise exception

    client, _ = client_answering(fail, timeouts=Timeouts(connect=1, read=2))
    async with client:
        with pytest.raises(error_type) as caught:
            await client.get_task("task_1")
    assert words in caught.value.message
    assert caught.value.kind == error_type.kind


async def test_create_sends_the_request_once_and_returns_the_queued_task():
    client, seen = client_answering(lambda request: httpx.Response(200, json=task_json("new_1")))
    request = CreateRequest(model="grok_video3", prompt="a cat", duration=6)
    async with client:
        task = await client.create_task(request)
    assert task.id == "new_1" and task.status == Status.QUEUED
    assert len(seen) == 1
    assert seen[0].method == "POST"
    assert seen[0].url.path == "/kyyReactApiServer/v1/grok/videos"
    assert json.loads(seen[0].content) == {"model": "grok_video3", "prompt": "a cat", "duration": 6}


async def test_a_create_that_times_out_is_not_sent_again_and_says_so():
    def time_out(request):
        raise httpx.ReadTimeout("timed out")

    client, seen = client_answering(time_out)
    async with client:
        with pytest.raises(RequestTimeoutError) as caught:
            await client.create_task(CreateRequest(model="grok_video3", prompt="a cat"))
    assert len(seen) == 1
    assert caught.value.may_have_been_created
    assert "may have been created: not sent again" in caught.value.message


async def test_a_create_that_could_not_connect_was_certainly_not_created():
    def refuse(request):
        raise httpx.ConnectError("[Errno 111] Connection refused")

    client, _ = client_answering(refuse)
    async with client:
        with pytest.raises(NetworkError) as caught:
            await client.create_task(CreateRequest(model="grok_video3", prompt="a cat"))
    assert not caught.value.may_have_been_created


async def test_a_refused_create_shows_the_servers_own_words():
    client, _ = client_answering(
        lambda request: httpx.Response(400, json={"code": 400, "msg": "duration invalid"})
    )
    async with client:
        with pytest.raises(RequestRefusedError, match="duration invalid"):
            await client.create_task(CreateRequest(model="grok_video3", prompt="a cat"))


async def test_the_key_never_appears_in_reprs_errors_or_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="grokdash")

    def echo_key(request):
        # A hostile or broken server that quotes the Authorization header back.
        return httpx.Response(400, json={"msg": f"bad header {request.headers['Authorization']}"})

    client, _ = client_answering(echo_key)
    async with client:
        with pytest.raises(ProtocolError) as caught:
            await client.get_task("task_1")
    assert KEY not in caught.value.message
    assert KEY not in repr(client)
    assert "v1/result/task_1" in caplog.text  # the request was logged...
    assert KEY not in caplog.text  # ...without the key


@pytest.mark.parametrize(
    ("status", "body"),
    [(502, "<html>Bad Gateway</html>"), (504, "<html>Gateway Timeout</html>"), (200, '{"id": "new_1", "sta')],
)
async def test_a_create_answered_by_a_gateway_error_may_have_been_made_and_is_not_resent(status, body):
    client, seen = client_answering(lambda request: httpx.Response(status, text=body))
    async with client:
        with pytest.raises((ServerError, ProtocolError)) as caught:
            await client.create_task(CreateRequest(model="grok_video3", prompt="a cat"))
    assert len(seen) == 1
    assert caught.value.may_have_been_created
    assert "may have been created: not sent again" in caught.value.message
