"""Two independent third-party OData v4 clients against the served gateway, python-odata (PyPI)
and Apache Olingo's Java client (Maven Central): each reads $metadata, filters, follows
@odata.nextLink and creates an event, on its own reading of the protocol."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
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


OLINGO = Path(__file__).resolve().parents[2] / "tools" / "odata-olingo"


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a Java runtime (17+)")
async def test_apache_olingo_reads_filters_pages_and_creates(
    live: tuple[Env, list[Row], str],
) -> None:
    env, rows, url = live
    if not (OLINGO / "lib").is_dir():
        pytest.fail("Olingo's jars are missing: run `bash deploy/run.sh setup`")
    java = await asyncio.create_subprocess_exec(
        "java", "-cp", str(OLINGO / "lib" / "*"), str(OLINGO / "OlingoCheck.java"),
        f"{url}/odata/", env.keys["ops"], env.shop.placed,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(java.communicate(), 180)
    assert java.returncode == 0, stderr.decode()[-3000:]
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    expected = sorted((r for r in rows if r.type == env.shop.placed), key=lambda r: r.time)
    assert result["key"] == "Id" and result["time_type"] == "Edm.DateTimeOffset"
    assert result["ids"] == [r.id for r in expected]
    assert result["pages"] == -(-len(expected) // PAGE)  # every next link followed
    assert result["created_key"] == "o-olingo"
    async with env.gateway.connection() as conn:
        data = await conn.fetchval(
            f"SELECT convert_from(data, 'UTF8') FROM {env.schema}.outbox WHERE event_id = $1::uuid",
            result["created"],
        )
    assert json.loads(data) == {"order_id": "o-olingo", "amount": 9}
