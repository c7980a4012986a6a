"""Where failed records go: `Resender` sends the original record (key, value, headers unchanged)
plus `bizevents_*` headers to the group's delayed-retry or dead-letter topic, and waits for the
broker's ack."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer

from .. import topics
from ..deadletter import H_FIRST, H_LAST, DeadLetterRecord, DeadLetterSink
from .backoff import delay_label
from .delivery import Delivery
from .handling import Failed

log = structlog.get_logger("bizevents.worker")

Record = tuple[bytes | None, bytes | None, list[Any]]


class Resender:
    def __init__(
        self,
        group: str,
        producer: AIOKafkaProducer,
        sink: DeadLetterSink | None,
        stopping: asyncio.Event,
    ) -> None:
        self.group = group
        self.producer = producer
        self.sink = sink
        self.stopping = stopping
        self.dead_letter_topic = topics.dead_letter_topic(group)
        self._partitions: dict[str, int] = {}

    def letter(self, item: Delivery, verdict: Failed) -> DeadLetterRecord:
        now = datetime.now(UTC)
        topic, partition, offset = item.origin
        return DeadLetterRecord.build(
            group=self.group,
            error=verdict.error,
            error_type=verdict.error_type,
            stack=verdict.stack,
            attempts=verdict.attempts,
            first_failure=item.state.first_failure or now,
            last_failure=now,
            original_topic=topic,
            original_partition=partition,
            original_offset=offset,
            key=item.record.key,
            value=item.record.value,
            headers=item.record.headers,
            envelope=item.envelope,
        )

    async def retry(
        self, item: Delivery, verdict: Failed, delay: float, stage: int
    ) -> tuple[str, int]:
        """Send to the delayed-retry topic of `delay`; returns where it landed."""
        letter = self.letter(item, verdict)
        due = datetime.now(UTC) + timedelta(seconds=delay)
        topic = topics.retry_topic(self.group, delay_label(delay))
        partition = await self.send(
            topic, letter.retry_record(stage, due), await self._aligned(topic, item)
        )
        log.info(
            "sent to retry topic",
            group=self.group,
            event_id=item.envelope.id if item.envelope else None,
            topic=topic,
            attempts=verdict.attempts,
            error=verdict.error,
        )
        return topic, partition

    async def park(self, item: Delivery, delay: float) -> tuple[str, int]:
        """Send behind the head of its key (into the head's retry topic), without a failure."""
        state = item.state
        waiting = Failed(
            "waiting behind an earlier message of its key", "Parked", "", state.attempts, False
        )
        letter = self.letter(item, waiting)
        topic = topics.retry_topic(self.group, delay_label(delay))
        due = datetime.now(UTC) + timedelta(seconds=delay)
        key, value, headers = letter.retry_record(state.stage, due, parked=True)
        if state.first_failure is None:
            # It has not failed itself: keep the failure times for a real failure later.
            headers = [(n, v) for n, v in headers if n not in (H_FIRST, H_LAST)]
        partition = await self._aligned(topic, item)
        return topic, await self.send(topic, (key, value, headers), partition)

    async def _aligned(self, topic: str, item: Delivery) -> int | None:
        """The retry partition with the number of the record's source partition (see
        assignor.py), or None (partition by key) when the retry topic has fewer partitions."""
        partition = item.origin[1]
        count = self._partitions.get(topic)
        if count is None:
            count = self._partitions[topic] = len(await self.producer.partitions_for(topic))
        return partition if partition < count else None

    async def dead_letter(self, item: Delivery, verdict: Failed) -> DeadLetterRecord:
        """Send to the dead-letter topic, then hand it to the sink (if any)."""
        letter = self.letter(item, verdict)
        await self.send(self.dead_letter_topic, letter.record())
        log.warning(
            "dead-lettered",
            group=self.group,
            event_id=item.envelope.id if item.envelope else None,
            error_type=verdict.error_type,
            error=verdict.error,
            attempts=verdict.attempts,
            original_topic=letter.original_topic,
            original_offset=letter.original_offset,
        )
        if self.sink is not None:
            try:
                await self.sink(letter)
            except Exception:
                # The dead-letter topic has the record; the store can ingest it from there.
                log.exception("dead_letter_sink failed", group=self.group)
        return letter

    async def send(self, topic: str, record: Record, partition: int | None = None) -> int:
        """Produce and wait for the broker's ack; retried until it works or we stop."""
        key, value, headers = record
        pause = 0.2
        while True:
            try:
                meta = await self.producer.send_and_wait(
                    topic, value, key=key, headers=headers, partition=partition
                )
                return int(meta.partition)
            except Exception as exc:
                if self.stopping.is_set():
                    raise
                log.warning("produce failed, retrying", topic=topic, error=str(exc))
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
