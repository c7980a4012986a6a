"""Rebalances: the listener aiokafka calls, and the retry warm-up after an assignment.

On revoke, the group finishes what it fetched from the revoked partitions (within
`revoke_timeout`) and commits it; their new owner starts from that commit (see
`GroupConsumer.on_revoked`). On assignment, the source partitions are held back until the retry
partitions are read to their current end: records parked there before a restart or rebalance
hold their keys again before later records of those keys run (`RetryWarmup`).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import structlog
from aiokafka import TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

log = structlog.get_logger("bizevents.worker")


class Rebalanced(Protocol):
    async def on_revoked(self, revoked: set[TopicPartition]) -> None: ...

    async def on_assigned(self, assigned: set[TopicPartition]) -> None: ...


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, group: Rebalanced) -> None:
        self.group = group

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.group.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.group.on_assigned(set(assigned))


class RetryWarmup:
    def __init__(self, group: str, retry_topics: dict[str, float], timeout: float) -> None:
        self.group = group
        self.retry_topics = retry_topics
        self.timeout = timeout
        self.targets: dict[TopicPartition, int] = {}  # retry partition -> end to read up to
        self.held_back: set[TopicPartition] = set()  # source partitions paused meanwhile
        self.deadline = 0.0

    async def start(self, consumer: Any, assigned: set[TopicPartition]) -> None:
        retry_tps = [tp for tp in assigned if tp.topic in self.retry_topics]
        if not retry_tps:
            return
        try:
            ends = await consumer.end_offsets(retry_tps)
            targets = {}
            for tp, end in ends.items():
                # An empty partition has nothing to read (and asking costs a round trip each).
                if end > 0 and end > (await consumer.committed(tp) or 0):
                    targets[tp] = end
        except Exception as exc:  # best effort: never block consuming on it
            log.warning("retry warm-up skipped", group=self.group, error=str(exc))
            return
        if not targets:
            return
        self.targets = targets
        self.held_back = {tp for tp in assigned if tp.topic not in self.retry_topics}
        consumer.pause(*self.held_back)
        self.deadline = time.monotonic() + self.timeout
        log.info("reading retry topics first", group=self.group, partitions=len(targets))

    async def check(self, consumer: Any, paused: set[TopicPartition]) -> None:
        """After each fetch: resume the held-back partitions once the retry partitions are read
        (or paused by backpressure: as much as we can hold is in memory already), or at the
        deadline."""
        if not self.held_back:
            return
        assigned = consumer.assignment()
        for tp, end in list(self.targets.items()):
            if tp in paused or tp not in assigned or await consumer.position(tp) >= end:
                del self.targets[tp]
        if self.targets and time.monotonic() < self.deadline:
            return
        self.targets.clear()
        ready = [tp for tp in self.held_back if tp in assigned and tp not in paused]
        self.held_back.clear()
        consumer.resume(*ready)

    def forget(self, tp: TopicPartition) -> None:
        self.targets.pop(tp, None)
        self.held_back.discard(tp)
