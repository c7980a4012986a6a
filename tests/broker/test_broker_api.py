"""The broker's registry API, served AsyncAPI documents and metrics, in-process (httpx ASGI
transport) over a real registry in PostgreSQL holding the example contracts."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import httpx
import pytest
import yaml

from bizevents.contracts import load_contracts
from bizevents.contracts.registry import Registry

from .conftest import CONTRACTS, INVENTORY_YAML, ROOT, inventory_yaml, make_client

pytestmark = pytest.mark.services

PLACED = "com.acme.orders.OrderPlaced.v1"
RESERVED = "com.acme.inventory.StockReserved.v1"


async def test_lists_event_types_versions_and_schemas(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/api/registry/event-types")).json()["event_types"]
    assert {e["event_type"] for e in listed} == set(load_contracts(CONTRACTS).event_types)
    placed = next(e for e in listed if e["event_type"] == PLACED)
    assert placed == {
        "event_type": PLACED,
        "service": "orders",
        "latest_version": 1,
        "compatibility": "BACKWARD",
        "deprecated": False,
    }

    versions = (await client.get(f"/api/registry/event-types/{PLACED}/versions")).json()
    assert [v["version"] for v in versions["versions"]] == [1]

    latest = (await client.get(f"/api/registry/event-types/{PLACED}/versions/latest")).json()
    first = (await client.get(f"/api/registry/event-types/{PLACED}/versions/1")).json()
    assert latest == first
    assert first["contract"]["publishers"] == ["orders"]
    assert first["contract"]["subscribers"] == ["billing", "shipping"]

    schema = await client.get(f"/api/registry/event-types/{PLACED}/versions/1/schema")
    assert schema.headers["content-type"] == "application/schema+json"
    assert schema.json()["required"] == ["order_id", "customer_id", "total", "currency"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/registry/event-types/com.acme.nope.Nope.v1/versions", 404),
        (f"/api/registry/event-types/{PLACED}/versions/9", 404),
        (f"/api/registry/event-types/{PLACED}/versions/abc", 400),
        (f"/api/registry/event-types/{PLACED}/versions/0", 400),
        ("/asyncapi/nope.json", 404),
    ],
)
async def test_unknown_or_bad_references_get_clear_errors(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    response = await client.get(path)
    assert response.status_code == status
    assert response.json()["error"]


async def test_register_is_idempotent_and_refuses_breaking_changes(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/api/registry/contracts", content=INVENTORY_YAML)
    assert created.status_code == 201, created.text
    assert created.json()["registrations"] == [
        {
            "event_type": RESERVED,
            "version": 1,
            "fingerprint": created.json()["registrations"][0]["fingerprint"],
            "created": True,
        }
    ]
    again = await client.post("/api/registry/contracts", content=INVENTORY_YAML)
    assert again.status_code == 200
    assert again.json()["registrations"][0]["created"] is False
    as_json = json.dumps(yaml.safe_load(INVENTORY_YAML))  # same content, other spelling
    same = await client.post(
        "/api/registry/contracts", content=as_json, headers={"content-type": "application/json"}
    )
    assert same.status_code == 200 and same.json() == again.json()

    breaking = inventory_yaml(quantity_type="string", required="[sku, quantity, note]").replace(
        "sku: {type: string}", "sku: {type: string}\n          note: {type: string}"
    )  # a required name must be among the properties (lint refuses it otherwise)
    dry = await client.post("/api/registry/contracts?dry_run=true", content=breaking)
    assert dry.status_code == 409
    assert dry.json()["compatible"] is False
    refused = await client.post("/api/registry/contracts", content=breaking)
    assert refused.status_code == 409
    found = {(p["pointer"], p["rule"]) for p in refused.json()["problems"]}
    assert ("/properties/quantity/type", "type-narrowed") in found
    assert ("/required", "required-added") in found
    assert {p["against"] for p in refused.json()["problems"]} == {f"{RESERVED} v1"}
    versions = (await client.get(f"/api/registry/event-types/{RESERVED}/versions")).json()
    assert len(versions["versions"]) == 1

    compatible = inventory_yaml(required="[sku]")
    plan = await client.post("/api/registry/contracts?dry_run=1", content=compatible)
    assert plan.status_code == 200 and plan.json()["registrations"][0]["version"] == 2
    assert (await client.post("/api/registry/contracts", content=compatible)).status_code == 201


async def test_invalid_documents_are_rejected_without_writing(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    before = await registry.event_types()
    invalid = await client.post("/api/registry/contracts", content="asyncapi: 3.0.0\ninfo: [1]\n")
    assert invalid.status_code == 422
    assert invalid.json()["problems"]
    assert all(p["pointer"] or p["message"] for p in invalid.json()["problems"])
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9)
    )
    assert (await client.post("/api/registry/contracts", content=bomb)).status_code == 422
    assert (await client.post("/api/registry/contracts", content=b"\xff\xfe")).status_code == 400
    huge = "x" * 1_100_000
    assert (await client.post("/api/registry/contracts", content=huge)).status_code == 413
    assert await registry.event_types() == before


async def test_deprecate_one_version_or_all(client: httpx.AsyncClient) -> None:
    url = f"/api/registry/event-types/{PLACED}/versions/1/deprecate"
    done = await client.post(url, json={"reason": "use OrderPlaced.v2"})
    assert done.status_code == 200
    [marked] = done.json()["deprecated"]
    assert marked["deprecated"] and marked["deprecation_reason"] == "use OrderPlaced.v2"
    latest = (await client.get(f"/api/registry/event-types/{PLACED}/versions/latest")).json()
    assert latest["deprecated"] is True
    listed = (await client.get("/api/registry/event-types")).json()["event_types"]
    assert next(e for e in listed if e["event_type"] == PLACED)["deprecated"] is True

    shipped = "com.acme.orders.OrderShipped.v1"
    everything = await client.post(f"/api/registry/event-types/{shipped}/deprecate")
    assert [v["version"] for v in everything.json()["deprecated"]] == [1]

    assert (await client.post(url, content=b"not json")).status_code == 400
    assert (await client.post(url, json=["reason"])).status_code == 400
    missing = "/api/registry/event-types/com.acme.nope.Nope.v1/versions/1/deprecate"
    assert (await client.post(missing)).status_code == 404
    assert (await client.get(url)).status_code == 405


async def test_admin_token_guards_writes_only(registry: Registry) -> None:
    async with make_client(registry, admin_token="s3cret") as client:
        url = "/api/registry/contracts"
        assert (await client.post(url, content=INVENTORY_YAML)).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await client.post(url, content=INVENTORY_YAML, headers=wrong)).status_code == 401
        deprecate = f"/api/registry/event-types/{PLACED}/versions/1/deprecate"
        assert (await client.post(deprecate)).status_code == 401
        assert not (await registry.get(PLACED)).deprecated
        right = {"Authorization": "Bearer s3cret"}
        assert (await client.post(url, content=INVENTORY_YAML, headers=right)).status_code == 201
        assert (await client.get("/api/registry/event-types")).status_code == 200


async def test_asyncapi_documents_are_self_contained_and_current(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    index = (await client.get("/asyncapi")).json()["services"]
    assert {s["service"] for s in index} == {"billing", "orders", "shipping"}

    as_json = await client.get("/asyncapi/orders.json")
    as_yaml = await client.get("/asyncapi/orders.yaml")
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    doc = as_json.json()
    assert yaml.safe_load(as_yaml.text) == doc
    assert doc["asyncapi"] == "3.0.0" and doc["info"]["title"] == "orders"
    assert "common.yaml" not in as_json.text  # sibling-file $refs are bundled away
    payload = doc["components"]["messages"]["OrderPlaced"]["payload"]
    assert payload == (await registry.get(PLACED)).schema
    assert list(doc)[:2] == ["asyncapi", "info"]  # the author's order, not jsonb's


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
@pytest.mark.timeout(400)
async def test_served_documents_pass_the_official_asyncapi_parser(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    modules = ROOT / "tools" / "asyncapi" / "node_modules"
    if not (modules / "@asyncapi" / "parser").is_dir():
        pytest.skip(
            "@asyncapi/parser is not installed (deploy/run.sh runs npm ci in tools/asyncapi)"
        )
    files = []
    for service in ("billing", "orders", "shipping"):
        for suffix in ("json", "yaml"):
            path = tmp_path / f"{service}.{suffix}"
            path.write_text((await client.get(f"/asyncapi/{service}.{suffix}")).text)
            files.append(str(path))
    node = await asyncio.create_subprocess_exec(
        "node",
        str(Path(__file__).with_name("parse_asyncapi.js")),
        *files,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_PATH": str(modules)},
    )
    stdout, _ = await asyncio.wait_for(node.communicate(), timeout=300)  # slow when loaded
    assert node.returncode == 0
    report = json.loads(stdout)
    assert report == {f: {"ok": True, "errors": []} for f in files}


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get(f"/api/registry/event-types/{PLACED}/versions")
    await client.get("/api/registry/event-types/com.acme.nope.Nope.v1/versions")
    await client.request("BREW7F3", "/healthz")  # any token is a method to HTTP
    text = (await client.get("/metrics")).text
    route = "/api/registry/event-types/{event_type}/versions"
    assert f'route="{route}",status="200"' in text
    assert f'route="{route}",status="404"' in text
    assert PLACED not in text  # raw paths would make label values unbounded
    assert "BREW7F3" not in text and 'method="other"' in text  # nor made-up methods
    assert (await client.get("/healthz")).json() == {"status": "ok", "database": "ok"}
