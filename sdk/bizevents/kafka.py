"""Kafka producer settings shared by the relay and the direct publisher."""

from __future__ import annotations

import contextlib
from typing import Any

from aiokafka import AIOKafkaProducer


def make_producer(bootstrap: str, **overrides: Any) -> AIOKafkaProducer:
    """An idempotent producer with acks=all: no duplicates from internal retries, order kept."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 0,
        "request_timeout_ms": 15000,
        "client_id": "bizevents",
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


async def ensure_topics(bootstrap: str, topics: list[str], partitions: int = 3) -> None:
    """Create the topics that do not exist yet (single-node dev clusters: replication 1)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        missing = set(topics) - set(await admin.list_topics())
        if missing:
            # Created meanwhile by someone else is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(t, partitions, 1) for t in sorted(missing)])
    finally:
        await admin.close()
