"""The worker's `dead_letter_sink` hook, storing each dead letter straight into PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg

from ..deadletter import DeadLetterRecord, DeadLetterSink
from ..logging import get_logger
from .settings import DeadLetterSettings
from .store import DeadLetterStore

log = get_logger(__name__)


def store_sink(store: DeadLetterStore) -> DeadLetterSink:
    """`Worker(..., dead_letter_sink=store_sink(store))`: idempotent on the original record's
    (group, topic, partition, offset), so a record dead-lettered twice keeps one row."""

    async def sink(record: DeadLetterRecord) -> None:
        letter_id, inserted = await store.add(record)
        log.info(
            "dead letter stored",
            id=letter_id,
            new=inserted,
            group=record.group,
            event_id=record.event_id,
            event_type=record.event_type,
        )

    return sink


class PostgresSink:
    """A sink that connects on the first dead letter (BIZEVENTS_DATABASE_URL,
    BIZEVENTS_DLQ_SCHEMA) and migrates the store, so an app can set it at import time:

        events.dead_letter_sink = PostgresSink()
    """

    def __init__(self, settings: DeadLetterSettings | None = None) -> None:
        self.settings = settings or DeadLetterSettings()
        self._lock = asyncio.Lock()
        self._pool: asyncpg.Pool | None = None
        self._sink: DeadLetterSink | None = None

    async def __call__(self, record: DeadLetterRecord) -> None:
        async with self._lock:
            if self._sink is None:
                # Two connections: dead letters are rare; the pool lives as long as the worker.
                self._pool = await asyncpg.create_pool(
                    self.settings.database_url, min_size=1, max_size=2
                )
                store = DeadLetterStore(self._pool, self.settings.dlq_schema)
                await store.migrate()
                self._sink = store_sink(store)
        await self._sink(record)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool, self._sink = None, None
