"""The harness with real contracts (in memory): validation, permissions, typed events, the
in-memory outbox, restoring the app, and MemoryKafka's partitioning matching Kafka's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from bizevents.app import Events
from bizevents.envelope import to_kafka
from bizevents.errors import PayloadValidationError, PermissionDeniedError
from bizevents.testing import MemoryKafka, TestEvents
from bizevents.worker import Context

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
PLACED = "com.acme.orders.OrderPlaced.v1"
INVOICED = "com.acme.billing.InvoiceIssued.v1"


class OrderPlaced(BaseModel):
    order_id: str
    customer_id: str
    total: float
    currency: str


def billing_app() -> tuple[Events, list[OrderPlaced]]:
    events = Events(app="billing", contracts=CONTRACTS)
    seen: list[OrderPlaced] = []

    @events.subscriber(PLACED, group="billing")
    async def bill(event: OrderPlaced, ctx: Context) -> None:
        seen.append(event)
        await events.publish(
            None,  # type: ignore[arg-type]
            INVOICED,
            {
                "invoice_id": "INV-000001",
                "order_id": event.order_id,
                "amount": event.total,
                "currency": event.currency,
                "lines": [{"description": "goods", "amount": event.total}],
            },
        )

    return events, seen


ORDER: dict[str, Any] = {"order_id": "o-1", "customer_id": "c-1", "total": 20.0, "currency": "EUR"}


async def test_contract_validated_typed_events_and_the_in_memory_outbox():
    events, seen = billing_app()
    real_outbox = events.outbox
    async with TestEvents(events) as t:
        # The test plays `orders` (the contract's publisher) though the app under test is billing.
        await t.publish(PLACED, ORDER)
        assert seen == [OrderPlaced(**ORDER)]
        [call] = t.handled(PLACED, group="billing")
        assert call.context.key == "o-1"  # the contract's key field
        assert call.context.source == "/acme/orders"
        [invoice] = t.published(INVOICED)
        assert invoice.partitionkey == "INV-000001" and invoice.source == "/acme/billing"
        assert t.memory is not None
        assert [r.key for r in t.memory.records(INVOICED)] == [b"INV-000001"]

        with pytest.raises(PayloadValidationError, match="currency"):
            await t.publish(PLACED, {**ORDER, "currency": "euro"})
        assert len(seen) == 1  # nothing was sent
    assert events.outbox is real_outbox


async def test_a_handler_publishing_a_foreign_event_fails_like_in_production():
    events = Events(app="billing", contracts=CONTRACTS)

    @events.subscriber(PLACED, group="billing")
    async def bill(event: dict[str, Any], ctx: Context) -> None:
        await events.publish(
            None, "com.acme.orders.OrderShipped.v1", {"order_id": "x", "carrier": "c"}
        )  # type: ignore[arg-type]

    async with TestEvents(events, settings={"retry_attempts": 1, "retry_delays": [1.0]}) as t:
        await t.publish(PLACED, ORDER)
        [letter] = t.dead_letters("billing")
        assert "PermissionDeniedError" in letter.error_type
        assert all(isinstance(c.error, PermissionDeniedError) for c in t.failures())
        assert len(t.failures()) == 2  # one immediate attempt, one delayed tier


async def test_the_workers_subscription_rules_apply():
    events = Events(app="shipping", contracts=CONTRACTS)

    @events.subscriber("com.acme.orders.OrderCancelled.v1", group="shipping")
    async def cancel(event: dict[str, Any], ctx: Context) -> None:
        pass

    with pytest.raises(PermissionDeniedError, match="may not subscribe"):
        TestEvents(events)


async def test_something_that_is_not_an_app_is_refused():
    from bizevents.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="neither an Events object nor a Router"):
        TestEvents(object())


@pytest.mark.services
async def test_memory_partitioning_matches_kafkas(services, make_topic):  # type: ignore[no-untyped-def]
    topic = await make_topic("part", 3)
    memory = MemoryKafka(3)
    producer = AIOKafkaProducer(bootstrap_servers=services.kafka_bootstrap)
    await producer.start()
    try:
        for i in range(30):
            key = f"key-{i}".encode()
            meta = await producer.send_and_wait(topic, b"v", key=key)
            assert meta.partition == memory.partition_for(topic, key)
    finally:
        await producer.stop()


@pytest.mark.services
async def test_inbox_subscribers_run_on_the_real_database_in_memory_mode(services, db_schema, db):  # type: ignore[no-untyped-def]
    events = Events(app="billing")
    await db.execute("CREATE TABLE charges (order_id text)")

    @events.subscriber("test.harness.Charged.v1", group="billing", inbox=True)
    async def charge(event: dict[str, Any], ctx: Context) -> None:
        assert ctx.connection is not None  # the inbox transaction
        await ctx.connection.execute(
            f'INSERT INTO "{db_schema}".charges VALUES ($1)', event["order_id"]
        )

    async with TestEvents(
        events, database_url=services.database_url, settings={"inbox_schema": db_schema}
    ) as t:
        topic, envelope = t.build("test.harness.Charged.v1", {"order_id": "o-9"}, key="o-9")
        for _ in range(3):  # the same event delivered three times
            await t.send_record(topic, *to_kafka(envelope))
        await t.drain()
        assert len(t.calls()) == 1  # the duplicates never reached the handler
    assert await db.fetchval(f'SELECT count(*) FROM "{db_schema}".charges') == 1


async def test_a_publisher_only_app_can_test_what_it_publishes() -> None:
    from bizevents import Events

    events = Events(app="orders")  # publishes, subscribes to nothing

    async def place_order(conn: object, order_id: str) -> None:
        await events.publish(conn, "com.acme.orders.OrderPlaced.v1", {"order_id": order_id})  # type: ignore[arg-type]

    async with TestEvents(events) as t:
        await place_order(None, "o-1")
        (published,) = t.published("com.acme.orders.OrderPlaced.v1")
        assert published.data == b'{"order_id":"o-1"}'
        assert not t.handled() and not t.dead_letters()
