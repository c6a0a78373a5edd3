"""The per-model create rules (api/grok-create-task.md), table-driven, and the label a prompt gives."""

from __future__ import annotations

import itertools

import pytest

from grokdash.rules import (
    MODELS,
    CreateRequest,
    billing_text,
    label_from_prompt,
    request_problems,
    rules_text,
)

# The rules page, written out again here so a change to MODELS has to agree with it.
PAGE = {
    "grok_video3": {
        "durations": list(range(6, 31)),
        "ratios": ["16:9", "9:16", "1:1", "3:2", "2:3"],
        "resolutions": ["480p", "720p"],
        "images": 7,
    },
    "grok_video3_pro": {"durations": [10], "ratios": ["16:9"], "resolutions": ["480p", "720p"], "images": 0},
    "grok_video3_max": {
        "durations": [6, 10, 12, 16, 20, 30],
        "ratios": ["16:9", "9:16", "1:1"],
        "resolutions": ["480p", "720p"],
        "images": 5,
    },
    "grok_video3_stable": {
        "durations": [6, 10],  # 6 on the second page only
        "ratios": ["16:9", "9:16", "1:1", "3:2", "2:3"],
        "resolutions": ["480p", "720p"],  # 480p on the second page only
        "images": 7,
    },
}

URL = "https://example.com/cat.png"
BASE64 = "data:image/png;base64,iVBORw0KGgo="


def request(model: str = "grok_video3", prompt: str = "a cat", **fields) -> CreateRequest:
    return CreateRequest(model=model, prompt=prompt, **fields)


def test_the_page_names_every_model():
    assert set(PAGE) == set(MODELS)


def valid_combinations():
    for model, page in PAGE.items():
        for duration, ratio, resolution in itertools.product(
            [None, *page["durations"]], [None, *page["ratios"]], [None, *page["resolutions"]]
        ):
            yield model, duration, ratio, resolution


@pytest.mark.parametrize(("model", "duration", "ratio", "resolution"), list(valid_combinations()))
def test_every_valid_combination_is_accepted(model, duration, ratio, resolution):
    wanted = request(model, duration=duration, aspect_ratio=ratio, resolution=resolution)
    assert request_problems(wanted) == []


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"duration": 5}, "grok_video3 takes a duration of 6 to 30 seconds, not 5"),
        ({"duration": 31}, "grok_video3 takes a duration of 6 to 30 seconds, not 31"),
        ({"duration": 0}, "grok_video3 takes a duration of 6 to 30 seconds, not 0"),
        (
            {"aspect_ratio": "4:3"},
            "grok_video3 takes an aspect ratio of 16:9, 9:16, 1:1, 3:2, 2:3, not '4:3'",
        ),
        ({"resolution": "1080p"}, "grok_video3 takes a resolution of 480p, 720p, not '1080p'"),
        ({"image_urls": (URL,) * 8}, "grok_video3 takes at most 7 reference images, not 8"),
        ({"model": "grok_video3_pro", "duration": 6}, "grok_video3_pro takes a duration of 10 seconds only"),
        ({"model": "grok_video3_pro", "duration": 30}, "grok_video3_pro takes a duration of 10 seconds only"),
        (
            {"model": "grok_video3_pro", "aspect_ratio": "9:16"},
            "grok_video3_pro takes an aspect ratio of 16:9,",
        ),
        ({"model": "grok_video3_pro", "image_urls": (URL,)}, "grok_video3_pro takes no reference images"),
        (
            {"model": "grok_video3_max", "duration": 7},
            "grok_video3_max takes a duration of one of 6, 10, 12, 16, 20, 30 seconds, not 7",
        ),
        (
            {"model": "grok_video3_max", "aspect_ratio": "3:2"},
            "grok_video3_max takes an aspect ratio of 16:9, 9:16, 1:1, not '3:2'",
        ),
        (
            {"model": "grok_video3_max", "image_urls": (URL,) * 6},
            "grok_video3_max takes at most 5 reference images, not 6",
        ),
        (
            {"model": "grok_video3_max", "image_urls": (BASE64,)},
            "grok_video3_max takes public http(s) image URLs only",
        ),
        (
            {"model": "grok_video3_stable", "image_urls": (URL,) * 8},
            "grok_video3_stable takes at most 7 reference images, not 8",
        ),
        (
            {"model": "grok_video3_stable", "image_urls": (BASE64,)},
            "grok_video3_stable takes public http(s) image URLs only",
        ),
        (
            {"model": "grok_video3_stable", "duration": 12},
            "grok_video3_stable takes a duration of one of 6, 10",
        ),
        ({"model": "grok_video4"}, "model 'grok_video4' is not one of grok_video3, grok_video3_pro"),
        ({"prompt": ""}, "the prompt is empty"),
        ({"prompt": "  \n\t "}, "the prompt is empty"),
        ({"image_urls": ("",)}, "a reference image URL is empty"),
    ],
)
def test_invalid_values_are_refused_naming_the_rule(fields, rule):
    problems = request_problems(request(**fields))
    assert len(problems) == 1, problems
    assert problems[0].startswith(rule)


def test_every_broken_rule_is_named():
    wanted = request("grok_video3_max", prompt="", duration=7, aspect_ratio="3:2", resolution="4k")
    assert len(request_problems(wanted)) == 4


@pytest.mark.parametrize(
    ("model", "images", "accepted"),
    [
        ("grok_video3", (BASE64,), True),
        ("grok_video3", (URL,) * 7, True),
        ("grok_video3_stable", (URL,) * 7, True),
        ("grok_video3_max", (URL,) * 5, True),
        ("grok_video3_stable", (BASE64,), False),
        ("grok_video3_max", (BASE64,), False),
    ],
)
def test_reference_images(model, images, accepted):
    assert (request_problems(request(model, image_urls=images)) == []) is accepted


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"duration": 6}, "grok_video3_stable takes a duration of 10 seconds only, not 6"),
        ({"resolution": "480p"}, "grok_video3_stable takes a resolution of 720p, not '480p'"),
    ],
)
def test_a_strict_server_refuses_what_only_the_second_page_allows(fields, rule):
    wanted = request("grok_video3_stable", **fields)
    assert request_problems(wanted) == []
    assert request_problems(wanted, strict=True) == [rule]


def test_strict_changes_nothing_for_the_other_models():
    for model, duration, ratio, resolution in valid_combinations():
        if model != "grok_video3_stable":
            wanted = request(model, duration=duration, aspect_ratio=ratio, resolution=resolution)
            assert request_problems(wanted, strict=True) == []


@pytest.mark.parametrize(
    ("prompt", "label"),
    [
        ("a cat", "a cat"),
        ("", ""),
        ("  a   cat\non the\tmoon  ", "a cat on the moon"),
        ("x" * 40, "x" * 40),
        (
            "A very long prompt about a cat walking on the moon in slow motion",
            "A very long prompt about a cat walking…",
        ),
        ("x" * 60, "x" * 39 + "…"),
        ("word " * 3 + "y" * 50, "word word word " + "y" * 24 + "…"),
        # a comma before the cut is dropped, not followed by the ellipsis
        ("A cat walking slowly over the moon, then home", "A cat walking slowly over the moon…"),
        # 40 characters and more after them: the ellipsis needs room, so the last word goes
        ("A cat walking on the moon in slow motion xyz", "A cat walking on the moon in slow…"),
    ],
)
def test_label_from_prompt(prompt, label):
    assert label_from_prompt(prompt) == label
    assert len(label_from_prompt(prompt)) <= 40


def test_billing_names_the_seconds_billed_for_per_second_models():
    assert billing_text(request("grok_video3", duration=20)) == "billed per second of video: 20 s"
    assert "10 s, the model's default" in billing_text(request("grok_video3_max"))
    assert billing_text(request("grok_video3_pro")).startswith("billed per call")
    assert billing_text(request("grok_video3_stable", duration=6)).startswith("billed per call")


def test_rules_text_covers_every_model():
    assert "billed per call" in rules_text(MODELS["grok_video3_pro"])
    assert "up to 5 reference images, public http(s) URLs only" in rules_text(MODELS["grok_video3_max"])
