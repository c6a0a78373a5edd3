"""Readable colours: WCAG 2 contrast, and the nearest colour to a theme's that reaches it. The table, the
summary line and the footer draw every word at least MIN_CONTRAST from its background, whatever the
theme (several of Textual's own put their accent at 1.5:1 on their panel)."""

from __future__ import annotations

from rich.color import Color as RichColor
from rich.style import Style
from rich.terminal_theme import TerminalTheme
from textual.color import Color

MIN_CONTRAST = 4.5
"""WCAG 2's AA contrast for text."""


def luminance(color: Color) -> float:
    """WCAG 2's relative luminance."""

    def linear(value: int) -> float:
        channel = value / 255
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(color.r) + 0.7152 * linear(color.g) + 0.0722 * linear(color.b)


def contrast(one: Color, two: Color) -> float:
    """WCAG 2's contrast ratio, 1 (none) to 21 (black on white)."""
    light, dark = sorted((luminance(one), luminance(two)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def readable(text: Color, background: Color) -> Color:
    """`text`, or the nearest colour to it that keeps MIN_CONTRAST with `background`: lighter if it is
    lighter than the background and white would do, else darker (black or white always does)."""
    if contrast(text, background) >= MIN_CONTRAST:
        return text
    black, white = Color(0, 0, 0), Color(255, 255, 255)
    extreme = white if luminance(text) >= luminance(background) else black
    if contrast(extreme, background) < MIN_CONTRAST:
        extreme = black if extreme is white else white
    low, high = 0.0, 1.0
    for _ in range(12):
        middle = (low + high) / 2
        if contrast(text.blend(extreme, middle), background) >= MIN_CONTRAST:
            high = middle
        else:
            low = middle
    return text.blend(extreme, high)


def readable_style(style: Style, ansi_theme: TerminalTheme, *, no_color: bool) -> Style:
    """`style` with its text colour moved, where it must be, to keep MIN_CONTRAST with its background,
    as the terminal will show them: ANSI colours through the app's terminal theme, greys with NO_COLOR
    (Textual's monochrome filter). With NO_COLOR on an ANSI theme, no colour at all: that filter
    turns ANSI colours black, and the terminal's own default colours are readable."""
    background = style.bgcolor or RichColor.default()
    text = style.color or RichColor.default()
    if no_color and (background.is_system_defined or text.is_system_defined):
        return style.without_color
    back = Color.from_rich_color(background, ansi_theme, foreground=False, ansi=False)
    fore = Color.from_rich_color(text, ansi_theme, foreground=True, ansi=False)
    if no_color:
        back, fore = back.monochrome, fore.monochrome
    if contrast(fore, back) >= MIN_CONTRAST:
        return style
    if text.is_system_defined and not no_color:
        # An ANSI theme: keep to the terminal's palette where one of its colours is readable.
        candidates = [
            (contrast(Color.from_rich_color(option, ansi_theme, ansi=False), back), option)
            for option in (RichColor.default(), *map(RichColor.parse, ("black", "bright_white", "white")))
        ]
        best_ratio, best = max(candidates, key=lambda candidate: candidate[0])
        if best_ratio >= MIN_CONTRAST:
            return style + Style(color=best)
    return style + Style(color=readable(fore, back).rich_color)
