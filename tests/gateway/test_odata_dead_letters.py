"""DeadLetters over OData on real PostgreSQL and Kafka: listed and filtered (admin only),
replayed through the bound action (the letter arrives on its group's replay topic and is marked
replayed), purged through the unbound action; refusals change nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from bizevents.dlq import DeadLetterRecord, DeadLetterStore
from bizevents.envelope import Envelope, new_event_id, to_kafka
from bizevents.topics import replay_topic
from bizevents_broker.core import Limits

from .conftest import Shop, gateway_env
from .test_odata import assert_odata_error

pytestmark = pytest.mark.services


def letter(group: str, event_type: str, offset: int, age_hours: float) -> DeadLetterRecord:
    envelope = Envelope(
        id=new_event_id(),
        type=event_type,
        source="/acme/shop",
        time=datetime.now(UTC),
        data=b'{"order_id": "o-1"}',
        partitionkey=f"k{offset}",
    )
    key, value, headers = to_kafka(envelope)
    failed = datetime.now(UTC) - timedelta(hours=age_hours)
    return DeadLetterRecord.build(
        group=group,
        original_topic=event_type,
        original_partition=0,
        original_offset=offset,
        error="boom",
        error_type="ValueError",
        stack="",
        attempts=3,
        first_failure=failed,
        last_failure=failed,
        key=key,
        value=value,
        headers=headers,
    )


async def test_dead_letters_list_replay_and_purge(services: Any, shop: Shop) -> None:
    schema = f"dlq_{uuid.uuid4().hex[:10]}"
    group = f"billing-{uuid.uuid4().hex[:6]}"
    async with gateway_env(services, shop, Limits(rate=0), dlq_schema=schema) as env:
        store = DeadLetterStore(env.gateway.pool, schema)
        try:
            await store.migrate()
            ids = [
                (await store.add(letter(group, shop.placed, n, age)))[0]
                for n, age in enumerate((1, 2, 30, 40))
            ]
            ops = env.auth("ops")
            listed = await env.http.get(
                "/odata/DeadLetters",
                params={
                    "$filter": f"Group eq '{group}' and Attempts ge 3",
                    "$orderby": "Id",
                    "$count": "true",
                },
                headers=ops,
            )
            assert listed.status_code == 200, listed.text
            assert [d["Id"] for d in listed.json()["value"]] == ids
            assert listed.json()["value"][0]["Status"] == "dead"
            one = await env.http.get(f"/odata/DeadLetters({ids[0]})", headers=ops)
            assert one.json()["EventType"] == shop.placed and one.json()["Error"] == "boom"
            assert_odata_error(
                await env.http.get("/odata/DeadLetters", headers=env.auth("billing")),
                403,
                "forbidden",
            )
            assert_odata_error(
                await env.http.get("/odata/DeadLetters('x')", headers=ops), 400, "bad-request"
            )

            consumer = AIOKafkaConsumer(
                replay_topic(group),
                bootstrap_servers=services.kafka_bootstrap,
                auto_offset_reset="earliest",
                # No group: nothing to join or commit for one read.
                # The replay creates the topic: a consumer that looked before it existed must
                # look again soon (aiokafka's default is five minutes).
                metadata_max_age_ms=500,
            )
            replayed = await env.http.post(
                f"/odata/DeadLetters({ids[0]})/BizEvents.Replay", headers=ops
            )
            assert replayed.status_code == 200, replayed.text
            assert replayed.json()["Replayed"] == 1
            await consumer.start()
            try:
                record = await asyncio.wait_for(consumer.getone(), 60)
            finally:
                await consumer.stop()
            original = await store.get(ids[0])
            assert record.value == original.value and record.key == original.key
            assert original.status.value == "replayed"
            again = await env.http.post(
                f"/odata/DeadLetters({ids[0]})/BizEvents.Replay", headers=ops
            )
            assert_odata_error(again, 409, "conflict")
            for path, app, status, kind in (
                (f"/odata/DeadLetters({ids[1]})/BizEvents.Replay", "billing", 403, "forbidden"),
                ("/odata/DeadLetters(999999999)/BizEvents.Replay", "ops", 404, "not-found"),
                (f"/odata/DeadLetters({ids[1]})/BizEvents.Explode", "ops", 404, "not-found"),
                (f"/odata/Events('{uuid.uuid4()}')/BizEvents.Replay", "ops", 404, "not-found"),
            ):
                response = await env.http.post(path, headers=env.auth(app))
                assert_odata_error(response, status, kind)

            for body, status, kind in (
                ({}, 400, "bad-request"),
                ({"Group": group, "Everything": True}, 400, "bad-request"),
                ({"Until": "yesterday"}, 400, "bad-request"),
            ):
                response = await env.http.post("/odata/Purge", json=body, headers=ops)
                assert_odata_error(response, status, kind)
            assert_odata_error(
                await env.http.post(
                    "/odata/Purge", json={"Group": group}, headers=env.auth("billing")
                ),
                403,
                "forbidden",
            )
            until = (datetime.now(UTC) - timedelta(hours=24)).isoformat()
            purged = await env.http.post(
                "/odata/Purge", json={"Group": group, "Until": until}, headers=ops
            )
            assert purged.status_code == 200, purged.text
            assert purged.json()["value"] == 2  # the two letters older than a day
            statuses = [(await store.get(i)).status.value for i in ids]
            assert statuses == ["replayed", "dead", "purged", "purged"]
        finally:
            conn = await asyncpg.connect(services.database_url)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()
