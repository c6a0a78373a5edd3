"""downloads.py: safe names, and the transfer against a scripted video host on loopback that misbehaves
in ways the simulator does not (Range ignored, HTML, a broken connection, a full disk). The host is a
real HTTP server, so each download runs as it does for users: in a worker thread, with a plain
Content-Length body read straight off the socket and a chunked or compressed one through httpx."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gzip
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grokdash import downloads
from grokdash.api import Timeouts
from grokdash.downloads import (
    Downloader,
    DownloadError,
    NameTakenError,
    UrlExpiredError,
)
from grokdash.sim.media import sample_video
from grokdash.videofile import MAX_NAME_BYTES, extension_for, safe_filename

pytestmark = pytest.mark.anyio

VIDEO = sample_video()
SNIFF = 64  # bytes the transfer reads before it knows the answer is a video
GUARD = 5  # seconds; only reached when a transfer fails to stop or to start
SHORT = Timeouts(connect=5, read=5)

HOSTILE_IDS = [
    "../x",
    "/etc/passwd",
    "a/../../b",
    "..",
    ".",
    "",
    "C:\\x",
    "C:x",
    "\x00",
    "a\x00b",
    "\x1b[31m",
    "é" * 400,
    "日本語" * 100,
    "con",
    "CON",
    "nul.txt",
    "LPT1",
    "-rf",
    ".hidden",
    "trailing.",
    "trailing ",
    "a b",
    "a\u202eb",
    "\ud800",
    "x" * 500,
    'a<b>c:"d|e?f*',
]


def check_safe(name: str, extension: str = ".mp4") -> None:
    assert name.endswith(extension)
    stem = name[: -len(extension)]
    assert name not in {"", ".", ".."}
    assert os.path.basename(name) == name
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert all(char.isprintable() for char in name)
    assert not name.startswith((".", "-", " "))
    assert not set('<>:"|?*') & set(name)
    assert len(stem.encode("utf-8")) <= MAX_NAME_BYTES
    assert stem.split(".")[0].lower() not in {"con", "prn", "aux", "nul", "lpt1", "com1"}


@pytest.mark.parametrize("task_id", HOSTILE_IDS)
def test_hostile_ids_make_safe_names_inside_the_folder(task_id, tmp_path):
    name = safe_filename(task_id, None, ".mp4", with_label=False)
    check_safe(name)
    folder = tmp_path / "videos"
    assert (folder / name).resolve().parent == folder.resolve()
    assert safe_filename(task_id, None, ".mp4", with_label=False) == name  # deterministic


@pytest.mark.parametrize("label", ["../../etc/passwd", "\x1b[2J", "my video", "con", "-", "é" * 300, "a/b"])
def test_hostile_labels_make_safe_names(label):
    name = safe_filename("task_1", label, ".mp4", with_label=True)
    check_safe(name)
    assert name.startswith("task_1 ")


def test_plain_ids_and_labels_are_kept_as_they_are():
    assert safe_filename("task_abc123", None, ".mp4", with_label=False) == "task_abc123.mp4"
    assert safe_filename("task_abc123", "cat video", ".webm", with_label=True) == "task_abc123 cat video.webm"
    assert safe_filename("task_abc123", "cat video", ".mp4", with_label=False) == "task_abc123.mp4"
    assert safe_filename("task_abc123", "   ", ".mp4", with_label=True) == "task_abc123.mp4"


def test_sanitised_names_carry_a_hash_so_they_do_not_collide():
    assert safe_filename("a/b", None, ".mp4", with_label=False) != safe_filename(
        "a_b", None, ".mp4", with_label=False
    )
    assert safe_filename("a\\b", None, ".mp4", with_label=False) != safe_filename(
        "a/b", None, ".mp4", with_label=False
    )
    # An id that already looks like a hashed name is hashed too, so it cannot take another's name.
    hashed = safe_filename("a/b", None, ".mp4", with_label=False).removesuffix(".mp4")
    assert safe_filename(hashed, None, ".mp4", with_label=False) != hashed + ".mp4"


def test_an_unknown_extension_becomes_mp4():
    assert safe_filename("x", None, "/../../y", with_label=False) == "x.mp4"


names = st.text(max_size=300)


@given(names, st.one_of(st.none(), names), names, st.one_of(st.none(), names))
def test_different_tasks_never_share_a_name(id_a, label_a, id_b, label_b):
    a = safe_filename(id_a, label_a, ".mp4", with_label=True)
    b = safe_filename(id_b, label_b, ".mp4", with_label=True)
    check_safe(a)
    if (id_a, (label_a or "").strip()) != (id_b, (label_b or "").strip()):
        assert a != b


@pytest.mark.parametrize(
    ("content_type", "url", "extension"),
    [
        ("video/mp4", "https://x/a.webm", ".mp4"),
        ("video/mp4; charset=binary", "https://x/a", ".mp4"),
        ("VIDEO/WEBM", "https://x/a", ".webm"),
        ("video/quicktime", "https://x/a", ".mov"),
        (None, "https://x/a.webm?x=1", ".webm"),
        ("application/octet-stream", "https://x/a.MOV", ".mov"),
        (None, "https://x/a.exe", ".mp4"),
        (None, "https://x/a.mp4/../../b.sh", ".mp4"),
        (None, "https://x/", ".mp4"),
        (None, "not a url", ".mp4"),
    ],
)
def test_extension_for(content_type, url, extension):
    assert extension_for(content_type, url) == extension


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EDQUOT, "quota"),
        (errno.EACCES, "not writable"),
        (errno.EROFS, "read-only"),
        (errno.EIO, "input/output error"),
    ],
)
def test_disk_errors_are_one_sentence(code, words):
    text = downloads._disk_sentence(
        OSError(code, os.strerror(code)), "the video of 'x'", Path("/d/x.part"), 10
    )
    assert words in text
    assert "\n" not in text
    assert "kept in /d/x.part" in text


# ---- against a scripted video host on loopback --------------------------------------------------------


@dataclass
class Seen:
    """A request as the host received it."""

    path: str
    headers: dict[str, str]  # names in lower case


@dataclass
class Reply:
    """One answer of the host: `status`, `headers` and `body`, promised whole (by Content-Length, or
    chunked); with `cut_at`, only that many bytes of the body are sent before the connection closes,
    and with `stall` the connection instead stays open and silent until the host shuts down."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    cut_at: int | None = None
    stall: bool = False


Answer = Callable[[Seen], Reply | None]
"""Returns the reply to a request; None closes the connection without one."""


class Host:
    """An HTTP/1.1 server on loopback (a thread per connection, keep-alive) that answers each request
    with `answer(request)` and keeps every request."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[Seen] = []
        self.closing = threading.Event()
        self.server = _HostServer(self)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v/abc.mp4?sig=1"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


class _HostServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: Host) -> None:
        self.host = host
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HostServer

    def do_GET(self) -> None:
        host = self.server.host
        seen = Seen(self.path, {name.lower(): value for name, value in self.headers.items()})
        host.requests.append(seen)
        reply = host.answer(seen)
        if reply is None:
            self.close_connection = True
            return
        try:
            self._send(reply)
        except OSError:  # the client went away
            self.close_connection = True
        if reply.stall:
            host.closing.wait()
        if reply.cut_at is not None:
            self.close_connection = True

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        sent = reply.body[: reply.cut_at]
        if not reply.chunked:
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(sent)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(sent), 4096):
            piece = sent[start : start + 4096]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        if reply.cut_at is None:
            self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def host() -> Iterator[Callable[[Answer], Host]]:
    """`host(answer)`: a started Host, shut down after the test."""
    hosts: list[Host] = []

    def start(answer: Answer) -> Host:
        hosts.append(Host(answer))
        return hosts[-1]

    yield start
    for each in hosts:
        each.close()
    # The API key never goes to the video host.
    assert [seen for each in hosts for seen in each.requests if "authorization" in seen.headers] == []


def whole(seen: Seen) -> Reply:
    return Reply(200, VIDEO, {"Content-Type": "video/mp4"})


def downloader(*, timeouts: Timeouts = SHORT, chunk_size: int = downloads.DEFAULT_CHUNK_SIZE) -> Downloader:
    return Downloader(timeouts=timeouts, chunk_size=chunk_size)


def files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


async def test_a_download_saves_the_bytes_and_leaves_only_the_final_file(tmp_path, host):
    server = host(whole)
    seen = []
    async with downloader(chunk_size=4096) as dl:
        path = await dl.download(
            "abc", server.url, tmp_path / "out", on_progress=lambda d, t: seen.append((d, t))
        )
    assert path == tmp_path / "out" / "abc.mp4"
    assert path.read_bytes() == VIDEO
    assert files(tmp_path / "out") == ["abc.mp4"]
    assert seen[-1] == (len(VIDEO), len(VIDEO))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert server.requests[0].headers["accept-encoding"] == "identity"
    assert "range" not in server.requests[0].headers


async def test_a_compressed_answer_is_saved_as_the_video_itself(tmp_path, host):
    headers = {"Content-Type": "video/mp4", "Content-Encoding": "gzip"}
    server = host(lambda seen: Reply(200, gzip.compress(VIDEO), headers))
    async with downloader() as dl:
        path = await dl.download("abc", server.url, tmp_path)
    assert path.read_bytes() == VIDEO


async def test_a_file_already_at_the_name_is_never_taken_for_the_video_nor_overwritten(tmp_path, host):
    server = host(whole)
    (tmp_path / "abc.webm").write_bytes(b"the user's own file")
    async with downloader() as dl:
        with pytest.raises(NameTakenError, match=r"abc\.webm is already there; it is left alone"):
            await dl.download("abc", server.url, tmp_path)
    assert (tmp_path / "abc.webm").read_bytes() == b"the user's own file"
    assert server.requests == []


async def test_a_file_that_appears_at_the_name_during_the_transfer_is_left_alone(tmp_path, host):
    server = host(whole)
    seen = []

    def appear(done: int, total: int | None) -> None:
        if not seen:
            (tmp_path / "abc.mp4").write_bytes(b"made meanwhile")
        seen.append(done)

    async with downloader(chunk_size=4096) as dl:
        with pytest.raises(NameTakenError, match="left alone"):
            await dl.download("abc", server.url, tmp_path, on_progress=appear)
    assert (tmp_path / "abc.mp4").read_bytes() == b"made meanwhile"
    assert (tmp_path / "abc.mp4.part").read_bytes() == VIDEO  # the video is kept for the next try


async def test_range_ignored_starts_over_cleanly(tmp_path, host):
    server = host(whole)  # answers 200 with the whole file, whatever the Range
    (tmp_path / "abc.mp4.part").write_bytes(b"\xff" * 1000)
    async with downloader() as dl:
        path = await dl.download("abc", server.url, tmp_path)
    assert server.requests[0].headers["range"] == "bytes=1000-"
    assert path.read_bytes() == VIDEO
    assert files(tmp_path) == ["abc.mp4"]


async def test_a_partial_answer_is_appended(tmp_path, host):
    def ranged(seen: Seen) -> Reply:
        start = int(seen.headers["range"].removeprefix("bytes=").rstrip("-"))
        headers = {
            "Content-Type": "video/mp4",
            "Content-Range": f"bytes {start}-{len(VIDEO) - 1}/{len(VIDEO)}",
        }
        return Reply(206, VIDEO[start:], headers)

    server = host(ranged)
    (tmp_path / "abc.mp4.part").write_bytes(VIDEO[:5000])
    (tmp_path / "abc.mp4.part.etag").write_text('"v1"')
    async with downloader() as dl:
        path = await dl.download("abc", server.url, tmp_path)
    assert server.requests[0].headers["if-range"] == '"v1"'
    assert path.read_bytes() == VIDEO
    assert files(tmp_path) == ["abc.mp4"]


async def test_a_partial_answer_from_the_wrong_offset_starts_over(tmp_path, host):
    def answer(seen: Seen) -> Reply:
        if "range" in seen.headers:
            headers = {"Content-Type": "video/mp4", "Content-Range": f"bytes 0-99/{len(VIDEO)}"}
            return Reply(206, VIDEO[:100], headers)
        return whole(seen)

    server = host(answer)
    (tmp_path / "abc.mp4.part").write_bytes(VIDEO[:5000])
    async with downloader() as dl:
        path = await dl.download("abc", server.url, tmp_path)
    assert len(server.requests) == 2 and "range" not in server.requests[1].headers
    assert path.read_bytes() == VIDEO


async def test_416_for_a_whole_part_finishes_it(tmp_path, host):
    server = host(lambda seen: Reply(416, headers={"Content-Range": f"bytes */{len(VIDEO)}"}))
    (tmp_path / "abc.mp4.part").write_bytes(VIDEO)
    async with downloader() as dl:
        path = await dl.download("abc", server.url, tmp_path)
    assert path.read_bytes() == VIDEO
    assert files(tmp_path) == ["abc.mp4"]


@pytest.mark.parametrize(
    ("content_type", "body", "words"),
    [
        ("text/html; charset=utf-8", b"<!doctype html><title>Access denied</title>", "a web page"),
        ("application/json", b'{"error": "nope"}', "a JSON document"),
        ("application/xml", b"<Error><Code>AccessDenied</Code></Error>", "an XML document"),
        ("text/plain", b"nope", "text"),
        ("application/octet-stream", b"  <html><body>login required</body></html>" * 3, "a web page"),
        (None, b"<html>" + b"x" * 100, "a web page"),
    ],
)
async def test_a_non_video_answer_is_refused_and_nothing_is_left(tmp_path, host, content_type, body, words):
    headers = {"Content-Type": content_type} if content_type else {}
    server = host(lambda seen: Reply(200, body, headers))
    async with downloader() as dl:
        with pytest.raises(DownloadError) as caught:
            await dl.download("abc", server.url, tmp_path)
    assert f"answered with {words}, not a video" in caught.value.message
    assert caught.value.kind == "download"
    assert files(tmp_path) == []


async def test_a_generic_type_is_accepted_when_the_bytes_are_a_video(tmp_path, host):
    server = host(lambda seen: Reply(200, VIDEO, {"Content-Type": "binary/octet-stream"}))
    async with downloader() as dl:
        path = await dl.download("abc", server.url, tmp_path)
    assert path.read_bytes() == VIDEO


@pytest.mark.parametrize("status", [403, 404, 410])
async def test_a_refused_url_is_an_expired_url(tmp_path, host, status):
    server = host(lambda seen: Reply(status, b"gone", {"Content-Type": "text/plain"}))
    async with downloader() as dl:
        with pytest.raises(UrlExpiredError) as caught:
            await dl.download("abc", server.url, tmp_path)
    assert caught.value.kind == "url_expired"
    assert f"HTTP {status}" in caught.value.message
    assert files(tmp_path) == []


async def test_other_http_errors_name_the_status(tmp_path, host):
    server = host(lambda seen: Reply(503, b"busy", {"Content-Type": "text/plain"}))
    async with downloader() as dl:
        with pytest.raises(DownloadError, match="HTTP 503") as caught:
            await dl.download("abc", server.url, tmp_path)
    assert not isinstance(caught.value, UrlExpiredError)


async def test_a_network_error_keeps_the_part_for_a_resume(tmp_path, host):
    server = host(lambda seen: None)  # the connection closes without an answer
    (tmp_path / "abc.mp4.part").write_bytes(VIDEO[:100])
    async with downloader() as dl:
        with pytest.raises(DownloadError, match=r"kept in .*abc\.mp4\.part to resume"):
            await dl.download("abc", server.url, tmp_path)
    assert (tmp_path / "abc.mp4.part").read_bytes() == VIDEO[:100]


@pytest.mark.parametrize("chunked", [False, True], ids=["off-the-socket", "chunked-through-httpx"])
async def test_what_arrived_before_the_connection_broke_is_kept(tmp_path, host, chunked):
    server = host(lambda seen: Reply(200, VIDEO, {"Content-Type": "video/mp4"}, chunked=chunked, cut_at=3000))
    # Writes go out a MiB at a time; the 3,000 bytes still waiting for theirs are kept all the same.
    async with downloader() as dl:
        with pytest.raises(DownloadError, match="the 3,000 bytes saved so far are kept"):
            await dl.download("abc", server.url, tmp_path)
    assert (tmp_path / "abc.mp4.part").read_bytes() == VIDEO[:3000]


async def test_a_short_body_is_not_taken_for_a_whole_video(tmp_path, host):
    server = host(lambda seen: Reply(206, VIDEO[100:200], {"Content-Range": f"bytes 100-199/{len(VIDEO)}"}))
    (tmp_path / "abc.mp4.part").write_bytes(VIDEO[:100])
    async with downloader() as dl:
        with pytest.raises(DownloadError, match="sent 200 of"):
            await dl.download("abc", server.url, tmp_path)
    assert (tmp_path / "abc.mp4.part").read_bytes() == VIDEO[:200]
    assert not (tmp_path / "abc.mp4").exists()


@pytest.mark.parametrize("chunked", [False, True], ids=["off-the-socket", "chunked-through-httpx"])
async def test_disk_full_keeps_the_part_and_says_so(tmp_path, host, monkeypatch, chunked):
    real = downloads._write_all
    calls = []

    def full_after_one_chunk(fd, pieces):
        calls.append(sum(len(piece) for piece in pieces))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, pieces)

    server = host(lambda seen: Reply(200, VIDEO, {"Content-Type": "video/mp4"}, chunked=chunked))
    monkeypatch.setattr(downloads, "_write_all", full_after_one_chunk)
    async with downloader(chunk_size=4096) as dl:
        with pytest.raises(DownloadError) as caught:
            await dl.download("abc", server.url, tmp_path)
    message = caught.value.message
    assert message.startswith("the disk is full: could not save the video of 'abc'")
    assert "kept in" in message and "for a later resume" in message
    part = tmp_path / "abc.mp4.part"
    assert part.read_bytes() == VIDEO[: calls[0]]
    assert not (tmp_path / "abc.mp4").exists()


async def test_a_folder_that_cannot_be_made_is_one_sentence(tmp_path, host):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    server = host(whole)
    async with downloader() as dl:
        with pytest.raises(DownloadError, match="cannot create the download folder"):
            await dl.download("abc", server.url, blocker / "videos")


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://x/a.mp4", "/relative.mp4", "javascript:alert(1)"]
)
async def test_urls_that_are_not_web_addresses_are_refused_before_any_request(tmp_path, monkeypatch, url):
    sent = []
    monkeypatch.setattr(httpx.Client, "send", lambda client, request, **kwargs: sent.append(request))
    async with downloader() as dl:
        with pytest.raises(DownloadError, match="not a web address"):
            await dl.download("abc", url, tmp_path)
    assert sent == []


async def test_two_saves_at_once_share_one_transfer(tmp_path, host):
    release = threading.Event()

    def slow(seen: Seen) -> Reply:
        release.wait(GUARD)
        return whole(seen)

    server = host(slow)
    async with downloader() as dl:
        first = asyncio.create_task(dl.download("abc", server.url, tmp_path))
        second = asyncio.create_task(dl.download("abc", server.url, tmp_path))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        release.set()
        paths = await asyncio.gather(first, second)
    assert paths[0] == paths[1] == tmp_path / "abc.mp4"
    assert len(server.requests) == 1


async def test_cancelling_the_only_caller_stops_the_transfer_and_keeps_the_part(tmp_path, host):
    server = host(lambda seen: Reply(200, VIDEO, {"Content-Type": "video/mp4"}, cut_at=4096, stall=True))
    arrived = asyncio.Event()

    def progress(done: int, total: int | None) -> None:
        if done >= 4096:
            arrived.set()

    async def transfers_ended(dl: Downloader) -> None:
        while dl._inflight:
            await asyncio.sleep(0.01)

    # The read timeout is far beyond the guard: only the stop itself can end the transfer in time.
    async with downloader(chunk_size=1024, timeouts=Timeouts(connect=5, read=15)) as dl:
        job = asyncio.create_task(dl.download("abc", server.url, tmp_path, on_progress=progress))
        await asyncio.wait_for(arrived.wait(), GUARD)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
        await asyncio.wait_for(transfers_ended(dl), GUARD)  # on its own, with no aclose()
    assert (tmp_path / "abc.mp4.part").read_bytes() == VIDEO[:4096]


@pytest.mark.skipif(os.name == "nt", reason="the .part lock is POSIX-only")
async def test_a_part_another_process_is_writing_is_left_alone(tmp_path, host):
    import fcntl

    part = tmp_path / "abc.mp4.part"
    part.write_bytes(VIDEO[:100])
    server = host(whole)
    with part.open("rb") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)  # flock locks are per open file: like another process
        async with downloader() as dl:
            with pytest.raises(DownloadError, match="another grokdash is saving the video of 'abc'"):
                await dl.download("abc", server.url, tmp_path)
    assert server.requests == []
    assert part.read_bytes() == VIDEO[:100]


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="needs O_NOFOLLOW")
async def test_a_symlinked_part_is_not_followed(tmp_path, host):
    outside = tmp_path / "precious"
    outside.write_bytes(b"keep me")
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "abc.mp4.part").symlink_to(outside)
    server = host(whole)
    async with downloader() as dl:
        with pytest.raises(DownloadError, match="could not write"):
            await dl.download("abc", server.url, folder)
    assert outside.read_bytes() == b"keep me"


async def test_every_caller_of_a_shared_transfer_sees_progress(tmp_path, host):
    release = threading.Event()

    def slow(seen: Seen) -> Reply:
        release.wait(GUARD)
        return whole(seen)

    server = host(slow)
    first_seen, second_seen = [], []
    async with downloader(chunk_size=8192) as dl:
        first = asyncio.create_task(
            dl.download("abc", server.url, tmp_path, on_progress=lambda d, t: first_seen.append(d))
        )
        second = asyncio.create_task(
            dl.download("abc", server.url, tmp_path, on_progress=lambda d, t: second_seen.append(d))
        )
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(first, second)
    assert first_seen == second_seen
    assert first_seen[-1] == len(VIDEO)


# ---- what a hostile tester found (issue 12) ----------------------------------------------------------


async def test_an_error_page_sent_as_video_mp4_is_refused_not_saved(tmp_path, host):
    page = b"<html><body>Access denied</body></html>" + b" " * 100
    server = host(lambda seen: Reply(200, page, {"Content-Type": "video/mp4"}))
    async with downloader() as dl:
        with pytest.raises(DownloadError, match="answered with a web page, not a video"):
            await dl.download("abc", server.url, tmp_path)
    assert files(tmp_path) == []


async def test_a_body_without_end_is_stopped_at_the_size_cap_and_not_kept(tmp_path, host):
    endless = VIDEO + b"\x00" * (3 * 1024 * 1024)
    server = host(lambda seen: Reply(200, endless, {"Content-Type": "video/mp4"}, chunked=True))
    async with Downloader(timeouts=SHORT, chunk_size=64 * 1024, max_bytes=1024 * 1024) as dl:
        with pytest.raises(DownloadError, match="sent more than 1 MiB for the video of 'abc'"):
            await dl.download("abc", server.url, tmp_path)
    assert files(tmp_path) == []  # nothing left to fill the disk


async def test_a_length_over_the_cap_is_refused_before_any_byte_is_written(tmp_path, host):
    server = host(whole)
    async with Downloader(timeouts=SHORT, max_bytes=1000) as dl:
        with pytest.raises(DownloadError, match="sent more than"):
            await dl.download("abc", server.url, tmp_path)
    assert files(tmp_path) == []


async def test_a_trickling_host_is_stopped_and_what_came_is_kept(tmp_path):
    """One byte every 20 ms beats any read timeout; the speed floor stops it and keeps the part."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    done = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        head = f"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {len(VIDEO)}\r\n\r\n"
        with contextlib.suppress(OSError):
            connection.sendall(head.encode() + VIDEO[:SNIFF])
            for byte in VIDEO[SNIFF:]:
                if done.wait(0.02):
                    break
                connection.sendall(bytes([byte]))
        connection.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        async with Downloader(timeouts=SHORT, chunk_size=1, min_speed=(10_000, 0.3)) as dl:
            with pytest.raises(DownloadError, match=r"sent only [\d,]+ bytes in 0 s while saving"):
                await dl.download("abc", f"http://127.0.0.1:{port}/v.mp4", tmp_path)
    finally:
        done.set()
        listener.close()
    assert (tmp_path / "abc.mp4.part").stat().st_size >= SNIFF  # kept for a resume


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
async def test_a_fifo_at_the_validator_name_neither_hangs_nor_is_opened(tmp_path, host):
    server = host(whole)
    (tmp_path / "abc.mp4.part").write_bytes(VIDEO[:1000])
    os.mkfifo(tmp_path / "abc.mp4.part.etag")
    assert downloads.part_progress(tmp_path / "abc.mp4.part") == (1000, None)  # no hang
    async with downloader() as dl:
        path = await asyncio.wait_for(dl.download("abc", server.url, tmp_path), GUARD)
    assert path.read_bytes() == VIDEO


async def test_a_symlink_at_the_validator_name_is_never_written_through(tmp_path, host):
    server = host(lambda seen: Reply(200, VIDEO, {"Content-Type": "video/mp4", "ETag": '"v9"'}))
    notes = tmp_path / "notes.txt"
    notes.write_text("MY NOTES")
    folder = tmp_path / "dl"
    folder.mkdir()
    (folder / "abc.mp4.part.etag").symlink_to(notes)
    async with downloader() as dl:
        await dl.download("abc", server.url, folder)
    assert notes.read_text() == "MY NOTES"


class SameUrlClient:
    """The API: the task is completed, and every answer gives the same video URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.asked = 0

    async def get_task(self, task_id: str):
        from grokdash.models import Task

        self.asked += 1
        return Task(id=task_id, status="completed", video_url=self.url)


async def test_a_url_the_host_refuses_while_the_api_still_gives_it_is_failed_not_expired(tmp_path, host):
    """A CDN a moment behind the API answers 404 for a few seconds: that video must be tried again
    later, never given up as expired."""
    from grokdash.savestate import FAILED, save_state
    from grokdash.store import TaskStore

    server = host(lambda seen: Reply(404, b"not yet", {"Content-Type": "text/plain"}))
    client = SameUrlClient(server.url)
    store = TaskStore(tmp_path / "tasks.json")
    store.add(["late-1"])
    answer = await client.get_task("late-1")
    store.update({"late-1": lambda old: old.with_answer(answer, 1.0)})
    async with downloader() as dl:
        with pytest.raises(DownloadError) as caught:
            await downloads.save_task(dl, client, store, "late-1", tmp_path / "dl")
    assert not isinstance(caught.value, UrlExpiredError)
    assert "though the API still gives it" in caught.value.message
    assert save_state(store.get("late-1"), None) == FAILED
