"""Reading a create-task request body as the strict server does: shape first, then the model rules."""

from __future__ import annotations

import json
from typing import Any

from grokdash.rules import CreateRequest, request_problems

_OPTIONAL_TEXT = ("aspect_ratio", "resolution")


def parse_create(body: bytes) -> CreateRequest | str:
    """The request, or one sentence saying why it is refused (the body of a 400)."""
    try:
        data: Any = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "the request body is not valid JSON"
    if not isinstance(data, dict):
        return "the request body must be a JSON object"
    for name in ("model", "prompt"):
        if name not in data or data[name] is None:
            return f"the field {name!r} is required"
        if not isinstance(data[name], str):
            return f"the field {name!r} must be a string"
    duration = data.get("duration")
    # bool is an int in Python, but `true` is not a number of seconds.
    if duration is not None and (not isinstance(duration, int) or isinstance(duration, bool)):
        return "the field 'duration' must be an integer number of seconds"
    for name in _OPTIONAL_TEXT:
        if data.get(name) is not None and not isinstance(data[name], str):
            return f"the field {name!r} must be a string"
    images = data.get("image_urls")
    if images is not None and (not isinstance(images, list) or not all(isinstance(u, str) for u in images)):
        return "the field 'image_urls' must be an array of strings"
    request = CreateRequest(
        model=data["model"],
        prompt=data["prompt"],
        duration=duration,
        aspect_ratio=data.get("aspect_ratio"),
        resolution=data.get("resolution"),
        image_urls=tuple(images or ()),
    )
    problems = request_problems(request, strict=True)
    return "; ".join(problems) if problems else request
