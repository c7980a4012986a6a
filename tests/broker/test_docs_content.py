"""The docs page explains a payload without JSON Schema: a field table, an example payload,
retention, deprecation, version history with what changed, and a search (no script needed)."""

from __future__ import annotations

import httpx
import pytest

from .conftest import INVENTORY_YAML, inventory_yaml

pytestmark = pytest.mark.services
RESERVED = "com.acme.inventory.StockReserved.v1"


async def test_fields_example_retention_history_deprecation_and_search(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/api/registry/contracts", content=INVENTORY_YAML)).status_code == 201
    v2 = inventory_yaml(required="[sku]")  # quantity becomes optional
    assert (await client.post("/api/registry/contracts", content=v2)).status_code == 201
    url = f"/api/registry/event-types/{RESERVED}/deprecate"
    assert (await client.post(url, json={"reason": "use StockHeld"})).status_code == 200

    page = (await client.get("/docs/contracts")).text
    assert "4 services" in page and "1 services" not in page and "(1 events)" not in page
    assert "<code>items[].quantity</code>" in page  # nested array items in the field table
    assert "ISO 4217 currency code." in page  # field descriptions
    assert "Example payload" in page and "&quot;order_id&quot;" in page
    assert '<td class="retention">7 days</td>' in page
    assert '<td class="retention">forever</td>' in page
    reserved = page.split(f'data-event-type="{RESERVED}"', 1)[1].split("</article>", 1)[0]
    assert "use StockHeld" in reserved and "since " in reserved
    assert 'class="version">v1' in reserved and 'class="version">v2' in reserved
    assert "required" in reserved.split('class="version">v2', 1)[1]  # what changed in v2

    found = (await client.get("/docs/contracts", params={"q": "tracking_number"})).text
    assert 'data-event-type="com.acme.orders.OrderShipped.v1"' in found
    assert 'data-event-type="com.acme.orders.OrderPlaced.v1"' not in found
    assert 'value="tracking_number"' in found
    hostile = (await client.get("/docs/contracts", params={"q": '"><script>'})).text
    assert "<script>" not in hostile
