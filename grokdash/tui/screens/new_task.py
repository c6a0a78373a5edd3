"""The new-task form: the model first, then only what that model allows; it confirms before it spends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Select, Static, TextArea

from grokdash.core import CreatedNotTrackedError, CreateUncertainError
from grokdash.errors import GrokdashError
from grokdash.models import Task
from grokdash.rules import MODELS, CreateRequest, billing_text, request_problems

Send = Callable[[CreateRequest], Awaitable[Task]]


class NewTaskScreen(ModalScreen[Task | None]):
    """Returns the created task, or None when the user left without creating one."""

    DEFAULT_CSS = """
    NewTaskScreen { align: center middle; }
    NewTaskScreen > VerticalScroll {
        width: 84; max-width: 95%; height: auto; max-height: 92%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    NewTaskScreen Label.field { text-style: bold; }
    NewTaskScreen .hint, NewTaskScreen .fixed { color: $text-muted; }
    NewTaskScreen #prompt { height: 5; }
    NewTaskScreen #images { height: 3; }
    NewTaskScreen #billing { margin-top: 1; color: $warning; }
    NewTaskScreen #problems { color: $error; }
    NewTaskScreen #confirm-row { height: auto; margin-top: 1; }
    NewTaskScreen #options { height: auto; }
    NewTaskScreen #options > Vertical { width: 1fr; height: auto; margin-right: 1; }
    NewTaskScreen Button { margin-right: 2; width: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Create")]

    def __init__(self, send: Send, request: CreateRequest | None = None) -> None:
        super().__init__()
        self._send = send
        self._initial = request or CreateRequest(model="grok_video3", prompt="")
        self._confirming = False
        self._sending = False
        self._maybe_created = False
        """The request may have made a task: this form sends nothing more."""

    # ---- layout -----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        initial = self._initial
        rules = MODELS.get(initial.model, MODELS["grok_video3"])
        # Real options from the start (a Select cannot be empty); on_mount sets them per model.
        durations = [(str(d), str(d)) for d in rules.durations]
        ratios = [(r, r) for r in rules.aspect_ratios]
        resolutions = [(r, r) for r in rules.resolutions]
        with VerticalScroll() as form:
            form.border_title = "New task" if not initial.prompt else "Run again"
            yield Label("Model", classes="field")
            yield Select(
                [(name, name) for name in MODELS], value=initial.model, allow_blank=False, id="model"
            )
            yield Label("Prompt", classes="field")
            yield TextArea(initial.prompt, id="prompt", soft_wrap=True)
            with Horizontal(id="options"):
                with Vertical():
                    yield Label("Duration", classes="field")
                    yield Select(durations, id="duration", allow_blank=False)
                    yield Static("", id="duration-fixed", classes="fixed")
                with Vertical():
                    yield Label("Aspect ratio", classes="field")
                    yield Select(ratios, id="aspect", allow_blank=False)
                    yield Static("", id="aspect-fixed", classes="fixed")
                with Vertical():
                    yield Label("Resolution", classes="field")
                    yield Select(resolutions, id="resolution", allow_blank=False)
            yield Label("Reference image URLs", classes="field", id="images-label")
            yield TextArea("\n".join(initial.image_urls), id="images", soft_wrap=True)
            yield Static("", id="images-hint", classes="hint")
            yield Static("", id="billing")
            yield Static("", id="problems")
            with Horizontal(id="confirm-row"):
                yield Button("Create…", variant="primary", id="create")
                yield Button("Cancel", id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self._apply_model(self._initial.model, keep=self._initial)
        self.query_one("#prompt", TextArea).focus()

    # ---- the model decides the options ------------------------------------------------------------

    def _apply_model(self, model: str, keep: CreateRequest | None = None) -> None:
        rules = MODELS[model]
        self._set_choice(
            "duration",
            [str(d) for d in rules.durations],
            keep.duration if keep else None,
            rules.default_duration,
            fixed=rules.duration_is_fixed,
            unit=" s",
        )
        self._set_choice(
            "aspect",
            list(rules.aspect_ratios),
            keep.aspect_ratio if keep else None,
            rules.default_aspect_ratio,
            fixed=len(rules.aspect_ratios) == 1,
        )
        self._set_choice(
            "resolution",
            list(rules.resolutions),
            keep.resolution if keep else None,
            rules.default_resolution,
            fixed=False,
        )
        images = rules.max_images > 0
        for selector in ("#images", "#images-label", "#images-hint"):
            self.query_one(selector).display = images
        public = "public http(s) URLs only" if rules.images_public_only else "URLs or base64 data"
        self.query_one("#images-hint", Static).update(f"one per line, at most {rules.max_images}; {public}")
        self._revalidate()

    def _set_choice(
        self, name: str, values: list[str], chosen: object, default: object, *, fixed: bool, unit: str = ""
    ) -> None:
        select = self.query_one(f"#{name}", Select)
        value = str(chosen) if chosen is not None and str(chosen) in values else str(default)
        select.set_options([(f"{v}{unit}", v) for v in values])
        select.value = value if value in values else values[0]
        select.display = not fixed
        fixed_text = self.query(f"#{name}-fixed")
        if fixed_text:
            fixed_text.first(Static).update(f"{value}{unit} (fixed)" if fixed else "")
            fixed_text.first().display = fixed

    # ---- the request ------------------------------------------------------------------------------

    def request(self) -> CreateRequest:
        model = str(self.query_one("#model", Select).value)
        rules = MODELS[model]
        duration = int(str(self.query_one("#duration", Select).value))
        images = tuple(
            line.strip() for line in self.query_one("#images", TextArea).text.splitlines() if line.strip()
        )
        return CreateRequest(
            model=model,
            prompt=self.query_one("#prompt", TextArea).text.strip(),
            duration=None if rules.duration_is_fixed else duration,
            aspect_ratio=str(self.query_one("#aspect", Select).value),
            resolution=str(self.query_one("#resolution", Select).value),
            image_urls=images if rules.max_images else (),
        )

    def _revalidate(self) -> list[str]:
        request = self.request()
        problems = request_problems(request)
        self.query_one("#billing", Static).update(f"{request.model}: {billing_text(request)}")
        # Text, not markup: a problem may quote what was typed ("[" in a URL is not a style).
        self.query_one("#problems", Static).update(Text("\n".join(f"• {p}" for p in problems)))
        self._set_confirming(False)
        self.query_one("#create", Button).disabled = bool(problems) or self._sending
        return problems

    def _set_confirming(self, confirming: bool) -> None:
        self._confirming = confirming
        button = self.query_one("#create", Button)
        button.label = "Yes, create it (this is billed)" if confirming else "Create…"
        button.variant = "warning" if confirming else "primary"

    @on(Select.Changed, "#model")
    def model_changed(self, event: Select.Changed) -> None:
        self._apply_model(str(event.value), keep=self.request_or_none())

    def request_or_none(self) -> CreateRequest | None:
        try:
            return self.request()
        except (KeyError, ValueError):
            return None

    @on(Select.Changed)
    @on(TextArea.Changed)
    def something_changed(self) -> None:
        if not self._sending:
            self._revalidate()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if not self._sending:
            self.dismiss(None)

    @on(Button.Pressed, "#create")
    def action_submit(self) -> None:
        if self._sending or self._maybe_created or request_problems(self.request()):
            return
        if not self._confirming:
            self._set_confirming(True)  # the first press asks; the second one spends
            self.query_one("#create", Button).focus()
            return
        self.send(self.request())

    @work(exclusive=True, group="create", exit_on_error=False)
    async def send(self, request: CreateRequest) -> None:
        """One press, one POST: the button stays disabled while the request is out, and nothing retries."""
        self._sending = True
        button = self.query_one("#create", Button)
        button.disabled, button.label = True, "Sending…"
        try:
            task = await self._send(request)
        except GrokdashError as error:
            self._sending = False
            said = error.message
            if isinstance(error, CreateUncertainError):
                said += f"; the request is kept in {error.kept}" if error.kept else ""
            self.query_one("#problems", Static).update(Text(f"• {said}"))
            button.label = "Create…"
            button.variant = "primary"
            self._confirming = False
            # After "may have been created" (or created and not tracked) the user must look first: this
            # form sends nothing more, whatever is pressed.
            self._maybe_created = isinstance(error, CreateUncertainError | CreatedNotTrackedError)
            button.disabled = self._maybe_created
            return
        self.dismiss(task)
