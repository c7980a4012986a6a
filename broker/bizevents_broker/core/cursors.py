"""Where a new subscription starts: its consumer group's offsets, committed when it is created.

"latest" means the end of each partition *at creation*, and a time means the first offset at or
after it; both are committed for the new group before anyone reads, so events published between
creating the subscription and the first client joining are not skipped. "earliest" commits
nothing: a group without offsets starts at the beginning.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, for_code

from bizevents.kafka import client_options, ensure_topics

from .kafka import KafkaLogin, kafka_unavailable


async def initialize_group(
    kafka: KafkaLogin, group: str, topics: Sequence[str], start: str
) -> None:
    try:
        await ensure_topics(kafka, sorted(set(topics)))
        if start == "earliest":
            return
        partitions = await _partitions(kafka, sorted(set(topics)))
        consumer = AIOKafkaConsumer(
            **client_options(kafka), group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            ends = await consumer.end_offsets(partitions)
            offsets = dict(ends)
            if start != "latest":
                # Kafka times start at the epoch (it refuses negative ones): any earlier time
                # means from the first record.
                millis = max(0, int(datetime.fromisoformat(start).timestamp() * 1000))
                found = await consumer.offsets_for_times({tp: millis for tp in partitions})
                offsets = {tp: (hit.offset if hit else ends[tp]) for tp, hit in found.items()}
            consumer.assign(partitions)
            await consumer.commit(offsets)
        finally:
            await consumer.stop()
    except KafkaError as exc:
        raise await kafka_unavailable(kafka, exc) from exc


async def _partitions(kafka: KafkaLogin, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    for topic in described:
        if topic["error_code"]:  # e.g. 29: the gateway may not describe (read) the topic
            raise for_code(topic["error_code"])(f"topic {topic['topic']}")
    return [
        TopicPartition(topic["topic"], p["partition"])
        for topic in described
        for p in topic["partitions"]
    ]
