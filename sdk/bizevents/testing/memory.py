"""An in-memory stand-in for the parts of Kafka a bizevents worker uses.

Partitioned, ordered logs with offsets and per-group committed offsets; a consumer and a
producer exposing the aiokafka calls the worker's `GroupConsumer` makes, so the real worker code
(key lanes, retry holds, retry and dead-letter routing, offset tracking) runs unchanged on it.
One consumer per group: there is no rebalancing in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka.partitioner import murmur2
from aiokafka.structs import ConsumerRecord, RecordMetadata, TopicPartition

Headers = list[tuple[str, bytes]]


class MemoryKafka:
    def __init__(self, partitions: int = 3) -> None:
        self.partitions = partitions
        self.logs: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}
        self.topics: dict[str, int] = {}
        self.committed: dict[str, dict[TopicPartition, int]] = {}
        self._round_robin = itertools.count()
        # Set (and replaced) on every append: waiters wake without sharing a lock.
        self._changed = asyncio.Event()

    def create_topic(self, topic: str, partitions: int | None = None) -> None:
        if topic not in self.topics:
            count = partitions or self.partitions
            self.topics[topic] = count
            for p in range(count):
                self.logs[TopicPartition(topic, p)] = []

    def partitions_of(self, topic: str) -> list[TopicPartition]:
        self.create_topic(topic)
        return [TopicPartition(topic, p) for p in range(self.topics[topic])]

    def partition_for(self, topic: str, key: bytes | None) -> int:
        self.create_topic(topic)
        count = self.topics[topic]
        if key is None:
            return next(self._round_robin) % count
        return int(murmur2(key) & 0x7FFFFFFF) % count  # Kafka's default partitioner

    async def append(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        partition: int | None = None,
    ) -> RecordMetadata:
        p = self.partition_for(topic, key) if partition is None else partition
        tp = TopicPartition(topic, p)
        log = self.logs[tp]
        now = int(time.time() * 1000)
        record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
            topic=topic,
            partition=p,
            offset=len(log),
            timestamp=now,
            timestamp_type=0,
            key=key,
            value=value,
            checksum=None,
            serialized_key_size=len(key) if key is not None else -1,
            serialized_value_size=len(value) if value is not None else -1,
            headers=[(n, bytes(v)) for n, v in headers],
        )
        log.append(record)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return RecordMetadata(topic, p, tp, record.offset, now, now, -1)

    def end(self, tp: TopicPartition) -> int:
        return len(self.logs.get(tp, ()))

    def records(self, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
        """Every record of a topic, partition by partition."""
        return [r for tp in self.partitions_of(topic) for r in self.logs[tp]]

    async def wait_change(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    def consumer(self, group: str) -> MemoryConsumer:
        return MemoryConsumer(self, group)

    def producer(self) -> MemoryProducer:
        return MemoryProducer(self)


class MemoryProducer:
    """`send_and_wait` / `send` like AIOKafkaProducer; records are appended at once."""

    def __init__(self, kafka: MemoryKafka) -> None:
        self.kafka = kafka

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> RecordMetadata:
        return await self.kafka.append(topic, value, key, headers or (), partition)

    async def partitions_for(self, topic: str) -> set[int]:
        return {tp.partition for tp in self.kafka.partitions_of(topic)}

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[RecordMetadata]:
        future: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        future.set_result(await self.send_and_wait(*args, **kwargs))
        return future


class MemoryConsumer:
    """The subset of AIOKafkaConsumer the worker uses: subscribe with a rebalance listener,
    getmany, pause/resume, seek, commit, committed, position, end offsets, highwater. The single
    member gets every partition."""

    def __init__(self, kafka: MemoryKafka, group: str) -> None:
        self.kafka = kafka
        self.group = group
        self._topics: list[str] = []
        self._listener: Any = None
        self._assigned: set[TopicPartition] = set()
        self._paused: set[TopicPartition] = set()
        self._position: dict[TopicPartition, int] = {}
        self._closed = False

    async def start(self) -> None:
        pass

    def subscribe(self, topics: Iterable[str], listener: Any = None) -> None:
        self._topics = list(topics)
        self._listener = listener

    async def _assign(self) -> None:
        if self._assigned or not self._topics:
            return
        committed = self.kafka.committed.setdefault(self.group, {})
        self._assigned = {tp for t in self._topics for tp in self.kafka.partitions_of(t)}
        for tp in self._assigned:
            self._position[tp] = committed.get(tp, 0)
        if self._listener is not None:
            await self._listener.on_partitions_assigned(set(self._assigned))

    def assignment(self) -> set[TopicPartition]:
        return set(self._assigned)

    def pause(self, *tps: TopicPartition) -> None:
        self._paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self._paused.difference_update(tps)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._position[tp] = offset

    def highwater(self, tp: TopicPartition) -> int:
        return self.kafka.end(tp)

    async def end_offsets(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.kafka.end(tp) for tp in tps}

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.kafka.committed.get(self.group, {}).get(tp)

    async def position(self, tp: TopicPartition) -> int:
        return self._position[tp]

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        committed = self.kafka.committed.setdefault(self.group, {})
        for tp, offset in (offsets or dict(self._position)).items():
            committed[tp] = offset

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        await self._assign()
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            batch = self._take(set(partitions) or self._assigned, max_records or 500)
            left = deadline - time.monotonic()
            if batch or left <= 0 or self._closed:
                return batch
            await self.kafka.wait_change(left)

    def _take(
        self, tps: set[TopicPartition], limit: int
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        out: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}
        for tp in sorted(tps - self._paused):
            if limit <= 0:
                break
            log = self.kafka.logs[tp]
            start = self._position[tp]
            records = log[start : start + limit]
            if records:
                out[tp] = records
                self._position[tp] = start + len(records)
                limit -= len(records)
        return out

    async def stop(self) -> None:
        self._closed = True
