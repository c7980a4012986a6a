"""Kafka plumbing shared by the replay paths: the producer and replay-topic creation."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from ..errors import DeadLetterError
from .settings import DeadLetterSettings


def replay_producer(settings: DeadLetterSettings) -> AIOKafkaProducer:
    # Idempotent with acks=all: a retried send neither duplicates nor reorders a key's records.
    return AIOKafkaProducer(
        **settings.kafka_client_options(),
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
    )


async def ensure_topics(settings: DeadLetterSettings, names: Iterable[str]) -> None:
    """Creates missing topics: a cluster without auto-creation would otherwise make the first
    send wait for metadata until it times out."""
    wanted = set(names)
    if not wanted:
        return
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    await admin.start()
    try:
        missing = wanted - set(await admin.list_topics())
        if missing:
            topics = [
                NewTopic(n, settings.replay_topic_partitions, settings.topic_replication_factor)
                for n in sorted(missing)
            ]
            response = await admin.create_topics(topics)
            for name, code, *_ in response.topic_errors:
                # "already exists": created meanwhile by the worker or another replay.
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise DeadLetterError(f"cannot create topic {name!r}: Kafka error {code}")
    finally:
        await admin.close()
