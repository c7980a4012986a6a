"""Outbox + relay on real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator

import asyncpg
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat

from bizevents.app import Event, Events
from bizevents.envelope import Mode
from bizevents.errors import PublishError
from bizevents.relay import Relay
from bizevents.settings import RelaySettings

pytestmark = pytest.mark.services


@pytest.fixture
def events(db_schema: str) -> Events:
    return Events(app="orders", outbox_schema=db_schema, require_transaction=False)


@pytest.fixture
async def topic(make_topic) -> str:
    """Without contracts an event's topic is its type: the type names this test's topic."""
    return str(await make_topic("com.acme.test"))


@pytest.fixture
def relay_settings(services, db_url: str, db_schema: str) -> RelaySettings:
    return RelaySettings(
        database_url=db_url,
        kafka_bootstrap=services.kafka_bootstrap,
        outbox_schema=db_schema,
        relay_poll_interval=0.2,
    )


@contextlib.asynccontextmanager
async def running(relay: Relay) -> AsyncIterator[Relay]:
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        relay.stop()
        await asyncio.wait_for(task, 15)


async def pending(db, schema: str) -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM {schema}.outbox"))


async def wait_drained(db, schema: str, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while await pending(db, schema):
            await asyncio.sleep(0.05)


async def test_committed_event_reaches_kafka_as_cloudevent(
    events, db, db_schema, relay_settings, topic, read_topic
):
    await events.migrate(db)
    async with db.transaction():
        event_id = await events.publish(
            db, topic, {"order_id": "o-1", "carrier": "DHL"},
            key="o-1", subject="order/o-1",
        )  # fmt: skip
    async with running(Relay(relay_settings)):
        records = await read_topic(topic, 1)
        await wait_drained(db, db_schema)
    assert len(records) == 1
    record = records[0]
    event = from_kafka(
        KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value),
        JSONFormat(),
    )
    assert event.get_id() == event_id
    assert event.get_type() == topic
    assert event.get_source() == "/apps/orders"
    assert event.get_specversion() == "1.0"
    assert event.get_subject() == "order/o-1"
    assert event.get_datacontenttype() == "application/json"
    assert event.get_extension("partitionkey") == "o-1"
    assert event.get_data() == {"order_id": "o-1", "carrier": "DHL"}
    assert event.get_time() is not None
    assert record.key == b"o-1"


async def test_structured_mode(events, db, db_schema, relay_settings, topic, read_topic):
    await events.migrate(db)
    await events.publish(db, topic, {"n": 1}, key="k")
    settings = relay_settings.model_copy(update={"relay_mode": Mode.STRUCTURED.value})
    async with running(Relay(settings)):
        (record,) = await read_topic(topic, 1)
    assert dict(record.headers)["content-type"] == b"application/cloudevents+json"
    event = from_kafka(
        KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value),
        JSONFormat(),
    )
    assert event.get_type() == topic
    assert event.get_data() == {"n": 1}


async def test_rolled_back_transaction_publishes_nothing(events, db, db_schema, topic):
    await events.migrate(db)
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await db.execute("CREATE TABLE orders (id text PRIMARY KEY)")
            await db.execute("INSERT INTO orders VALUES ('o-1')")
            await events.publish(db, topic, {"n": 1}, key="o-1")
            raise RuntimeError("app failure after publishing")
    assert await pending(db, db_schema) == 0


async def test_late_commit_is_not_skipped(
    events, db, db_url, db_schema, relay_settings, topic, read_topic
):
    """A transaction that takes its row id first but commits last still gets relayed."""
    await events.migrate(db)
    slow = await asyncpg.connect(db_url)
    try:
        slow_tx = slow.transaction()
        await slow_tx.start()
        await events.publish(slow, topic, {"n": "slow"}, key="a")
        async with running(Relay(relay_settings)) as relay:
            async with db.transaction():
                await events.publish(db, topic, {"n": "fast"}, key="b")
            first = await read_topic(topic, 1)
            assert [json.loads(r.value)["n"] for r in first] == ["fast"]
            async with asyncio.timeout(10):
                while len(ids := await slow.fetch(f"SELECT id FROM {db_schema}.outbox")) > 1:
                    await asyncio.sleep(0.02)
            assert ids[0]["id"] == 1  # only the slow row, with the lower id, is left
            await slow_tx.commit()
            both = await read_topic(topic, 2)
            await wait_drained(db, db_schema)
            assert relay.is_leader
    finally:
        await slow.close()
    assert sorted(json.loads(r.value)["n"] for r in both) == ["fast", "slow"]


async def test_publish_many_is_one_statement_and_keeps_order(
    events, db, db_schema, relay_settings, topic, read_topic
):
    await events.migrate(db)
    batch = [Event(topic, {"seq": i}, key=f"k{i % 4}") for i in range(500)]
    async with db.transaction():
        ids = await events.publish_many(db, batch)
    assert len(set(ids)) == 500
    rows = await db.fetch(f"SELECT event_id::text FROM {db_schema}.outbox ORDER BY id")
    assert [r[0] for r in rows] == ids
    async with running(Relay(relay_settings)):
        records = await read_topic(topic, 500)
    by_key: dict[bytes, list[int]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_key.setdefault(r.key, []).append(json.loads(r.value)["seq"])
    assert sum(len(v) for v in by_key.values()) == 500
    assert all(seq == sorted(seq) for seq in by_key.values())


async def test_oversized_payload_is_refused_and_nothing_written(events, db, db_schema, topic):
    await events.migrate(db)
    with pytest.raises(PublishError, match="over the limit"):
        await events.publish_many(
            db,
            [Event(topic, {"n": 1}), Event(topic, {"blob": "x" * 1_000_000})],
        )
    assert await pending(db, db_schema) == 0


async def test_relay_survives_losing_its_database_session(
    events, db, db_schema, relay_settings, topic, read_topic
):
    await events.migrate(db)
    async with running(Relay(relay_settings)) as relay:
        async with asyncio.timeout(10):
            while not relay.is_leader:
                await asyncio.sleep(0.05)
        # This process' relay, by its session name: its last query need not name the schema.
        killed = await db.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = $1 AND datname = current_database()",
            f"bizevents-relay:{os.getpid()}",
        )
        assert killed >= 1
        for i in range(20):
            await events.publish(db, topic, {"i": i}, key="k")
        records = await read_topic(topic, 20)
    assert [json.loads(r.value)["i"] for r in records] == list(range(20))


async def test_late_commit_is_not_skipped_while_the_relay_claims_ahead(
    events, db, db_url, db_schema, relay_settings, topic, read_topic
):
    """Under sustained load the relay claims the rows after each batch; the periodic claim from
    the lowest id still finds a row that committed late with a lower id."""
    await events.migrate(db)
    settings = relay_settings.model_copy(update={"relay_batch_size": 10})
    slow = await asyncpg.connect(db_url)
    try:
        slow_tx = slow.transaction()
        await slow_tx.start()
        await events.publish(slow, topic, {"n": "slow"}, key="a")  # takes the lowest id
        async with running(Relay(settings)):

            async def stream(name: str, count: int) -> None:
                for i in range(count):
                    await events.publish_many(
                        db, [Event(topic, {"n": f"{name}{i}-{j}"}, key="b") for j in range(10)]
                    )

            await stream("before", 30)
            await slow_tx.commit()
            await stream("after", 30)
            records = await read_topic(topic, 601)
    finally:
        await slow.close()
    values = [json.loads(r.value)["n"] for r in records]
    assert "slow" in values
    assert len(set(values)) == 601
