"""The API key: kept out of reprs, logs and messages by construction."""

from __future__ import annotations

import logging

MASK = "****"


class Secret:
    """A string that never shows itself by accident: `str`, `repr` and f-strings print a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value; call it only where the key is sent (the Authorization header)."""
        return self._value

    def masked(self) -> str:
        """A hint of which key this is, as a user may need to tell keys apart: the last 4 of 20+."""
        if len(self._value) >= 20:
            return f"{MASK}{self._value[-4:]}"
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


def redact(text: str, secret: Secret | None) -> str:
    """`text` with every occurrence of the secret replaced by a mask."""
    if secret and secret.reveal() in text:
        return text.replace(secret.reveal(), MASK)
    return text


class RedactingFormatter(logging.Formatter):
    """Last line of defence for the log file: a line that somehow holds the key is written masked.

    A formatter rather than a filter, so the record itself (seen by other handlers) is left alone."""

    def __init__(self, fmt: str, secret: Secret | None) -> None:
        super().__init__(fmt)
        self.secret = secret

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secret)
