"""JSON for people and scripts: the bytes `json.dumps(…, indent=2, ensure_ascii=False)` writes, made by
orjson (about ten times faster) a piece at a time, so `ls --json` over 100,000 tasks starts printing at
once and never holds the whole text.

orjson refuses lone surrogates and integers beyond 64 bits; such an item is written by the standard
library with ASCII escapes (`\\udcff`): still valid UTF-8 that any reader reads back to the same text.
"""

from __future__ import annotations

import itertools
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
    outer = b"\n" + b"  " * level
    piece = b""
    for batch in _batches(items):
        if piece:
            yield piece
        text = _items_text(batch)
        piece = (b"," if piece else b"[") + (text.replace(b"\n", outer) if level else text)
    if not piece:
        yield b"[]" + end
        return
    yield piece + outer + b"]" + end


def _batches(items: Iterable[Any]) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, CHUNK)):
        yield batch


def _items_text(batch: list[Any]) -> bytes:
    """The items of an indented array at the top level, without its brackets: each after a line break
    and two spaces, with commas between. orjson writes a whole batch in one call (twice as fast as an
    item at a time); when it refuses one, each is written by `pretty`, that one by the standard library."""
    try:
        return orjson.dumps(batch, option=orjson.OPT_INDENT_2)[1:-2]
    except TypeError:
        return b",".join(b"\n  " + pretty(item).replace(b"\n", b"\n  ") for item in batch)


def write_array(items: Iterable[Any], write: Callable[[bytes], Any]) -> None:
    """Write `items` as an indented JSON array through `write`, a piece at a time."""
    for piece in array_pieces(items):
        write(piece)
