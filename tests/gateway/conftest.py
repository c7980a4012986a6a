"""Gateway fixtures: contracts with unique event types (and their topics), a registry and a
gateway in per-test schemas, the ASGI app in-process, apps with keys, an in-process relay."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bizevents.contracts import ContractSet, load_contract_texts
from bizevents.contracts.registry import Registry
from bizevents.mesh import Naming
from bizevents.relay import Relay
from bizevents.settings import RelaySettings
from bizevents.webhooks import AddressPolicy
from bizevents_broker.app import create_app
from bizevents_broker.core import Gateway, Limits, RegistryContracts
from bizevents_broker.settings import BrokerSettings

BIZEVENTS = str(Path(sys.executable).with_name("bizevents"))

CONTRACT = """\
asyncapi: 3.0.0
info:
  title: shop{n}
  version: 1.0.0
  x-bizevents-owner: team-shop
  x-bizevents-source: /acme/shop{n}
channels:
  placed:
    address: {placed}
    x-bizevents-type: {placed}
    x-bizevents-key: order_id
    x-bizevents-publishers: [orders]
    x-bizevents-subscribers: [billing]
    messages:
      Placed: {{$ref: '#/components/messages/Placed'}}
  audited:
    address: {audited}
    x-bizevents-type: {audited}
    x-bizevents-publishers: [auditor]
    x-bizevents-subscribers: [billing]
    messages:
      Audited: {{$ref: '#/components/messages/Audited'}}
operations:
  sendPlaced: {{action: send, channel: {{$ref: '#/channels/placed'}}}}
  sendAudited: {{action: send, channel: {{$ref: '#/channels/audited'}}}}
components:
  messages:
    Placed:
      payload:
        type: object
        required: [order_id, amount]
        additionalProperties: false
        properties:
          order_id: {{type: string, minLength: 1}}
          amount: {{type: integer, minimum: 0}}
          note: {{type: string}}
    Audited:
      payload:
        type: object
        required: [what]
        properties:
          what: {{type: string}}
"""


@dataclass(frozen=True)
class Shop:
    contracts: ContractSet
    placed: str  # publishers: [orders], key order_id
    audited: str  # publishers: [auditor]
    source: str


@pytest.fixture
async def shop(kafka_admin: AIOKafkaAdminClient) -> Shop:
    n = uuid.uuid4().hex[:10]
    placed, audited = f"test.gw{n}.OrderPlaced.v1", f"test.gw{n}.Audited.v1"
    text = CONTRACT.format(n=n, placed=placed, audited=audited)
    contracts = load_contract_texts({"shop.yaml": text})
    await kafka_admin.create_topics([NewTopic(t, 3, 1) for t in (placed, audited)])
    return Shop(contracts, placed, audited, f"/acme/shop{n}")


@dataclass
class Env:
    gateway: Gateway
    registry: Registry
    schema: str
    http: httpx.AsyncClient
    keys: dict[str, str]  # app name -> API key
    shop: Shop
    settings: BrokerSettings  # what the app was created with (the services' addresses)

    def auth(self, app: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[app]}"}

    async def new_app(self, name: str, **kwargs: Any) -> str:
        async with self.gateway.connection() as conn:
            _, key = await self.gateway.apps.create(conn, name, **kwargs)
        self.keys[name] = key
        return key


async def _drop(database_url: str, *schemas: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        for schema in schemas:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def make_http(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=30
    )


@pytest.fixture
async def env(services: Any, shop: Shop) -> AsyncIterator[Env]:
    async with gateway_env(services, shop, Limits(max_batch=50, rate=0)) as e:
        yield e


@asynccontextmanager
async def gateway_env(
    services: Any,
    shop: Shop,
    limits: Limits,
    webhook_policy: AddressPolicy | None = None,
    naming: Naming | None = None,
    **settings: Any,
) -> AsyncIterator[Env]:
    suffix = uuid.uuid4().hex[:10]
    registry_schema, schema = f"reg_{suffix}", f"gw_{suffix}"
    registry = await Registry.connect(services.database_url, registry_schema)
    await registry.register(shop.contracts)
    gateway = await Gateway.open(
        services.database_url,
        schema,
        RegistryContracts(registry, ttl=0),
        limits=limits,
        kafka=services.kafka_bootstrap,
        webhook_policy=webhook_policy,
        naming=naming,
    )
    # The services' addresses, not the defaults: on other ports (a second stack) the OData
    # replay went to whatever Kafka listened on the default port.
    broker_settings = BrokerSettings(
        database_url=services.database_url,
        kafka_bootstrap=services.kafka_bootstrap,
        registry_schema=registry_schema,
        gateway_schema=schema,
        gateway_relay=False,
        **settings,
    )
    app = create_app(broker_settings, registry, gateway)
    async with make_http(app) as http:
        env = Env(gateway, registry, schema, http, {}, shop, broker_settings)
        await env.new_app("ops", admin=True)
        await env.new_app("orders")
        await env.new_app("billing")
        try:
            yield env
        finally:
            await gateway.close()
            await registry.close()
            await _drop(services.database_url, registry_schema, schema)


@asynccontextmanager
async def relaying(services: Any, schema: str) -> AsyncIterator[Relay]:
    """A relay for `schema`'s outbox, in-process, until the block ends."""
    relay = Relay(
        RelaySettings(
            database_url=services.database_url,
            kafka_bootstrap=services.kafka_bootstrap,
            outbox_schema=schema,
            relay_poll_interval=0.2,
        )
    )
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        relay.stop()
        await asyncio.wait_for(task, 30)
