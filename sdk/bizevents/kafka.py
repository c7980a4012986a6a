"""Kafka producer settings shared by the relay and the direct publisher."""

from __future__ import annotations

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
