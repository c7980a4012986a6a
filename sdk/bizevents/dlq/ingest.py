"""Consumes every `bizevents.dlq.*` topic into the store, for workers without a database.

At least once: offsets are committed only after the batch is stored, and storing is idempotent
on the original record's coordinates, so a redelivered batch adds nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer

from ..errors import DeadLetterError
from ..logging import get_logger
from .model import DeadLetterRecord, from_kafka_record
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
            bootstrap_servers=s.kafka_bootstrap,
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
                new = await self.store.add_many([r for r in records if r is not None])
                self.seen += len(records)
                self.stored += new
                await consumer.commit()
                log.info("dead letters ingested", records=len(records), new=new)
        finally:
            await consumer.stop()

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
