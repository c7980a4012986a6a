"""Kafka topic names used by bizevents (one place, so every process agrees)."""

from __future__ import annotations

import re

_LEGAL = re.compile(r"[^a-zA-Z0-9._-]")


def _safe(part: str) -> str:
    # Kafka topic names allow [a-zA-Z0-9._-] only.
    return _LEGAL.sub("-", part)


def event_topic(event_type: str) -> str:
    """Default topic of an event type (a contract's channel address may override it)."""
    return _safe(event_type)


def retry_topic(group: str, label: str) -> str:
    """Delayed-retry topic of a subscriber group, e.g. bizevents.retry.billing.10s."""
    return f"bizevents.retry.{_safe(group)}.{_safe(label)}"


def dead_letter_topic(group: str) -> str:
    return f"bizevents.dlq.{_safe(group)}"


def replay_topic(group: str) -> str:
    """Where replayed dead letters go: only the named group's worker reads it."""
    return f"bizevents.replay.{_safe(group)}"
