"""The bodies the simulator answers with: task objects, error objects and the deliberately broken ones."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from grokdash.sim.state import TaskSnapshot

JSON_TYPE = "application/json"


@dataclass(frozen=True)
class Response:
    """One HTTP answer, built before anything is written so it can be logged first."""

    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()


def json_response(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), JSON_TYPE, headers)


def error_response(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """The real API's error shape: `{"code": <status>, "msg": "<sentence>"}`."""
    return json_response(status, {"code": status, "msg": message}, headers)


def task_object(task: TaskSnapshot, video_url: str | None) -> dict[str, Any]:
    """The documented answer of the query and create endpoints."""
    body: dict[str, Any] = {
        "id": task.id,
        "object": "video",
        "created": int(task.created),
        "model": task.model,
        "status": task.status,
    }
    if task.status == "completed":
        body["video_url"] = video_url
        body["actualDuration"] = float(task.duration)
    if task.error is not None:
        body["error"] = task.error
    return body


def query_answer(scenario: str | None, task: TaskSnapshot, video_url: str | None) -> Response:
    """A 200 answer about `task`, bent the way the id's scenario asks."""
    body = task_object(task, video_url)
    if scenario == "strings":
        # Some gateways stringify numbers and add fields of their own.
        body["created"] = str(body["created"])
        if "actualDuration" in body:
            body["actualDuration"] = str(body["actualDuration"])
        body["x_gateway_trace"] = "sim-7f3a9c"
    elif scenario == "mismatch":
        body["id"] = f"other-{task.id}"
    elif scenario == "nostatus":
        del body["status"]
    elif scenario == "wrapped":
        body = {"code": 200, "msg": "success", "data": body}
    response = json_response(200, body)
    if scenario == "truncated":
        # Cut mid-object, as a proxy that dropped the connection would; Content-Length matches what is sent.
        return Response(200, response.body[: len(response.body) // 2], JSON_TYPE)
    return response


BAD_GATEWAY_PAGE = b"""<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""


def bad_gateway() -> Response:
    return Response(502, BAD_GATEWAY_PAGE, "text/html")


def rate_limited(retry_after: str, message: str = "too many requests, please slow down") -> Response:
    return error_response(429, message, headers=(("Retry-After", retry_after),))
