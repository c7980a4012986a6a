"""Publishing straight to Kafka, without an outbox.

The weaker guarantee: the event is on Kafka when `publish` returns, but it is not atomic with the
app's database work (a crash between the two loses or orphans one of them).
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from .envelope import Mode, to_kafka
from .kafka import make_producer
from .settings import ConnectionSettings

if TYPE_CHECKING:
    from .app import Events


class DirectPublisher:
    def __init__(self, events: Events, bootstrap: str | None = None, mode: Mode = Mode.BINARY):
        self.events = events
        self.mode = mode
        settings = ConnectionSettings()
        if bootstrap:
            settings = settings.model_copy(update={"kafka_bootstrap": bootstrap})
        self._producer = make_producer(settings)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> DirectPublisher:
        await self.start()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def publish(
        self, event_type: str, data: Any, *, key: str | None = None, subject: str | None = None
    ) -> str:
        """Validate, send and wait for Kafka's acknowledgement (acks=all); returns the event id."""
        event = self.events.build(event_type, data, key=key, subject=subject)
        k, value, headers = to_kafka(event.envelope, self.mode)
        await self._producer.send_and_wait(event.topic, value, key=k, headers=headers)
        return event.envelope.id
