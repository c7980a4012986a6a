"""Kafka clients shared by the relay, the worker and the direct publisher."""

from __future__ import annotations

import contextlib
from typing import Any

from aiokafka import AIOKafkaProducer

from .settings import ConnectionSettings


def client_options(kafka: str | ConnectionSettings) -> dict[str, Any]:
    """aiokafka connection options: a bare bootstrap string means an unsecured broker; settings
    bring their SASL/TLS options (BIZEVENTS_KAFKA_SASL_*)."""
    if isinstance(kafka, str):
        return {"bootstrap_servers": kafka}
    return kafka.kafka_client_options()


def make_producer(kafka: str | ConnectionSettings, **overrides: Any) -> AIOKafkaProducer:
    """An idempotent producer with acks=all: no duplicates from internal retries, order kept."""
    options: dict[str, Any] = {
        **client_options(kafka),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 0,
        "request_timeout_ms": 15000,
        "client_id": "bizevents",
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


async def ensure_topics(
    kafka: str | ConnectionSettings, topics: list[str], partitions: int = 3
) -> None:
    """Create the topics that do not exist yet (single-node dev clusters: replication 1)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        missing = set(topics) - set(await admin.list_topics())
        if missing:
            # Created meanwhile by someone else is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(t, partitions, 1) for t in sorted(missing)])
    finally:
        await admin.close()
