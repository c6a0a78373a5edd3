"""The new-task form, by keys alone: the prompt, then the model, then only what that model allows.

Tab and shift+tab move through every field and button (tab in a text box moves on, it never types a
tab); down opens a list, the arrows choose, enter picks. Nothing is spent by accident: enter on a field
never sends, and ctrl+s (or the Review button) shows a recap of what will be sent and how it is billed,
with the focus on Back; only "Yes, create it" there sends (a second ctrl+s does nothing: a key held or
pressed twice from habit must not spend). Escape with a typed prompt asks before it throws it away.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select, Static, TextArea

from grokdash.core import CreatedNotTrackedError, CreateUncertainError
from grokdash.errors import GrokdashError
from grokdash.models import Task
from grokdash.rules import MODELS, CreateRequest, billing_text, request_problems
from grokdash.spend import Estimate, budget_problem
from grokdash.tui.screens.confirm import ConfirmScreen
from grokdash.tui.widgets.footer import FittingFooter

Send = Callable[[CreateRequest], Awaitable[Task]]

YES_LABEL = "Yes, create it (this is billed)"
DISCARD_QUESTION = "Discard the prompt you typed?"
FORM_WAY_PAST = "raise budget_per_day, or send it with grokdash new --over-budget"
"""How to pass the budget on purpose, said where the form refuses it."""


class NewTaskScreen(ModalScreen[Task | None]):
    """Returns the created task, or None when the user left without creating one."""

    DEFAULT_CSS = """
    NewTaskScreen { align: center middle; }
    NewTaskScreen > #dialog {
        width: 84; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    NewTaskScreen #body { height: auto; max-height: 100%; }
    NewTaskScreen #fields { height: auto; }
    NewTaskScreen Label.field { text-style: bold; }
    NewTaskScreen .hint, NewTaskScreen .fixed { color: $text-muted; }
    NewTaskScreen #prompt { height: 5; }
    NewTaskScreen #images { height: 3; }
    NewTaskScreen #bottom { dock: bottom; height: auto; margin-top: 1; }
    NewTaskScreen #billing { color: $warning; }
    NewTaskScreen #problems { color: $error; }
    NewTaskScreen #options { height: auto; }
    NewTaskScreen #options > Vertical { width: 1fr; height: auto; margin-right: 1; }
    NewTaskScreen #recap { height: auto; }
    NewTaskScreen #buttons { height: auto; }
    NewTaskScreen #buttons Button { margin-right: 2; width: auto; }
    """
    BINDINGS = [
        # One key, two meanings, by step: the footer shows the one that applies.
        Binding("escape", "cancel", "Cancel"),
        Binding("escape", "back", "Back"),
        Binding("ctrl+s", "review", "Review"),
    ]

    def __init__(
        self,
        send: Send,
        request: CreateRequest | None = None,
        estimate: Callable[[CreateRequest], Estimate | None] = lambda request: None,
    ) -> None:
        super().__init__()
        self._send = send
        self._estimate = estimate
        """The request's estimated price and the day's budget, from the user's [prices]; None: no
        price and no budget set."""
        self._initial = request or CreateRequest(model="grok_video3", prompt="")
        self._recap = False
        """The recap step is on screen: the next yes sends."""
        self._sending = False
        self._maybe_created = False
        """The request may have made a task: this form sends nothing more."""
        self._asking = False
        """The discard question is open."""

    @property
    def in_recap(self) -> bool:
        return self._recap

    # ---- layout -----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        initial = self._initial
        rules = MODELS.get(initial.model, MODELS["grok_video3"])
        # Real options from the start (a Select cannot be empty); on_mount sets them per model.
        durations = [(str(d), str(d)) for d in rules.durations]
        ratios = [(r, r) for r in rules.aspect_ratios]
        resolutions = [(r, r) for r in rules.resolutions]
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "New task" if not initial.prompt else "Run again"
            dialog.border_subtitle = "tab moves · ↓ opens a list · ctrl+s review · esc cancel"
            with VerticalScroll(id="body") as body:
                body.can_focus = False  # tab goes to the fields; the body scrolls to show each one
                with Vertical(id="fields"):
                    yield Label("Prompt", classes="field")
                    yield TextArea(initial.prompt, id="prompt", soft_wrap=True, tab_behavior="focus")
                    yield Label("Model", classes="field")
                    yield Select(
                        [(name, name) for name in MODELS],
                        value=initial.model,
                        allow_blank=False,
                        id="model",
                    )
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
                    yield TextArea(
                        "\n".join(initial.image_urls), id="images", soft_wrap=True, tab_behavior="focus"
                    )
                    yield Static("", id="images-hint", classes="hint")
                yield Static("", id="recap")
            # Docked below the fields, so the billing, the problems and the buttons stay on screen however
            # small it is; the fields scroll above them, to the focused one.
            with Vertical(id="bottom"):
                yield Static("", id="billing")
                yield Static("", id="problems")
                with Horizontal(id="buttons"):
                    yield Button("Back (esc)", id="back")
                    yield Button(YES_LABEL, variant="warning", id="create")
                    yield Button("Review… (ctrl+s)", variant="primary", id="review")
                    yield Button("Cancel (esc)", id="cancel")
        yield FittingFooter()

    def on_mount(self) -> None:
        self._apply_model(self._initial.model, keep=self._initial)
        self._show_recap(False)
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

    def request_or_none(self) -> CreateRequest | None:
        try:
            return self.request()
        except (KeyError, ValueError):
            return None

    def _problems(self, request: CreateRequest) -> list[str]:
        """The model's rules broken, and the day's budget when the request would pass it."""
        problems = request_problems(request)
        estimated = self._estimate(request)
        if not problems and estimated is not None:
            over = budget_problem(estimated, request.model, FORM_WAY_PAST)
            if over is not None:
                problems.append(over)
        return problems

    def _can_send(self) -> bool:
        return not (self._sending or self._maybe_created or self._problems(self.request()))

    def _revalidate(self) -> list[str]:
        request = self.request()
        problems = self._problems(request)
        self.query_one("#billing", Static).update(f"{request.model}: {billing_text(request)}")
        self._say_problems(problems)
        self._update_buttons()
        return problems

    def _say_problems(self, problems: list[str]) -> None:
        shown = self.query_one("#problems", Static)
        # Text, not markup: a problem may quote what was typed ("[" in a URL is not a style).
        shown.update(Text("\n".join(f"• {p}" for p in problems)))
        shown.display = bool(problems)

    def _update_buttons(self) -> None:
        blocked = not self._can_send()
        self.query_one("#review", Button).disabled = blocked
        self.query_one("#create", Button).disabled = blocked
        self.query_one("#back", Button).disabled = self._sending
        self.query_one("#cancel", Button).disabled = self._sending

    @on(Select.Changed, "#model")
    def model_changed(self, event: Select.Changed) -> None:
        self._apply_model(str(event.value), keep=self.request_or_none())

    @on(Select.Changed)
    @on(TextArea.Changed)
    def something_changed(self) -> None:
        if self._sending:
            return
        self._revalidate()
        if self._recap:  # the recap always says what "yes" would send
            self.query_one("#recap", Static).update(self.recap_text(self.request()))

    # ---- the recap --------------------------------------------------------------------------------

    def recap_text(self, request: CreateRequest) -> Group:
        """What will be sent, field by field, and how it is billed: the whole wording, wrapped."""
        rules = MODELS[request.model]
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        duration = rules.default_duration if request.duration is None else request.duration
        fixed = " (fixed)" if rules.duration_is_fixed else ""
        rows = [
            ("Model", request.model),
            ("Duration", f"{duration} s{fixed}"),
            ("Aspect ratio", request.aspect_ratio or rules.default_aspect_ratio),
            ("Resolution", request.resolution or rules.default_resolution),
            (
                "Images",
                "\n".join(request.image_urls)
                if request.image_urls
                else "none" + (f" ({request.model} takes none)" if not rules.max_images else ""),
            ),
            ("Billing", billing_text(request)),
        ]
        estimated = self._estimate(request)
        if estimated is not None:
            rows.append(("Price", estimated.describe()))
        rows.append(("Prompt", request.prompt))
        for name, value in rows:
            grid.add_row(name, Text(value))  # Text: what was typed is never read as markup
        head = Text("Check before you create it: this task is billed.", style="bold")
        foot = Text(
            f'Only "{YES_LABEL}" sends it, once (tab, then enter); Back or escape returns to the form.',
            style="dim",
        )
        return Group(head, Text(""), grid, Text(""), foot)

    def _show_recap(self, recap: bool) -> None:
        self._recap = recap
        self.query_one("#fields").display = not recap
        self.query_one("#billing").display = not recap  # the recap says it
        self.query_one("#recap").display = recap
        for button_id in ("back", "create"):
            self.query_one(f"#{button_id}").display = recap
        for button_id in ("review", "cancel"):
            self.query_one(f"#{button_id}").display = not recap
        dialog = self.query_one("#dialog")
        dialog.border_subtitle = (
            "tab moves · enter presses · esc back"
            if recap
            else "tab moves · ↓ opens a list · ctrl+s review · esc cancel"
        )
        self.query_one("#body", VerticalScroll).scroll_home(animate=False)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("back", "create"):
            return self._recap
        if action in ("cancel", "review"):
            return not self._recap
        return True

    @on(Button.Pressed, "#review")
    def action_review(self) -> None:
        """The first step of sending: the recap, with the focus on Back."""
        if self._recap:
            return
        if not self._can_send():
            self.app.bell()  # the problems are on screen already
            return
        self.query_one("#recap", Static).update(self.recap_text(self.request()))
        self._show_recap(True)
        self.query_one("#back", Button).focus()

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        if self._sending or not self._recap:
            return
        self._show_recap(False)
        self.query_one("#review", Button).focus()

    @on(Button.Pressed, "#create")
    def action_create(self) -> None:
        """The second step: only from the recap, and only once."""
        if not self._recap or not self._can_send():
            return
        self.send(self.request())

    # ---- leaving ----------------------------------------------------------------------------------

    def typed_prompt(self) -> bool:
        """A prompt that escape would throw away: typed here, and not sent yet."""
        prompt = self.query_one("#prompt", TextArea).text.strip()
        return bool(prompt) and prompt != self._initial.prompt.strip() and not self._maybe_created

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if self._sending or self._asking:
            return
        if not self.typed_prompt():
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            self._asking = False
            if discard:
                self.dismiss(None)

        self._asking = True
        question = ConfirmScreen(DISCARD_QUESTION, yes="Discard", no="Keep editing", safe_default=True)
        self.app.push_screen(question, answered)

    # ---- sending ----------------------------------------------------------------------------------

    @work(exclusive=True, group="create", exit_on_error=False)
    async def send(self, request: CreateRequest) -> None:
        """One press, one POST: the buttons stay disabled while the request is out, and nothing retries."""
        self._sending = True
        self._update_buttons()
        button = self.query_one("#create", Button)
        button.label = "Sending…"
        try:
            task = await self._send(request)
        except GrokdashError as error:
            self._sending = False
            button.label = YES_LABEL
            said = error.message
            if isinstance(error, CreateUncertainError):
                said += f"; the request is kept in {error.kept}" if error.kept else ""
            # After "may have been created" (or created and not tracked) the user must look first: this
            # form sends nothing more, whatever is pressed.
            self._maybe_created = isinstance(error, CreateUncertainError | CreatedNotTrackedError)
            self._show_recap(False)
            self._update_buttons()
            self._say_problems([said])
            self.query_one("#cancel" if self._maybe_created else "#review", Button).focus()
            return
        self.dismiss(task)
