"""The behaviour suite's backends: every test taking `backend` runs twice, on `MemoryKafka` and on
the real Kafka, from one body (so the harness is held to what the real worker does)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bizevents.testing import TestEvents

# What the worker tests ran with: tiny backoffs and two short delayed-retry tiers.
FAST: dict[str, Any] = {
    "retry_attempts": 2,
    "retry_backoff_initial": 0.001,
    "retry_backoff_max": 0.005,
    "retry_delays": [0.2, 0.4],
    "commit_interval": 0.1,
}


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.services)])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None for MemoryKafka, else the real Kafka's bootstrap address."""
    if request.param == "memory":
        return None
    return str(request.getfixturevalue("services").kafka_bootstrap)


def on(backend: str | None, app: Any, *, partitions: int = 3, **settings: Any) -> TestEvents:
    """`TestEvents` for `app` on `backend`, in real time, with `FAST` settings (overridable)."""
    return TestEvents(
        app, kafka=backend, time_scale=1, partitions=partitions, settings={**FAST, **settings}
    )


def new_type(name: str = "Thing") -> str:
    """A unique event type; its topic (the same name) is this test's own."""
    return f"test.{uuid.uuid4().hex[:10]}.{name}.v1"


def new_group() -> str:
    return f"g-{uuid.uuid4().hex[:10]}"


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 30.0, what: str = ""
) -> None:
    """Poll `check` until true; fail after `timeout` seconds (generous: the machine is shared)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or check}")
        await asyncio.sleep(0.02)


def ends_of(records: list[Any]) -> dict[int, int]:
    """End offsets by partition, from a topic's records (partitions without records left out)."""
    ends: dict[int, int] = {}
    for r in records:
        ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
    return ends


def nonzero(offsets: dict[int, int]) -> dict[int, int]:
    return {p: o for p, o in offsets.items() if o}
