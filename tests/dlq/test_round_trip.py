"""Dead letters through a real worker on real Kafka: stored (sink or ingester), replayed."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import NewTopic

from bizevents.dlq import (
    DeadLetterFilter,
    DeadLetterIngester,
    DeadLetterSettings,
    Status,
    replay_dead_letters,
    store_sink,
)
from bizevents.envelope import Envelope, new_event_id, to_kafka
from bizevents.topics import dead_letter_topic
from bizevents.worker import Context, Router, Worker, WorkerSettings

pytestmark = pytest.mark.services


async def until(check: Callable[[], Any], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not (await check() if asyncio.iscoroutinefunction(check) else check()):
            await asyncio.sleep(0.05)


def app(group: str, event_type: str, broken: set[str], handled: list[str]) -> Router:
    router = Router()

    @router.subscriber(event_type, group=group)
    async def handle(event: dict[str, Any], ctx: Context) -> None:
        if event["order_id"] in broken:
            raise RuntimeError(f"order {event['order_id']} is broken")
        handled.append(event["order_id"])

    return router


async def publish(bootstrap: str, event_type: str, order_ids: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for order_id in order_ids:
            env = Envelope(
                id=new_event_id(),
                type=event_type,
                source="/tests",
                time=datetime.now(UTC),
                data=json.dumps({"order_id": order_id}).encode(),
                partitionkey=order_id,
            )
            key, value, headers = to_kafka(env)
            await producer.send_and_wait(event_type, value, key=key, headers=headers)
    finally:
        await producer.stop()


@pytest.fixture
def names() -> tuple[str, str]:
    ns = uuid.uuid4().hex[:8]
    return f"g-{ns}", f"test.{ns}.OrderPlaced.v1"


def worker_settings(services, **extra: Any) -> WorkerSettings:  # type: ignore[no-untyped-def]
    return WorkerSettings(
        kafka_bootstrap=services.kafka_bootstrap,
        retry_attempts=2,
        retry_backoff_initial=0.001,
        retry_backoff_max=0.002,
        retry_delays=[0.05],
        commit_interval=0.05,
        **extra,
    )


async def test_sink_store_replay_round_trip_through_the_worker(services, store, kafka_admin, names):  # type: ignore[no-untyped-def]
    group, event_type = names
    await kafka_admin.create_topics([NewTopic(event_type, 3, 1)])
    broken = {"o-2", "o-4"}
    handled: list[str] = []
    worker = Worker(
        app(group, event_type, broken, handled),
        worker_settings(services),
        dead_letter_sink=store_sink(store),
    )
    await worker.start()
    try:
        await publish(services.kafka_bootstrap, event_type, ["o-1", "o-2", "o-3", "o-4"])

        async def two_dead() -> bool:
            return await store.count(DeadLetterFilter(groups=(group,))) == 2

        await until(two_dead)
        await until(lambda: sorted(handled) == ["o-1", "o-3"])
        letters = (await store.list(DeadLetterFilter(groups=(group,)))).items
        assert {json.loads(x.value)["order_id"] for x in letters} == {"o-2", "o-4"}
        for x in letters:
            assert x.event_type == event_type and x.original_topic == event_type
            assert x.attempts == 4  # 2 immediate attempts, 1 delayed tier of 2 more
            assert x.error_type == "RuntimeError" and "is broken" in x.error
            assert "RuntimeError" in x.stack and x.first_failure <= x.last_failure

        # o-2 is fixed, o-4 still broken: replay both.
        broken.discard("o-2")
        settings = DeadLetterSettings(kafka_bootstrap=services.kafka_bootstrap)
        result = await replay_dead_letters(store, DeadLetterFilter(groups=(group,)), settings)
        assert result.replayed == 2
        await until(lambda: "o-2" in handled)

        # o-4 failed again: its row went back to 'dead' (not a second row), o-2 stays replayed.
        async def o4_dead_again() -> bool:
            rows = (await store.list(DeadLetterFilter(groups=(group,)))).items
            return {json.loads(r.value)["order_id"]: r.status for r in rows} == {
                "o-2": Status.REPLAYED,
                "o-4": Status.DEAD,
            }

        await until(o4_dead_again)
        assert await store.count(DeadLetterFilter(groups=(group,))) == 2
        again = (
            await store.list(DeadLetterFilter(groups=(group,), statuses=(Status.DEAD,)))
        ).items[0]
        assert again.replay_count == 1 and again.original_topic == event_type
        assert sorted(handled) == ["o-1", "o-2", "o-3"]
    finally:
        await worker.stop()


async def test_worker_without_database_reaches_the_store_through_the_ingester(
    services, store, kafka_admin, names
):  # type: ignore[no-untyped-def]
    group, event_type = names
    await kafka_admin.create_topics([NewTopic(event_type, 3, 1)])
    handled: list[str] = []
    worker = Worker(app(group, event_type, {"bad"}, handled), worker_settings(services))
    ingester = DeadLetterIngester(
        store,
        DeadLetterSettings(
            kafka_bootstrap=services.kafka_bootstrap,
            dlq_ingester_group=f"ingest-{group}",
            dlq_topic_pattern=re.escape(dead_letter_topic(group)),
        ),
    )
    stop = asyncio.Event()
    await worker.start()  # creates the dead-letter topic the ingester subscribes to
    task = asyncio.create_task(ingester.run(stop))
    try:
        await publish(services.kafka_bootstrap, event_type, ["good", "bad"])

        async def stored() -> bool:
            return await store.count(DeadLetterFilter(groups=(group,))) == 1

        await until(stored)
        [row] = (await store.list(DeadLetterFilter(groups=(group,)))).items
        assert json.loads(row.value) == {"order_id": "bad"} and row.attempts == 4
        assert row.original_topic == event_type and row.key == b"bad"
        assert handled == ["good"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await worker.stop()
