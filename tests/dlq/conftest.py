"""Fixtures for the dead-letter tests: a migrated store in the test's own schema, and letters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from bizevents.deadletter import DeadLetterRecord
from bizevents.dlq import DeadLetterStore
from bizevents.envelope import Envelope, new_event_id, to_kafka

BASE = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(services, db_schema) -> AsyncIterator[DeadLetterStore]:  # type: ignore[no-untyped-def]
    pool = await asyncpg.create_pool(services.database_url, min_size=1, max_size=4)
    store = DeadLetterStore(pool, db_schema)
    await store.migrate()
    yield store
    await pool.close()


def letter(
    n: int,
    *,
    group: str = "billing",
    event_type: str = "com.acme.orders.OrderPlaced.v1",
    error: str = "boom",
    error_type: str = "ValueError",
    topic: str = "orders",
    minutes: int = 0,
    key: str | None = None,
    value: bytes | None = None,
) -> DeadLetterRecord:
    """A dead letter of a real binary-mode CloudEvent (or of `value` as given: poison)."""
    env = Envelope(
        id=new_event_id(),
        type=event_type,
        source="/acme/orders",
        time=BASE,
        data=b'{"order_id":"o-%d","n":%d}' % (n, n),
        partitionkey=key or f"o-{n}",
    )
    k, v, headers = to_kafka(env)
    return DeadLetterRecord.build(
        group=group,
        error=error,
        error_type=error_type,
        stack="app.py:12 in handle\nValueError: boom",
        attempts=3,
        first_failure=BASE + timedelta(minutes=minutes),
        last_failure=BASE + timedelta(minutes=minutes, seconds=30),
        original_topic=topic,
        original_partition=n % 3,
        original_offset=n,
        key=k,
        value=v if value is None else value,
        headers=headers if value is None else [],
    )
