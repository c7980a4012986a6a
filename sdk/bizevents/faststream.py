"""FastStream apps join bizevents: CloudEvents decoding, contract validation and dead letters for
FastStream Kafka subscribers, and publishing bizevents events from FastStream.

    from faststream import AckPolicy, Context, FastStream
    from faststream.kafka import KafkaBroker, KafkaRouter
    from bizevents.faststream import CloudEvents

    events = Events(app="crm", contracts="contracts/")
    bridge = CloudEvents(events, group="crm")
    broker = KafkaBroker("127.0.0.1:19092")
    router = KafkaRouter(middlewares=[bridge.middleware])   # the group's bizevents subscribers
    app = FastStream(broker)
    app.after_shutdown(bridge.close)

    @router.subscriber(bridge.topic("com.acme.orders.OrderPlaced.v1"), group_id=bridge.group_id,
                       ack_policy=AckPolicy.ACK)
    async def on_placed(order: OrderPlaced, cloudevent: Envelope = Context()) -> None: ...

    broker.include_router(router)

The middleware decodes the record as a CloudEvent (binary or structured mode; Mendix topics too),
checks its type against the contracts and its payload against the contract's schema, and hands
the handler the event's data; the envelope is in FastStream's context as `cloudevent`. A record
it cannot accept (not a CloudEvent, unknown type, payload breaking the contract) goes to the
group's dead-letter topic with the reason, exactly as a bizevents worker would send it (so
`bizevents dlq` lists and replays it), and the handler is not called.

FastStream commits offsets itself: use `ack_policy=AckPolicy.ACK` (commit after the handler);
its default acknowledges before the handler runs (at most once). Per-key ordering with
concurrency, delayed retries and the inbox are the bizevents worker's, not FastStream's.

Publishing: through the outbox from any handler (`await events.publish(conn, ...)` inside the
handler's transaction), or straight to Kafka with `await bridge.publish(broker, type, data)`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from faststream import BaseMiddleware

from .deadletter import DeadLetterRecord
from .envelope import Envelope, from_kafka, to_kafka
from .errors import (
    EnvelopeError,
    PayloadValidationError,
    PermissionDeniedError,
    UnknownEventTypeError,
)
from .kafka import ensure_topics, make_producer
from .logging import get_logger
from .mesh import Inbound
from .settings import ConnectionSettings
from .topics import dead_letter_topic, event_topic

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

    from .app import Events

log = get_logger("bizevents.faststream")
CONTEXT_NAME = "cloudevent"
_REFUSED = (EnvelopeError, UnknownEventTypeError, PayloadValidationError)


class CloudEvents:
    """bizevents for the FastStream subscribers of one consumer group."""

    def __init__(
        self,
        events: Events,
        group: str,
        *,
        types: Iterable[str] | None = None,
        bootstrap: str | None = None,
    ) -> None:
        self.events = events
        self.group = group
        self.group_id = events.naming.scoped(group)  # the Kafka consumer group, in the space
        self.dead_letter_topic = dead_letter_topic(self.group_id)
        # Dead letters are sent with the process's Kafka login (BIZEVENTS_KAFKA_SASL_*), like
        # every bizevents client; `bootstrap` only overrides where Kafka is.
        self.kafka = (
            ConnectionSettings(kafka_bootstrap=bootstrap) if bootstrap else ConnectionSettings()
        )
        self.bootstrap = self.kafka.kafka_bootstrap
        self.types = frozenset(types) if types is not None else None
        contracts = list(events.contracts) if events.contracts is not None else []
        for contract in contracts:
            if self.types is not None and contract.event_type not in self.types:
                continue
            if (
                self.types is not None
                and contract.subscribers
                and events.app not in contract.subscribers
            ):
                raise PermissionDeniedError(
                    f"app {events.app!r} may not subscribe to {contract.event_type!r} "
                    f"(allowed: {', '.join(contract.subscribers)})"
                )
        self.inbound = Inbound.of(events.naming, contracts)
        self._producer: AIOKafkaProducer | None = None
        self.middleware = self._middleware_class()

    def topic(self, event_type: str) -> str:
        """The topic an event type travels on, in this app's space and mesh."""
        contracts = self.events.contracts
        if contracts is not None and event_type in contracts:
            return self.events.naming.topic_of(contracts.get(event_type))
        return self.events.naming.scoped(event_topic(event_type))

    def decode(self, record: Any) -> Envelope | None:
        """The record's CloudEvent with its payload checked; None when it is not for us (a type
        outside `types`); raises one of EnvelopeError, UnknownEventTypeError,
        PayloadValidationError."""
        envelope = from_kafka(record.key, record.value, record.headers)
        envelope = self.inbound(record.topic, envelope) if self.inbound else envelope
        contracts = self.events.contracts
        if contracts is not None:
            contract = contracts.get(envelope.type)  # UnknownEventTypeError
            if self.types is not None and envelope.type not in self.types:
                return None
            contract.validate(envelope.payload())
        elif self.types is not None and envelope.type not in self.types:
            return None
        return envelope

    async def dead_letter(self, record: Any, exc: BaseException) -> None:
        now = datetime.now(UTC)
        letter = DeadLetterRecord.build(
            group=self.group_id,
            error=f"{type(exc).__name__}: {exc}",
            error_type=type(exc).__name__,
            stack="",
            attempts=1,
            first_failure=now,
            last_failure=now,
            original_topic=record.topic,
            original_partition=record.partition,
            original_offset=record.offset,
            key=record.key,
            value=record.value,
            headers=record.headers,
        )
        if self._producer is None:
            await ensure_topics(self.kafka, [self.dead_letter_topic])
            producer = make_producer(self.kafka, client_id="bizevents-faststream")
            await producer.start()
            self._producer = producer
        key, value, headers = letter.record()
        await self._producer.send_and_wait(self.dead_letter_topic, value, key=key, headers=headers)
        log.warning(
            "dead-lettered",
            group=self.group_id,
            error=letter.error,
            original_topic=record.topic,
            original_offset=record.offset,
        )

    async def publish(
        self,
        broker: Any,
        event_type: str,
        data: Any,
        *,
        key: str | None = None,
        subject: str | None = None,
    ) -> str:
        """Validate and build the CloudEvent as `Events.publish` would, then send it with the
        FastStream broker (straight to Kafka: not atomic with database work). The event id."""
        out = self.events.build(event_type, data, key=key, subject=subject)
        record_key, value, headers = to_kafka(out.envelope)
        await broker.publish(
            value,
            out.topic,
            key=record_key,
            headers={name: raw.decode() for name, raw in headers},
        )
        return out.envelope.id

    async def close(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    def _middleware_class(self) -> type[BaseMiddleware[Any, Any]]:
        bridge = self

        class BizeventsCloudEvents(BaseMiddleware[Any, Any]):
            async def consume_scope(self, call_next: Any, msg: Any) -> Any:
                record = msg.raw_message
                try:
                    envelope = bridge.decode(record)
                except _REFUSED as exc:
                    await bridge.dead_letter(record, exc)
                    return None
                if envelope is None:
                    return None  # another group's event on a shared topic
                # The handler gets the event's data (structured mode included), JSON-decoded.
                msg.body = envelope.data
                msg.content_type = envelope.datacontenttype
                with contextlib.suppress(AttributeError):
                    msg.clear_cache()
                with self.context.scope(CONTEXT_NAME, envelope):
                    return await call_next(msg)

        return BizeventsCloudEvents
