"""Test your handlers and publishers without Kafka: `TestEvents` and `MemoryKafka`."""

from .harness import Call, TestEvents
from .memory import MemoryConsumer, MemoryKafka, MemoryProducer

__all__ = ["Call", "MemoryConsumer", "MemoryKafka", "MemoryProducer", "TestEvents"]
