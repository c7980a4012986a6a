"""Third-party OData v4 clients against the real service: they read $metadata, filter, follow
@odata.nextLink and create an event, each on its own reading of the protocol."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from requests.auth import HTTPBasicAuth

from bizevents_broker.core import Limits

from .conftest import Env, Shop, gateway_env
from .live import serving
from .odata_seed import Row, make_rows, seed

pytestmark = pytest.mark.services

PAGE = 4


@pytest.fixture
async def live(services: Any, shop: Shop) -> AsyncIterator[tuple[Env, list[Row], str]]:
    async with gateway_env(services, shop, Limits(rate=0)) as env:
        rows = make_rows(env, placed=11, audited=3)
        await seed(env, rows)
        async with serving(env, odata_page_size=PAGE) as url:
            yield env, rows, url


def with_python_odata(root: str, key: str, placed: str) -> dict[str, Any]:
    from odata import ODataService

    service = ODataService(
        root, auth=HTTPBasicAuth("bi", key), reflect_entities=True, quiet_progress=True
    )
    event = service.entities["Events"]
    query = service.query(event).filter(event.Type == placed).order_by(event.Time.asc())
    found = [(e.Id, e.PartitionKey) for e in query]  # iterating follows the next links
    created = event()
    created.Type = placed
    created.Data = json.dumps({"order_id": "o-python-odata", "amount": 5})
    created.Subject = "order/python-odata"
    service.save(created)
    return {"found": found, "created": created.Id, "key": created.PartitionKey}


async def test_python_odata_reads_filters_pages_and_creates(
    live: tuple[Env, list[Row], str],
) -> None:
    env, rows, url = live
    result = await asyncio.to_thread(
        with_python_odata, f"{url}/odata/", env.keys["ops"], env.shop.placed
    )
    expected = sorted((r for r in rows if r.type == env.shop.placed), key=lambda r: r.time)
    assert result["found"] == [(r.id, r.key) for r in expected]
    assert len(expected) > PAGE  # so the client had to follow next links
    assert result["key"] == "o-python-odata"
    async with env.gateway.connection() as conn:
        row = await conn.fetchrow(
            f"SELECT type, subject, key FROM {env.schema}.outbox WHERE event_id = $1::uuid",
            result["created"],
        )
    assert row is not None and tuple(row) == (
        env.shop.placed,
        "order/python-odata",
        "o-python-odata",
    )
