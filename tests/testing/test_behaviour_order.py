"""Per-key order and concurrency over 10k events with random transient failures, on both backends.

(Rebalances between two workers stay in tests/worker/test_order.py: they need Kafka's group
protocol.)
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import pytest

from bizevents.envelope import to_kafka
from bizevents.worker import Context, RetryPolicy, Router

from .conftest import ends_of, eventually, new_group, new_type, nonzero, on

pytestmark = pytest.mark.slow

KEYS = 100
PER_KEY = 100


def flaky(key: str, seq: int, attempt: int) -> bool:
    """Deterministic 5% failure per attempt: ~25 events reach a retry topic, a few two."""
    return random.Random(f"{key}/{seq}/{attempt}").random() < 0.05


async def test_per_key_order_over_10k_events_with_transient_failures(
    backend: str | None,
) -> None:
    etype, group = new_type(), new_group()
    router = Router()
    succeeded: dict[str, list[int]] = defaultdict(list)
    active: set[str] = set()
    overlaps: list[str] = []
    max_concurrent = 0
    via_retry_topic = 0

    @router.subscriber(etype, group=group, retry=RetryPolicy(attempts=2, delays=(0.05, 0.1, 0.1)))
    async def handle(event: dict[str, object], ctx: Context) -> None:
        nonlocal max_concurrent, via_retry_topic
        key, seq = str(event["k"]), int(str(event["s"]))
        if key in active:
            overlaps.append(key)
        active.add(key)
        max_concurrent = max(max_concurrent, len(active))
        try:
            await asyncio.sleep(0)  # give other keys a chance to interleave
            if flaky(key, seq, ctx.attempt):
                raise RuntimeError("transient")
            via_retry_topic += ctx.topic != etype
            succeeded[key].append(seq)
        finally:
            active.discard(key)

    async with on(backend, router, concurrency=32, max_pending_per_partition=500) as t:
        records = []
        for s in range(PER_KEY):
            for k in range(KEYS):
                topic, event = t.build(etype, {"k": f"key{k}", "s": s}, key=f"key{k}")
                records.append(to_kafka(event))
        await t.send_records(topic, records)
        await eventually(lambda: sum(map(len, succeeded.values())) >= KEYS * PER_KEY, 120)
        ends = ends_of(await t.records(etype))

        async def all_committed() -> bool:
            return nonzero(await t.committed(etype, group)) == ends

        await eventually(all_committed, 30)

    assert overlaps == []
    assert all(succeeded[f"key{k}"] == list(range(PER_KEY)) for k in range(KEYS))
    assert via_retry_topic > 10  # the retry topics were really used (and parked others)
    assert 1 < max_concurrent <= 32
