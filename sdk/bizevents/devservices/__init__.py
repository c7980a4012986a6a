"""Local development services: a real Kafka and PostgreSQL started by the project itself."""

from .kafka import KafkaServer, KafkaStatus
from .postgres import PostgresServer, PostgresStatus

__all__ = ["KafkaServer", "KafkaStatus", "PostgresServer", "PostgresStatus"]
