"""Textual's footer, showing only the keys that fit whole."""

from __future__ import annotations

from rich.cells import cell_len
from textual.events import Resize
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PALETTE_EDGE = 2
"""Cells the palette key takes beyond its words: its left border and its right padding."""


class FittingFooter(Footer):
    """A footer whose keys are shown whole or not at all, in their order: at 80 columns Textual's cut
    the last one to a bare `d`, which reads like a key with no meaning. `?` lists every key."""

    async def recompose(self) -> None:
        await super().recompose()
        self._fit()

    def on_mount(self) -> None:
        self._fit()

    def on_resize(self, event: Resize) -> None:
        self._fit()

    def _fit(self) -> None:
        keys = list(self.query(FooterKey))
        palette = [key for key in keys if key.has_class("-command-palette")]
        room = self.size.width - sum(cell_len(key.render().plain) + PALETTE_EDGE for key in palette)
        used, full = 0, False
        for key in keys:
            if key in palette:
                continue
            width = cell_len(key.render().plain)
            full = full or used + width > room
            key.display = not full
            used += width
