"""Kafka -> event log: a consumer group over the contract topics writing rows in batches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from bizevents.envelope import JSON, from_kafka
from bizevents.errors import EnvelopeError
from bizevents.kafka import client_options
from bizevents.logging import get_logger
from bizevents.migrations import checked_identifier

from ..core.contracts import ContractSource
from ..core.kafka import KafkaLogin
from .schema import COLUMNS

log = get_logger("bizevents.eventlog")


def row_of(
    topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, headers: Any
) -> tuple[Any, ...] | None:
    """One Kafka record as an event log row; None for a record that is not a CloudEvent."""
    try:
        envelope = from_kafka(key, value, headers)
    except EnvelopeError as exc:
        log.warning("eventlog.record_skipped", topic=topic, offset=offset, reason=str(exc))
        return None
    data: str | None = None
    media = envelope.datacontenttype
    if media == JSON or media.endswith("+json"):
        try:
            json.loads(envelope.data)  # only well-formed JSON goes into the jsonb column
            data = envelope.data.decode()
        except ValueError:
            data = None
    return (
        envelope.id,
        envelope.type,
        envelope.source,
        envelope.subject,
        envelope.time,
        envelope.partitionkey,
        envelope.dataschema,
        media,
        data,
        topic,
        partition,
        offset,
    )


class EventLogFeeder:
    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        contracts: ContractSource,
        kafka: KafkaLogin,
        *,
        retention: float = 7 * 86400.0,
        topics_refresh: float = 10.0,
        group_id: str | None = None,
    ) -> None:
        self.pool = pool
        self.schema = checked_identifier(schema)
        self.contracts = contracts
        self.kafka = kafka
        self.retention = retention
        self.topics_refresh = topics_refresh
        self.group_id = group_id or f"bizevents-eventlog-{self.schema}"
        self._stopping = asyncio.Event()
        self._failing = False  # since the last error, no fetch has gone through
        names = ", ".join(c for c, _ in COLUMNS)
        values = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
        self._insert = (
            f"INSERT INTO {self.schema}.event_log ({names}) VALUES ({values}) "
            "ON CONFLICT (id) DO NOTHING"
        )
        self._expire = (
            f"DELETE FROM {self.schema}.event_log WHERE id IN (SELECT id FROM "
            f"{self.schema}.event_log WHERE time < now() - make_interval(secs => $1) LIMIT 5000)"
        )

    def stop(self) -> None:
        self._stopping.set()

    async def _topics(self) -> list[str]:
        return sorted({c.topic for c in await self.contracts.current()})

    async def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            async with self.pool.acquire() as conn:
                await conn.executemany(self._insert, rows)

    async def expire(self) -> int:
        """Delete events older than the retention, in small batches (short locks)."""
        total = 0
        async with self.pool.acquire() as conn:
            while True:
                status = await conn.execute(self._expire, self.retention)
                deleted = int(status.split()[-1])
                total += deleted
                if deleted < 5000:
                    return total

    async def run(self) -> None:
        """Until `stop()`: consume, write, commit; re-subscribe when the contracts change.
        Kafka or PostgreSQL going away is logged and retried, never fatal."""
        while not self._stopping.is_set():
            try:
                await self._consume()
            except (KafkaError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # Said once per outage, not at every retry; `eventlog.feeder_resumed` ends it.
                report = log.debug if self._failing else log.warning
                report("eventlog.feeder_retry", error=type(exc).__name__, detail=str(exc))
                self._failing = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 2.0)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            **client_options(self.kafka),
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=5000,
        )
        try:
            await consumer.start()  # inside: a failed start must close the consumer too
            topics: list[str] = []
            checked = expired = 0.0
            while not self._stopping.is_set():
                now = time.monotonic()
                if now - checked >= self.topics_refresh or not topics:
                    checked = now
                    latest = await self._topics()
                    if latest != topics and latest:
                        topics = latest
                        consumer.subscribe(topics)
                    if not topics:
                        await asyncio.sleep(0.5)
                        continue
                if now - expired >= 60.0:
                    expired = now
                    await self.expire()
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                if self._failing:
                    self._failing = False
                    log.info("eventlog.feeder_resumed")
                rows = [
                    row
                    for tp, records in batches.items()
                    for r in records
                    if (row := row_of(tp.topic, tp.partition, r.offset, r.key, r.value, r.headers))
                    is not None
                ]
                await self.write(rows)
                if batches:
                    await consumer.commit()
        finally:
            await consumer.stop()
