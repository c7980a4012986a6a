"""Idempotency-Key under concurrent duplicates, rate limits with Retry-After, and API keys that
never show up in logs, metrics or error bodies."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
import structlog

from bizevents.logging import configure_logging
from bizevents_broker.core import Limits

from .conftest import Env, Shop, gateway_env
from .test_rest import assert_problem, outbox_rows

pytestmark = pytest.mark.services


async def test_same_key_same_request_returns_the_first_answer(env: Env) -> None:
    t = env.shop.placed
    headers = {**env.auth("orders"), "Idempotency-Key": "order-1-placed"}
    body = {"order_id": "o1", "amount": 5}
    first = await env.http.post(f"/events/{t}", json=body, headers=headers)
    again = await env.http.post(f"/events/{t}", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await outbox_rows(env) == 1

    changed = await env.http.post(f"/events/{t}", json={**body, "amount": 6}, headers=headers)
    assert_problem(changed, 422, "idempotency-key-reused")
    # Keys belong to an app: another app may use the same key for its own request.
    env.keys["orders2"] = await env.new_app("orders2", grants=())
    async with env.gateway.connection() as conn:
        from bizevents_broker.core.store import parse_grant

        await env.gateway.apps.grant(conn, "orders2", parse_grant(f"publish:{t}"))
    other = await env.http.post(
        f"/events/{t}",
        json=body,
        headers={**env.auth("orders2"), "Idempotency-Key": "order-1-placed"},
    )
    assert other.status_code == 202 and other.json() != first.json()
    assert await outbox_rows(env) == 2
    too_long = await env.http.post(
        f"/events/{t}", json=body, headers={**env.auth("orders"), "Idempotency-Key": "k" * 256}
    )
    assert_problem(too_long, 400, "bad-request")


async def test_concurrent_duplicates_write_once(env: Env) -> None:
    t = env.shop.placed
    headers = {
        **env.auth("orders"),
        "Idempotency-Key": "batch-7",
        "Content-Type": "application/cloudevents-batch+json",
    }
    batch = json.dumps(
        [
            {"specversion": "1.0", "id": f"00000000-0000-4000-8000-00000000000{i}",
             "source": env.shop.source, "type": t, "data": {"order_id": f"o{i}", "amount": i}}
            for i in range(3)
        ]
    )  # fmt: skip
    responses = await asyncio.gather(
        *(env.http.post("/events", content=batch, headers=headers) for _ in range(12))
    )
    assert {r.status_code for r in responses} == {202}, [r.text for r in responses]
    assert len({r.text for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 11
    assert await outbox_rows(env) == 3


async def test_rate_limit_answers_429_with_retry_after(services: Any, shop: Shop) -> None:
    async with gateway_env(services, shop, Limits(rate=0.5, burst=3)) as env:
        t = shop.placed
        statuses = []
        for i in range(5):
            r = await env.http.post(
                f"/events/{t}", json={"order_id": f"o{i}", "amount": 1}, headers=env.auth("orders")
            )
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert_problem(r, 429, "rate-limited")
                assert 1 <= int(r.headers["retry-after"]) <= 2
        assert statuses[:3] == [202, 202, 202] and statuses[3:] == [429, 429]
        # Per app: another app is not held back.
        ok = await env.http.get("/api/me", headers=env.auth("billing"))
        assert ok.status_code == 200
        assert await outbox_rows(env) == 3


async def test_keys_never_in_logs_metrics_or_error_bodies(
    env: Env, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging("DEBUG", json=True)
    caplog.set_level(logging.DEBUG)
    try:
        key = env.keys["orders"]
        secret = key.split("_", 2)[2]
        forged = key[:-4] + "AAAA"
        bodies = []
        for headers in (
            {"Authorization": f"Bearer {key}"},
            {"Authorization": f"Bearer {forged}"},
            {"Authorization": f"Bearer {secret}"},
            {"Authorization": key},
        ):
            for method, path, body in (
                ("POST", f"/events/{env.shop.placed}", {"order_id": key, "amount": -1}),
                ("POST", f"/events/{env.shop.audited}", {"what": "x"}),
                ("POST", "/events", {"no": "headers"}),
                ("GET", "/api/apps", None),
                ("POST", "/api/apps", {"name": key}),
            ):
                r = await env.http.request(method, path, json=body, headers=headers)
                assert 400 <= r.status_code < 500
                bodies.append(r.text)
        rotated = await env.http.post("/api/apps/orders/rotate", headers=env.auth("ops"))
        new_key = rotated.json()["key"]
        metrics = (await env.http.get("/metrics")).text
    finally:
        structlog.reset_defaults()
    out, err = capsys.readouterr()
    seen = "\n".join([*bodies, metrics, out, err, caplog.text])
    for secret_text in (secret, forged.split("_", 2)[2], new_key.split("_", 2)[2]):
        assert secret_text not in seen
    # Except the payload that *was* the key: the caller sent it as data, and 422 points at it
    # by pointer, not by value.
    assert "bze_" not in metrics
