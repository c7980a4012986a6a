"""Sends claimed outbox rows to Kafka, one record batch per topic-partition.

Records of one partition travel in a single Kafka record batch, which the broker appends whole or
not at all, and batches of one partition are sent one after another. So when a send fails, nothing
after the failure in that partition was written: retrying its rows later cannot reorder a key.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from ..envelope import Envelope, Mode, to_kafka


@dataclass(frozen=True, slots=True)
class Row:
    """One outbox row as the relay claims it."""

    id: int
    topic: str
    envelope: Envelope

    @classmethod
    def from_record(cls, r: Any) -> Row:
        ext = r["extensions"]
        return cls(
            id=r["id"],
            topic=r["topic"],
            envelope=Envelope(
                id=str(r["event_id"]),
                type=r["type"],
                source=r["source"],
                time=r["time"],
                data=bytes(r["data"]),
                datacontenttype=r["content_type"],
                subject=r["subject"],
                dataschema=r["dataschema"],
                partitionkey=r["key"],
                extensions=json.loads(ext) if ext else {},
            ),
        )


@dataclass
class SendResult:
    sent: list[int]  # row ids acknowledged by Kafka
    failed: list[tuple[list[int], BaseException]]  # per failed partition: its row ids, the error


class BatchSender:
    def __init__(self, producer: AIOKafkaProducer, mode: Mode = Mode.BINARY) -> None:
        self.producer = producer
        self.mode = mode
        self._partitioner = DefaultPartitioner()

    async def send(self, rows: Sequence[Row]) -> SendResult:
        groups: dict[tuple[str, int], list[tuple[Row, tuple[bytes | None, bytes, Any]]]] = (
            defaultdict(list)
        )
        partitions_of: dict[str, list[int]] = {}
        for row in rows:
            record = to_kafka(row.envelope, self.mode)
            partitions = partitions_of.get(row.topic)
            if partitions is None:
                partitions = sorted(await self.producer.partitions_for(row.topic))
                partitions_of[row.topic] = partitions
            # The Java client's murmur2 partitioner: a key lands where other producers put it.
            partition = self._partitioner(record[0], partitions, partitions)
            groups[(row.topic, partition)].append((row, record))
        results = await asyncio.gather(
            *(self._send_partition(t, p, items) for (t, p), items in groups.items()),
            return_exceptions=True,
        )
        outcome = SendResult(sent=[], failed=[])
        for items, result in zip(groups.values(), results, strict=True):
            if isinstance(result, BaseException):
                outcome.failed.append(([row.id for row, _ in items], result))
            else:
                outcome.sent.extend(row.id for row, _ in items)
        return outcome

    async def _send_partition(
        self, topic: str, partition: int, items: list[tuple[Row, tuple[bytes | None, bytes, Any]]]
    ) -> None:
        batch = self.producer.create_batch()
        for row, (key, value, headers) in items:
            ts = int(row.envelope.time.timestamp() * 1000)
            if batch.append(key=key, value=value, timestamp=ts, headers=headers) is None:
                await self._flush(batch, topic, partition)
                batch = self.producer.create_batch()
                if batch.append(key=key, value=value, timestamp=ts, headers=headers) is None:
                    raise ValueError(f"event {row.envelope.id} is larger than a Kafka batch")
        await self._flush(batch, topic, partition)

    async def _flush(self, batch: Any, topic: str, partition: int) -> None:
        batch.close()
        future = await self.producer.send_batch(batch, topic, partition=partition)
        await future
