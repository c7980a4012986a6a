"""The relay (outbox forwarder): committed outbox rows to Kafka as CloudEvents."""

from .relay import Relay
from .sender import BatchSender, Row, SendResult

__all__ = ["BatchSender", "Relay", "Row", "SendResult"]
