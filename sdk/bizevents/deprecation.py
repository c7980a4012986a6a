"""Deprecated event types: said once per process to whoever still publishes or subscribes."""

from __future__ import annotations

from typing import Any

_said: set[tuple[str, str]] = set()


def warn_if_deprecated(contract: Any, role: str, app: str | None) -> None:
    """A warning the first time this process publishes (or subscribes to) a deprecated type."""
    deprecation = getattr(contract, "deprecation", None)
    if not deprecation or (contract.event_type, role) in _said:
        return
    _said.add((contract.event_type, role))
    from .logging import get_logger

    get_logger("bizevents.contracts").warning(
        f"{role} of a deprecated event type",
        event_type=contract.event_type,
        app=app,
        deprecation=deprecation,
    )
