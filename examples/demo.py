"""The demo: the orders app publishes through its outbox, the relay moves the events to Kafka,
and the billing app's worker handles them, with a retry and a dead letter along the way.

    bash deploy/run.sh demo        (installs, starts Kafka + PostgreSQL, runs this)
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.table import Table

from bizevents import Events
from bizevents.dlq import DeadLetterFilter, DeadLetterSettings, DeadLetterStore, PostgresSink
from bizevents.errors import PayloadValidationError
from bizevents.kafka import ensure_topics, make_producer
from bizevents.logging import configure_logging
from bizevents.relay import Relay
from bizevents.settings import ConnectionSettings, RelaySettings
from bizevents.worker import Context, DeadLetter, Worker, WorkerSettings

ROOT = Path(__file__).resolve().parents[1]
PLACED, SHIPPED = "com.acme.orders.OrderPlaced.v1", "com.acme.orders.OrderShipped.v1"
console = Console(width=110)


def billing_app(group: str, handled: list[tuple[Any, ...]]) -> Events:
    """The billing app: one handler for two event types."""
    billing = Events(app="billing", contracts=ROOT / "contracts")

    @billing.subscriber(PLACED, SHIPPED, group=group)
    async def invoice(event: dict[str, Any], ctx: Context) -> None:
        order = event["order_id"]
        if order == "o-4" and ctx.attempt == 1:
            raise ConnectionError("invoice service timed out")  # transient: retried at once
        if order == "o-5" and ctx.envelope.type == PLACED:
            raise DeadLetter("customer c-0 is blocked for invoicing")  # straight to dead letters
        name = ctx.envelope.type.rsplit(".", 2)[-2]
        handled.append((ctx.partition, ctx.offset, order, name, ctx.attempt, event.get("total")))

    return billing


async def start_group_at_end(bootstrap: str, group: str, topics: list[str]) -> None:
    """A new group that starts after what is already on the topics (earlier demo runs)."""
    await ensure_topics(bootstrap, topics)
    producer = make_producer(bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await producer.start()
    await consumer.start()
    try:
        partitions = [
            TopicPartition(t, p) for t in topics for p in await producer.partitions_for(t)
        ]
        consumer.assign(partitions)
        await consumer.commit(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()
        await producer.stop()


async def main() -> None:
    configure_logging("INFO")
    settings = ConnectionSettings()
    run = uuid.uuid4().hex[:6]
    schema, group = f"demo_{run}", f"demo-billing-{run}"
    orders = Events(app="orders", contracts=ROOT / "contracts", outbox_schema=schema)
    handled: list[tuple[Any, ...]] = []
    console.rule("[bold]bizevents demo")
    console.print(f"Kafka {settings.kafka_bootstrap}   PostgreSQL {settings.database_url}")

    conn = await asyncpg.connect(settings.database_url)
    await orders.migrate(conn)
    await conn.execute(f"CREATE TABLE {schema}.orders (id text PRIMARY KEY, state text)")
    relay = Relay(RelaySettings(outbox_schema=schema))
    relay_task = asyncio.create_task(relay.run())
    await start_group_at_end(settings.kafka_bootstrap, group, [PLACED, SHIPPED])
    worker = Worker(
        billing_app(group, handled),
        WorkerSettings(inbox_schema=schema, commit_interval=0.2),
        dead_letter_sink=PostgresSink(DeadLetterSettings(dlq_schema=schema)),
    )
    await worker.start()

    console.print("\n[bold]1. orders writes its data and its events in one transaction each")
    order_ids = [f"o-{i}" for i in range(1, 6)]
    for i, order_id in enumerate(order_ids):
        async with conn.transaction():
            await conn.execute(f"INSERT INTO {schema}.orders VALUES ($1, 'placed')", order_id)
            placed = {
                "order_id": order_id,
                "customer_id": f"c-{i % 2}",
                "total": 20 * (i + 1),
                "currency": "EUR",
                "items": [{"sku": "sku-1", "quantity": i + 1}],
            }
            await orders.publish(conn, PLACED, placed)
    for order_id in order_ids[:3]:
        async with conn.transaction():
            await conn.execute(f"UPDATE {schema}.orders SET state='shipped' WHERE id=$1", order_id)
            shipped = {"order_id": order_id, "carrier": "DHL", "tracking_number": f"T{order_id}"}
            await orders.publish(conn, SHIPPED, shipped)
    console.print(f"   published {len(order_ids)} OrderPlaced and 3 OrderShipped")

    console.print("\n[bold]2. a rolled-back transaction publishes nothing")
    with contextlib.suppress(RuntimeError):
        async with conn.transaction():
            cancel = {"order_id": "o-1", "reason": "customer_request"}
            await orders.publish(conn, "com.acme.orders.OrderCancelled.v1", cancel)
            raise RuntimeError("payment service said no")
    console.print("   OrderCancelled for o-1 was rolled back with its transaction")

    console.print("\n[bold]3. a payload that breaks the contract is refused, nothing is written")
    try:
        await orders.publish(conn, PLACED, {"order_id": "o-9", "total": -5, "currency": "euro"})
    except PayloadValidationError as exc:
        for problem in exc.problems:
            console.print(f"   [red]refused[/red] {problem}")

    console.print("\n[bold]4. relay -> Kafka -> billing's worker (at least once, in order per key)")
    store = DeadLetterStore(await asyncpg.create_pool(settings.database_url), schema)
    async with asyncio.timeout(60):
        while len(handled) < 7 or not (await store.count(DeadLetterFilter(groups=(group,)))):
            await asyncio.sleep(0.1)
    table = Table("partition", "offset", "order", "event", "attempt", "total")
    for row in sorted(handled):
        table.add_row(*(str(v) if v is not None else "" for v in row))
    console.print(table)
    page = await store.list(DeadLetterFilter(groups=(group,)))
    for letter in page.items:
        console.print(f"   dead letter #{letter.id}: {letter.event_type} "
                      f"{letter.error}")  # fmt: skip
    pending = await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox")
    console.print(f"   outbox rows still pending: {pending}")

    await worker.stop()
    relay.stop()
    await relay_task
    await store.pool.close()
    await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    await conn.close()
    console.rule("[bold green]done: 8 events through a real outbox, relay, Kafka and worker")


if __name__ == "__main__":
    asyncio.run(main())
