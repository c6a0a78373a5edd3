"""What each Grok video model accepts when a task is created, as data (api/grok-create-task.md).

The provider's two pages disagree about grok_video3_stable. grokdash checks loosely (what either page
allows) and lets the server decide; the simulator plays a strict server (the main page only), so the
server's own refusal can be seen too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Billing = Literal["per_second", "per_call"]


@dataclass(frozen=True, slots=True)
class ModelRules:
    name: str
    durations: tuple[int, ...]
    default_duration: int
    aspect_ratios: tuple[str, ...]
    resolutions: tuple[str, ...]
    max_images: int
    billing: Billing
    duration_is_fixed: bool = False
    """The model makes one length only; the request should leave `duration` out."""
    images_public_only: bool = False
    """Reference images must be public http(s) URLs, not base64 data."""
    second_page_only: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    """Values only the second provider page allows: accepted loosely, refused by a strict server."""

    default_aspect_ratio: str = "16:9"
    default_resolution: str = "720p"


MODELS: dict[str, ModelRules] = {
    rules.name: rules
    for rules in (
        ModelRules(
            name="grok_video3",
            durations=tuple(range(6, 31)),
            default_duration=10,
            aspect_ratios=("16:9", "9:16", "1:1", "3:2", "2:3"),
            resolutions=("480p", "720p"),
            max_images=7,
            billing="per_second",
        ),
        ModelRules(
            name="grok_video3_pro",
            durations=(10,),
            default_duration=10,
            duration_is_fixed=True,
            aspect_ratios=("16:9",),
            resolutions=("480p", "720p"),
            max_images=0,
            billing="per_call",
        ),
        ModelRules(
            name="grok_video3_max",
            durations=(6, 10, 12, 16, 20, 30),
            default_duration=10,
            aspect_ratios=("16:9", "9:16", "1:1"),
            resolutions=("480p", "720p"),
            max_images=5,
            images_public_only=True,
            billing="per_second",
        ),
        ModelRules(
            name="grok_video3_stable",
            durations=(6, 10),
            default_duration=10,
            aspect_ratios=("16:9", "9:16", "1:1", "3:2", "2:3"),
            resolutions=("480p", "720p"),
            max_images=7,
            images_public_only=True,
            billing="per_call",
            second_page_only={"duration": (6,), "resolution": ("480p",)},
        ),
    )
}


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """The body of a create-task request."""

    model: str
    prompt: str
    duration: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    image_urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> CreateRequest:
        """A request as `to_json` wrote it (a tracked task remembers its own). Raises KeyError,
        TypeError or ValueError when it is not one."""
        images = body.get("image_urls") or ()
        if not isinstance(body["model"], str) or not isinstance(body["prompt"], str):
            raise TypeError("model and prompt must be text")
        duration = body.get("duration")
        return cls(
            model=body["model"],
            prompt=body["prompt"],
            duration=None if duration is None else int(duration),
            aspect_ratio=body.get("aspect_ratio"),
            resolution=body.get("resolution"),
            image_urls=tuple(str(url) for url in images),
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "prompt": self.prompt}
        if self.duration is not None:
            body["duration"] = self.duration
        if self.aspect_ratio is not None:
            body["aspect_ratio"] = self.aspect_ratio
        if self.resolution is not None:
            body["resolution"] = self.resolution
        if self.image_urls:
            body["image_urls"] = list(self.image_urls)
        return body


def _listing(values: tuple[Any, ...]) -> str:
    return ", ".join(str(value) for value in values)


def request_problems(request: CreateRequest, *, strict: bool = False) -> list[str]:
    """Every rule the request breaks, one sentence each; empty when it may be sent."""
    rules = MODELS.get(request.model)
    if rules is None:
        return [f"model {request.model!r} is not one of {_listing(tuple(MODELS))}"]

    def allowed(name: str, values: tuple[Any, ...]) -> tuple[Any, ...]:
        refused = rules.second_page_only.get(name, ()) if strict else ()
        return tuple(value for value in values if value not in refused)

    problems = []
    if not request.prompt.strip():
        problems.append("the prompt is empty")
    if request.duration is not None:
        durations = allowed("duration", rules.durations)
        if request.duration not in durations:
            rule = _duration_rule(durations)
            problems.append(f"{rules.name} takes a duration of {rule}, not {request.duration}")
    if request.aspect_ratio is not None:
        ratios = allowed("aspect_ratio", rules.aspect_ratios)
        if request.aspect_ratio not in ratios:
            problems.append(
                f"{rules.name} takes an aspect ratio of {_listing(ratios)}, not {request.aspect_ratio!r}"
            )
    if request.resolution is not None:
        resolutions = allowed("resolution", rules.resolutions)
        if request.resolution not in resolutions:
            problems.append(
                f"{rules.name} takes a resolution of {_listing(resolutions)}, not {request.resolution!r}"
            )
    if len(request.image_urls) > rules.max_images:
        count = len(request.image_urls)
        problems.append(
            f"{rules.name} takes no reference images"
            if rules.max_images == 0
            else f"{rules.name} takes at most {rules.max_images} reference images, not {count}"
        )
    for url in request.image_urls:
        if not url.strip():
            problems.append("a reference image URL is empty")
        elif rules.images_public_only and not url.startswith(("http://", "https://")):
            problems.append(f"{rules.name} takes public http(s) image URLs only, not {url[:40]!r}")
    return problems


def _duration_rule(durations: tuple[int, ...]) -> str:
    if len(durations) == 1:
        return f"{durations[0]} seconds only"
    if durations == tuple(range(durations[0], durations[-1] + 1)):
        return f"{durations[0]} to {durations[-1]} seconds"
    return f"one of {_listing(durations)} seconds"


def label_from_prompt(prompt: str, limit: int = 40) -> str:
    """The start of `prompt` as a label: whitespace collapsed, at most `limit` characters, cut at a
    word boundary when one is near, with "…" when anything was cut."""
    text = " ".join(prompt.split())
    if len(text) <= limit:
        return text
    head = text[: limit - 1]  # room for the ellipsis
    if text[limit - 1] != " ":
        space = head.rfind(" ")
        if space >= limit // 2:  # a word boundary not too far back; else cut inside the long word
            head = head[:space]
    return head.rstrip(" ,.;:-") + "…"


def billing_text(request: CreateRequest) -> str:
    """How the task would be billed, in one phrase; per-second models name the seconds billed."""
    rules = MODELS.get(request.model)
    if rules is None:
        return "billing unknown (not a known model)"
    if rules.billing == "per_second":
        seconds = request.duration if request.duration is not None else rules.default_duration
        default = "" if request.duration is not None else ", the model's default"
        return f"billed per second of video: {seconds} s{default}"
    return "billed per call: one charge for the task, whatever its length"


def rules_text(rules: ModelRules) -> str:
    """One model's rules in one line, for help texts."""
    if rules.duration_is_fixed:
        duration = f"duration fixed at {rules.default_duration} s (leave it out)"
    else:
        duration = f"duration {_duration_rule(rules.durations)} (default {rules.default_duration})"
    parts = [
        duration,
        f"aspect ratio {_listing(rules.aspect_ratios)} (default {rules.default_aspect_ratio})",
        f"resolution {_listing(rules.resolutions)} (default {rules.default_resolution})",
        "no reference images"
        if rules.max_images == 0
        else f"up to {rules.max_images} reference images"
        + (", public http(s) URLs only" if rules.images_public_only else ""),
        "billed per second of video" if rules.billing == "per_second" else "billed per call",
    ]
    if rules.second_page_only:
        doubtful = " and ".join(
            f"{name.replace('_', ' ')} {_listing(values)}" for name, values in rules.second_page_only.items()
        )
        parts.append(f"only the second provider page allows {doubtful} (the server decides)")
    return f"{rules.name}: " + "; ".join(parts)
