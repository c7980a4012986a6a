"""Fixtures of the worker tests (helpers live in worker_helpers.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bizevents.worker import WorkerSettings

from .worker_helpers import Kafka


@pytest.fixture
async def kafka(services: Any, kafka_admin: AIOKafkaAdminClient) -> AsyncIterator[Kafka]:
    producer = AIOKafkaProducer(bootstrap_servers=services.kafka_bootstrap, linger_ms=5)
    await producer.start()
    yield Kafka(services.kafka_bootstrap, kafka_admin, producer)
    await producer.stop()


@pytest.fixture
def group() -> str:
    return f"g-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def fast_settings(services: Any, db_schema: str) -> Callable[..., WorkerSettings]:
    """Settings with tiny backoffs and retry delays, so retries take milliseconds."""

    def make(**overrides: Any) -> WorkerSettings:
        values: dict[str, Any] = {
            "kafka_bootstrap": services.kafka_bootstrap,
            "database_url": services.database_url,
            "retry_attempts": 2,
            "retry_backoff_initial": 0.001,
            "retry_backoff_max": 0.005,
            "retry_delays": [0.2, 0.4],
            "commit_interval": 0.1,
            "shutdown_timeout": 10.0,
            "revoke_timeout": 10.0,
            "inbox_schema": db_schema,
            "topic_partitions": 3,
        }
        values.update(overrides)
        return WorkerSettings(**values)

    return make
