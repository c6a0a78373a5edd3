"""Reading a long HTTP/1.1 body straight off its connection's socket, in large reads.

httpx (through httpcore and h11) reads a body 64 KiB at a time and copies each piece three times in
Python; for a 200 MB video on loopback that is about half of curl's speed. When the answer allows it (a
plain Content-Length body: no chunking, no content coding, on a socket httpcore hands out as the
documented `network_stream` extension), the bytes h11 has already buffered are taken first and the rest
is read here with one `recv` of up to a MiB at a time.

The connection is then left mid-body as far as httpcore knows, so closing the response closes the
connection instead of reusing it: one new connection per video, which a multi-megabyte transfer does not
notice.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx

READ_SIZE = 1024 * 1024
"""Bytes asked for per recv (loopback and fast links deliver several hundred KiB per call)."""


def raw_socket(response: httpx.Response) -> socket.socket | None:
    """The socket that carries the rest of `response`'s body as it is, or None when the body must go
    through httpx: another HTTP version, chunked or compressed bodies, unknown length, a test transport,
    or TLS inside TLS (a proxy), where the socket holds the outer encryption."""
    if response.http_version != "HTTP/1.1":
        return None
    headers = response.headers
    if "Transfer-Encoding" in headers or headers.get("Content-Encoding", "identity") != "identity":
        return None
    if not headers.get("Content-Length", "").strip().isdigit():
        return None
    stream = response.extensions.get("network_stream")
    get_extra_info = getattr(stream, "get_extra_info", None)
    if get_extra_info is None:
        return None
    sock = get_extra_info("socket")
    if not isinstance(sock, socket.socket):
        return None
    # The TLS object must be the socket's own: otherwise the socket's bytes are still encrypted.
    if (get_extra_info("ssl_object") is not None) != isinstance(sock, ssl.SSLSocket):
        return None
    return sock


def body_chunks(response: httpx.Response, read_timeout: float | None) -> Iterator[bytes]:
    """The body of a streamed `response`, chunk by chunk: read off its socket when `raw_socket` allows,
    else through httpx. Failures are httpx's exceptions, so callers handle one family of errors."""
    sock = raw_socket(response)
    if sock is None:
        yield from response.iter_bytes()
        return
    remaining = int(response.headers["Content-Length"])
    # What h11 has buffered already comes out as (at most) one chunk; after it the socket holds the
    # rest. The iterator stays referenced to the end: closing it would close the connection.
    through_httpx = response.iter_raw()
    buffered = next(through_httpx, b"")
    if buffered:
        remaining -= len(buffered)
        yield buffered
    request = response.request
    sock.settimeout(read_timeout)
    while remaining > 0:
        try:
            chunk = sock.recv(min(READ_SIZE, remaining))
        except TimeoutError:
            raise httpx.ReadTimeout("timed out reading the body", request=request) from None
        except OSError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc
        if not chunk:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            )
        remaining -= len(chunk)
        yield chunk
