"""Relay metrics name what was relayed: events counted by CloudEvents type and topic."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from bizevents.app import Event, Events
from bizevents.relay import Relay
from bizevents.settings import RelaySettings

pytestmark = pytest.mark.services


async def test_relayed_events_are_counted_by_type_and_topic(
    services, db, db_url, db_schema, make_topic
):  # type: ignore[no-untyped-def]
    first, second = await make_topic("com.acme.one"), await make_topic("com.acme.two")
    events = Events(app="orders", outbox_schema=db_schema)
    await events.migrate(db)
    async with db.transaction():
        await events.publish_many(
            db, [Event(first, {"i": i}) for i in range(3)] + [Event(second, {"i": 9})]
        )
    relay = Relay(
        RelaySettings(
            database_url=db_url,
            kafka_bootstrap=services.kafka_bootstrap,
            outbox_schema=db_schema,
            relay_poll_interval=0.2,
        )
    )
    task = asyncio.create_task(relay.run())
    try:
        async with asyncio.timeout(60):
            while await db.fetchval(f"SELECT count(*) FROM {db_schema}.outbox"):
                await asyncio.sleep(0.05)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 15)

    def relayed(topic: str) -> float | None:
        labels = {"schema": db_schema, "type": topic, "topic": topic}
        return REGISTRY.get_sample_value("bizevents_relay_events_total", labels)

    assert (relayed(first), relayed(second)) == (3.0, 1.0)
