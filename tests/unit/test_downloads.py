"""downloads.py without a network: safe names, and the transfer over httpx.MockTransport servers that
misbehave in ways the simulator does not (Range ignored, HTML, a broken connection, a full disk)."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grokdash import downloads
from grokdash.downloads import (
    MAX_NAME_BYTES,
    Downloader,
    DownloadError,
    UrlExpiredError,
    extension_for,
    safe_filename,
)
from grokdash.sim.media import sample_video

pytestmark = pytest.mark.anyio

VIDEO = sample_video()
URL = "https://cdn.example/v/abc.mp4?sig=1"

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


# ---- over a mock server ---------------------------------------------------------------------------------


class Server:
    """A scriptable video host: `answer(request)` returns the response; every request is kept."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert "authorization" not in request.headers  # the API key never goes to the video host
        return self.answer(request)


def whole(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=VIDEO, headers={"Content-Type": "video/mp4"})


def downloader(server: Server, **kwargs) -> Downloader:
    return Downloader(transport=httpx.MockTransport(server), **kwargs)


def files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


async def test_a_download_saves_the_bytes_and_leaves_only_the_final_file(tmp_path):
    server = Server(whole)
    seen = []
    async with downloader(server, chunk_size=4096) as dl:
        path = await dl.download("abc", URL, tmp_path / "out", on_progress=lambda d, t: seen.append((d, t)))
    assert path == tmp_path / "out" / "abc.mp4"
    assert path.read_bytes() == VIDEO
    assert files(tmp_path / "out") == ["abc.mp4"]
    assert seen[-1] == (len(VIDEO), len(VIDEO))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert server.requests[0].headers["accept-encoding"] == "identity"
    assert "range" not in server.requests[0].headers


async def test_an_existing_final_file_is_not_fetched_again(tmp_path):
    server = Server(whole)
    (tmp_path / "abc.webm").write_bytes(b"saved before")
    async with downloader(server) as dl:
        path = await dl.download("abc", URL, tmp_path)
    assert path == tmp_path / "abc.webm"
    assert server.requests == []


async def test_range_ignored_starts_over_cleanly(tmp_path):
    server = Server(whole)  # answers 200 with the whole file, whatever the Range
    (tmp_path / "abc.mp4.part").write_bytes(b"\xff" * 1000)
    async with downloader(server) as dl:
        path = await dl.download("abc", URL, tmp_path)
    assert server.requests[0].headers["range"] == "bytes=1000-"
    assert path.read_bytes() == VIDEO
    assert files(tmp_path) == ["abc.mp4"]


async def test_a_partial_answer_is_appended(tmp_path):
    def ranged(request: httpx.Request) -> httpx.Response:
        start = int(request.headers["range"].removeprefix("bytes=").rstrip("-"))
        return httpx.Response(
            206,
            content=VIDEO[start:],
            headers={
                "Content-Type": "video/mp4",
                "Content-Range": f"bytes {start}-{len(VIDEO) - 1}/{len(VIDEO)}",
            },
        )

    server = Server(ranged)
    (tmp_path / "abc.mp4.part").write_bytes(VIDEO[:5000])
    (tmp_path / "abc.mp4.part.etag").write_text('"v1"')
    async with downloader(server) as dl:
        path = await dl.download("abc", URL, tmp_path)
    assert server.requests[0].headers["if-range"] == '"v1"'
    assert path.read_bytes() == VIDEO
    assert files(tmp_path) == ["abc.mp4"]


async def test_a_partial_answer_from_the_wrong_offset_starts_over(tmp_path):
    def answer(request: httpx.Request) -> httpx.Response:
        if "range" in request.headers:
            headers = {"Content-Type": "video/mp4", "Content-Range": f"bytes 0-99/{len(VIDEO)}"}
            return httpx.Response(206, content=VIDEO[:100], headers=headers)
        return whole(request)

    server = Server(answer)
    (tmp_path / "abc.mp4.part").write_bytes(VIDEO[:5000])
    async with downloader(server) as dl:
        path = await dl.download("abc", URL, tmp_path)
    assert len(server.requests) == 2 and "range" not in server.requests[1].headers
    assert path.read_bytes() == VIDEO


async def test_416_for_a_whole_part_finishes_it(tmp_path):
    server = Server(lambda r: httpx.Response(416, headers={"Content-Range": f"bytes */{len(VIDEO)}"}))
    (tmp_path / "abc.mp4.part").write_bytes(VIDEO)
    async with downloader(server) as dl:
        path = await dl.download("abc", URL, tmp_path)
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
async def test_a_non_video_answer_is_refused_and_nothing_is_left(tmp_path, content_type, body, words):
    headers = {"Content-Type": content_type} if content_type else {}
    server = Server(lambda r: httpx.Response(200, content=body, headers=headers))
    async with downloader(server) as dl:
        with pytest.raises(DownloadError) as caught:
            await dl.download("abc", URL, tmp_path)
    assert f"answered with {words}, not a video" in caught.value.message
    assert caught.value.kind == "download"
    assert files(tmp_path) == []


async def test_a_generic_type_is_accepted_when_the_bytes_are_a_video(tmp_path):
    server = Server(
        lambda r: httpx.Response(200, content=VIDEO, headers={"Content-Type": "binary/octet-stream"})
    )
    async with downloader(server) as dl:
        path = await dl.download("abc", URL, tmp_path)
    assert path.read_bytes() == VIDEO


@pytest.mark.parametrize("status", [403, 404, 410])
async def test_a_refused_url_is_an_expired_url(tmp_path, status):
    server = Server(lambda r: httpx.Response(status, text="gone"))
    async with downloader(server) as dl:
        with pytest.raises(UrlExpiredError) as caught:
            await dl.download("abc", URL, tmp_path)
    assert caught.value.kind == "url_expired"
    assert f"HTTP {status}" in caught.value.message
    assert files(tmp_path) == []


async def test_other_http_errors_name_the_status(tmp_path):
    server = Server(lambda r: httpx.Response(503, text="busy"))
    async with downloader(server) as dl:
        with pytest.raises(DownloadError, match="HTTP 503") as caught:
            await dl.download("abc", URL, tmp_path)
    assert not isinstance(caught.value, UrlExpiredError)


async def test_a_network_error_keeps_the_part_for_a_resume(tmp_path):
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset")

    (tmp_path / "abc.mp4.part").write_bytes(VIDEO[:100])
    async with downloader(Server(broken)) as dl:
        with pytest.raises(DownloadError, match=r"kept in .*abc\.mp4\.part to resume"):
            await dl.download("abc", URL, tmp_path)
    assert (tmp_path / "abc.mp4.part").read_bytes() == VIDEO[:100]


async def test_what_arrived_before_the_connection_broke_is_kept(tmp_path):
    def breaks_midway(request: httpx.Request) -> httpx.Response:
        async def body():
            yield VIDEO[:3000]
            raise httpx.ReadError("connection reset")

        return httpx.Response(200, content=body(), headers={"Content-Type": "video/mp4"})

    # Writes go out a MiB at a time; the 3,000 bytes still waiting for theirs are kept all the same.
    async with downloader(Server(breaks_midway)) as dl:
        with pytest.raises(DownloadError, match="the 3,000 bytes saved so far are kept"):
            await dl.download("abc", URL, tmp_path)
    assert (tmp_path / "abc.mp4.part").read_bytes() == VIDEO[:3000]


async def test_a_short_body_is_not_taken_for_a_whole_video(tmp_path):
    server = Server(
        lambda r: httpx.Response(
            206, content=VIDEO[100:200], headers={"Content-Range": f"bytes 100-199/{len(VIDEO)}"}
        )
    )
    (tmp_path / "abc.mp4.part").write_bytes(VIDEO[:100])
    async with downloader(server) as dl:
        with pytest.raises(DownloadError, match="sent 200 of"):
            await dl.download("abc", URL, tmp_path)
    assert (tmp_path / "abc.mp4.part").read_bytes() == VIDEO[:200]
    assert not (tmp_path / "abc.mp4").exists()


async def test_disk_full_keeps_the_part_and_says_so(tmp_path, monkeypatch):
    real = downloads._write_all
    calls = []

    def full_after_one_chunk(fd, pieces):
        calls.append(sum(len(piece) for piece in pieces))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, pieces)

    def in_pieces(request: httpx.Request) -> httpx.Response:
        async def body():
            for start in range(0, len(VIDEO), 4096):
                yield VIDEO[start : start + 4096]

        return httpx.Response(200, content=body(), headers={"Content-Type": "video/mp4"})

    monkeypatch.setattr(downloads, "_write_all", full_after_one_chunk)
    async with downloader(Server(in_pieces), chunk_size=4096) as dl:
        with pytest.raises(DownloadError) as caught:
            await dl.download("abc", URL, tmp_path)
    message = caught.value.message
    assert message.startswith("the disk is full: could not save the video of 'abc'")
    assert "kept in" in message and "for a later resume" in message
    part = tmp_path / "abc.mp4.part"
    assert part.read_bytes() == VIDEO[: calls[0]]
    assert not (tmp_path / "abc.mp4").exists()


async def test_a_folder_that_cannot_be_made_is_one_sentence(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    async with downloader(Server(whole)) as dl:
        with pytest.raises(DownloadError, match="cannot create the download folder"):
            await dl.download("abc", URL, blocker / "videos")


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://x/a.mp4", "/relative.mp4", "javascript:alert(1)"]
)
async def test_urls_that_are_not_web_addresses_are_refused_before_any_request(tmp_path, url):
    server = Server(whole)
    async with downloader(server) as dl:
        with pytest.raises(DownloadError, match="not a web address"):
            await dl.download("abc", url, tmp_path)
    assert server.requests == []


async def test_two_saves_at_once_share_one_transfer(tmp_path):
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        server.requests.append(request)
        await release.wait()
        return whole(request)

    server = Server(whole)
    async with Downloader(transport=httpx.MockTransport(slow)) as dl:
        first = asyncio.create_task(dl.download("abc", URL, tmp_path))
        second = asyncio.create_task(dl.download("abc", URL, tmp_path))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        release.set()
        paths = await asyncio.gather(first, second)
    assert paths[0] == paths[1] == tmp_path / "abc.mp4"
    assert len(server.requests) == 1


async def test_cancelling_the_only_caller_stops_the_transfer_and_keeps_the_part(tmp_path):
    started = asyncio.Event()

    def answer(request: httpx.Request) -> httpx.Response:
        async def body():
            yield VIDEO[:4096]
            started.set()
            await asyncio.Event().wait()  # never more

        return httpx.Response(200, content=body(), headers={"Content-Type": "video/mp4"})

    async with downloader(Server(answer), chunk_size=1024) as dl:
        job = asyncio.create_task(dl.download("abc", URL, tmp_path))
        await started.wait()
        await asyncio.sleep(0)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
        for _ in range(5):  # the transfer ends on the loop's next turns
            await asyncio.sleep(0)
        assert dl._inflight == {}
    assert (tmp_path / "abc.mp4.part").read_bytes() == VIDEO[:4096]


@pytest.mark.skipif(os.name == "nt", reason="the .part lock is POSIX-only")
async def test_a_part_another_process_is_writing_is_left_alone(tmp_path):
    import fcntl

    part = tmp_path / "abc.mp4.part"
    part.write_bytes(VIDEO[:100])
    server = Server(whole)
    with part.open("rb") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)  # flock locks are per open file: like another process
        async with downloader(server) as dl:
            with pytest.raises(DownloadError, match="another grokdash is saving the video of 'abc'"):
                await dl.download("abc", URL, tmp_path)
    assert server.requests == []
    assert part.read_bytes() == VIDEO[:100]


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="needs O_NOFOLLOW")
async def test_a_symlinked_part_is_not_followed(tmp_path):
    outside = tmp_path / "precious"
    outside.write_bytes(b"keep me")
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "abc.mp4.part").symlink_to(outside)
    async with downloader(Server(whole)) as dl:
        with pytest.raises(DownloadError, match="could not write"):
            await dl.download("abc", URL, folder)
    assert outside.read_bytes() == b"keep me"


async def test_every_caller_of_a_shared_transfer_sees_progress(tmp_path):
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return whole(request)

    first_seen, second_seen = [], []
    async with Downloader(transport=httpx.MockTransport(slow), chunk_size=8192) as dl:
        first = asyncio.create_task(
            dl.download("abc", URL, tmp_path, on_progress=lambda d, t: first_seen.append(d))
        )
        second = asyncio.create_task(
            dl.download("abc", URL, tmp_path, on_progress=lambda d, t: second_seen.append(d))
        )
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(first, second)
    assert first_seen == second_seen
    assert first_seen[-1] == len(VIDEO)
