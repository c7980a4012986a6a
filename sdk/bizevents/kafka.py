"""Kafka clients shared by the relay, the worker and the direct publisher."""

from __future__ import annotations

import asyncio
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


async def login_refused(kafka: str | ConnectionSettings, timeout: float = 10.0) -> str | None:
    """Why Kafka refuses this process's login, or None (it accepts it, or cannot be reached).

    aiokafka reports a refused SASL login as a bare "Unable to bootstrap" connection error, the
    same as an unreachable broker; one direct connection to the first bootstrap server tells the
    two apart. The answer names the user and mechanism, never the password.
    """
    from aiokafka.conn import create_conn
    from aiokafka.errors import AuthenticationFailedError, KafkaError, SaslAuthenticationFailed

    options = client_options(kafka)
    if not str(options.get("security_protocol", "PLAINTEXT")).startswith("SASL"):
        return None
    first = str(options.pop("bootstrap_servers")).split(",")[0].strip()
    host, _, port = first.rpartition(":")
    try:
        conn = await asyncio.wait_for(
            create_conn(host or first, int(port or 9092), request_timeout_ms=5000, **options),
            timeout,
        )
    except (SaslAuthenticationFailed, AuthenticationFailedError) as exc:
        user, mechanism = options.get("sasl_plain_username"), options.get("sasl_mechanism")
        return (
            f"Kafka refused the login of user {user!r} ({mechanism}: {type(exc).__name__}); "
            "check BIZEVENTS_KAFKA_SASL_USERNAME and BIZEVENTS_KAFKA_SASL_PASSWORD"
        )
    except (KafkaError, OSError, TimeoutError, ValueError):
        return None  # not reachable (or not answering in time): not a refused login
    conn.close()
    return None


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
