"""Downloads whose body is read straight off the socket (grokdash.socketbody), over real loopback TCP,
from a scripted server that can cut or stall a transfer mid-body: what the user keeps and sees."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trustme

from grokdash import socketbody
from grokdash.api import Timeouts
from grokdash.downloads import Downloader, DownloadError
from grokdash.sim.media import sample_video
from grokdash.socketbody import raw_socket

pytestmark = pytest.mark.anyio

VIDEO = sample_video()
HALF = len(VIDEO) // 2
DEADLOCK_GUARD = 10  # seconds; only reached when a transfer fails to stop at all


@dataclass
class Answer:
    """What the server does for one request: send `head` then `body`, then close or stall."""

    body: bytes
    headers: dict[str, str | None] = field(default_factory=dict)  # None: leave the header out
    status: str = "200 OK"
    stall: bool = False


class ScriptedServer:
    """An HTTP/1.1 server on loopback that answers each request with the next scripted Answer and
    remembers the Range header of every request."""

    def __init__(self, answers: list[Answer], tls: ssl.SSLContext | None = None) -> None:
        self.answers = answers
        self.tls = tls
        self.ranges: list[str | None] = []
        self.released = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.listener.getsockname()[1]}/video.mp4"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for answer in self.answers:
            try:
                conn, _ = self.listener.accept()
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:
                return
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(65536)
                lines = request.decode("latin-1").split("\r\n")
                ranges = [
                    line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("range:")
                ]
                self.ranges.append(ranges[0] if ranges else None)
                headers = {"Content-Type": "video/mp4", **answer.headers}
                headers.setdefault("Content-Length", str(len(answer.body)))
                head = f"HTTP/1.1 {answer.status}\r\n" + "".join(
                    f"{k}: {v}\r\n" for k, v in headers.items() if v is not None
                )
                try:
                    conn.sendall(head.encode() + b"\r\n" + answer.body)
                    if answer.stall:
                        self.released.wait()
                except OSError:
                    pass

    def close(self) -> None:
        self.released.set()
        self.listener.close()
        self.thread.join(5)


@pytest.fixture
def serve() -> Iterator:
    servers: list[ScriptedServer] = []

    def start(*answers: Answer, tls: ssl.SSLContext | None = None) -> ScriptedServer:
        servers.append(ScriptedServer(list(answers), tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def full_length() -> dict[str, str | None]:
    """Headers that promise the whole video while only part of it is sent."""
    return {"Content-Length": str(len(VIDEO)), "ETag": '"v1"'}


def rest_of_video() -> dict[str, str | None]:
    """Headers of the 206 answer to `Range: bytes=HALF-`."""
    return {"Content-Range": f"bytes {HALF}-{len(VIDEO) - 1}/{len(VIDEO)}", "ETag": '"v1"'}


async def test_a_connection_cut_mid_body_keeps_the_part_and_the_next_save_fetches_only_the_rest(
    serve, tmp_path: Path
):
    server = serve(
        Answer(VIDEO[:HALF], headers=full_length()),
        Answer(
            VIDEO[HALF:],
            status="206 Partial Content",
            headers=rest_of_video(),
        ),
    )
    async with Downloader(timeouts=Timeouts(connect=5, read=5)) as dl:
        with pytest.raises(DownloadError) as caught:
            await dl.download("cut", server.url, tmp_path)
        assert f"the {HALF:,} bytes saved so far are kept" in str(caught.value)
        assert (tmp_path / "cut.mp4.part").read_bytes() == VIDEO[:HALF]

        path = await dl.download("cut", server.url, tmp_path)
    assert path.read_bytes() == VIDEO
    assert server.ranges == [None, f"bytes={HALF}-"]


async def test_over_tls_the_body_is_read_off_the_socket_and_a_cut_transfer_resumes(
    serve, tmp_path: Path, monkeypatch
):
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    server = serve(
        Answer(VIDEO[:HALF], headers=full_length()),
        Answer(VIDEO[HALF:], status="206 Partial Content", headers=rest_of_video()),
        tls=server_context,
    )
    direct: list[bool] = []

    def spied(response: httpx.Response) -> socket.socket | None:
        sock = raw_socket(response)
        direct.append(isinstance(sock, ssl.SSLSocket))
        return sock

    monkeypatch.setattr(socketbody, "raw_socket", spied)
    transport = httpx.HTTPTransport(verify=client_context)
    async with Downloader(timeouts=Timeouts(connect=5, read=5), transport=transport) as dl:
        with pytest.raises(DownloadError, match=f"the {HALF:,} bytes saved so far are kept"):
            await dl.download("tls", server.url, tmp_path)
        path = await dl.download("tls", server.url, tmp_path)
    assert path.read_bytes() == VIDEO
    assert server.ranges == [None, f"bytes={HALF}-"]
    assert direct == [True, True]


async def test_a_body_that_stops_arriving_times_out_and_keeps_what_came(serve, tmp_path: Path):
    server = serve(Answer(VIDEO[:HALF], headers=full_length(), stall=True))
    async with Downloader(timeouts=Timeouts(connect=5, read=0.2)) as dl:
        with pytest.raises(DownloadError) as caught:
            await dl.download("stalled", server.url, tmp_path)
    assert "stopped answering" in str(caught.value)
    assert (tmp_path / "stalled.mp4.part").read_bytes() == VIDEO[:HALF]


async def test_quitting_while_a_transfer_waits_for_the_network_stops_it_at_once(serve, tmp_path: Path):
    server = serve(Answer(VIDEO[:HALF], headers=full_length(), stall=True))
    everything_sent_is_saved = asyncio.Event()

    def progress(done: int, total: int | None) -> None:
        if done >= HALF:
            everything_sent_is_saved.set()

    # All that was sent is on disk, so the transfer waits in recv; with a read timeout far beyond the
    # guard, only shutting its socket down can end that wait in time.
    dl = Downloader(timeouts=Timeouts(connect=5, read=3600), chunk_size=HALF)
    job = asyncio.create_task(dl.download("cancelled", server.url, tmp_path, on_progress=progress))
    await asyncio.wait_for(everything_sent_is_saved.wait(), DEADLOCK_GUARD)
    job.cancel()
    closing = asyncio.create_task(dl.aclose())  # what quitting the dashboard does
    finished, _ = await asyncio.wait({job, closing}, timeout=DEADLOCK_GUARD)
    server.released.set()  # ends the stall, so a transfer that failed to stop cannot hang the run
    await asyncio.wait({job, closing})
    assert finished == {job, closing}, "the transfer went on waiting for the network"
    assert job.cancelled()
    assert (tmp_path / "cancelled.mp4.part").read_bytes() == VIDEO[:HALF]
    assert not (tmp_path / "cancelled.mp4").exists()


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Transfer-Encoding": "chunked", "Content-Length": None}, id="chunked"),
        pytest.param({"Content-Length": None, "Connection": "close"}, id="no-length"),
    ],
)
async def test_bodies_without_a_plain_length_are_saved_through_httpx(serve, tmp_path: Path, headers):
    body = VIDEO
    if headers.get("Transfer-Encoding") == "chunked":
        body = (
            b"".join(
                b"%x\r\n%s\r\n" % (len(VIDEO[i : i + 4000]), VIDEO[i : i + 4000])
                for i in range(0, len(VIDEO), 4000)
            )
            + b"0\r\n\r\n"
        )
    server = serve(Answer(body, headers=headers))
    async with Downloader(timeouts=Timeouts(connect=5, read=5)) as dl:
        path = await dl.download("coded", server.url, tmp_path)
    assert path.read_bytes() == VIDEO


def test_only_plain_length_bodies_on_their_own_socket_are_read_directly() -> None:
    def response(**headers: str) -> httpx.Response:
        return httpx.Response(200, headers=headers, request=httpx.Request("GET", "http://x/"))

    mock = response(**{"Content-Length": "10"})
    assert raw_socket(mock) is None  # no network stream: a test transport
    with socket.socket() as sock:

        class Stream:
            def get_extra_info(self, name: str) -> object:
                return sock if name == "socket" else None

        def on_socket(**headers: str) -> httpx.Response:
            answer = response(**headers)
            answer.extensions["network_stream"] = Stream()
            return answer

        assert raw_socket(on_socket(**{"Content-Length": "10"})) is sock
        assert raw_socket(on_socket(**{"Content-Length": "10", "Content-Encoding": "gzip"})) is None
        assert raw_socket(on_socket(**{"Transfer-Encoding": "chunked"})) is None
        assert raw_socket(on_socket()) is None

        class TlsInTls(Stream):
            def get_extra_info(self, name: str) -> object:
                return object() if name == "ssl_object" else super().get_extra_info(name)

        tunnelled = response(**{"Content-Length": "10"})
        tunnelled.extensions["network_stream"] = TlsInTls()
        assert raw_socket(tunnelled) is None
