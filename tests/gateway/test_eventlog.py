"""The event log's feeder on its own: rows from real Kafka records, retention in batches."""

from __future__ import annotations

import asyncio
import gc
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from structlog.testing import capture_logs

from bizevents.envelope import Envelope, new_event_id, to_kafka
from bizevents_broker.core import FixedContracts
from bizevents_broker.eventlog import EventLogFeeder, migrate_event_log, row_of
from servers import free_port

from .conftest import Env

pytestmark = pytest.mark.services


def test_row_of_reads_a_cloudevent_and_skips_other_records() -> None:
    envelope = Envelope(
        id=new_event_id(),
        type="t.v1",
        source="/s",
        time=datetime(2026, 1, 1, tzinfo=UTC),
        data=b'{"a": 1}',
        partitionkey="k",
    )
    key, value, headers = to_kafka(envelope)
    row = row_of("topic", 2, 9, key, value, headers)
    assert row is not None
    assert row[0] == envelope.id and row[5] == "k" and row[8] == '{"a": 1}'
    assert row[9:] == ("topic", 2, 9)
    assert row_of("topic", 0, 1, None, b"not an event", []) is None


async def test_retention_deletes_only_old_events(env: Env, services: Any) -> None:
    async with env.gateway.connection() as conn:
        await migrate_event_log(conn, env.schema)
        now = datetime.now(UTC)
        await conn.executemany(
            f"INSERT INTO {env.schema}.event_log (id, type, source, time, datacontenttype,"
            " topic, kafka_partition, kafka_offset) VALUES ($1, 't', 's', $2, 'a/b', 't', 0, $3)",
            [(f"old-{i}", now - timedelta(days=2), i) for i in range(6000)]
            + [(f"new-{i}", now - timedelta(hours=1), i) for i in range(10)],
        )
    feeder = EventLogFeeder(
        env.gateway.pool,
        env.schema,
        FixedContracts(env.shop.contracts),
        services.kafka_bootstrap,
        retention=86400,
    )
    assert await feeder.expire() == 6000
    conn2: asyncpg.Connection = await asyncpg.connect(services.database_url)
    try:
        left = await conn2.fetchval(f"SELECT count(*) FROM {env.schema}.event_log")
    finally:
        await conn2.close()
    assert left == 10


async def test_a_kafka_outage_is_told_once_and_leaks_no_consumer(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    feeder = EventLogFeeder(
        env.gateway.pool,
        env.schema,
        FixedContracts(env.shop.contracts),
        f"127.0.0.1:{free_port()}",  # nobody listens: every start fails
    )
    caplog.set_level(logging.ERROR, logger="asyncio")
    with capture_logs() as said:
        task = asyncio.create_task(feeder.run())
        await asyncio.sleep(5)  # at least two retries, 2 s apart
        feeder.stop()
        await asyncio.wait_for(task, 30)
    gc.collect()  # an unclosed consumer is reported when it is collected
    # At least two failed starts in 5 s (2 s apart); whether the later ones show as debug lines
    # depends on the log level an earlier test set, the single warning does not.
    retries = [e for e in said if e["event"] == "eventlog.feeder_retry"]
    assert [e["log_level"] for e in retries if e["log_level"] != "debug"] == ["warning"]
    assert not [r for r in caplog.records if "Unclosed AIOKafkaConsumer" in r.getMessage()]
