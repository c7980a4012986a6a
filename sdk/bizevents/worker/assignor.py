"""Co-partitioned assignment: partition i of every topic a group reads goes to the same member.

A group reads its source topics, its delayed-retry topics and its replay topic, all with the
same partition count, and a failed record goes to the retry partition with its source
partition's number. So the member that owns source partition i also owns every retry partition
i: the records of a key parked there, and the holds that keep the key's later records behind
them, stay in one process, and per-key order holds through retries with any number of workers.
(Kafka Streams co-partitions joined topics the same way.)

Partition numbers are dealt round-robin over the members sorted by id. A topic with fewer
partitions than others simply has no partition i for the larger numbers.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping

from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)


def co_partitioned(
    partition_counts: Mapping[str, int], subscriptions: Mapping[str, Iterable[str]]
) -> dict[str, dict[str, list[int]]]:
    """member -> topic -> partitions (pure logic): number i of every topic to one member."""
    members = sorted(subscriptions)
    subscribed = {m: set(subscriptions[m]) for m in members}
    widest = max(partition_counts.values(), default=0)
    out: dict[str, dict[str, list[int]]] = {m: collections.defaultdict(list) for m in members}
    if not members:
        return {}
    for i in range(widest):
        owner = members[i % len(members)]
        for topic in sorted(partition_counts):
            if i >= partition_counts[topic]:
                continue
            member = owner
            if topic not in subscribed[owner]:
                # Members with other subscriptions (a rolling deploy): the first that reads it.
                readers = [m for m in members if topic in subscribed[m]]
                if not readers:
                    continue
                member = readers[i % len(readers)]
            out[member][topic].append(i)
    return {m: dict(topics) for m, topics in out.items()}


class CoPartitionedAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
    name = "bizevents-copartitioned"
    version = 0

    @classmethod
    def assign(
        cls,
        cluster: ClusterMetadata,
        members: Mapping[str, ConsumerProtocolMemberMetadata],
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        topics = {t for metadata in members.values() for t in metadata.subscription}
        counts = {}
        for topic in topics:
            partitions = cluster.partitions_for_topic(topic)
            if partitions:
                counts[topic] = len(partitions)
        plan = co_partitioned(counts, {m: meta.subscription for m, meta in members.items()})
        return {
            member: ConsumerProtocolMemberAssignment(
                cls.version, sorted(plan.get(member, {}).items()), b""
            )
            for member in members
        }

    @classmethod
    def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        return ConsumerProtocolMemberMetadata(cls.version, list(topics), b"")

    @classmethod
    def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
        pass


# The only strategy a worker offers. aiokafka 0.14 sends one JoinGroup per configured assignor
# (the first with one protocol, the next with two, ...): the broker sees a member whose metadata
# changed and rebalances again, and a group of several workers can rebalance for minutes
# (aio-libs/aiokafka#1168). So no round-robin fallback: all members of a group run this one.
ASSIGNMENT_STRATEGY = (CoPartitionedAssignor,)
