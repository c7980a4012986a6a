"""Registry writes: refused without an admin token unless the broker says it is open, a dry run
that would be refused creates nothing, a deprecation can be taken back and is announced to
publishers and subscribers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from bizevents.app import Events
from bizevents.contracts.registry import Registry
from bizevents.worker import Context, Worker, WorkerSettings
from bizevents_broker.core.contracts import RegistryContracts

from .conftest import INVENTORY_YAML, inventory_yaml, make_client

pytestmark = pytest.mark.services
PLACED = "com.acme.orders.OrderPlaced.v1"
SHIPPED = "com.acme.orders.OrderShipped.v1"


async def test_writes_are_refused_without_an_admin_token(registry: Registry) -> None:
    async with make_client(registry, registry_open_writes=False) as client:
        posted = await client.post("/api/registry/contracts", content=INVENTORY_YAML)
        assert posted.status_code == 403
        assert "BIZEVENTS_ADMIN_TOKEN" in posted.json()["error"]
        deprecate = await client.post(f"/api/registry/event-types/{PLACED}/deprecate")
        assert deprecate.status_code == 403
        assert (await client.get("/api/registry/event-types")).status_code == 200
    assert not (await registry.get(PLACED)).deprecated
    assert "com.acme.inventory.StockReserved.v1" not in {
        v.event_type for v in await registry.event_types()
    }


async def test_a_refused_dry_run_lists_nothing_as_created(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/registry/contracts", content=INVENTORY_YAML)).status_code == 201
    breaking = inventory_yaml(quantity_type="string")
    dry = await client.post("/api/registry/contracts?dry_run=true", content=breaking)
    assert dry.status_code == 409
    assert all(r["created"] is False for r in dry.json()["registrations"])


@pytest.mark.parametrize("escape", ["\\ud800", "\\0"])
async def test_text_no_database_can_hold_is_refused(client: httpx.AsyncClient, escape: str) -> None:
    # A YAML escape gave a lone surrogate (or NUL) the registry could not store: a 500 (found
    # by tests/hostile).
    doc = INVENTORY_YAML.replace(
        "description: Stock was reserved for an order.", f'description: "{escape} reserved"'
    )
    posted = await client.post("/api/registry/contracts", content=doc)
    assert posted.status_code == 422, posted.text
    assert [p["rule"] for p in posted.json()["problems"]] == ["yaml-text"]


async def test_deprecation_is_undone_and_announced(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    url = f"/api/registry/event-types/{SHIPPED}/deprecate"
    done = await client.post(url, json={"reason": "use ShipmentDispatched"})
    assert done.status_code == 200 and done.json()["deprecated"][0]["deprecated"] is True

    contracts = await RegistryContracts(registry, ttl=0).current()
    assert "use ShipmentDispatched" in (contracts.get(SHIPPED).deprecation or "")
    orders = Events(app="orders", contracts=contracts)
    billing = Events(app="billing", contracts=contracts)

    @billing.subscriber(SHIPPED, group="billing")
    async def handle(event: dict[str, Any], ctx: Context) -> None: ...

    with capture_logs() as logs:
        orders.build(SHIPPED, {"order_id": "o-1", "carrier": "DHL"})
        orders.build(SHIPPED, {"order_id": "o-2", "carrier": "DHL"})
        Worker(billing, WorkerSettings())
    warned = [e for e in logs if e.get("event_type") == SHIPPED and e["log_level"] == "warning"]
    assert [e["event"] for e in warned] == [
        "publishing of a deprecated event type",
        "subscription of a deprecated event type",
    ]  # once each per process

    undone = await client.delete(url)
    assert undone.status_code == 200 and undone.json()["undeprecated"][0]["deprecated"] is False
    assert not (await registry.get(SHIPPED)).deprecated
    again = await RegistryContracts(registry, ttl=0).current()
    assert again.get(SHIPPED).deprecation is None
