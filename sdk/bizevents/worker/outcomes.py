"""Explicit handler outcomes besides success and failure.

Each can be raised or returned by a handler:
    return Skip("order already cancelled")
    raise Retry(after=30)
    raise DeadLetter("customer id refers to a deleted account")
"""

from __future__ import annotations


class Outcome(Exception):
    """Base class: an explicit decision of the handler about the message."""


class Retry(Outcome):
    """Try again later. `after` (seconds) picks the first delayed-retry tier at least that long;
    remaining immediate retries are skipped. Counts towards the retry limit."""

    def __init__(self, after: float | None = None, reason: str = "handler asked to retry") -> None:
        super().__init__(reason)
        self.after = after
        self.reason = reason


class Skip(Outcome):
    """Done, deliberately without effect (logged and counted as `skipped`)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class DeadLetter(Outcome):
    """Send to the dead-letter topic now, without further retries."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
