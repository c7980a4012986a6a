"""Rebalances: the listener aiokafka calls, and the retry warm-up after an assignment.

On revoke, the group finishes what it fetched from the revoked partitions (within
`revoke_timeout`) and commits it; their new owner starts from that commit (see
`GroupConsumer.on_revoked`). On assignment, the holds on keys are rebuilt from the retry
partitions before anything of their partition number runs (`RetryWarmup`).
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
    """After an assignment: rebuild the holds on keys from the retry partitions before anything
    of their partition number runs.

    Holds live in memory. A retry partition is not in origin order (a record that failed again
    is appended after records parked behind it earlier), so no record of it may run before the
    whole unread part of every retry partition of its number is known. The warm-up therefore
    scans: the retry partitions' records are fetched up to the end offsets they had at the
    assignment and only their keys and origins are kept (`GroupConsumer._scan` holds them);
    meanwhile the source and replay partitions of that number stay paused. Once every retry
    partition of a number is scanned, they are rewound to where the scan began and everything of
    that number resumes: the retry records now run against complete holds, and a source record
    of a held key is parked behind them.

    No timeout and no escape: backpressure does not apply to a scan (it keeps no records), and
    an error asking Kafka for the end offsets is asked again after the next fetch round. A slow
    scan is logged every `warn_after` seconds.

    Partition number i of every retry topic belongs with source partition i (a record goes to
    the retry partition with its source partition's number, see `resend.py`). When a retry
    topic lacks some partition number (fewer partitions than a source topic, so records were
    spread by key), the whole assignment is one unit instead.
    """

    def __init__(self, group: str, retry_topics: dict[str, float], warn_after: float) -> None:
        self.group = group
        self.retry_topics = retry_topics
        self.warn_after = warn_after
        # Units of the assignment: (partitions held back, retry partitions to scan first).
        self.units: list[tuple[set[TopicPartition], set[TopicPartition]]] = []
        self.scanning: set[TopicPartition] = set()  # retry partitions whose records are scanned
        self.unread: set[TopicPartition] = set()  # ... and not yet scanned to their end
        self.scan_from: dict[TopicPartition, int] = {}  # first offset scanned: rewound to it
        self.ends: dict[TopicPartition, int] | None = None  # None: not asked yet
        self.started = self.warned = 0.0
        self.failures = 0

    @property
    def held_back(self) -> set[TopicPartition]:
        return {tp for held, _ in self.units for tp in held}

    def start(self, consumer: Any, assigned: set[TopicPartition]) -> None:
        """A new assignment (the whole of it): pause all but the retry partitions, scan those."""
        self.units, self.scan_from, self.ends, self.failures = [], {}, None, 0
        retry = {tp for tp in assigned if tp.topic in self.retry_topics}
        self.scanning, self.unread = set(retry), set(retry)
        if not retry:
            return
        others = assigned - retry
        numbers = {tp.partition for tp in assigned}
        aligned = all(
            TopicPartition(topic, n) in retry
            for topic in {tp.topic for tp in retry}
            for n in {tp.partition for tp in others}
        )
        if aligned:
            for n in sorted(numbers):
                needs = {tp for tp in retry if tp.partition == n}
                self.units.append(({tp for tp in others if tp.partition == n}, needs))
        else:
            self.units.append((others, retry))
        consumer.pause(*others)
        self.started = self.warned = time.monotonic()
        log.info("reading retry topics first", group=self.group, partitions=len(retry))

    def scanned(self, tp: TopicPartition, first_offset: int) -> None:
        self.scan_from.setdefault(tp, first_offset)

    async def check(self, consumer: Any, paused: set[TopicPartition]) -> None:
        """After each fetch (its scanned records' keys are held): for every unit whose retry
        partitions are scanned to their end, rewind them and resume the unit."""
        if not self.units:
            return
        assigned = consumer.assignment()
        try:
            if self.ends is None:
                self.ends = await consumer.end_offsets(sorted(self.unread))
            for tp in sorted(self.unread):
                if tp not in assigned:
                    continue  # revoked meanwhile: `forget` and the next `start` settle it
                end = self.ends.get(tp, 0)
                if end <= 0 or await consumer.position(tp) >= end:
                    self.unread.discard(tp)
        except Exception as exc:
            # Kafka unavailable or the group rebalancing: asked again after the next fetch
            # round, while the unit stays held back.
            self.failures += 1
            if self.failures == 1:
                log.warning("retry warm-up: cannot read offsets yet", group=self.group,
                            error=str(exc))  # fmt: skip
            return
        self.failures = 0
        for unit in list(self.units):
            held, needs = unit
            if needs & self.unread:
                continue
            self.units.remove(unit)
            for tp in needs:
                self.scanning.discard(tp)
                first = self.scan_from.pop(tp, None)
                if first is not None and tp in assigned:
                    consumer.seek(tp, first)
            resume = [tp for tp in held if tp in assigned and tp not in paused]
            if resume:
                consumer.resume(*resume)
        now = time.monotonic()
        if not self.units:
            log.info("retry topics read", group=self.group, seconds=round(now - self.started, 2))
        elif now - self.warned > self.warn_after:
            self.warned = now
            log.warning(
                "still reading retry topics before new records",
                group=self.group,
                seconds=round(now - self.started),
                held_back=len(self.held_back),
                unread=sorted(f"{tp.topic}[{tp.partition}]" for tp in self.unread),
            )

    def forget(self, tp: TopicPartition) -> None:
        """A revoked partition: no longer held back, scanned or waited for."""
        for held, needs in self.units:
            held.discard(tp)
            needs.discard(tp)
        self.scanning.discard(tp)
        self.unread.discard(tp)
        self.scan_from.pop(tp, None)
