"""The gateway in a space (BIZEVENTS_SPACE): events published over HTTP land on the space's
topics, pull subscriptions read them with the space's consumer groups, and an event published
in another space never shows up."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bizevents import Events
from bizevents.mesh import Naming

from .conftest import Shop, gateway_env, relaying
from .test_pull import read_all, subscribe

pytestmark = pytest.mark.services


async def test_gateway_publishes_and_pulls_within_its_space(
    services: Any, shop: Shop, kafka_admin: AIOKafkaAdminClient
) -> None:
    from bizevents_broker.core import Limits

    space, other = f"gw{uuid.uuid4().hex[:8]}", f"gx{uuid.uuid4().hex[:8]}"
    await kafka_admin.create_topics([NewTopic(f"{s}.{shop.placed}", 2, 1) for s in (space, other)])
    async with gateway_env(services, shop, Limits(rate=0), naming=Naming(space)) as env:
        sub = await subscribe(env)
        r = await env.http.post(
            f"/events/{shop.placed}", json={"order_id": "o-in", "amount": 1},
            headers=env.auth("orders"),
        )  # fmt: skip
        assert r.status_code == 202, r.text
        async with env.gateway.connection() as conn:
            topics = await conn.fetch(f'SELECT topic FROM "{env.schema}".outbox')
        assert [t["topic"] for t in topics] == [f"{space}.{shop.placed}"]
        # The same event type published in another space, straight to Kafka.
        async with Events(app="orders", contracts=shop.contracts, space=other).direct(
            services.kafka_bootstrap
        ) as pub:
            await pub.publish(shop.placed, {"order_id": "o-other", "amount": 2})
        async with relaying(services, env.schema):
            got = await read_all(env, sub, 1)
        assert [e["data"]["order_id"] for e in got] == ["o-in"]
        groups = {g[0] for g in await kafka_admin.list_consumer_groups()}
        assert any(g.startswith(f"{space}.bizevents.") for g in groups), groups
