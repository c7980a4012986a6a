"""Consumes every `bizevents.dlq.*` topic into the store, for workers without a database.

At least once: offsets are committed only after the batch is stored, and storing is idempotent
on the original record's coordinates, so a redelivered batch adds nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from ..deadletter import DeadLetterRecord, from_kafka_record
from ..errors import DeadLetterError
from ..logging import get_logger
from .settings import DeadLetterSettings
from .store import DeadLetterStore

log = get_logger(__name__)


class DeadLetterIngester:
    def __init__(self, store: DeadLetterStore, settings: DeadLetterSettings | None = None) -> None:
        self.store = store
        self.settings = settings or DeadLetterSettings()
        self.stored = 0  # new rows, for logs and tests
        self.seen = 0

    def _consumer(self) -> AIOKafkaConsumer:
        s = self.settings
        return AIOKafkaConsumer(
            **s.kafka_client_options(),
            group_id=s.dlq_ingester_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=s.dlq_metadata_max_age_ms,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Ingests until `stop` is set, then commits what is stored and leaves the group."""
        consumer = self._consumer()
        await consumer.start()
        try:
            consumer.subscribe(pattern=self.settings.dlq_topic_pattern)
            log.info("dead-letter ingester started", pattern=self.settings.dlq_topic_pattern)
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                if not batches:
                    continue
                records = [self._decode(m) for msgs in batches.values() for m in msgs]
                new = await self._store([r for r in records if r is not None], stop)
                if new is None:
                    break  # stopping before the batch was stored: it comes again next time
                self.seen += len(records)
                self.stored += new
                await consumer.commit()
                log.info("dead letters ingested", records=len(records), new=new)
        finally:
            await consumer.stop()
        log.info("dead-letter ingester stopped", records=self.seen, new=self.stored)

    async def _store(self, records: list[DeadLetterRecord], stop: asyncio.Event) -> int | None:
        """Stores the batch, retrying while PostgreSQL is unavailable (offsets stay uncommitted
        meanwhile); None when asked to stop first."""
        pause = 0.5
        while True:
            try:
                return await self.store.add_many(records)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("storing dead letters failed, retrying", error=str(exc), wait=pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
            if stop.is_set():
                return None
            pause = min(pause * 2, 10.0)

    @staticmethod
    def _decode(msg: Any) -> DeadLetterRecord | None:
        try:
            return from_kafka_record(
                msg.key,
                msg.value,
                list(msg.headers or ()),
                topic=msg.topic,
                partition=msg.partition,
                offset=msg.offset,
                timestamp_ms=msg.timestamp,
            )
        except DeadLetterError as exc:
            # It stays on the topic; one bad record must not stop the ingester.
            log.error("dead-letter record skipped", error=str(exc))
            return None
