"""The REST ingress on a real PostgreSQL: authentication and permissions on every endpoint, bad
input (a specific 4xx problem, nothing written), grants, key rotation and revocation."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

from .conftest import Env

pytestmark = pytest.mark.services

PROBLEM = "application/problem+json"


# Every gateway endpoint (method, path, body).
def endpoints(env: Env) -> list[tuple[str, str, Any]]:
    t = env.shop.placed
    sub = "6f1c1a52-0000-4000-8000-000000000000"
    return [
        ("POST", "/events", {"specversion": "1.0"}),
        ("POST", f"/events/{t}", {"order_id": "x", "amount": 1}),
        ("GET", "/api/me", None),
        ("GET", "/api/apps", None),
        ("POST", "/api/apps", {"name": "newapp"}),
        ("GET", "/api/apps/orders", None),
        ("POST", "/api/apps/orders/rotate", {}),
        ("POST", "/api/apps/orders/revoke", {}),
        ("POST", "/api/apps/orders/grants", {"grant": f"publish:{t}"}),
        ("DELETE", f"/api/apps/orders/grants/publish/{t}", None),
        ("GET", "/subscriptions", None),
        ("POST", "/subscriptions", {"event_types": [t]}),
        ("GET", f"/subscriptions/{sub}", None),
        ("DELETE", f"/subscriptions/{sub}", None),
        ("GET", f"/subscriptions/{sub}/events", None),
        ("POST", f"/subscriptions/{sub}/commit", {"batch": "x"}),
        ("GET", "/webhooks", None),
        ("POST", "/webhooks", {"event_types": [t], "url": "http://example.com/"}),
        ("GET", f"/webhooks/{sub}", None),
        ("DELETE", f"/webhooks/{sub}", None),
        ("POST", f"/webhooks/{sub}/rotate-secret", {}),
    ]


ADMIN_ONLY = {"/api/apps"}


async def outbox_rows(env: Env) -> int:
    async with env.gateway.connection() as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {env.schema}.outbox"))


def assert_problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"].endswith(kind), body
    assert body["detail"]
    return body


async def test_401_on_every_endpoint_without_a_valid_key(env: Env) -> None:
    bad = [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic b3JkZXJzOnNlY3JldA=="},
        {"Authorization": "Bearer bze_000000000000_" + "A" * 43},
        {"Authorization": "Bearer " + env.keys["orders"][:-1] + "x"},  # right id, wrong secret
    ]
    for method, path, body in endpoints(env):
        for headers in bad:
            response = await env.http.request(method, path, json=body, headers=headers)
            problem = assert_problem(response, 401, "unauthenticated")
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "bze_" not in json.dumps(problem)
    assert await outbox_rows(env) == 0


async def test_every_endpoint_is_in_the_401_table(env: Env) -> None:
    """Every route of the gateway's ingress modules is in `endpoints` (so in the 401 test)."""
    from bizevents_broker.ingress import pull, rest, webhooks

    served = {(m, r.path) for r in [*rest.routes, *pull.routes, *webhooks.routes]
              for m in (getattr(r, "methods", None) or ()) if m != "HEAD"}  # fmt: skip
    templates = {
        (method, path.replace(env.shop.placed, "{type}")) for method, path, _ in endpoints(env)
    }
    for method, path in served:
        concrete = (
            path.replace("{name}", "orders")
            .replace("{id}", "6f1c1a52-0000-4000-8000-000000000000")
            .replace("{action}", "publish")
            .replace("{event_type}", "{type}")
        )
        assert (method, concrete) in templates, (method, path)


async def test_403_on_admin_endpoints_for_apps(env: Env) -> None:
    for method, path, body in endpoints(env):
        if not path.startswith("/api/apps"):
            continue
        response = await env.http.request(method, path, json=body, headers=env.auth("billing"))
        assert_problem(response, 403, "forbidden")
    # ... and nothing changed: orders' key still works, no app was created.
    assert (await env.http.get("/api/me", headers=env.auth("orders"))).json()["app"] == "orders"
    listed = await env.http.get("/api/apps", headers=env.auth("ops"))
    assert {a["name"] for a in listed.json()["apps"]} == {"ops", "orders", "billing"}


async def test_403_for_a_foreign_or_unknown_type_reveals_nothing(env: Env) -> None:
    shop = env.shop
    foreign = await env.http.post(
        f"/events/{shop.audited}", json={"what": "x"}, headers=env.auth("orders")
    )
    unknown = await env.http.post(
        "/events/com.acme.nope.Nothing.v1", json={"what": "x"}, headers=env.auth("orders")
    )
    a = assert_problem(foreign, 403, "forbidden")
    b = assert_problem(unknown, 403, "forbidden")
    assert a["detail"].replace(shop.audited, "T") == b["detail"].replace(
        "com.acme.nope.Nothing.v1", "T"
    )
    # An admin may know: for it an unknown type is a 404.
    admin = await env.http.post(
        "/events/com.acme.nope.Nothing.v1", json={"what": "x"}, headers=env.auth("ops")
    )
    assert_problem(admin, 404, "not-found")
    assert await outbox_rows(env) == 0


def ce(env: Env, **changes: Any) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": env.shop.source,
        "type": env.shop.placed,
        "data": {"order_id": "o1", "amount": 1},
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


STRUCTURED = {"Content-Type": "application/cloudevents+json"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}


async def test_bad_input_gets_a_specific_4xx_and_writes_nothing(env: Env) -> None:
    t = env.shop.placed
    auth = env.auth("orders")
    cases: list[tuple[str, str, dict[str, str], bytes, int, str, str]] = [
        # (what, path, headers, body, status, problem kind, a pointer expected in problems)
        ("not JSON", "/events", STRUCTURED, b"{nope", 400, "bad-request", ""),
        ("NaN", f"/events/{t}", {}, b'{"order_id": "a", "amount": NaN}', 400, "bad-request", ""),
        ("empty body", f"/events/{t}", {}, b"", 400, "bad-request", ""),
        ("deep", f"/events/{t}", {}, b"[" * 100_000 + b"]" * 100_000, 400, "bad-request", ""),
        ("not an object", "/events", STRUCTURED, b"[1]", 400, "invalid-cloudevent", "/"),
        ("no id", "/events", STRUCTURED, json.dumps(ce(env, id=None)).encode(), 400,
         "invalid-cloudevent", "/id"),
        ("bad id", "/events", STRUCTURED, json.dumps(ce(env, id="A-1")).encode(), 400,
         "invalid-cloudevent", "/id"),
        ("specversion", "/events", STRUCTURED, json.dumps(ce(env, specversion="0.3")).encode(),
         400, "invalid-cloudevent", "/specversion"),
        ("time", "/events", STRUCTURED, json.dumps(ce(env, time="yesterday")).encode(), 400,
         "invalid-cloudevent", "/time"),
        ("foreign source", "/events", STRUCTURED, json.dumps(ce(env, source="/me")).encode(),
         400, "invalid-cloudevent", "/source"),
        ("extension name", "/events", STRUCTURED, json.dumps(ce(env, **{"Bad-Ext": "x"})).encode(),
         400, "invalid-cloudevent", "/Bad-Ext"),
        ("xml data", "/events", STRUCTURED,
         json.dumps(ce(env, datacontenttype="application/xml")).encode(), 400,
         "invalid-cloudevent", "/datacontenttype"),
        ("payload", "/events", STRUCTURED,
         json.dumps(ce(env, data={"order_id": "", "amount": -1, "x": 1})).encode(), 422,
         "payload-invalid", "/data/amount"),
        ("batch payload", "/events", BATCH,
         json.dumps([ce(env), ce(env, data={"order_id": "o"})]).encode(), 422,
         "payload-invalid", "/1/data"),
        ("batch not a list", "/events", BATCH, json.dumps(ce(env)).encode(), 400,
         "invalid-cloudevent", "/"),
        ("empty batch", "/events", BATCH, b"[]", 400, "invalid-cloudevent", "/"),
        ("batch too long", "/events", BATCH, json.dumps([ce(env)] * 51).encode(), 413,
         "batch-too-large", ""),
        ("too large", f"/events/{t}", {}, b'{"order_id": "' + b"x" * 1_100_000 + b'"}', 413,
         "body-too-large", ""),
        ("text/plain", "/events", {"Content-Type": "text/plain"}, b"hi", 415,
         "unsupported-media-type", ""),
        ("json, no ce headers", "/events", {"Content-Type": "application/json"}, b"{}", 400,
         "invalid-cloudevent", "/"),
        ("binary, missing ce-type", "/events",
         {"Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": str(uuid.uuid4()),
          "ce-source": env.shop.source}, b'{"order_id": "a", "amount": 1}', 400,
         "invalid-cloudevent", "/type"),
        ("binary, xml", "/events",
         {"Content-Type": "application/xml", "ce-specversion": "1.0", "ce-id": str(uuid.uuid4()),
          "ce-source": env.shop.source, "ce-type": t}, b"<a/>", 415, "unsupported-media-type", ""),
        ("plain, xml", f"/events/{t}", {"Content-Type": "application/xml"}, b"<a/>", 415,
         "unsupported-media-type", ""),
    ]  # fmt: skip
    for what, path, headers, body, status, kind, pointer in cases:
        headers = {"Content-Type": "application/json", **headers, **auth}
        response = await env.http.post(path, content=body, headers=headers)
        problem = assert_problem(response, status, kind)
        if pointer:
            pointers = [p["pointer"] for p in problem.get("problems", [])]
            assert any(p.startswith(pointer) for p in pointers), (what, problem)
    assert await outbox_rows(env) == 0
    # ... and the gateway keeps serving.
    ok = await env.http.post(f"/events/{t}", json={"order_id": "a", "amount": 1}, headers=auth)
    assert ok.status_code == 202
    assert await outbox_rows(env) == 1


async def test_payload_problems_name_every_violation(env: Env) -> None:
    response = await env.http.post(
        f"/events/{env.shop.placed}",
        json={"order_id": "", "amount": "ten", "extra": True},
        headers=env.auth("orders"),
    )
    problem = assert_problem(response, 422, "payload-invalid")
    pointers = {p["pointer"] for p in problem["problems"]}
    assert {"/data/order_id", "/data/amount"} <= pointers
    assert len(problem["problems"]) >= 3  # the extra property too


async def test_grants_add_to_the_contracts(env: Env) -> None:
    shop = env.shop
    ops = env.auth("ops")
    refused = await env.http.post(
        f"/events/{shop.audited}", json={"what": "x"}, headers=env.auth("billing")
    )
    assert refused.status_code == 403
    granted = await env.http.post(
        "/api/apps/billing/grants", json={"grant": f"publish:{shop.audited}"}, headers=ops
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["app"]["grants"] == [{"action": "publish", "event_type": shop.audited}]
    ok = await env.http.post(
        f"/events/{shop.audited}", json={"what": "x"}, headers=env.auth("billing")
    )
    assert ok.status_code == 202, ok.text
    removed = await env.http.delete(f"/api/apps/billing/grants/publish/{shop.audited}", headers=ops)
    assert removed.json()["app"]["grants"] == []
    again = await env.http.post(
        f"/events/{shop.audited}", json={"what": "x"}, headers=env.auth("billing")
    )
    assert again.status_code == 403


async def test_apps_admin_api_keys_shown_once_hashed_rotated_and_revoked(
    env: Env, services: Any
) -> None:
    ops = env.auth("ops")
    created = await env.http.post(
        "/api/apps", json={"name": "crm", "grants": [f"publish:{env.shop.placed}"]}, headers=ops
    )
    assert created.status_code == 201, created.text
    first = created.json()["key"]
    assert first.startswith("bze_") and len(first) >= 50
    key_id = created.json()["app"]["keys"][0]["key_id"]
    assert first.startswith(key_id + "_")
    duplicate = await env.http.post("/api/apps", json={"name": "crm"}, headers=ops)
    assert_problem(duplicate, 409, "conflict")
    shown = (await env.http.get("/api/apps/crm", headers=ops)).text
    assert first not in shown and first.split("_")[-1] not in shown  # shown once only

    # Stored as a hash: the secret is nowhere in the gateway's tables.
    conn = await asyncpg.connect(services.database_url)
    try:
        dump = await conn.fetchval(f"SELECT string_agg(k::text, ' ') FROM {env.schema}.api_keys k")
    finally:
        await conn.close()
    assert key_id in dump and first.split("_")[-1] not in dump

    crm = {"Authorization": f"Bearer {first}"}
    assert (await env.http.get("/api/me", headers=crm)).json()["app"] == "crm"

    rotated = await env.http.post("/api/apps/crm/rotate", json={"grace_seconds": 3600}, headers=ops)
    second = rotated.json()["key"]
    assert second != first
    # During the grace period both keys work.
    for key in (first, second):
        me = await env.http.get("/api/me", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 200
    # A rotation without grace ends the older keys at once.
    third = (
        await env.http.post("/api/apps/crm/rotate", json={"grace_seconds": 0}, headers=ops)
    ).json()["key"]
    for key in (first, second):
        me = await env.http.get("/api/me", headers={"Authorization": f"Bearer {key}"})
        assert_problem(me, 401, "unauthenticated")
    new = {"Authorization": f"Bearer {third}"}
    assert (await env.http.get("/api/me", headers=new)).status_code == 200

    revoked = await env.http.post("/api/apps/crm/revoke", headers=ops)
    assert revoked.json()["app"]["revoked_at"]
    assert_problem(await env.http.get("/api/me", headers=new), 401, "unauthenticated")
    publish = await env.http.post(
        f"/events/{env.shop.placed}", json={"order_id": "a", "amount": 1}, headers=new
    )
    assert_problem(publish, 401, "unauthenticated")
    assert await outbox_rows(env) == 0


async def test_revoking_one_key_keeps_the_others(env: Env) -> None:
    ops = env.auth("ops")
    rotated = await env.http.post("/api/apps/orders/rotate", headers=ops)
    new_key = rotated.json()["key"]
    old_id = rotated.json()["app"]["keys"][0]["key_id"]
    assert env.keys["orders"].startswith(old_id)
    done = await env.http.post("/api/apps/orders/revoke", json={"key_id": old_id}, headers=ops)
    assert done.status_code == 200
    assert_problem(
        await env.http.get("/api/me", headers=env.auth("orders")), 401, "unauthenticated"
    )
    me = await env.http.get("/api/me", headers={"Authorization": f"Bearer {new_key}"})
    assert me.json() == {"app": "orders", "admin": False, "key_id": new_key[:16]}


async def test_admin_api_bad_input(env: Env) -> None:
    ops = env.auth("ops")
    cases = [
        ("POST", "/api/apps", {"name": "Bad Name"}, 400),
        ("POST", "/api/apps", {}, 400),
        ("POST", "/api/apps", {"name": "x1", "admin": "yes"}, 400),
        ("POST", "/api/apps", {"name": "x1", "grants": ["write:*"]}, 400),
        ("POST", "/api/apps", [1], 400),
        ("GET", "/api/apps/nobody", None, 404),
        ("POST", "/api/apps/orders/rotate", {"grace_seconds": -1}, 400),
        ("POST", "/api/apps/orders/rotate", {"grace_seconds": True}, 400),
        ("POST", "/api/apps/orders/revoke", {"key_id": "bze_nope"}, 404),
        ("POST", "/api/apps/orders/grants", {"grant": "publish"}, 400),
        ("DELETE", "/api/apps/orders/grants/steal/x", None, 400),
    ]
    for method, path, body, status in cases:
        response = await env.http.request(method, path, json=body, headers=ops)
        assert response.status_code == status, (method, path, body, response.text)
        assert response.headers["content-type"] == PROBLEM
    listed = (await env.http.get("/api/apps", headers=ops)).json()["apps"]
    assert {a["name"] for a in listed} == {"ops", "orders", "billing"}


async def test_unknown_routes_and_methods_answer_problem_json(env: Env) -> None:
    missing = await env.http.get("/nowhere")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    method = await env.http.get("/events")
    assert method.status_code == 405 and method.headers["content-type"] == PROBLEM
