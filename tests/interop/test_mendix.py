"""A simulated Mendix Business Events peer (raw aiokafka, built only from Mendix's documented
record format: topic `businessevents.<channel>.<space>`, CloudEvents binary mode with `ce_`
headers incl. `ce_sourcename`, JSON data) exchanges events with a bizevents app both ways,
through the real Kafka. Bad peer records are dead-lettered with the reason."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from typer.testing import CliRunner

from bizevents import ContractError, Events
from bizevents.cli import app as cli
from bizevents.contracts import load_contract_texts, load_contracts
from bizevents.contracts.importer import ImportOptions, import_asyncapi
from bizevents.relay import Relay
from bizevents.settings import RelaySettings
from bizevents.worker import Context, Worker, WorkerSettings

from .helpers import error_of, headers_of, running_relay, running_worker, wait_until
from .test_import import needs_parser, official_parser

pytestmark = pytest.mark.services

MENDIX = Path(__file__).parent / "mendix"
ORDER_CHANNEL = "5c3a1f4e-2b7d-4e8a-9f10-6d2c8b7a1e01"
PAYMENT_CHANNEL = "a8e2d6b4-91c3-4f57-8d0e-3b6f2c1d9a02"
ORDER_PLACED = "mendix.shop.OrderPlaced.v1"
PAYMENT_RECEIVED = "mendix.shop.PaymentReceived.v1"


def mendix_headers(**override: str | None) -> list[tuple[str, bytes]]:
    """The ce_ headers a Mendix app sends (per its documentation), with overrides/removals."""
    values: dict[str, str | None] = {
        "ce_id": str(uuid.uuid4()),
        "ce_source": "https://shop.mendixcloud.com/",
        "ce_specversion": "1.0",
        "ce_type": "OrderPlaced",
        "ce_time": "2026-11-30T01:02:03.456Z",
        "ce_subject": "Order 1001",
        "ce_sourcename": "ShopEventsService",
        "content-type": "application/json",
    }
    values.update(override)
    return [(k, v.encode()) for k, v in values.items() if v is not None]


@pytest.fixture
def contracts_dir(tmp_path: Path) -> Path:
    done = CliRunner().invoke(
        cli,
        ["contracts", "import", str(MENDIX / "ShopEventsService.yaml"), "--mesh", "mendix",
         "--as", "shop", "--out", str(tmp_path)],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    return tmp_path


@pytest.fixture
def space() -> str:
    return f"mx{uuid.uuid4().hex[:8]}"


async def test_mendix_peer_and_bizevents_app_exchange_events_both_ways(
    services: Any,
    kafka_admin: AIOKafkaAdminClient,
    contracts_dir: Path,
    space: str,
    db: asyncpg.Connection,
    db_url: str,
    db_schema: str,
    read_topic: Any,
) -> None:
    prefix = "acme"
    order_topic = f"{prefix}.businessevents.{ORDER_CHANNEL}.{space}"
    payment_topic = f"{prefix}.businessevents.{PAYMENT_CHANNEL}.{space}"
    await kafka_admin.create_topics([NewTopic(t, 3, 1) for t in (order_topic, payment_topic)])
    events = Events(
        app="fulfilment",
        contracts=contracts_dir,
        outbox_schema=db_schema,
        space=space,
        mendix_topic_prefix=prefix,
    )
    seen: list[tuple[dict[str, Any], str, str | None, str]] = []

    @events.subscriber(ORDER_PLACED, group="fulfilment")
    async def on_order(event: dict[str, Any], ctx: Context) -> None:
        seen.append((event, ctx.envelope.type, ctx.envelope.subject, ctx.topic))

    settings = WorkerSettings(
        kafka_bootstrap=services.kafka_bootstrap, commit_interval=0.1, topic_partitions=1
    )
    worker = Worker(events, settings)
    order = {
        "OrderNumber": 1001,
        "Lines": 2,
        "CustomerName": "Ada",
        "Total": 99.5,
        "Paid": False,
        "PlacedOn": "2026-11-30T01:02:03.456Z",
        "Channel": "Web",
    }
    peer = AIOKafkaProducer(bootstrap_servers=services.kafka_bootstrap)
    await peer.start()
    try:
        async with running_worker(worker):
            # Mendix -> bizevents: a well-formed record, then four a Mendix app would never send.
            good = json.dumps(order).encode()
            await peer.send_and_wait(order_topic, good, headers=mendix_headers())
            bad = [
                mendix_headers(ce_sourcename=None),
                mendix_headers(ce_time="yesterday"),
                mendix_headers(ce_type="OrderShipped"),
                mendix_headers(ce_id=None),
            ]
            for headers in bad:
                await peer.send_and_wait(order_topic, good, headers=headers)
            await wait_until(lambda: len(seen) == 1)
            letters = await read_topic(f"bizevents.dlq.{space}.fulfilment", count=4)
    finally:
        await peer.stop()
    event, event_type, subject, topic = seen[0]
    assert event == order and event_type == ORDER_PLACED and subject == "Order 1001"
    assert topic == order_topic
    reasons = sorted(error_of(r) for r in letters)
    assert len(reasons) == 4, reasons
    assert any("ce_sourcename" in r for r in reasons)
    assert any("'time' is not an RFC 3339 timestamp" in r for r in reasons)
    assert any("'OrderShipped' is not an event of Mendix channel" in r for r in reasons)
    assert any("missing required attribute 'id'" in r for r in reasons)

    # bizevents -> Mendix: published through the outbox and the relay.
    await events.migrate(db)
    async with db.transaction():
        await events.publish(
            db, PAYMENT_RECEIVED,
            {"OrderNumber": 1001, "Amount": 99.5, "ReceivedOn": "2026-11-30T01:05:00Z"},
            subject="Payment for order 1001",
        )  # fmt: skip
    relay = Relay(
        RelaySettings(
            database_url=db_url,
            kafka_bootstrap=services.kafka_bootstrap,
            outbox_schema=db_schema,
            relay_poll_interval=0.2,
        )
    )
    async with running_relay(relay):
        (record,) = await read_topic(payment_topic, count=1)
    headers = headers_of(record)
    # What a Mendix consumer reads: its own header names and the event's Mendix name.
    assert headers["ce_type"] == "PaymentReceived"
    assert headers["ce_sourcename"] == "fulfilment"
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_subject"] == "Payment for order 1001"
    assert headers["ce_source"] == "/shop"
    assert uuid.UUID(headers["ce_id"])
    assert datetime.fromisoformat(headers["ce_time"]).tzinfo is not None
    assert headers["content-type"] == "application/json"
    assert "ce_dataschema" not in headers
    assert json.loads(record.value) == {
        "OrderNumber": 1001, "Amount": 99.5, "ReceivedOn": "2026-11-30T01:05:00Z"
    }  # fmt: skip


def test_mendix_topics_need_a_space(contracts_dir: Path) -> None:
    events = Events(app="fulfilment", contracts=contracts_dir, space="")
    with pytest.raises(Exception, match="BIZEVENTS_SPACE"):
        events.build(PAYMENT_RECEIVED, {"OrderNumber": 1})
    spaced = Events(app="fulfilment", contracts=contracts_dir, space="prod")
    out = spaced.build(PAYMENT_RECEIVED, {"OrderNumber": 1})
    assert out.topic == f"businessevents.{PAYMENT_CHANNEL}.prod"
    assert out.envelope.type == "PaymentReceived"
    assert out.envelope.extensions["sourcename"] == "fulfilment"


def test_mendix_export_attribute_types_map_to_json_schema() -> None:
    result = import_asyncapi(
        MENDIX / "ShopEventsService.yaml", ImportOptions(service="shop", mesh="mendix")
    )
    contract = next(c for c in load_contract_texts({"shop.yaml": result.text}) if
                    c.event_type == ORDER_PLACED)  # fmt: skip
    assert contract.mesh == "mendix" and contract.topic == ORDER_CHANNEL
    assert contract.message == "OrderPlaced"
    props = contract.schema["properties"]
    assert props["OrderNumber"] == {"type": "integer", "format": "int64"}  # Long
    assert props["Lines"] == {"type": "integer", "format": "int32"}  # Integer
    assert props["Total"] == {"type": "number"}  # Decimal
    assert props["Paid"] == {"type": "boolean"}  # Boolean
    assert props["PlacedOn"] == {"type": "string", "format": "date-time"}  # DateTime
    assert props["Channel"] == {"type": "string", "enum": ["Web", "Store", "Phone"]}
    contract.validate({"OrderNumber": 1, "Channel": "Store", "PlacedOn": "2026-11-30T00:00:00Z"})


def test_unmappable_mendix_attributes_are_refused_by_name() -> None:
    with pytest.raises(ContractError) as info:
        import_asyncapi(MENDIX / "UnmappableService.yaml", ImportOptions(mesh="mendix"))
    text = str(info.value)
    for name, what in (("Content", "format binary"), ("Address", "object"), ("Tags", "array")):
        assert f"attribute {name!r}: " in text and what in text
    assert "'Title'" not in text


def test_a_mendix_mesh_contract_must_stay_flat(tmp_path: Path) -> None:
    result = import_asyncapi(
        MENDIX / "ShopEventsService.yaml", ImportOptions(service="shop", mesh="mendix")
    )
    nested = result.text.replace(
        "        CustomerName:\n          type: string\n",
        "        CustomerName:\n          type: object\n",
    )
    (tmp_path / "shop.yaml").write_text(nested)
    with pytest.raises(ContractError) as info:
        load_contracts(tmp_path)
    assert any(p.rule == "mesh" and "'CustomerName'" in p.message for p in info.value.problems)


@needs_parser
def test_export_for_mendix_round_trips_and_passes_the_official_parser(
    contracts_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "export" / "shop-for-mendix.yaml"
    out.parent.mkdir()
    done = CliRunner().invoke(
        cli, ["contracts", "export-mendix", "shop", str(contracts_dir), "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    text = out.read_text()
    assert text.startswith("asyncapi: 2.2.0")
    again = import_asyncapi(out, ImportOptions(service="shop", mesh="mendix"))
    before = {c.event_type: c for c in load_contracts(contracts_dir)}
    after = {c.event_type: c for c in load_contract_texts({"shop.yaml": again.text})}
    assert sorted(before) == sorted(after)
    for event_type, contract in before.items():
        other = after[event_type]
        assert (other.topic, other.message, other.publishers, dict(other.schema)) == (
            contract.topic,
            contract.message,
            contract.publishers,
            dict(contract.schema),
        )
    report = official_parser(out)
    assert all(r["parsed"] and not r["errors"] for r in report), report
    missing = CliRunner().invoke(cli, ["contracts", "export-mendix", "nobody", str(contracts_dir)])
    assert missing.exit_code == 1 and "cannot export nobody" in missing.output


async def test_the_in_memory_harness_runs_mendix_subscribers_in_a_space(
    contracts_dir: Path,
) -> None:
    from bizevents.testing import TestEvents

    events = Events(app="fulfilment", contracts=contracts_dir, space="prod")
    seen: list[tuple[str, str]] = []

    @events.subscriber(ORDER_PLACED, group="fulfilment")
    async def on_order(event: dict[str, Any], ctx: Context) -> None:
        seen.append((ctx.envelope.type, ctx.topic))

    async with TestEvents(events) as t:
        await t.publish(ORDER_PLACED, {"OrderNumber": 7, "Channel": "Phone"})
        assert t.handled(ORDER_PLACED)
        assert not t.dead_letters()
    assert seen == [(ORDER_PLACED, f"businessevents.{ORDER_CHANNEL}.prod")]


def test_changing_the_mesh_or_a_mendix_event_name_is_breaking() -> None:
    from bizevents.contracts import diff_contracts

    result = import_asyncapi(
        MENDIX / "ShopEventsService.yaml", ImportOptions(service="shop", mesh="mendix")
    )
    before = load_contract_texts({"shop.yaml": result.text})
    renamed = result.text.replace("name: OrderPlaced", "name: OrderWasPlaced")
    native = result.text.replace("  x-bizevents-mesh: mendix\n", "")
    for text, rule in ((renamed, "wire-name-changed"), (native, "mesh-changed")):
        changes = diff_contracts(before, load_contract_texts({"shop.yaml": text})).changes
        found = [c for c in changes if c.rule == rule]
        assert found and all(all(c.breaking.values()) for c in found), changes
