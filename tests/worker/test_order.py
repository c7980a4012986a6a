"""Per-key order and concurrency over 10k events with random transient failures; rebalances."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Callable

import pytest

from bizevents.worker import Context, RetryPolicy, Router, Worker, WorkerSettings

from .worker_helpers import Kafka, envelope, running, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]

KEYS = 100
PER_KEY = 100


def flaky(key: str, seq: int, attempt: int) -> bool:
    """Deterministic 5% failure per attempt: ~25 events reach a retry topic, a few two."""
    return random.Random(f"{key}/{seq}/{attempt}").random() < 0.05


async def test_per_key_order_over_10k_events_with_transient_failures(
    kafka: Kafka, group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    etype = await kafka.new_type(partitions=3)
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

    events = [
        envelope(etype, {"k": f"key{k}", "s": s}, key=f"key{k}")
        for s in range(PER_KEY)
        for k in range(KEYS)
    ]
    await kafka.send(etype, events)
    settings = fast_settings(concurrency=32, max_pending_per_partition=500)
    async with running(Worker(router, settings)):
        await wait_until(lambda: sum(map(len, succeeded.values())) >= KEYS * PER_KEY, 120)
        ends = await kafka.end_offsets(etype, 3)
        await wait_until(lambda: _committed_all(kafka, group, etype, ends), 30)

    assert overlaps == []
    assert all(succeeded[f"key{k}"] == list(range(PER_KEY)) for k in range(KEYS))
    assert via_retry_topic > 10  # the retry topics were really used (and parked others)
    assert 1 < max_concurrent <= 32


async def _committed_all(kafka: Kafka, group: str, topic: str, ends: dict[int, int]) -> bool:
    return await kafka.committed(group, topic) == ends


async def test_rebalance_commits_done_offsets_and_loses_nothing(
    kafka: Kafka, group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    etype = await kafka.new_type(partitions=4)
    handled: list[tuple[str, int]] = []
    joined: list[Worker] = []

    def b_has_partitions() -> bool:
        consumer = joined[0].groups[0].consumer if joined else None
        return consumer is not None and any(tp.topic == etype for tp in consumer.assignment())

    def app(name: str) -> Router:
        router = Router()

        @router.subscriber(etype, group=group)
        async def handle(event: dict[str, int], ctx: Context) -> None:
            # a runs slowly until b owns partitions, so a slow rebalance cannot let a finish alone.
            await asyncio.sleep(0.01 if name == "b" or b_has_partitions() else 0.03)
            handled.append((name, event["n"]))

        return router

    total = 1000
    await kafka.send(etype, [envelope(etype, {"n": i}, key=f"k{i % 50}") for i in range(total)])
    # Small fetches bound what a holds (and must finish) when its partitions are revoked.
    settings = fast_settings(concurrency=2, max_pending_per_partition=50, fetch_max_records=20)
    async with running(Worker(app("a"), settings)):
        await wait_until(lambda: len(handled) > 50)
        joined.append(Worker(app("b"), settings))
        async with running(joined[0]):  # joins: partitions move to b
            await wait_until(lambda: len({n for _, n in handled}) == total, 60)
            ends = await kafka.end_offsets(etype, 4)
            await wait_until(lambda: _committed_all(kafka, group, etype, ends), 30)
    numbers = [n for _, n in handled]
    assert set(numbers) == set(range(total))
    assert {name for name, _ in handled} == {"a", "b"}
    # Done offsets were committed on revoke, and revoked work not started was left to b.
    assert len(numbers) == total


async def test_backpressure_bounds_fetched_records_and_handler_concurrency(
    kafka: Kafka, group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    etype = await kafka.new_type(partitions=1)
    router = Router()
    running_now = 0
    most_running = 0
    most_pending = 0
    handled = 0

    @router.subscriber(etype, group=group)
    async def handle(event: dict[str, int], ctx: Context) -> None:
        nonlocal running_now, most_running, handled
        running_now += 1
        most_running = max(most_running, running_now)
        await asyncio.sleep(0.002)
        running_now -= 1
        handled += 1

    await kafka.send(etype, [envelope(etype, {"n": i}, key=f"k{i}") for i in range(600)])
    settings = fast_settings(concurrency=4, max_pending_per_partition=40, fetch_max_records=10)
    async with running(Worker(router, settings)) as worker:
        group_consumer = worker.groups[0]

        def sample() -> bool:
            nonlocal most_pending
            pending = sum(t.pending for t in group_consumer.trackers.values())
            most_pending = max(most_pending, pending)
            return handled == 600

        await wait_until(sample, 60)
    assert most_running == 4  # the concurrency limit, reached and never passed
    # Paused at 40 open records; at most one more fetch (10 records) lands on top.
    assert 0 < most_pending <= 50
