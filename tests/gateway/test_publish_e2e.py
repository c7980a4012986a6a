"""Events published over HTTP, in every mode, reach an SDK subscriber through the real relay and
Kafka with the same CloudEvent attributes as an event the SDK published."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest

from bizevents import Events
from bizevents.envelope import Envelope
from bizevents.worker import Context, Worker, WorkerSettings

from .conftest import Env, relaying

pytestmark = pytest.mark.services


async def test_every_http_mode_matches_an_sdk_published_event(env: Env, services: Any) -> None:
    shop = env.shop
    got: dict[str, Envelope] = {}
    done = asyncio.Event()

    subscriber = Events(app="billing", contracts=shop.contracts)

    @subscriber.subscriber(shop.placed, group=f"g-{uuid.uuid4().hex[:8]}")
    async def on_placed(event: dict[str, Any], ctx: Context) -> None:
        got[event["order_id"]] = ctx.envelope
        if len(got) >= 6:
            done.set()

    # The SDK's own publish, into the same outbox schema, as the reference.
    sdk = Events(app="orders", contracts=shop.contracts, outbox_schema=env.schema)
    conn = await asyncpg.connect(services.database_url)
    try:
        async with conn.transaction():
            await sdk.publish(conn, shop.placed, {"order_id": "o-sdk", "amount": 1})
    finally:
        await conn.close()

    auth = env.auth("orders")
    client_id = str(uuid.uuid4())
    responses = [
        await env.http.post(
            f"/events/{shop.placed}", json={"order_id": "o-plain", "amount": 2}, headers=auth
        ),
        await env.http.post(
            "/events",
            content=json.dumps(
                {
                    "specversion": "1.0",
                    "id": client_id,
                    "source": shop.source,
                    "type": shop.placed,
                    "datacontenttype": "application/json",
                    "data": {"order_id": "o-structured", "amount": 3},
                }
            ),
            headers={**auth, "Content-Type": "application/cloudevents+json"},
        ),
        await env.http.post(
            "/events",
            json={"order_id": "o-binary", "amount": 4},
            headers={
                **auth,
                "ce-specversion": "1.0",
                "ce-id": str(uuid.uuid4()),
                "ce-source": shop.source,
                "ce-type": shop.placed,
            },
        ),
        await env.http.post(
            "/events",
            content=json.dumps(
                [
                    {
                        "specversion": "1.0",
                        "id": str(uuid.uuid4()),
                        "source": shop.source,
                        "type": shop.placed,
                        "data": {"order_id": f"o-batch{i}", "amount": 5 + i},
                    }
                    for i in range(2)
                ]
            ),
            headers={**auth, "Content-Type": "application/cloudevents-batch+json"},
        ),
    ]
    for response in responses:
        assert response.status_code == 202, response.text
    assert responses[1].json() == {"ids": [client_id]}
    assert len(responses[3].json()["ids"]) == 2

    worker = Worker(
        subscriber,
        WorkerSettings(
            kafka_bootstrap=services.kafka_bootstrap, database_url=services.database_url
        ),
    )
    async with relaying(services, env.schema):
        await worker.start()
        try:
            await asyncio.wait_for(done.wait(), 60)
        finally:
            await worker.stop()

    reference = got.pop("o-sdk")
    fixed = {"id", "time", "partitionkey"}
    expected = {k: v for k, v in reference.attributes().items() if k not in fixed}
    assert expected["source"] == shop.source and expected["dataschema"]
    for order_id, envelope in got.items():
        attrs = {k: v for k, v in envelope.attributes().items() if k not in fixed}
        assert attrs == expected, order_id
        assert envelope.datacontenttype == reference.datacontenttype
        assert envelope.partitionkey == order_id  # the contract's key field, as the SDK does
        uuid.UUID(envelope.id)
    assert got["o-structured"].id == client_id
    assert set(got) == {"o-plain", "o-structured", "o-binary", "o-batch0", "o-batch1"}
