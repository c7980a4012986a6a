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
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from aiokafka.partitioner import DefaultPartitioner

from ..envelope import Envelope, Headers, Mode, binary_headers, to_kafka

_EMPTY: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Row:
    """One claimed outbox row (a record of relay.CLAIM)."""

    record: Any

    @property
    def id(self) -> int:
        return int(self.record["id"])

    @property
    def topic(self) -> str:
        return str(self.record["topic"])

    @property
    def event_id(self) -> str:
        return str(self.record["event_id"])

    @property
    def envelope(self) -> Envelope:
        r = self.record
        return Envelope(
            id=r["event_id"],
            type=r["type"],
            source=r["source"],
            time=r["time"],
            data=bytes(r["data"]),
            datacontenttype=r["content_type"],
            subject=r["subject"],
            dataschema=r["dataschema"],
            partitionkey=r["key"],
            extensions=self.extensions(),
        )

    def extensions(self) -> dict[str, str]:
        ext = self.record["extensions"]
        return json.loads(ext) if ext else _EMPTY

    def to_kafka(self, mode: Mode) -> tuple[bytes | None, bytes, Headers]:
        if mode is not Mode.BINARY:
            return to_kafka(self.envelope, mode)
        # Straight from the columns (time already formatted by the query): the hot path.
        r = self.record
        key = r["key"]
        headers = binary_headers(
            event_id=r["event_id"],
            source=r["source"],
            type=r["type"],
            time=r["time_text"],
            subject=r["subject"],
            dataschema=r["dataschema"],
            partitionkey=key,
            extensions=self.extensions(),
            content_type=r["content_type"],
        )
        return (None if key is None else key.encode()), r["data"], headers


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
        # Topics this principal may not write (ACLs): only their rows wait, the others go.
        refused: dict[str, tuple[BaseException, list[int]]] = {}
        for row in rows:
            if row.topic in refused:
                refused[row.topic][1].append(row.id)
                continue
            record = row.to_kafka(self.mode)
            partitions = partitions_of.get(row.topic)
            if partitions is None:
                try:
                    partitions = sorted(await self.producer.partitions_for(row.topic))
                except TopicAuthorizationFailedError as exc:
                    refused[row.topic] = (exc, [row.id])
                    continue
                except KafkaError as exc:  # no metadata (Kafka down): nothing of this batch goes
                    return SendResult(sent=[], failed=[([r.id for r in rows], exc)])
                partitions_of[row.topic] = partitions
            # The Java client's murmur2 partitioner: a key lands where other producers put it.
            partition = self._partitioner(record[0], partitions, partitions)
            groups[(row.topic, partition)].append((row, record))
        results = await asyncio.gather(
            *(self._send_partition(t, p, items) for (t, p), items in groups.items()),
            return_exceptions=True,
        )
        outcome = SendResult(sent=[], failed=[(ids, exc) for exc, ids in refused.values()])
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
            ts = row.record["ts_ms"]
            if batch.append(key=key, value=value, timestamp=ts, headers=headers) is None:
                await self._flush(batch, topic, partition)
                batch = self.producer.create_batch()
                if batch.append(key=key, value=value, timestamp=ts, headers=headers) is None:
                    raise ValueError(f"event {row.event_id} is larger than a Kafka batch")
        await self._flush(batch, topic, partition)

    async def _flush(self, batch: Any, topic: str, partition: int) -> None:
        batch.close()
        future = await self.producer.send_batch(batch, topic, partition=partition)
        await future
