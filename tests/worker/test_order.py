"""What only the real Kafka shows: a rebalance between two workers of one group.

Per-key order over 10k events with transient failures (tests/testing/test_behaviour_order.py) and
backpressure (test_behaviour_delivery.py) run on both the in-memory harness and the real Kafka.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from bizevents.worker import Context, Router, Worker, WorkerSettings

from .worker_helpers import Kafka, envelope, running, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]


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
