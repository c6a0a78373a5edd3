"""The API client's mapping of answers and transport failures to error kinds (mock transport)."""

import email.utils
import itertools
import json
import logging
import time
import tracemalloc
import types
import zlib

import anyio
import httpx
import pytest

from grokdash import models
from grokdash.api import GrokClient, Timeouts, parse_retry_after
from grokdash.errors import (
    ApiError,
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


# ---- every exchange is bounded: in time, in size, in what parsing it can raise ---------------------

MIB = 1024 * 1024


class Chunks(httpx.AsyncByteStream):
    """A body streamed a piece at a time, as off a socket; counts what was taken of it."""

    def __init__(self, pieces, pause: float = 0.0) -> None:
        self._pieces = pieces
        self._pause = pause
        self.taken = 0

    async def __aiter__(self):
        for piece in self._pieces:
            if self._pause:
                await anyio.sleep(self._pause)
            self.taken += len(piece)
            yield piece


def streamed(status=200, pieces=(), headers=None, pause=0.0, **kwargs) -> tuple[GrokClient, Chunks]:
    body = Chunks(pieces, pause)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers or {}, stream=body)

    client, _ = client_answering(answer, **kwargs)
    return client, body


def gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return packer.compress(data) + packer.flush()


def padded_answer(size: int) -> bytes:
    """A task answer of exactly `size` bytes."""
    start = json.dumps(task_json() | {"pad": ""}).encode()[:-2]
    return start + b"x" * (size - len(start) - 2) + b'"}'


async def outcome(client: GrokClient, call=None):
    async with client:
        try:
            return await (call or (lambda: client.get_task("task_1")))()
        except ApiError as error:
            return error


async def test_answers_are_asked_for_only_in_codings_unpacked_a_bounded_piece_at_a_time():
    client, seen = client_answering(lambda request: httpx.Response(200, json=task_json()))
    async with client:
        await client.get_task("task_1")
    assert seen[0].headers["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize(
    ("coding", "pack"),
    [
        ("gzip", gzip),
        ("x-gzip", gzip),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, no zlib header
        ("identity", lambda data: data),
        ("GZIP, identity", gzip),
    ],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate", "identity", "gzip-then-identity"],
)
async def test_a_packed_answer_is_unpacked(coding, pack):
    packed = pack(json.dumps(task_json(status="completed")).encode())
    pieces = [packed[i : i + 7] for i in range(0, len(packed), 7)]
    client, _ = streamed(pieces=pieces, headers={"Content-Encoding": coding})
    task = await outcome(client)
    assert task.status == Status.COMPLETED


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip, gzip", "compress"])
async def test_an_answer_in_a_coding_that_cannot_be_bounded_is_a_protocol_error(coding):
    client, _ = streamed(pieces=[b"\x00" * 100], headers={"Content-Encoding": coding})
    error = await outcome(client)
    assert isinstance(error, ProtocolError)
    assert "in an encoding grokdash cannot read" in error.message


async def test_a_damaged_gzip_answer_is_a_protocol_error():
    client, _ = streamed(pieces=[b"\x1f\x8b\x08\x00garbage" * 10], headers={"Content-Encoding": "gzip"})
    error = await outcome(client)
    assert isinstance(error, ProtocolError) and "not valid gzip data" in error.message


async def test_a_content_length_over_the_limit_is_refused_before_reading_any_of_it():
    client, body = streamed(pieces=[b"x" * 65536] * 2000, headers={"Content-Length": str(2000 * 65536)})
    error = await outcome(client)
    assert isinstance(error, ProtocolError)
    assert error.message == "the answer for task 'task_1' is larger than 1 MiB"
    assert body.taken == 0


@pytest.mark.parametrize(("size", "accepted"), [(MIB, True), (MIB + 1, False)])
@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
async def test_an_answer_of_up_to_1_mib_is_read_and_one_byte_more_is_refused(size, accepted, packed):
    answer = padded_answer(size)
    headers = {"Content-Encoding": "gzip"} if packed else {}
    data = gzip(answer) if packed else answer
    client, _ = streamed(pieces=[data[i : i + 65536] for i in range(0, len(data), 65536)], headers=headers)
    result = await outcome(client)
    if accepted:
        assert result.id == "task_1"
    else:
        assert isinstance(result, ProtocolError) and "larger than 1 MiB" in result.message


async def test_an_endless_body_is_refused_after_1_mib_of_it():
    client, body = streamed(pieces=itertools.repeat(b"x" * 65536))
    error = await outcome(client)
    assert isinstance(error, ProtocolError) and "larger than 1 MiB" in error.message
    assert body.taken <= MIB + 65536


async def test_a_gzip_bomb_is_refused_without_ever_being_unpacked_whole():
    """256 MiB of zeros in 250 KiB of gzip, sent as one piece: unpacked whole it would take 256 MiB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    bomb = b"".join(packer.compress(bytes(MIB)) for _ in range(256)) + packer.flush()
    client, _ = streamed(pieces=[bomb], headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        error = await outcome(client)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(error, ProtocolError) and "larger than 1 MiB" in error.message
    assert peak < 16 * MIB


async def test_the_timeout_is_the_deadline_of_the_whole_exchange_not_of_each_read():
    """A body a byte every 50 ms never leaves a read waiting long; the whole still has 0.5 s."""
    answer = json.dumps(task_json()).encode()
    trickle = [answer[i : i + 1] for i in range(len(answer))]
    client, _ = streamed(pieces=trickle, pause=0.05, timeouts=Timeouts(total=0.5))
    started = time.monotonic()
    error = await outcome(client)
    assert isinstance(error, RequestTimeoutError)
    assert error.message == "no answer for task 'task_1' within 0.5 s"
    assert time.monotonic() - started < 2


async def test_a_server_that_never_answers_times_out_at_the_deadline():
    async def hang(request):
        await anyio.sleep(30)

    client = GrokClient(BASE, Secret(KEY), transport=httpx.MockTransport(hang), timeouts=Timeouts(total=0.2))
    error = await outcome(client)
    assert isinstance(error, RequestTimeoutError) and "within 0.2 s" in error.message


def test_the_timeout_setting_is_the_deadline_and_read_stands_in_when_it_is_not_given():
    assert Timeouts(total=5).deadline == 5
    assert Timeouts(read=7).deadline == 7
    assert Timeouts().deadline == 30


DEEP_LIST = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"a": ' * 1000 + b"1" + b"}" * 1000


@pytest.mark.parametrize("body", [DEEP_LIST, DEEP_OBJECT, b"[" * 100_000], ids=["list", "object", "unclosed"])
@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (200, ProtocolError),
        (401, AuthError),
        (400, ProtocolError),
        (429, RateLimitedError),
        (503, ServerError),
    ],
)
async def test_an_answer_nested_a_thousand_deep_is_its_ids_error_never_a_recursion_error(
    body, status, error_type
):
    client, _ = client_answering(lambda request: httpx.Response(status, content=body))
    error = await outcome(client)
    assert type(error) is error_type
    assert "\n" not in error.message and len(error.message) < 300


async def test_a_2xx_body_is_never_read_for_error_words(monkeypatch):
    client, _ = client_answering(lambda request: httpx.Response(200, json=task_json()))

    def no_words(body):
        raise AssertionError("a success was read for error words")

    monkeypatch.setattr(client, "_server_words", no_words)
    assert (await outcome(client)).id == "task_1"


async def test_an_error_status_whose_body_is_too_large_keeps_its_kind_without_the_body():
    client, _ = streamed(429, pieces=[b"x" * 65536] * 40, headers={"Retry-After": "3"})
    error = await outcome(client)
    assert isinstance(error, RateLimitedError) and error.retry_after == 3
    assert "xxx" not in error.message


@pytest.mark.parametrize(
    "exception",
    [RecursionError(), MemoryError(), TypeError("x"), OverflowError(), KeyError("x"), RuntimeError()],
)
async def test_whatever_the_json_parser_raises_is_a_protocol_error(monkeypatch, exception):
    client, _ = client_answering(lambda request: httpx.Response(200, json=task_json()))

    def parser_fails(*args, **kwargs):
        raise exception

    parser = types.SimpleNamespace(loads=parser_fails, dumps=json.dumps, JSONDecodeError=json.JSONDecodeError)
    monkeypatch.setattr(models, "json", parser)
    error = await outcome(client)
    assert isinstance(error, ProtocolError)
    if isinstance(exception, RecursionError):
        assert error.message.startswith("the answer is nested too deeply to read")
    else:
        assert error.message == f"the answer could not be read ({type(exception).__name__})"


def create(client: GrokClient):
    return lambda: client.create_task(CreateRequest(model="grok_video3", prompt="a cat"))


async def hang_forever(request):
    await anyio.sleep(30)


def raising(exception):
    def handler(request):
        raise exception

    return handler


MAYBE_CREATED = {
    "deadline": (hang_forever, RequestTimeoutError, "no answer for the create request within 0.5 s"),
    "read-timeout": (raising(httpx.ReadTimeout("t")), RequestTimeoutError, "no answer"),
    "broken": (raising(httpx.RemoteProtocolError("x")), NetworkError, "broke"),
    "reset": (raising(httpx.ReadError("x")), NetworkError, "failed"),
    "unexpected": (raising(RuntimeError("boom")), ProtocolError, "failed unexpectedly (RuntimeError)"),
    "over-the-limit": (lambda r: httpx.Response(200, content=b"x" * (MIB + 1)), ProtocolError, "1 MiB"),
    "deep": (lambda r: httpx.Response(200, content=DEEP_LIST), ProtocolError, "nested too deeply"),
    "not-json": (lambda r: httpx.Response(200, text="ok"), ProtocolError, "not valid JSON"),
    "no-id": (lambda r: httpx.Response(200, json={"status": "queued"}), ProtocolError, "no task id"),
    "gateway": (lambda r: httpx.Response(502), ServerError, "HTTP 502"),
    "redirect": (lambda r: httpx.Response(302, headers={"Location": "/x"}), ProtocolError, "HTTP 302"),
}


@pytest.mark.parametrize(("handler", "error_type", "words"), MAYBE_CREATED.values(), ids=MAYBE_CREATED.keys())
async def test_a_create_that_fails_after_it_may_have_left_says_so_and_is_never_resent(
    handler, error_type, words
):
    seen = []

    def record(request):
        seen.append(request)
        return handler(request)

    client = GrokClient(
        BASE, Secret(KEY), transport=httpx.MockTransport(record), timeouts=Timeouts(total=0.5)
    )
    error = await outcome(client, create(client))
    assert type(error) is error_type
    assert error.may_have_been_created
    assert words in error.message
    assert error.message.endswith("; the task may have been created: not sent again")
    assert len(seen) == 1


NOTHING_MADE = {
    "refused-connection": (raising(httpx.ConnectError("refused")), NetworkError),
    "connect-timeout": (raising(httpx.ConnectTimeout("t")), RequestTimeoutError),
    "invalid-400": (lambda r: httpx.Response(400, json={"msg": "bad"}), RequestRefusedError),
    "invalid-422": (lambda r: httpx.Response(422), RequestRefusedError),
    "key-refused": (lambda r: httpx.Response(401), AuthError),
    "rate-limited": (lambda r: httpx.Response(429), RateLimitedError),
    "no-endpoint": (lambda r: httpx.Response(404), ProtocolError),
}


@pytest.mark.parametrize(("handler", "error_type"), NOTHING_MADE.values(), ids=NOTHING_MADE.keys())
async def test_a_create_that_certainly_made_nothing_is_not_marked(handler, error_type):
    client = GrokClient(BASE, Secret(KEY), transport=httpx.MockTransport(handler))
    error = await outcome(client, create(client))
    assert isinstance(error, error_type)
    assert not error.may_have_been_created
    assert "may have been created" not in error.message


async def test_a_refusal_without_words_names_its_status():
    client, _ = client_answering(lambda request: httpx.Response(422))
    error = await outcome(client, create(client))
    assert error.message == "the server refused the task (HTTP 422)"
