"""The OData service on a real PostgreSQL: a seeded event log queried with $filter, $orderby,
$select, $top, $skip, $count and next links, answers computed independently in Python;
authentication (Bearer and Basic), per-app visibility, and hostile input (4xx, nothing changed)."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from bizevents_broker.core import Limits

from .conftest import Env, Shop, gateway_env
from .odata_seed import T0, Row, ids, log_count, make_rows, seed

pytestmark = pytest.mark.services

PAGE = 7


@pytest.fixture
async def odata_env(services: Any, shop: Shop) -> AsyncIterator[tuple[Env, list[Row]]]:
    async with gateway_env(
        services, shop, Limits(max_batch=50, rate=0), odata_page_size=PAGE, odata_max_top=500
    ) as env:
        rows = make_rows(env)
        await seed(env, rows)
        yield env, rows


def basic(key: str, user: str = "excel") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def assert_odata_error(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == kind and error["message"], error
    return dict(error)


async def get(env: Env, path: str, app: str = "ops", **params: str) -> httpx.Response:
    return await env.http.get(f"/odata/{path}", params=params, headers=env.auth(app))


async def test_service_document_and_metadata(odata_env: tuple[Env, list[Row]]) -> None:
    env, _ = odata_env
    doc = (await get(env, "")).json()
    assert {s["name"] for s in doc["value"]} >= {"Events", "Subscriptions", "EventTypes"}
    assert doc["@odata.context"].endswith("/odata/$metadata")
    response = await get(env, "$metadata")
    assert response.status_code == 200 and response.headers["OData-Version"] == "4.0"
    root = ET.fromstring(response.content)
    edm = "{http://docs.oasis-open.org/odata/ns/edm}"
    event = root.find(f".//{edm}EntityType[@Name='Event']")
    assert event is not None
    assert event.find(f"{edm}Key/{edm}PropertyRef").get("Name") == "Id"  # type: ignore[union-attr]
    types = {p.get("Name"): p.get("Type") for p in event.findall(f"{edm}Property")}
    assert types["Time"] == "Edm.DateTimeOffset" and types["KafkaOffset"] == "Edm.Int64"


async def test_bearer_and_basic_auth_and_refusals(odata_env: tuple[Env, list[Row]]) -> None:
    env, _ = odata_env
    for headers in (env.auth("billing"), basic(env.keys["billing"])):
        assert (await env.http.get("/odata/Events", headers=headers)).status_code == 200
    for headers in (
        {},
        basic("not-a-key"),
        {"Authorization": "Basic !!!"},
        basic(env.keys["billing"][:-1] + "x"),
    ):
        for method, path in (
            ("GET", "/odata/"),
            ("GET", "/odata/$metadata"),
            ("GET", "/odata/Events"),
            ("GET", "/odata/Events/$count"),
            ("GET", "/odata/Events('x')"),
            ("POST", "/odata/Events"),
            ("POST", "/odata/Purge"),
            ("POST", "/odata/DeadLetters(1)/BizEvents.Replay"),
        ):
            response = await env.http.request(method, path, headers=headers, json={})
            assert_odata_error(response, 401, "unauthenticated")
            assert response.headers["WWW-Authenticate"].startswith("Basic")
            assert env.keys["billing"] not in response.text


def expect(rows: list[Row], test: Any) -> list[str]:
    return [r.id for r in sorted(rows, key=lambda r: (r.time, r.id)) if test(r)]


async def test_filters_return_exactly_the_matching_rows(odata_env: tuple[Env, list[Row]]) -> None:
    env, rows = odata_env
    placed, audited = env.shop.placed, env.shop.audited
    t10 = (T0 + timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    cases: list[tuple[str, Any]] = [
        (f"Type eq '{audited}'", lambda r: r.type == audited),
        (f"Type ne '{audited}'", lambda r: r.type != audited),
        (f"Time gt {t10}", lambda r: r.time > T0 + timedelta(minutes=10)),
        (f"Time le {t10} and Type eq '{placed}'",
         lambda r: r.time <= T0 + timedelta(minutes=10) and r.type == placed),
        (f"Type eq '{audited}' or PartitionKey eq 'o-003'",
         lambda r: r.type == audited or r.key == "o-003"),
        (f"not (Type eq '{placed}')", lambda r: r.type != placed),
        ("Subject eq null", lambda r: r.subject is None),
        ("Subject ne null", lambda r: r.subject is not None),
        ("Subject ne 'order/001'", lambda r: r.subject != "order/001"),
        ("contains(Subject,'der/01')", lambda r: "der/01" in (r.subject or "")),
        ("startswith(Subject,'audit/')", lambda r: (r.subject or "").startswith("audit/")),
        ("endswith(PartitionKey,'7')", lambda r: r.key.endswith("7")),
        ("startswith(Subject,'audit/') eq false",
         lambda r: not (r.subject or "").startswith("audit/")),
        ("PartitionKey in ('o-001','a-2','zzz')", lambda r: r.key in ("o-001", "a-2")),
        ("Time ge 2026-01-01T00:20:00+00:00", lambda r: r.time >= T0 + timedelta(minutes=20)),
        ("Time lt 2026-01-02", lambda r: True),
        ("KafkaOffset lt 3", lambda r: rows.index(r) < 3),
        ("Type eq 'x'' or 1 eq 1 --'", lambda r: False),  # a quote inside a literal stays data
    ]  # fmt: skip
    for expression, test in cases:
        response = await get(
            env, "Events", **{"$filter": expression, "$orderby": "Time", "$top": "500"}
        )
        assert response.status_code == 200, (expression, response.text)
        body = response.json()
        got = ids(body)
        while "@odata.nextLink" in body:
            body = (await env.http.get(body["@odata.nextLink"], headers=env.auth("ops"))).json()
            got += ids(body)
        assert got == expect(rows, test), expression


async def test_orderby_top_skip_select_count(odata_env: tuple[Env, list[Row]]) -> None:
    env, rows = odata_env
    placed = [r for r in rows if r.type == env.shop.placed]
    by_time_desc = [r.id for r in sorted(placed, key=lambda r: r.time, reverse=True)]
    body = (
        await get(
            env,
            "Events",
            **{
                "$filter": f"Type eq '{env.shop.placed}'",
                "$orderby": "Time desc",
                "$top": "5",
                "$skip": "2",
                "$count": "true",
                "$select": "Type,Time",
            },
        )
    ).json()
    assert body["@odata.count"] == len(placed)
    assert ids(body) == by_time_desc[2:7]
    assert set(body["value"][0]) == {"Id", "Type", "Time"}  # the key always comes along
    assert body["value"][0]["Time"].endswith("Z")
    assert "@odata.nextLink" not in body  # $top=5 fits in one page of 7
    assert body["@odata.context"].endswith("$metadata#Events(Id,Type,Time)")
    count = await get(env, "Events/$count", **{"$filter": f"Type eq '{env.shop.audited}'"})
    assert count.text == "5"
    one = (await get(env, f"Events('{placed[3].id}')")).json()
    assert one["Id"] == placed[3].id and one["PartitionKey"] == "o-003"
    assert '"amount":3' in one["Data"].replace(" ", "")
    assert_odata_error(await get(env, "Events('nope')"), 404, "not-found")


async def test_server_driven_paging_follows_next_links(odata_env: tuple[Env, list[Row]]) -> None:
    env, rows = odata_env
    body = (await get(env, "Events", **{"$count": "true", "$orderby": "Time"})).json()
    seen, pages = ids(body), 1
    assert len(seen) == PAGE and body["@odata.count"] == len(rows)
    while "@odata.nextLink" in body:
        link = urlsplit(body["@odata.nextLink"])
        assert link.path == "/odata/Events"
        body = (await env.http.get(body["@odata.nextLink"], headers=env.auth("ops"))).json()
        seen += ids(body)
        pages += 1
    assert seen == expect(rows, lambda r: True)
    assert pages == -(-len(rows) // PAGE)
    # $top across pages: 10 rows, two pages (7 + 3), then no link
    body = (await get(env, "Events", **{"$top": "10", "$orderby": "Time desc"})).json()
    first = ids(body)
    body = (await env.http.get(body["@odata.nextLink"], headers=env.auth("ops"))).json()
    assert len(first) == PAGE and len(ids(body)) == 10 - PAGE and "@odata.nextLink" not in body


async def test_apps_see_only_events_they_may_subscribe_to(
    odata_env: tuple[Env, list[Row]],
) -> None:
    env, rows = odata_env
    billing = (await get(env, "Events", "billing", **{"$count": "true"})).json()
    assert billing["@odata.count"] == len(rows)  # billing subscribes to both types
    orders = (await get(env, "Events", "orders", **{"$count": "true"})).json()
    assert orders["@odata.count"] == 0 and orders["value"] == []  # publisher only
    types = (await get(env, "EventTypes", "orders")).json()
    assert [t["Type"] for t in types["value"]] == [env.shop.placed]
    assert_odata_error(await get(env, f"Events('{rows[0].id}')", "orders"), 404, "not-found")


HOSTILE: list[tuple[dict[str, str], str]] = [
    ({"$filter": "Type eq 'a' or 1 eq 1"}, "expected a property"),
    ({"$filter": "Type eq 'a'; DROP TABLE event_log"}, "valid"),
    ({"$filter": "Type eq 'a') OR (1=1"}, "valid"),
    ({"$filter": "Nope eq 'a'"}, "no property"),
    ({"$filter": "Data/amount gt 3"}, "path"),
    ({"$filter": "Time gt 2026-13-45T00:00:00Z"}, "not valid"),
    ({"$filter": "Time gt 'yesterday'"}, "date-time"),
    ({"$filter": "KafkaOffset gt 99999999999999999999999"}, "range"),
    ({"$filter": "KafkaOffset eq 'a'"}, "whole number"),
    ({"$filter": "length(Type) gt 1"}, "not supported"),
    ({"$filter": "not (" * 300 + "Type eq 'a'" + ")" * 300}, "terms"),
    ({"$filter": "Time gt 2026-02-30T00:00:00Z"}, "malformed literal"),
    ({"$filter": " or ".join(["Type eq 'a'"] * 250)}, "terms"),
    ({"$filter": ""}, "empty"),
    ({"$top": "10000000"}, "at most"),
    ({"$top": "-1"}, "whole number"),
    ({"$skip": "abc"}, "whole number"),
    ({"$orderby": "Time; DROP TABLE x"}, "orderby"),
    ({"$orderby": "Nope desc"}, "no property"),
    ({"$select": "Id,Secret"}, "no property"),
    ({"$expand": "Foo($expand=Bar($expand=Baz($levels=max)))"}, "not supported"),
    ({"$search": "x"}, "not supported"),
    ({"$bogus": "1"}, "unknown query option"),
    ({"$count": "yes"}, "true or false"),
    ({"$format": "xml"}, "json"),
    ({"$skiptoken": "x'; DROP"}, "skiptoken"),
]


async def test_hostile_queries_get_4xx_and_change_nothing(
    odata_env: tuple[Env, list[Row]],
) -> None:
    env, rows = odata_env
    for params, fragment in HOSTILE:
        response = await get(env, "Events", **params)
        error = assert_odata_error(response, 400, "bad-request")
        assert fragment.lower() in error["message"].lower(), (params, error)
    repeated = await env.http.get("/odata/Events?$top=1&$top=2", headers=env.auth("ops"))
    assert_odata_error(repeated, 400, "bad-request")
    assert_odata_error(await get(env, "Nope"), 404, "not-found")
    assert_odata_error(await get(env, "Events/$count", **{"$top": "1"}), 400, "bad-request")
    assert await log_count(env) == len(rows)
    assert (await get(env, "Events", **{"$top": "1"})).status_code == 200  # still serving


async def test_create_refuses_bad_events_and_writes_nothing(
    odata_env: tuple[Env, list[Row]],
) -> None:
    env, _ = odata_env
    placed = env.shop.placed
    cases: list[tuple[str, Any, int, str]] = [
        ("orders", {"Type": placed, "Data": {"order_id": "x"}}, 422, "payload-invalid"),
        ("orders", {"Type": placed, "Data": "{not json"}, 400, "bad-request"),
        ("orders", {"Type": placed, "Data": {"order_id": "x", "amount": 1}, "Nope": 1}, 400,
         "bad-request"),
        ("orders", {"Type": placed, "Data": {"order_id": "x", "amount": 1}, "KafkaOffset": 3},
         400, "bad-request"),
        ("orders", {"Data": {"order_id": "x", "amount": 1}}, 400, "bad-request"),
        ("orders", {"Type": placed, "Data": {"order_id": "x", "amount": 1}, "Id": "nope"}, 400,
         "invalid-cloudevent"),
        ("billing", {"Type": placed, "Data": {"order_id": "x", "amount": 1}}, 403, "forbidden"),
        ("orders", {"Type": "no.such.Type.v1", "Data": {}}, 403, "forbidden"),
        ("orders", [1, 2], 400, "bad-request"),
    ]  # fmt: skip
    for app, doc, status, kind in cases:
        response = await env.http.post("/odata/Events", json=doc, headers=env.auth(app))
        assert_odata_error(response, status, kind)
    async with env.gateway.connection() as conn:
        assert await conn.fetchval(f"SELECT count(*) FROM {env.schema}.outbox") == 0


async def test_a_query_over_the_time_limit_is_refused(services: Any, shop: Shop) -> None:
    async with gateway_env(services, shop, Limits(rate=0), odata_timeout=0.001) as env:
        await seed(env, make_rows(env, placed=1, audited=0))
        async with env.gateway.connection() as conn:
            await conn.execute(
                f"INSERT INTO {env.schema}.event_log (id, type, source, time, datacontenttype,"
                " topic, kafka_partition, kafka_offset, subject) SELECT g::text, 't', 's', now(),"
                " 'application/json', 't', 0, g, repeat('x', 200) FROM generate_series(1, 200000) g"
            )
        response = await get(env, "Events", **{"$filter": "contains(Subject,'nowhere')"})
        error = assert_odata_error(response, 400, "bad-request")
        assert "limit" in error["message"]


async def test_subscriptions_and_event_types_sets(odata_env: tuple[Env, list[Row]]) -> None:
    env, _ = odata_env
    created = await env.http.post(
        "/subscriptions",
        json={"event_types": [env.shop.placed, env.shop.audited]},
        headers=env.auth("billing"),
    )
    assert created.status_code == 201, created.text
    mine = (await get(env, "Subscriptions", "billing", **{"$filter": "Kind eq 'pull'"})).json()
    assert [s["Id"] for s in mine["value"]] == [created.json()["subscription"]["id"]]
    assert mine["value"][0]["EventTypes"] == f"{env.shop.placed},{env.shop.audited}"
    theirs = (await get(env, "Subscriptions", "orders", **{"$count": "true"})).json()
    assert theirs["@odata.count"] == 0
    types = (
        await get(env, "EventTypes", "billing", **{"$orderby": "Type desc", "$select": "Version"})
    ).json()
    assert [t["Type"] for t in types["value"]] == sorted([env.shop.placed, env.shop.audited])[::-1]
    assert types["value"][0]["Version"] == "1.0.0"
