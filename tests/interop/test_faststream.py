"""A real FastStream app on the real Kafka joins a bizevents mesh: it consumes bizevents
CloudEvents (validated against the contracts, bad records dead-lettered with the reason),
publishes through the bizevents outbox from its handler and straight through its broker, and
bizevents workers receive both. FastStream's generated AsyncAPI document imports as a contract."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from bizevents import Envelope, Events
from bizevents.contracts import load_contract_texts
from bizevents.contracts.importer import ImportOptions, import_asyncapi
from bizevents.envelope import to_kafka
from bizevents.faststream import CloudEvents
from bizevents.relay import Relay
from bizevents.settings import RelaySettings
from bizevents.worker import Context as WorkerContext
from bizevents.worker import Worker, WorkerSettings

from .helpers import error_of, running_relay, running_worker, wait_until
from .test_import import needs_parser, official_parser

pytestmark = pytest.mark.services

CONTRACTS = """
asyncapi: 3.0.0
info: {title: shop, version: 1.0.0, x-bizevents-owner: shop, x-bizevents-source: /shop}
channels:
  orderPlaced:
    address: shop.orders
    x-bizevents-type: com.acme.shop.OrderPlaced.v1
    x-bizevents-key: order_id
    x-bizevents-subscribers: [crm]
    messages:
      OrderPlaced:
        payload:
          type: object
          required: [order_id, total]
          properties:
            order_id: {type: string}
            total: {type: number, minimum: 0}
  invoiceIssued:
    address: crm.invoices
    x-bizevents-type: com.acme.crm.InvoiceIssued.v1
    x-bizevents-key: order_id
    x-bizevents-publishers: [crm]
    messages:
      InvoiceIssued:
        payload:
          type: object
          required: [order_id, amount]
          properties:
            order_id: {type: string}
            amount: {type: number}
  shipmentRequested:
    address: crm.shipments
    x-bizevents-type: com.acme.crm.ShipmentRequested.v1
    x-bizevents-publishers: [crm]
    messages:
      ShipmentRequested:
        payload:
          type: object
          required: [order_id]
          properties:
            order_id: {type: string}
"""
PLACED = "com.acme.shop.OrderPlaced.v1"
INVOICED = "com.acme.crm.InvoiceIssued.v1"
SHIPMENT = "com.acme.crm.ShipmentRequested.v1"


class OrderPlaced(BaseModel):
    order_id: str
    total: float


async def test_faststream_app_consumes_and_publishes_bizevents_events(
    services: Any,
    kafka_admin: AIOKafkaAdminClient,
    db: asyncpg.Connection,
    db_url: str,
    db_schema: str,
    read_topic: Any,
) -> None:
    space = f"fs{uuid.uuid4().hex[:8]}"
    contracts = load_contract_texts({"shop.yaml": CONTRACTS})
    names = ("shop.orders", "crm.invoices", "crm.shipments")
    await kafka_admin.create_topics([NewTopic(f"{space}.{n}", 2, 1) for n in names])
    shop = Events(app="shop", contracts=contracts, space=space)
    crm = Events(app="crm", contracts=contracts, outbox_schema=db_schema, space=space)
    billing = Events(app="billing", contracts=contracts, space=space)
    await crm.migrate(db)

    # The FastStream app: consumes OrderPlaced, publishes InvoiceIssued through the outbox (in
    # the handler's transaction) and ShipmentRequested straight through its broker.
    bridge = CloudEvents(crm, group="crm", bootstrap=services.kafka_bootstrap)
    broker = KafkaBroker(services.kafka_bootstrap)
    router = KafkaRouter(middlewares=[bridge.middleware])
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    handled: list[tuple[OrderPlaced, Envelope]] = []

    @router.subscriber(
        bridge.topic(PLACED),
        group_id=bridge.group_id,
        ack_policy=AckPolicy.ACK,
        auto_offset_reset="earliest",
    )
    async def on_placed(order: OrderPlaced, cloudevent: Envelope = Context()) -> None:
        handled.append((order, cloudevent))
        async with pool.acquire() as conn, conn.transaction():
            await crm.publish(conn, INVOICED, {"order_id": order.order_id, "amount": order.total})
        await bridge.publish(broker, SHIPMENT, {"order_id": order.order_id})

    broker.include_router(router)

    # A bizevents worker receives what the FastStream app published.
    received: list[tuple[str, dict[str, Any]]] = []

    @billing.subscriber(INVOICED, SHIPMENT, group="billing")
    async def on_crm(event: dict[str, Any], ctx: WorkerContext) -> None:
        received.append((ctx.envelope.type, event))

    worker = Worker(
        billing,
        WorkerSettings(
            kafka_bootstrap=services.kafka_bootstrap, commit_interval=0.1, topic_partitions=1
        ),
    )
    relay = Relay(
        RelaySettings(
            database_url=db_url,
            kafka_bootstrap=services.kafka_bootstrap,
            outbox_schema=db_schema,
            relay_poll_interval=0.2,
        )
    )
    raw = AIOKafkaProducer(bootstrap_servers=services.kafka_bootstrap)
    await raw.start()
    await broker.start()
    try:
        async with running_worker(worker), running_relay(relay):
            async with shop.direct(services.kafka_bootstrap) as pub:
                event_id = await pub.publish(PLACED, {"order_id": "o-1", "total": 12.5})
            # Two records a bizevents worker would refuse too: not a CloudEvent; bad payload.
            topic = bridge.topic(PLACED)
            await raw.send_and_wait(topic, b'{"order_id": "o-2"}', key=b"o-2")
            bad = shop.build(PLACED, {"order_id": "o-3", "total": 1.0}).envelope
            key, _, headers = to_kafka(bad)
            await raw.send_and_wait(topic, b'{"order_id": "o-3", "total": -1}', key=key,
                                    headers=headers)  # fmt: skip
            await wait_until(lambda: len(received) == 2)
            letters = await read_topic(bridge.dead_letter_topic, count=2)
    finally:
        await broker.stop()
        await bridge.close()
        await raw.stop()
        await pool.close()
    assert len(handled) == 1
    order, envelope = handled[0]
    assert order == OrderPlaced(order_id="o-1", total=12.5)
    assert envelope.id == event_id and envelope.type == PLACED and envelope.source == "/shop"
    assert sorted(received) == [
        (INVOICED, {"order_id": "o-1", "amount": 12.5}),
        (SHIPMENT, {"order_id": "o-1"}),
    ]
    reasons = sorted(error_of(r) for r in letters)
    assert "neither binary mode" in reasons[0] or "neither binary mode" in reasons[1]
    assert any("PayloadValidationError" in r and "/total" in r for r in reasons), reasons


class Address(BaseModel):
    city: str


class Customer(BaseModel):
    customer_id: str
    address: Address


class Invoice(BaseModel):
    invoice_id: str
    order_id: str


@needs_parser
def test_faststreams_generated_asyncapi_document_imports(tmp_path: Path) -> None:
    broker = KafkaBroker("127.0.0.1:9")
    invoices = broker.publisher("crm.invoices")

    @broker.subscriber("shop.customers", group_id="crm")
    @invoices
    async def on_customer(customer: Customer) -> Invoice:
        return Invoice(invoice_id="i", order_id=customer.customer_id)

    @broker.subscriber("shop.notes", group_id="crm")
    async def on_note(text: str) -> None: ...

    (tmp_path / "out").mkdir()
    for version in ("3.0.0", "2.6.0"):
        spec = AsyncAPI(broker, title="CRM", version="1.2.0", schema_version=version)
        source = tmp_path / f"faststream-{version}.yaml"
        source.write_text(spec.to_specification().to_yaml())
        service = f"crm{version[0]}"
        result = import_asyncapi(source, ImportOptions(service=service))
        contracts = {c.event_type: c for c in load_contract_texts({"c.yaml": result.text})}
        # Event names from the payload models (FastStream titles messages by channel).
        prefix = f"imported.{service}"
        assert sorted(contracts) == [f"{prefix}.Customer.v1", f"{prefix}.Invoice.v1"]
        customer = contracts[f"{prefix}.Customer.v1"]
        assert customer.topic == "shop.customers" and customer.publishers == ()
        assert contracts[f"{prefix}.Invoice.v1"].publishers == (service,)
        customer.validate({"customer_id": "c", "address": {"city": "Graz"}})
        # A plain str payload is no event object: skipped with the reason.
        assert any("'string', not an object" in p.message for p in result.skipped)
        (tmp_path / "out" / f"{service}.yaml").write_text(result.text)
    report = official_parser(tmp_path / "out", *sorted(tmp_path.glob("faststream-*.yaml")))
    assert all(r["parsed"] and not r["errors"] for r in report), report
