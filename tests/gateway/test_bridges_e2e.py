"""Events created over OData and published over SOAP go through the outbox, the real relay and
Kafka to an SDK subscriber; the event log's feeder (a Kafka consumer) then shows them in
/odata/Events and SOAP's GetEventStatus says "relayed"."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bizevents import Events
from bizevents.envelope import Envelope
from bizevents.worker import Context, Worker, WorkerSettings
from bizevents_broker.eventlog import EventLogFeeder, migrate_event_log

from .conftest import Env, relaying
from .test_soap import NS, SOAP, XML, envelope, publish_op

pytestmark = pytest.mark.services


@contextlib.asynccontextmanager
async def feeding(env: Env, services: Any) -> AsyncIterator[EventLogFeeder]:
    async with env.gateway.connection() as conn:
        await migrate_event_log(conn, env.schema)
    feeder = EventLogFeeder(
        env.gateway.pool,
        env.schema,
        env.gateway.contracts,
        services.kafka_bootstrap,
        topics_refresh=1.0,
        group_id=f"eventlog-{uuid.uuid4().hex[:8]}",
    )
    task = asyncio.create_task(feeder.run())
    try:
        yield feeder
    finally:
        feeder.stop()
        await asyncio.wait_for(task, 30)


async def test_odata_and_soap_events_reach_a_subscriber_and_the_log(
    env: Env, services: Any
) -> None:
    shop = env.shop
    got: dict[str, Envelope] = {}
    done = asyncio.Event()
    subscriber = Events(app="billing", contracts=shop.contracts)

    @subscriber.subscriber(shop.placed, group=f"g-{uuid.uuid4().hex[:8]}")
    async def on_placed(event: dict[str, Any], ctx: Context) -> None:
        got[event["order_id"]] = ctx.envelope
        if len(got) >= 2:
            done.set()

    created = await env.http.post(
        "/odata/Events",
        json={
            "Type": shop.placed,
            "Data": json.dumps({"order_id": "o-odata", "amount": 7}),
            "Subject": "order/o-odata",
        },
        headers=env.auth("orders"),
    )
    assert created.status_code == 201, created.text
    odata_id = created.json()["Id"]
    assert created.headers["Location"].endswith(f"/odata/Events('{odata_id}')")
    assert created.json()["PartitionKey"] == "o-odata"
    published = await env.http.post(
        "/soap",
        content=envelope(publish_op(env, "o-soap", 8)),
        headers={**XML, **env.auth("orders")},
    )
    assert published.status_code == 200, published.text
    soap_id = ET.fromstring(published.content).findtext(
        f"{{{SOAP}}}Body/{{{NS}}}PublishEventResponse/{{{NS}}}Id"
    )

    worker = Worker(
        subscriber,
        WorkerSettings(
            kafka_bootstrap=services.kafka_bootstrap, database_url=services.database_url
        ),
    )
    async with relaying(services, env.schema), feeding(env, services):
        await worker.start()
        try:
            await asyncio.wait_for(done.wait(), 60)
        finally:
            await worker.stop()
        assert got["o-odata"].id == odata_id and got["o-odata"].subject == "order/o-odata"
        assert got["o-soap"].id == soap_id
        assert got["o-odata"].source == shop.source == got["o-soap"].source

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while True:
            found = await env.http.get(
                "/odata/Events",
                params={"$filter": f"Id in ('{odata_id}','{soap_id}')", "$orderby": "Time"},
                headers=env.auth("billing"),
            )
            if len(found.json()["value"]) == 2 or loop.time() > deadline:
                break
            await asyncio.sleep(0.3)
        rows = {e["Id"]: e for e in found.json()["value"]}
        assert set(rows) == {odata_id, soap_id}, found.text
        assert json.loads(rows[odata_id]["Data"]) == {"order_id": "o-odata", "amount": 7}
        assert rows[odata_id]["Topic"] == shop.placed and rows[odata_id]["KafkaOffset"] >= 0
        status = await env.http.post(
            "/soap",
            content=envelope(f"<b:GetEventStatus><b:Id>{soap_id}</b:Id></b:GetEventStatus>"),
            headers={**XML, **env.auth("orders")},
        )
        path = f"{{{SOAP}}}Body/{{{NS}}}GetEventStatusResponse/{{{NS}}}Status"
        assert ET.fromstring(status.content).findtext(path) == "relayed", status.text
