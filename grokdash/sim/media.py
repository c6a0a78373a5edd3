"""The bundled sample video and the byte ranges of it the media endpoint serves."""

from __future__ import annotations

import functools
import hashlib
import re
from importlib import resources

from grokdash.sim.answers import Response, error_response

VIDEO_TYPE = "video/mp4"
_RANGE = re.compile(r"(\d*)-(\d*)")


@functools.cache
def sample_video() -> bytes:
    """A real, playable MP4 (about 30 KB) shipped inside the package."""
    return resources.files("grokdash.sim").joinpath("sample.mp4").read_bytes()


@functools.cache
def sample_etag() -> str:
    return etag_for(sample_video())


def etag_for(data: bytes) -> str:
    """A strong ETag for a video: a hash of its bytes."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def sized_video(size: int) -> bytes:
    """A video of `size` bytes (at least the sample's size): the sample followed by a `free` box of
    zeros, which players skip, so the file still starts with `ftyp` and still plays."""
    sample = sample_video()
    padding = size - len(sample)
    if padding < 8:
        return sample
    if padding < 2**32:
        header = padding.to_bytes(4, "big") + b"free"
    else:  # a box this long gives its size in 64 bits after the type
        header = (1).to_bytes(4, "big") + b"free" + padding.to_bytes(8, "big")
    return b"".join([sample, header, bytes(padding - len(header))])


class RangeNotSatisfiable(Exception):
    """The Range header asks for bytes the file does not have."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range `header` asks for, or None for the whole file.

    A header this server does not understand (another unit, several ranges, last < first) is ignored, as
    RFC 9110 allows: the whole file is sent.
    """
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _RANGE.fullmatch(spec.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - suffix), size - 1
    start = int(first)
    end = size - 1 if last == "" else int(last)
    if last != "" and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(header)
    return start, min(end, size - 1)


def video_response(data: bytes, range_header: str | None, if_range: str | None, etag: str) -> Response:
    """200 with the whole file, 206 with the asked range, or 416."""
    common = (("Accept-Ranges", "bytes"), ("ETag", etag))
    # If-Range: resume only when the client holds this very file; otherwise it gets the whole file again.
    if if_range is not None and if_range.strip() != etag:
        range_header = None
    try:
        span = parse_range(range_header, len(data))
    except RangeNotSatisfiable:
        response = error_response(416, "the requested range is outside the file")
        return Response(
            416, response.body, response.content_type, (*common, ("Content-Range", f"bytes */{len(data)}"))
        )
    if span is None:
        return Response(200, data, VIDEO_TYPE, common)
    start, end = span
    return Response(
        206,
        data[start : end + 1],
        VIDEO_TYPE,
        (*common, ("Content-Range", f"bytes {start}-{end}/{len(data)}")),
    )
