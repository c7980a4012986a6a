"""Publishing without an outbox, and W3C trace context carried through publish and handlers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat

from bizevents import Events
from bizevents.errors import PayloadValidationError
from bizevents.testing import TestEvents
from bizevents.tracing import use_traceparent

pytestmark = pytest.mark.services
CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
async def topic(make_topic) -> str:
    return str(await make_topic("com.acme.test"))


async def test_direct_publish_waits_for_kafka_and_sends_a_cloudevent(services, topic, read_topic):
    events = Events(app="orders")
    async with events.direct(services.kafka_bootstrap) as publisher:
        event_id = await publisher.publish(topic, {"n": 1}, key="k-1", subject="s")
    (record,) = await read_topic(topic, 1)
    event = from_kafka(
        KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value),
        JSONFormat(),
    )
    assert event.get_id() == event_id and event.get_subject() == "s"
    assert record.key == b"k-1" and event.get_data() == {"n": 1}


async def test_direct_publish_validates_before_sending(services, read_topic):
    events = Events(app="orders", contracts=CONTRACTS)
    async with events.direct(services.kafka_bootstrap) as publisher:
        with pytest.raises(PayloadValidationError, match="customer_id"):
            await publisher.publish("com.acme.orders.OrderPlaced.v1", {"order_id": "o-1"})


async def test_published_events_carry_the_active_traceparent(db, db_schema):
    events = Events(app="orders", outbox_schema=db_schema, require_transaction=False)
    await events.migrate(db)
    with use_traceparent(TRACE):
        await events.publish(db, "com.acme.test.Traced.v1", {"n": 1})
    await events.publish(db, "com.acme.test.Untraced.v1", {"n": 2})
    rows = await db.fetch(f"SELECT type, extensions FROM {db_schema}.outbox ORDER BY id")
    assert json.loads(rows[0]["extensions"]) == {"traceparent": TRACE}
    assert rows[1]["extensions"] is None


@pytest.mark.parametrize("backend", ["memory", "kafka"])
async def test_a_handler_continues_the_trace_of_the_event_it_handles(services, backend):
    events = Events(app="billing")
    incoming = "com.acme.test.Incoming.v1"

    @events.subscriber(incoming, group="trace-test")
    async def handle(event: dict, ctx) -> None:  # type: ignore[no-untyped-def,type-arg]
        await events.publish(ctx.connection, "com.acme.test.FollowUp.v1", {"from": event["n"]})

    kafka = services.kafka_bootstrap if backend == "kafka" else None
    async with TestEvents(events, kafka=kafka) as t:
        await t.publish(incoming, {"n": 1}, extensions={"traceparent": TRACE})
        await t.publish(incoming, {"n": 2})
        follow_ups = {e.payload()["from"]: e for e in t.published("com.acme.test.FollowUp.v1")}
    assert follow_ups[1].extensions.get("traceparent") == TRACE
    assert "traceparent" not in follow_ups[2].extensions
