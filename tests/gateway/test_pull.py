"""Pull subscriptions on the real Kafka: read and commit, the same batch until committed, a batch
not committed in time delivered again, per-key order, and two clients sharing the partitions."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from typing import Any

import pytest

from bizevents_broker.core import Limits

from .conftest import Env, Shop, gateway_env, relaying
from .test_rest import assert_problem

pytestmark = pytest.mark.services


async def publish(env: Env, orders: list[tuple[str, int]]) -> list[str]:
    """Publish OrderPlaced events (order_id, amount) over HTTP in one batch; their ids."""
    events = [
        {"specversion": "1.0", "id": str(uuid.uuid4()), "source": env.shop.source,
         "type": env.shop.placed, "data": {"order_id": order_id, "amount": amount}}
        for order_id, amount in orders
    ]  # fmt: skip
    r = await env.http.post(
        "/events",
        content=json.dumps(events),
        headers={**env.auth("orders"), "Content-Type": "application/cloudevents-batch+json"},
    )
    assert r.status_code == 202, r.text
    return list(r.json()["ids"])


async def subscribe(env: Env, app: str = "billing", **extra: Any) -> str:
    r = await env.http.post(
        "/subscriptions",
        json={"event_types": [env.shop.placed], "start": "earliest", **extra},
        headers=env.auth(app),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["subscription"]["id"])


async def fetch(env: Env, sub: str, session: str = "a", wait: float = 5, max: int = 100) -> Any:
    r = await env.http.get(
        f"/subscriptions/{sub}/events",
        params={"session": session, "wait": wait, "max": max},
        headers=env.auth("billing"),
    )
    assert r.status_code == 200, r.text
    return r.json()


async def commit(env: Env, sub: str, token: str, session: str = "a") -> Any:
    return await env.http.post(
        f"/subscriptions/{sub}/commit",
        json={"batch": token, "session": session},
        headers=env.auth("billing"),
    )


async def read_all(env: Env, sub: str, count: int, session: str = "a") -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while len(got) < count:
        assert time.monotonic() < deadline, f"{len(got)} of {count}"
        batch = await fetch(env, sub, session)
        got.extend(batch["events"])
        if batch["batch"]:
            assert (await commit(env, sub, batch["batch"], session)).status_code == 204
    return got


async def test_read_commit_and_redeliver_after_the_timeout(services: Any, shop: Shop) -> None:
    async with gateway_env(services, shop, Limits(rate=0)) as env, relaying(services, env.schema):
        sub = await subscribe(env, commit_timeout=2)
        ids = await publish(env, [(f"o{i % 3}", i) for i in range(9)])
        first = await read_all(env, sub, 9)
        assert sorted(e["id"] for e in first) == sorted(ids)
        assert all(e["source"] == shop.source and e["partitionkey"] for e in first)
        # Per-key order: each order's amounts come in publish order.
        by_key: dict[str, list[int]] = defaultdict(list)
        for e in first:
            by_key[e["partitionkey"]].append(e["data"]["amount"])
        assert all(v == sorted(v) for v in by_key.values()) and len(by_key) == 3

        # Committed: nothing comes again.
        assert (await fetch(env, sub, wait=1))["events"] == []

        more = await publish(env, [("o9", 100), ("o9", 101)])
        batch = await fetch(env, sub)
        while len(batch["events"]) < 2:  # the relay may hand them over in two steps
            assert (await commit(env, sub, batch["batch"])).status_code == 204
            rest = await fetch(env, sub)
            batch = {"batch": rest["batch"], "events": batch["events"] + rest["events"]}
        token = batch["batch"]
        # Not committed: asking again returns the same batch.
        again = await fetch(env, sub, wait=0)
        assert again["batch"] == token
        await asyncio.sleep(2.5)  # past the commit timeout
        redelivered = await read_all(env, sub, 1)
        assert redelivered[0]["id"] in more
        assert [e["data"]["amount"] for e in redelivered][:1] == [
            batch["events"][0]["data"]["amount"]
        ]
        late = await commit(env, sub, token)
        assert_problem(late, 409, "conflict")


async def test_two_clients_share_the_partitions(services: Any, shop: Shop) -> None:
    async with gateway_env(services, shop, Limits(rate=0)) as env, relaying(services, env.schema):
        sub = await subscribe(env)
        ids = await publish(env, [(f"k{i % 12}", i) for i in range(60)])
        # Both sessions join before reading, so the group splits the 3 partitions.
        await asyncio.gather(
            fetch(env, sub, "a", wait=0, max=1), fetch(env, sub, "b", wait=0, max=1)
        )
        got: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
        deadline = time.monotonic() + 90
        seen: set[str] = set()
        while seen != set(ids):
            assert time.monotonic() < deadline, f"{len(seen)} of {len(ids)}"
            for session in ("a", "b"):
                batch = await fetch(env, sub, session, wait=0.5)
                got[session].extend(batch["events"])
                seen.update(e["id"] for e in batch["events"])
                if batch["batch"]:
                    await commit(env, sub, batch["batch"], session)
        a = env.gateway.pull.existing(await env.gateway.subscription(
            (await env.gateway.authenticate(env.keys["billing"])), sub), "a")  # fmt: skip
        b = env.gateway.pull.existing(await env.gateway.subscription(
            (await env.gateway.authenticate(env.keys["billing"])), sub), "b")  # fmt: skip
        assert a is not None and b is not None
        owned_a = {tp.partition for tp in a.consumer.assignment()}
        owned_b = {tp.partition for tp in b.consumer.assignment()}
        assert owned_a and owned_b and not owned_a & owned_b
        assert owned_a | owned_b == {0, 1, 2}
        for session, events in got.items():
            by_key: dict[str, list[int]] = defaultdict(list)
            for e in events:
                by_key[e["partitionkey"]].append(e["data"]["amount"])
            assert all(v == sorted(v) for v in by_key.values()), session


async def test_subscription_permissions_and_bad_input(env: Env) -> None:
    shop = env.shop
    # orders is not a subscriber of OrderPlaced; an unknown type reads the same.
    for types in ([shop.placed], ["com.acme.nope.Nothing.v1"]):
        r = await env.http.post(
            "/subscriptions", json={"event_types": types}, headers=env.auth("orders")
        )
        assert_problem(r, 403, "forbidden")
    sub = await subscribe(env)
    # Another app cannot see or read it.
    for method, path in (
        ("GET", f"/subscriptions/{sub}"),
        ("GET", f"/subscriptions/{sub}/events"),
        ("DELETE", f"/subscriptions/{sub}"),
    ):
        r = await env.http.request(method, path, headers=env.auth("orders"))
        assert_problem(r, 404, "not-found")
    cases = [
        ("POST", "/subscriptions", {"event_types": []}, 400),
        ("POST", "/subscriptions", {"event_types": "x"}, 400),
        ("POST", "/subscriptions", {"event_types": [shop.placed], "start": "soon"}, 400),
        ("POST", "/subscriptions", {"event_types": [shop.placed], "commit_timeout": 0}, 400),
        ("GET", f"/subscriptions/{sub}/events?max=0", None, 400),
        ("GET", f"/subscriptions/{sub}/events?wait=nan", None, 400),
        ("GET", f"/subscriptions/{sub}/events?wait=99", None, 400),
        ("GET", f"/subscriptions/{sub}/events?session=a%20b", None, 400),
        ("POST", f"/subscriptions/{sub}/commit", {}, 400),
        ("POST", f"/subscriptions/{sub}/commit", {"batch": "nope"}, 409),
        ("GET", "/subscriptions/not-a-uuid", None, 404),
    ]
    for method, path, body, status in cases:
        r = await env.http.request(method, path, json=body, headers=env.auth("billing"))
        assert r.status_code == status, (method, path, body, r.text)
    listed = (await env.http.get("/subscriptions", headers=env.auth("billing"))).json()
    assert [s["id"] for s in listed["subscriptions"]] == [sub]
    deleted = await env.http.delete(f"/subscriptions/{sub}", headers=env.auth("billing"))
    assert deleted.status_code == 204
    assert_problem(
        await env.http.get(f"/subscriptions/{sub}", headers=env.auth("billing")), 404, "not-found"
    )


async def test_latest_means_the_end_at_creation(services: Any, shop: Shop) -> None:
    async with gateway_env(services, shop, Limits(rate=0)) as env, relaying(services, env.schema):
        before = await publish(env, [("b1", 1)])
        await read_topic_count(env, 1)
        r = await env.http.post(
            "/subscriptions",
            json={"event_types": [env.shop.placed], "start": "latest"},
            headers=env.auth("billing"),
        )
        sub = r.json()["subscription"]["id"]
        # Published after creating the subscription, before any client joined: delivered.
        after = await publish(env, [("a1", 2), ("a2", 3)])
        got = await read_all(env, sub, 2)
        assert sorted(e["id"] for e in got) == sorted(after)
        assert not set(before) & {e["id"] for e in got}


async def test_a_start_before_1970_means_from_the_first_event(services: Any, shop: Shop) -> None:
    # Kafka refuses negative timestamps: this was a 500 (found by tests/hostile).
    async with gateway_env(services, shop, Limits(rate=0)) as env, relaying(services, env.schema):
        published = await publish(env, [("h1", 1)])
        sub = await subscribe(env, start="1969-07-20T20:17:00+00:00")
        got = await read_all(env, sub, 1)
        assert [e["id"] for e in got] == published


async def read_topic_count(env: Env, count: int) -> None:
    """Wait until the relay emptied the outbox (`count` events are on Kafka)."""
    deadline = time.monotonic() + 60
    while True:
        async with env.gateway.connection() as conn:
            if not await conn.fetchval(f"SELECT count(*) FROM {env.schema}.outbox"):
                return
        assert time.monotonic() < deadline, f"{count} events not relayed"
        await asyncio.sleep(0.1)
