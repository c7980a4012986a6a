"""What the gateway's Kafka clients connect with, and Kafka failures as gateway errors.

The core's clients (pull sessions, subscription cursors) take the broker's settings, so they log
in with BIZEVENTS_KAFKA_SASL_* like every other bizevents process (`bizevents.kafka`); a bare
bootstrap string means an unsecured Kafka (tests, embedding).
"""

from __future__ import annotations

from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from bizevents.kafka import login_refused
from bizevents.logging import get_logger
from bizevents.settings import ConnectionSettings

from .errors import ErrorKind, GatewayError

log = get_logger("bizevents.gateway.kafka")

KafkaLogin = str | ConnectionSettings

_REFUSED_ACCESS = (
    TopicAuthorizationFailedError,
    GroupAuthorizationFailedError,
    ClusterAuthorizationFailedError,
)


async def kafka_unavailable(kafka: KafkaLogin, exc: KafkaError) -> GatewayError:
    """A 503 that says why Kafka failed the gateway: a refused login, missing ACLs, or Kafka
    out of reach. The caller learns the kind; the log line has the detail (never a secret)."""
    name = type(exc).__name__
    if isinstance(exc, _REFUSED_ACCESS):
        log.warning("gateway.kafka_access_refused", error=name)
        return GatewayError(
            ErrorKind.UNAVAILABLE,
            f"Kafka refused the gateway access ({name}): the gateway's ACLs are missing "
            "(bizevents kafka acl apply --gateway); retry later",
        )
    refused = await login_refused(kafka) if isinstance(exc, KafkaConnectionError) else None
    if refused is not None:
        log.warning("gateway.kafka_login_refused", detail=refused)
        return GatewayError(ErrorKind.UNAVAILABLE, "Kafka refused the gateway's login; retry later")
    return GatewayError(ErrorKind.UNAVAILABLE, f"Kafka is not reachable ({name}); retry")
