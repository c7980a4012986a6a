"""Outbox -> relay -> worker -> outbox: `events.subscriber` with a typed handler, the inbox and a
follow-up event published in the handler's own transaction; two groups in one worker."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from pydantic import BaseModel

from bizevents.app import Events
from bizevents.relay.relay import Relay
from bizevents.settings import RelaySettings
from bizevents.worker import Context, Worker, WorkerSettings

from .worker_helpers import Kafka, running, wait_until

pytestmark = pytest.mark.services


class Shipped(BaseModel):
    order_id: str
    seq: int


async def test_outbox_relay_worker_round_trip(
    kafka: Kafka,
    group: str,
    services: Any,
    db: asyncpg.Connection,
    db_url: str,
    db_schema: str,
    fast_settings: Callable[..., WorkerSettings],
) -> None:
    shipped, invoiced = await kafka.new_type("Shipped"), await kafka.new_type("Invoiced")
    events = Events(app="billing", outbox_schema=db_schema)
    await events.migrate(db)
    received: dict[str, list[int]] = defaultdict(list)

    @events.subscriber(shipped, group=group, inbox=True)
    async def on_shipped(event: Shipped, ctx: Context) -> None:
        assert ctx.connection is not None
        # Exactly once together: the follow-up event (outbox row) and the inbox row.
        await events.publish(ctx.connection, invoiced, event.model_dump(), key=event.order_id)

    @events.subscriber(invoiced, group=f"{group}-audit")
    async def on_invoiced(event: dict[str, Any], ctx: Context) -> None:
        received[event["order_id"]].append(event["seq"])

    async with db.transaction():
        for seq in range(20):
            for order in ("o1", "o2", "o3"):
                await events.publish(db, shipped, {"order_id": order, "seq": seq}, key=order)

    relay = Relay(
        RelaySettings(
            database_url=db_url,
            kafka_bootstrap=services.kafka_bootstrap,
            outbox_schema=db_schema,
            relay_poll_interval=0.2,
        )
    )
    relay_task = asyncio.create_task(relay.run())
    try:
        async with running(Worker(events, fast_settings(database_url=db_url))):
            await wait_until(lambda: sum(map(len, received.values())) == 60, 60)
    finally:
        relay.stop()
        await asyncio.wait_for(relay_task, 15)
    assert dict(received) == {o: list(range(20)) for o in ("o1", "o2", "o3")}
    assert await db.fetchval(f"SELECT count(*) FROM {db_schema}.inbox") == 60
