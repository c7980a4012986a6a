"""The demo: an orders app publishes through its outbox, the relay moves the events to Kafka, and
a consumer reads them back as CloudEvents.

    bash deploy/run.sh demo        (installs, starts Kafka + PostgreSQL, runs this)
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.table import Table

from bizevents import Events
from bizevents.envelope import from_kafka
from bizevents.errors import PayloadValidationError
from bizevents.kafka import ensure_topics
from bizevents.relay import Relay
from bizevents.settings import ConnectionSettings, RelaySettings

ROOT = Path(__file__).resolve().parents[1]
console = Console()


async def main() -> None:
    settings = ConnectionSettings()
    schema = f"demo_{uuid.uuid4().hex[:6]}"
    events = Events(app="orders", contracts=ROOT / "contracts", outbox_schema=schema)
    console.rule("[bold]bizevents demo")
    console.print(f"Kafka {settings.kafka_bootstrap}   PostgreSQL {settings.database_url}")

    conn = await asyncpg.connect(settings.database_url)
    await events.migrate(conn)
    await conn.execute(f"CREATE TABLE {schema}.orders (id text PRIMARY KEY, state text)")

    topics = [
        events.contracts.get(t).topic
        for t in ("com.acme.orders.OrderPlaced.v1", "com.acme.orders.OrderShipped.v1")  # type: ignore[union-attr]
    ]
    await ensure_topics(settings.kafka_bootstrap, topics)
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=settings.kafka_bootstrap,
                                group_id=f"demo-billing-{schema}", auto_offset_reset="latest",
                                isolation_level="read_committed")  # fmt: skip
    await consumer.start()
    while not consumer.assignment():
        await asyncio.sleep(0.1)
    await consumer.seek_to_end()

    relay = Relay(RelaySettings(outbox_schema=schema))
    relay_task = asyncio.create_task(relay.run())

    console.print("\n[bold]1. The orders app writes its data and its events in one transaction")
    order_ids = [f"o-{i}" for i in range(1, 6)]
    for i, order_id in enumerate(order_ids):
        async with conn.transaction():
            await conn.execute(f"INSERT INTO {schema}.orders VALUES ($1, 'placed')", order_id)
            await events.publish(conn, "com.acme.orders.OrderPlaced.v1", {
                "order_id": order_id, "customer_id": f"c-{i % 2}", "total": 19.9 * (i + 1),
                "currency": "EUR", "items": [{"sku": "sku-1", "quantity": i + 1}]})  # fmt: skip
    for order_id in order_ids[:3]:
        async with conn.transaction():
            await conn.execute(f"UPDATE {schema}.orders SET state='shipped' WHERE id=$1", order_id)
            shipped = {"order_id": order_id, "carrier": "DHL", "tracking_number": f"T{order_id}"}
            await events.publish(conn, "com.acme.orders.OrderShipped.v1", shipped)
    console.print(f"   published {len(order_ids)} OrderPlaced and 3 OrderShipped")

    console.print("\n[bold]2. A rolled-back transaction publishes nothing")
    with contextlib.suppress(RuntimeError):
        async with conn.transaction():
            await events.publish(
                conn,
                "com.acme.orders.OrderCancelled.v1",
                {"order_id": "o-1", "reason": "customer_request"},
            )
            raise RuntimeError("payment service said no")
    console.print("   OrderCancelled for o-1 was rolled back with the transaction")

    console.print(
        "\n[bold]3. A payload that breaks the contract is refused before anything is written"
    )
    try:
        await events.publish(
            conn,
            "com.acme.orders.OrderPlaced.v1",
            {"order_id": "o-9", "total": -5, "currency": "euro"},
        )
    except PayloadValidationError as exc:
        for problem in exc.problems:
            console.print(f"   [red]refused[/red] {problem}")

    console.print(
        "\n[bold]4. The relay moved the events to Kafka; billing reads them as CloudEvents"
    )
    table = Table("partition", "offset", "key", "type", "id", "data")
    seen = 0
    async with asyncio.timeout(30):
        while seen < 8:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    event = from_kafka(r.key, r.value, r.headers)
                    data = event.payload()
                    summary = ", ".join(
                        f"{k}={v}" for k, v in data.items() if k in ("total", "carrier")
                    )
                    name = event.type.rsplit(".", 2)[-2]
                    key = event.partitionkey or ""
                    table.add_row(
                        str(r.partition), str(r.offset), key, name, event.id[:18], summary
                    )
                    seen += 1
    console.print(table)
    pending = await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox")
    console.print(f"outbox rows still pending: {pending}")

    relay.stop()
    await relay_task
    await consumer.stop()
    await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    await conn.close()
    console.rule("[bold green]done: 8 events through a real outbox, relay and Kafka")


if __name__ == "__main__":
    asyncio.run(main())
