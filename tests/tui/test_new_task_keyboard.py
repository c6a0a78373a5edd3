"""The new-task form by keys alone (issue 13): tab and shift+tab reach every field and button, the arrows
choose, enter presses; nothing is sent without the recap, whose focus starts on Back; escape asks before
it throws a typed prompt away; at 80×24 the buttons and the whole "this is billed" wording are on screen.

Driven like a user would, against the simulator: each key is a pilot key press, and the body of every
create the simulator received is checked against what was chosen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from rich.cells import cell_len
from textual.command import CommandPalette
from textual.widget import Widget
from textual.widgets import Button, Select, Static, TextArea
from textual.widgets._select import SelectOverlay

from grokdash.rules import MODELS, CreateRequest, billing_text, request_problems
from grokdash.sim import SimServer, server
from grokdash.tui.screens.confirm import ConfirmScreen
from grokdash.tui.screens.new_task import DISCARD_QUESTION, YES_LABEL, NewTaskScreen

from .board import Dashboard, dashboard, plain_text

pytestmark = pytest.mark.anyio


# ---- what the simulator received -----------------------------------------------------------------


@pytest.fixture
def bodies(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """The JSON body of every create request the simulator read, as it arrived on the wire."""
    received: list[dict] = []
    parse = server.parse_create

    def recording(body: bytes):
        received.append(json.loads(body))
        return parse(body)

    monkeypatch.setattr(server, "parse_create", recording)
    return received


def posts(sim: SimServer) -> list:
    return [record for record in sim.log.records() if record.method == "POST"]


async def sent(board: Dashboard, sim: SimServer) -> list:
    """The creates the simulator received, once any create a key started has ended (so one on its way is
    counted too)."""
    started = [worker for worker in board.app.workers if worker.group == "create"]
    if started:
        await board.app.workers.wait_for_complete(started)
    return posts(sim)


# ---- moves ---------------------------------------------------------------------------------------


def focused(board: Dashboard) -> str | None:
    widget = board.app.focused
    return None if widget is None else widget.id


async def type_text(board: Dashboard, text: str) -> None:
    """Type `text` key by key; a new line is the enter key."""
    keys = {" ": "space", "\n": "enter"}
    await board.press(*(keys.get(char, char) for char in text))


async def open_form(board: Dashboard) -> NewTaskScreen:
    await board.press("n")
    form = board.app.screen
    assert isinstance(form, NewTaskScreen)
    assert focused(board) == "prompt"
    return form


async def choose(board: Dashboard, value: str) -> None:
    """On the focused Select: down opens its list, the arrows move to `value`, enter picks it."""
    select = board.app.focused
    assert isinstance(select, Select), f"{select!r} is not a list"
    await board.press("down")
    assert select.expanded
    overlay = select.query_one(SelectOverlay)
    values = [option_value for _, option_value in select._options]
    steps = values.index(value) - (overlay.highlighted or 0)
    await board.press(*(["down"] * steps if steps > 0 else ["up"] * -steps))
    await board.press("enter")
    assert not select.expanded and select.value == value
    assert board.app.focused is select


async def tab(board: Dashboard, expected: str, key: str = "tab") -> None:
    await board.press(key)
    assert focused(board) == expected, f"{key} went to {focused(board)!r}, not {expected!r}"


def recap(form: NewTaskScreen) -> str:
    return plain_text(form.query_one("#recap", Static).content)


def screen_lines(board: Dashboard) -> list[str]:
    """The text of each line on the terminal, as drawn."""
    strips = board.app.screen._compositor.render_strips()
    return ["".join(text for text, _, _ in strip) for strip in strips]


def on_screen(board: Dashboard, widget: Widget) -> bool:
    """The widget is drawn in full, on the terminal, with nothing over it."""
    region = widget.region
    screen = board.app.screen
    if not region or not screen.region.contains_region(region):
        return False
    corners = [(region.x, region.y), (region.right - 1, region.bottom - 1), region.center]
    return all(widget in screen.get_widget_at(int(x), int(y))[0].ancestors_with_self for x, y in corners)


# ---- one task of each model ----------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """What a user picks for one model: never the defaults, wherever the model has a choice."""

    duration: str | None = None
    aspect: str | None = None
    resolution: str | None = None
    images: tuple[str, ...] = ()
    body: dict = field(default_factory=dict)
    """What the simulator must receive, besides the model and the prompt."""


CHOICES = {
    "grok_video3": Choice(
        duration="15",
        aspect="2:3",
        resolution="480p",
        images=("https://i.test/a.png",),
        body={
            "duration": 15,
            "aspect_ratio": "2:3",
            "resolution": "480p",
            "image_urls": ["https://i.test/a.png"],
        },
    ),
    # Fixed at 10 s and 16:9, no images: only the resolution is a choice.
    "grok_video3_pro": Choice(resolution="480p", body={"aspect_ratio": "16:9", "resolution": "480p"}),
    "grok_video3_max": Choice(
        duration="16",
        aspect="1:1",
        resolution="480p",
        images=("https://i.test/a.png", "https://i.test/b.png"),
        body={
            "duration": 16,
            "aspect_ratio": "1:1",
            "resolution": "480p",
            "image_urls": ["https://i.test/a.png", "https://i.test/b.png"],
        },
    ),
    # The strict server takes 10 s and 720p only (6 s and 480p are on the second provider page).
    "grok_video3_stable": Choice(
        aspect="3:2",
        images=("https://i.test/c.png",),
        body={
            "duration": 10,
            "aspect_ratio": "3:2",
            "resolution": "720p",
            "image_urls": ["https://i.test/c.png"],
        },
    ),
}


@pytest.mark.parametrize("model", list(MODELS))
async def test_a_task_of_each_model_is_created_by_keys_alone_with_its_options(
    store, clock, sim, bodies, model
):
    assert set(CHOICES) == set(MODELS)
    choice = CHOICES[model]
    rules = MODELS[model]
    # What is chosen is valid for the strict server: a refusal could only come from the form.
    chosen = CreateRequest.from_json({"model": model, "prompt": "x", **choice.body})
    assert request_problems(chosen, strict=True) == []
    prompt = "a fox at dawn"
    async with dashboard(store, clock, sim) as board:
        form = await open_form(board)
        await type_text(board, prompt)
        await tab(board, "model")
        await choose(board, model)
        if not rules.duration_is_fixed:
            await tab(board, "duration")
            if choice.duration:
                await choose(board, choice.duration)
        if len(rules.aspect_ratios) > 1:
            await tab(board, "aspect")
            if choice.aspect:
                await choose(board, choice.aspect)
        await tab(board, "resolution")
        if choice.resolution:
            await choose(board, choice.resolution)
        if rules.max_images:
            await tab(board, "images")
            await type_text(board, "\n".join(choice.images))
        await tab(board, "review")
        await tab(board, "cancel")
        await tab(board, "prompt")  # round the form, and back
        await tab(board, "cancel", key="shift+tab")
        await tab(board, "review", key="shift+tab")

        await board.press("enter")  # Review…: the recap, nothing sent
        assert form.in_recap and posts(sim) == []
        assert focused(board) == "back"
        shown = recap(form)
        for value in (model, billing_text(form.request()), *choice.images):
            assert value in shown
        await tab(board, "create")
        await board.press("enter")  # Yes, create it (this is billed)
        await board.until(lambda: not isinstance(board.app.screen, NewTaskScreen), "the form to close")

        assert len(posts(sim)) == 1
        assert bodies == [{"model": model, "prompt": prompt, **choice.body}]
        created = store.get(posts(sim)[0].task_id)
        assert created is not None and created.request == bodies[0]


async def test_tab_and_shift_tab_go_round_every_field_and_button(store, clock, sim):
    async with dashboard(store, clock, sim) as board:
        form = await open_form(board)
        await type_text(board, "waves")
        order = ["model", "duration", "aspect", "resolution", "images", "review", "cancel", "prompt"]
        for expected in order:
            await tab(board, expected)
        for expected in reversed(order[:-1]):
            await tab(board, expected, key="shift+tab")
        await tab(board, "prompt", key="shift+tab")
        # Tab in the text boxes moved on: it typed nothing.
        assert form.query_one("#prompt", TextArea).text == "waves"
        assert form.query_one("#images", TextArea).text == ""

        await board.press("ctrl+s")  # the recap has its own round: Back, then Yes
        assert focused(board) == "back"
        await tab(board, "create")
        await tab(board, "back")
        await tab(board, "create", key="shift+tab")
        assert posts(sim) == []


# ---- nothing is sent by accident -----------------------------------------------------------------


def pressing(board: Dashboard) -> bool:
    """A button on screen is still showing a press (it takes no other until that ends)."""
    return any(button.has_class("-active") for button in board.app.screen.query(Button))


async def tab_until(board: Dashboard, widget_id: str) -> None:
    """Tab until `widget_id` has the focus, whatever the order."""
    for _ in range(20):
        if focused(board) == widget_id:
            return
        await board.press("tab")
    raise AssertionError(f"tab never reached {widget_id}")


async def test_enter_on_every_widget_of_the_form_sends_nothing_without_the_recap(store, clock, sim):
    """Enter on each widget, then a second, stray enter on whatever has the focus after it: no request
    leaves, and the form is where it was (a list keeps its value, the recap goes back, the question keeps
    the prompt)."""
    async with dashboard(store, clock, sim) as board:
        form = await open_form(board)
        await type_text(board, "a kite")
        await tab_until(board, "model")
        await choose(board, "grok_video3_max")
        await tab_until(board, "prompt")

        pressed: list[Widget] = []
        while board.app.focused not in pressed:
            widget = board.app.focused
            assert widget is not None
            pressed.append(widget)
            await board.press("enter")
            assert await sent(board, sim) == [], f"enter on {widget.id} sent a request"
            after = board.app.focused
            # A button ignores enter for a moment after a press; a stray enter comes a moment later.
            await board.until(lambda: not pressing(board), "the press to end")
            await board.press("enter")  # the stray one
            assert await sent(board, sim) == [], (
                f"enter on {widget.id}, then on {after and after.id}, sent a request"
            )
            assert board.app.screen is form, (
                f"enter on {widget.id}, then on {after and after.id}, left the form"
            )
            assert board.app.focused is widget
            await board.press("tab")

        assert [widget.id for widget in pressed] == [
            "prompt",
            "model",
            "duration",
            "aspect",
            "resolution",
            "images",
            "review",
            "cancel",
        ]
        # Enter in the text boxes made new lines, not a request; and the form still sends when asked.
        assert form.request().prompt == "a kite"
        assert form.request().model == "grok_video3_max"
        await board.press("ctrl+s")
        await tab(board, "create")
        await board.press("enter")
        await board.until(lambda: len(posts(sim)) == 1, "the one create")


async def test_the_recap_starts_on_back_and_says_everything_that_will_be_sent(store, clock, sim):
    async with dashboard(store, clock, sim) as board:
        form = await open_form(board)
        await type_text(board, "a drone")
        for widget_id, value in [
            ("model", "grok_video3_max"),
            ("duration", "20"),
            ("aspect", "9:16"),
            ("resolution", "480p"),
        ]:
            await tab_until(board, widget_id)
            await choose(board, value)
        await tab_until(board, "images")
        await type_text(board, "https://i.test/x.png")
        await board.press("ctrl+s")
        assert focused(board) == "back" and posts(sim) == []  # a stray enter goes back
        assert form.in_recap
        shown = " ".join(recap(form).split())
        for words in (
            "Model grok_video3_max",
            "Duration 20 s",
            "Aspect ratio 9:16",
            "Resolution 480p",
            "Images https://i.test/x.png",
            "Billing billed per second of video: 20 s",
            "Prompt a drone",
            "this task is billed",
        ):
            assert words in shown
        assert str(form.query_one("#create", Button).label) == YES_LABEL

        await board.press("escape")  # back to the form, not out of it
        assert isinstance(board.app.screen, NewTaskScreen) and not form.in_recap
        assert focused(board) == "review"

        for expected in ("images", "resolution", "aspect", "duration", "model"):
            await tab(board, expected, key="shift+tab")
        await choose(board, "grok_video3_pro")
        await board.press("ctrl+s")
        shown = " ".join(recap(form).split())
        assert "Duration 10 s (fixed)" in shown and "billed per call" in shown
        assert "Images none (grok_video3_pro takes none)" in shown
        assert focused(board) == "back" and posts(sim) == []


async def test_ctrl_s_pressed_twice_or_held_sends_nothing_only_yes_does(store, clock, sim):
    async with dashboard(store, clock, sim) as board:
        form = await open_form(board)
        await type_text(board, "a lantern on a lake")
        await board.press("ctrl+s", "ctrl+s", "ctrl+s")  # a habit, or a key held down
        assert form.in_recap and posts(sim) == []
        assert "ctrl+s" not in recap(form)  # the recap names the one way to send
        await board.press("tab")
        assert focused(board) == "create"
        await board.press("enter")
        await board.until(lambda: len(posts(sim)) == 1, "the one create")


async def test_escape_asks_before_throwing_a_typed_prompt_away_and_closes_an_empty_form(store, clock, sim):
    async with dashboard(store, clock, sim) as board:
        form = await open_form(board)
        await type_text(board, "a red fox")
        await board.press("escape")
        asked = board.app.screen
        assert isinstance(asked, ConfirmScreen)
        assert DISCARD_QUESTION in plain_text(asked.query_one("#question").render())
        assert focused(board) == "no"  # a stray enter keeps the prompt
        await board.press("y")  # typing on after an escape pressed by habit answers nothing
        assert board.app.screen is asked
        await board.press("escape")  # keep editing
        assert board.app.screen is form
        assert form.query_one("#prompt", TextArea).text == "a red fox"

        await tab(board, "model")
        await board.press("down")  # a list open: escape closes the list only
        assert form.query_one("#model", Select).expanded
        await board.press("escape")
        assert board.app.screen is form and focused(board) == "model"

        await board.press("escape")
        assert isinstance(board.app.screen, ConfirmScreen)
        await tab(board, "yes")
        await board.press("enter")  # Discard
        assert not isinstance(board.app.screen, (NewTaskScreen, ConfirmScreen))
        assert posts(sim) == []

        await open_form(board)  # nothing typed: escape closes at once
        await board.press("escape")
        assert not isinstance(board.app.screen, (NewTaskScreen, ConfirmScreen))


async def test_quit_from_the_palette_over_a_typed_prompt_asks_first(store, clock, sim):
    async with dashboard(store, clock, sim) as board:
        form = await open_form(board)
        await type_text(board, "a red fox")
        await board.app.action_quit()  # what the palette's Quit runs
        await board.pilot.pause()
        asked = board.app.screen
        assert isinstance(asked, ConfirmScreen) and focused(board) == "no"  # a stray enter stays
        await board.press("enter")
        assert board.app.screen is form and board.app.is_running
        assert form.query_one("#prompt", TextArea).text == "a red fox"
        await board.app.action_quit()
        await board.pilot.pause()
        await tab(board, "yes")
        await board.press("enter")
        await board.until(lambda: not board.app.is_running, "the dashboard to close")


async def test_ctrl_p_opens_the_palette_over_the_form(store, clock, sim):
    async with dashboard(store, clock, sim) as board:
        form = await open_form(board)
        await type_text(board, "waves")
        await board.press("ctrl+p")
        assert isinstance(board.app.screen, CommandPalette)
        await board.press("escape")
        assert board.app.screen is form
        assert form.query_one("#prompt", TextArea).text == "waves"


# ---- a small terminal ----------------------------------------------------------------------------


async def test_at_80x24_the_buttons_and_the_whole_billed_wording_are_on_screen(
    store, clock, sim, monkeypatch
):
    from tests.tui import board as board_module

    monkeypatch.setattr(board_module, "SIZE", (80, 24))
    async with dashboard(store, clock, sim) as board:
        assert board.app.size == (80, 24)
        form = await open_form(board)
        await type_text(board, "a lighthouse")
        await tab_until(board, "model")
        await choose(board, "grok_video3_max")
        for button_id in ("review", "cancel"):
            assert on_screen(board, form.query_one(f"#{button_id}")), f"{button_id} is off screen"
        # Every field is reached by tab, and each is scrolled into view when it is.
        for expected in ("duration", "aspect", "resolution", "images", "review", "cancel", "prompt", "model"):
            await tab(board, expected)
            await board.pilot.wait_for_scheduled_animations()  # the scroll to it
            assert on_screen(board, board.app.focused), f"{expected} is off screen"
        assert on_screen(board, form.query_one("#review")) and on_screen(board, form.query_one("#cancel"))

        await board.press("ctrl+s")
        assert form.in_recap
        yes = form.query_one("#create", Button)
        for button in (form.query_one("#back"), yes):
            assert on_screen(board, button)
        assert yes.content_region.width >= cell_len(YES_LABEL)
        assert any(YES_LABEL in line for line in screen_lines(board)), "the yes button's label is cut"
        assert posts(sim) == []
