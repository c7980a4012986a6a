"""`bizevents broker serve` as a user runs it: the admin token creates an app over HTTP, the app
publishes, and the broker's own relay moves the event to Kafka; an admin app may register
contracts, which publishers can use at once."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bizevents.envelope import from_kafka
from servers import free_port, stop_process, wait_healthy

from .conftest import BIZEVENTS

pytestmark = pytest.mark.services

TOKEN = "test-admin-token-" + uuid.uuid4().hex

CONTRACT = """\
asyncapi: 3.0.0
info: {{title: crm{n}, version: 1.0.0, x-bizevents-owner: crm, x-bizevents-source: /acme/crm{n}}}
channels:
  signed:
    address: {t}
    x-bizevents-type: {t}
    x-bizevents-key: customer_id
    x-bizevents-publishers: [crm]
    messages:
      Signed: {{payload: {{type: object, required: [customer_id],
                           properties: {{customer_id: {{type: string}}}}}}}}
operations:
  sendSigned: {{action: send, channel: {{$ref: '#/channels/signed'}}}}
"""


@pytest.fixture
async def broker(services: Any, tmp_path: Any) -> AsyncIterator[str]:
    suffix = uuid.uuid4().hex[:10]
    schemas = (f"reg_{suffix}", f"gw_{suffix}")
    port = free_port()
    log = tmp_path / "broker.log"
    env = {
        **os.environ,
        "BIZEVENTS_DATABASE_URL": services.database_url,
        "BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "BIZEVENTS_REGISTRY_SCHEMA": schemas[0],
        "BIZEVENTS_GATEWAY_SCHEMA": schemas[1],
        "BIZEVENTS_ADMIN_TOKEN": TOKEN,
    }
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            BIZEVENTS, "broker", "serve", "--port", str(port), env=env, stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url, process, timeout=90)
        yield url
    finally:
        await stop_process(process)
        text = log.read_text()
        conn = await asyncpg.connect(services.database_url)
        try:
            for schema in schemas:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()
        assert TOKEN not in text and "Traceback" not in text, text


async def test_admin_token_app_publish_relay_kafka(
    broker: str, kafka_admin: AIOKafkaAdminClient, read_topic: Any
) -> None:
    n = uuid.uuid4().hex[:10]
    event_type = f"test.srv{n}.CustomerSigned.v1"
    await kafka_admin.create_topics([NewTopic(event_type, 3, 1)])
    admin = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=broker, timeout=30) as http:
        created = await http.post("/api/apps", json={"name": "ops", "admin": True}, headers=admin)
        assert created.status_code == 201, created.text
        ops = {"Authorization": f"Bearer {created.json()['key']}"}
        crm_key = (await http.post("/api/apps", json={"name": "crm"}, headers=ops)).json()["key"]
        crm = {"Authorization": f"Bearer {crm_key}"}

        # Registry writes need the admin role: an app key without it is refused.
        doc = CONTRACT.format(n=n, t=event_type)
        refused = await http.post("/api/registry/contracts", content=doc, headers=crm)
        assert refused.status_code == 403
        registered = await http.post("/api/registry/contracts", content=doc, headers=ops)
        assert registered.status_code == 201, registered.text

        published = await http.post(
            f"/events/{event_type}", json={"customer_id": "c-1"}, headers=crm
        )
        assert published.status_code == 202, published.text
        (event_id,) = published.json()["ids"]

        spec = (await http.get("/openapi.json")).json()
        assert "/events" in spec["paths"]

    records = await read_topic(event_type, count=1, timeout=60)
    envelope = from_kafka(records[0].key, records[0].value, records[0].headers)
    assert envelope.id == event_id and envelope.source == f"/acme/crm{n}"
    assert envelope.partitionkey == "c-1" and json.loads(envelope.data) == {"customer_id": "c-1"}
