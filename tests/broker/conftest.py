"""Broker fixtures: the app over a per-test registry (in-process), and the real server
(`bizevents broker serve` as a subprocess on a free port) over a per-module registry schema."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bizevents.contracts import load_contracts
from bizevents.contracts.registry import Registry
from bizevents_broker.app import create_app
from bizevents_broker.settings import BrokerSettings
from servers import free_port, stop_process, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
BIZEVENTS = Path(sys.executable).with_name("bizevents")

# A service the example domain does not have; its description is hostile HTML.
HOSTILE = """<img src=x onerror="document.body.setAttribute('data-pwned','1')">"""
INVENTORY_YAML = f"""\
asyncapi: 3.0.0
info:
  title: inventory
  version: 1.0.0
  description: 'Stock levels {HOSTILE.replace("'", "''")}'
  x-bizevents-owner: team-inventory
  x-bizevents-source: /acme/inventory
channels:
  stockReserved:
    address: com.acme.inventory.StockReserved.v1
    description: Stock was reserved for an order.
    x-bizevents-type: com.acme.inventory.StockReserved.v1
    x-bizevents-key: sku
    x-bizevents-publishers: [inventory]
    x-bizevents-subscribers: [orders]
    messages:
      StockReserved:
        $ref: '#/components/messages/StockReserved'
operations:
  publishStockReserved:
    action: send
    channel:
      $ref: '#/channels/stockReserved'
components:
  messages:
    StockReserved:
      name: StockReserved
      payload:
        type: object
        required: [sku, quantity]
        properties:
          sku: {{type: string}}
          quantity: {{type: integer, minimum: 1}}
"""


def inventory_yaml(quantity_type: str = "integer", required: str = "[sku, quantity]") -> str:
    return INVENTORY_YAML.replace(
        "quantity: {type: integer", f"quantity: {{type: {quantity_type}"
    ).replace("required: [sku, quantity]", f"required: {required}")


@pytest.fixture
async def registry(services: Any, db_schema: str) -> AsyncIterator[Registry]:
    registry = await Registry.connect(services.database_url, db_schema)
    await registry.register(load_contracts(CONTRACTS))
    yield registry
    await registry.close()


def make_client(registry: Registry, **settings: Any) -> httpx.AsyncClient:
    # Without an admin token the registry refuses writes; these tests run an open dev broker.
    settings.setdefault("registry_open_writes", "admin_token" not in settings)
    app = create_app(BrokerSettings(registry_schema=registry.schema, **settings), registry)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://broker")


@pytest.fixture
async def client(registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(registry) as client:
        yield client


@dataclass(frozen=True)
class Server:
    url: str
    schema: str
    process: asyncio.subprocess.Process


@pytest.fixture(scope="module")
async def server(services: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    """`bizevents broker serve` registering the example contracts at start-up."""
    schema = f"broker_{uuid.uuid4().hex[:10]}"
    port = free_port()
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    env = {
        **os.environ,
        "BIZEVENTS_DATABASE_URL": services.database_url,
        "BIZEVENTS_REGISTRY_SCHEMA": schema,
        "BIZEVENTS_CONTRACTS_PATH": str(CONTRACTS),
        "BIZEVENTS_GATEWAY_SCHEMA": f"{schema}_gw",
        "BIZEVENTS_REGISTRY_OPEN_WRITES": "1",  # a development broker: writes without a token
    }
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            str(BIZEVENTS),
            *("broker", "serve", "--port", str(port)),
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url, process, timeout=60)
    except BaseException:
        await stop_process(process)
        raise RuntimeError(f"broker did not start:\n{log.read_text()}") from None
    yield Server(url, schema, process)
    await stop_process(process)
    conn = await asyncpg.connect(services.database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_gw" CASCADE')
    finally:
        await conn.close()
