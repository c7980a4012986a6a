"""Exponential backoff with jitter for immediate retries (pure logic)."""

from __future__ import annotations

import random


def backoff_delay(
    attempt: int,
    initial: float,
    maximum: float,
    multiplier: float = 2.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number `attempt` (1 = the first retry).

    "Equal jitter": half the exponential step is fixed, half random, so retries of many
    failing messages spread out without ever collapsing to zero.
    """
    if attempt < 1:
        raise ValueError("attempt starts at 1")
    step = min(maximum, initial * multiplier ** (attempt - 1))
    return step / 2 + (rng or random).uniform(0, step / 2)


def delay_label(seconds: float) -> str:
    """A short, topic-safe label for a delay: 10s, 1m, 10m, 2h, 50ms."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s".replace(".", "_")
