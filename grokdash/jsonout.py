"""JSON for people and scripts: the bytes `json.dumps(…, indent=2, ensure_ascii=False)` writes, made by
orjson (about ten times faster) a piece at a time, so `ls --json` over 100,000 tasks starts printing at
once and never holds the whole text.

orjson refuses lone surrogates and integers beyond 64 bits; such an item is written by the standard
library with ASCII escapes (`\\udcff`): still valid UTF-8 that any reader reads back to the same text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

CHUNK = 500
"""Items per piece handed to the writer."""


def pretty(value: Any) -> bytes:
    """`value` as indented JSON, without a final newline."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2)
    except TypeError:
        return json.dumps(value, indent=2).encode("ascii")


def array_pieces(items: Iterable[Any], *, level: int = 0, end: bytes = b"\n") -> Iterator[bytes]:
    """An indented JSON array of `items`, in pieces, then `end`. `level`: how deep the array sits in an
    enclosing document (each level indents two spaces)."""
    inner = b"\n" + b"  " * (level + 1)
    first = True
    batch: list[bytes] = []
    for item in items:
        text = pretty(item).replace(b"\n", inner)
        batch.append((b"[" if first else b",") + inner + text)
        first = False
        if len(batch) >= CHUNK:
            yield b"".join(batch)
            batch = []
    if first:
        yield b"[]" + end
        return
    batch.append(b"\n" + b"  " * level + b"]" + end)
    yield b"".join(batch)


def write_array(items: Iterable[Any], write: Callable[[bytes], Any]) -> None:
    """Write `items` as an indented JSON array through `write`, a piece at a time."""
    for piece in array_pieces(items):
        write(piece)
