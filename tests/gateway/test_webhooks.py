"""Webhooks on the real Kafka, to a real local receiver: Standard Webhooks signatures verified
with the `standardwebhooks` package, 503 retried after Retry-After, 400 and redirects dead-
lettered with the reason, filters, secret rotation, and SSRF-safe targets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bizevents import topics
from bizevents.webhooks import AddressPolicy, UnsafeTargetError, WebhookDispatcher
from bizevents.webhooks.targets import guarded_client
from bizevents.worker import RetryPolicy, WorkerSettings
from bizevents_broker.core import Limits
from bizevents_broker.core.webhooks import GatewayWebhooks
from servers import free_port

from .conftest import Env, Shop, gateway_env, relaying
from .test_rest import assert_problem

pytestmark = pytest.mark.services

LOCAL = AddressPolicy(["127.0.0.1/32"])


class Receiver:
    """A webhook endpoint: answers by the event's order id (`ok`, `busy` once, `bad`, `moved`)."""

    def __init__(self) -> None:
        self.requests: dict[str, list[tuple[float, dict[str, str], bytes, int]]] = defaultdict(list)
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        order_id = json.loads(body)["data"]["order_id"]
        kind = order_id.split("-")[0]
        seen = self.requests[order_id]
        status = 200
        headers = {}
        if kind == "busy" and not seen:
            status, headers = 503, {"Retry-After": "1"}
        elif kind == "bad":
            status = 400
        elif kind == "moved":
            status, headers = 302, {"Location": "http://169.254.169.254/"}
        headers_seen = {**request.headers, "x-test-query": request.url.query}
        seen.append((time.monotonic(), headers_seen, body, status))
        return Response("nope" if status == 400 else "", status, headers=headers)


@contextlib.asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(receiver.app, host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def dispatching(env: Env, services: Any) -> AsyncIterator[WebhookDispatcher]:
    dispatcher = WebhookDispatcher(
        GatewayWebhooks(env.gateway),
        WorkerSettings(
            kafka_bootstrap=services.kafka_bootstrap, database_url=services.database_url
        ),
        policy=LOCAL,
        timeout=5,
        refresh=0.5,
        retry=RetryPolicy(attempts=2, backoff_initial=0.05, delays=(1.0,)),
    )
    env.gateway.on_webhooks_changed = dispatcher.changed
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
        await asyncio.wait_for(task, 60)


async def wait_for(check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_delivery_signatures_retries_dead_letters(
    services: Any, shop: Shop, read_topic: Any
) -> None:
    receiver = Receiver()
    async with (
        gateway_env(services, shop, Limits(rate=0), webhook_policy=LOCAL) as env,
        serving(receiver) as url,
        relaying(services, env.schema),
        dispatching(env, services) as dispatcher,
    ):
        created = await env.http.post(
            "/webhooks",
            json={"event_types": [shop.placed], "url": url, "start": "earliest"},
            headers=env.auth("billing"),
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        webhook = created.json()["webhook"]
        assert secret.startswith("whsec_") and "secret" not in json.dumps(webhook)
        filtered = await env.http.post(
            "/webhooks",
            json={"event_types": [shop.placed], "url": url + "?f=1", "start": "earliest",
                  "filters": {"subject": "vip"}},
            headers=env.auth("billing"),
        )  # fmt: skip
        assert filtered.status_code == 201, filtered.text
        secrets = {"": secret, "f=1": filtered.json()["secret"]}

        ids = {}
        for order_id in ("ok-1", "busy-1", "bad-1", "moved-1"):
            r = await env.http.post(
                f"/events/{shop.placed}",
                json={"order_id": order_id, "amount": 1},
                headers=env.auth("orders"),
                params={"subject": "vip"} if order_id == "ok-1" else {},
            )
            assert r.status_code == 202, r.text
            ids[order_id] = r.json()["ids"][0]

        await wait_for(lambda: len(receiver.requests["busy-1"]) >= 2)
        await wait_for(lambda: receiver.requests["ok-1"] and receiver.requests["bad-1"])
        dead = await read_topic(topics.dead_letter_topic(webhook_group(webhook)), count=2)

        for order_id, calls in receiver.requests.items():
            for _, headers, body, _ in calls:
                verifier = Webhook(secrets[headers.pop("x-test-query")])
                verified = verifier.verify(body, headers)  # raises if the signature is wrong
                assert verified["id"] == ids[order_id] == headers["webhook-id"]
                assert headers["content-type"] == "application/cloudevents+json"
                assert verified["source"] == shop.source and verified["type"] == shop.placed
        # 503 with Retry-After: 1 -> the 1-second retry tier, not an immediate retry.
        (t503, *_), (t200, *_) = receiver.requests["busy-1"][:2]
        assert t200 - t503 >= 0.9
        assert receiver.requests["busy-1"][1][3] == 200
        # 400 and a redirect: one attempt each, then the dead-letter topic with the reason.
        assert len(receiver.requests["bad-1"]) == 1 and len(receiver.requests["moved-1"]) == 1
        reasons = {
            r.key.decode(): " ".join(v.decode(errors="replace") for _, v in r.headers) for r in dead
        }
        assert "receiver answered 400: nope" in reasons["bad-1"]
        assert "redirects are not followed" in reasons["moved-1"]
        # The filtered webhook got only the vip event.
        await wait_for(lambda: len(receiver.requests["ok-1"]) >= 2)
        assert len(receiver.requests["ok-1"]) == 2
        assert len(receiver.requests["busy-1"]) == 2  # the filter kept the rest from the 2nd
        assert dispatcher.running


def webhook_group(webhook: dict[str, Any]) -> str:
    return f"bizevents.webhook.{webhook['id']}"


async def test_secret_rotation_signs_with_both_during_grace(services: Any, shop: Shop) -> None:
    receiver = Receiver()
    async with (
        gateway_env(services, shop, Limits(rate=0), webhook_policy=LOCAL) as env,
        serving(receiver) as url,
        relaying(services, env.schema),
        dispatching(env, services),
    ):
        auth = env.auth("billing")
        created = (
            await env.http.post(
                "/webhooks", json={"event_types": [shop.placed], "url": url}, headers=auth
            )
        ).json()
        hook = created["webhook"]["id"]
        rotated = await env.http.post(
            f"/webhooks/{hook}/rotate-secret", json={"grace_seconds": 3600}, headers=auth
        )
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        await asyncio.sleep(1.5)  # the dispatcher restarts the webhook with both secrets
        r = await env.http.post(
            f"/events/{shop.placed}", json={"order_id": "ok-r", "amount": 1},
            headers=env.auth("orders"),
        )  # fmt: skip
        assert r.status_code == 202
        await wait_for(lambda: receiver.requests["ok-r"])
        _, headers, body, _ = receiver.requests["ok-r"][0]
        assert len(headers["webhook-signature"].split(" ")) == 2
        Webhook(created["secret"]).verify(body, headers)
        Webhook(new_secret).verify(body, headers)


async def test_targets_are_ssrf_safe(env: Env) -> None:
    """The env's gateway has no allow-list: loopback, private, link-local targets are refused."""
    auth = env.auth("billing")
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/",
        "ftp://example.com/hook",
        "http://user:pw@example.com/hook",
        "not a url",
    ):
        r = await env.http.post(
            "/webhooks", json={"event_types": [env.shop.placed], "url": url}, headers=auth
        )
        problem = assert_problem(r, 400, "bad-request")
        assert "pw" not in problem["detail"]
    listed = await env.http.get("/webhooks", headers=auth)
    assert listed.json() == {"webhooks": []}
    # Not a subscriber: 403, like pull subscriptions.
    r = await env.http.post(
        "/webhooks",
        json={"event_types": [env.shop.placed], "url": "http://example.com/"},
        headers=env.auth("orders"),
    )
    assert_problem(r, 403, "forbidden")


async def test_the_address_is_checked_when_connecting() -> None:
    """A name that resolves to loopback is refused at connect time, and redirects are not
    followed even to allowed places."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        async with guarded_client(AddressPolicy(), timeout=5) as client:
            with pytest.raises(UnsafeTargetError):
                await client.post(f"http://localhost:{port}/")
    receiver = Receiver()
    async with serving(receiver) as url, guarded_client(LOCAL, timeout=5) as client:
        r = await client.post(url, content=json.dumps({"data": {"order_id": "moved-x"}}))
        assert r.status_code == 302  # answered, not followed
        assert isinstance(r, httpx.Response) and len(receiver.requests["moved-x"]) == 1
