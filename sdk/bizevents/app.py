"""`Events`: the object an app creates to publish (and subscribe to) business events.

events = Events(app="orders", contracts="contracts/")
async with conn.transaction():
    await conn.execute("UPDATE orders SET state = 'shipped' WHERE id = $1", order_id)
    await events.publish(conn, "com.acme.orders.OrderShipped.v1", data, key=order_id)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pydantic_core

from .envelope import Envelope, Mode, new_event_id, validate_extensions
from .errors import PermissionDeniedError, PublishError
from .mesh import Naming, to_wire
from .outbox import OutboxWriter, OutgoingEvent, migrate_outbox
from .topics import event_topic
from .tracing import current_traceparent
from .worker.router import Router

if TYPE_CHECKING:
    from .contracts import ContractSet, EventContract
    from .direct import DirectPublisher

# Kafka's default max.message.bytes is 1 MiB; leave room for headers.
DEFAULT_MAX_PAYLOAD = 900_000


@dataclass(frozen=True)
class Event:
    """One event to publish, for `publish_many`."""

    type: str
    data: Any
    key: str | None = None
    subject: str | None = None
    extensions: Mapping[str, str] = field(default_factory=dict)


def build_event(
    contract: EventContract | None,
    event_type: str,
    data: Any,
    *,
    app: str,
    key: str | None = None,
    subject: str | None = None,
    extensions: Mapping[str, str] | None = None,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD,
    event_id: str | None = None,
    time: datetime | None = None,
    naming: Naming | None = None,
) -> OutgoingEvent:
    """Validate `data` against `contract` and build the CloudEvent (pure; raises before any I/O).

    The one publish path: `Events.build` calls it after checking that its app may publish, and
    the broker's HTTP gateway after checking the caller's permissions. `event_id` and `time`
    default to a new UUIDv7 and now. `naming`: the space and mesh conventions of the topic and
    the wire format (default: no space).
    """
    try:
        payload = pydantic_core.to_jsonable_python(data)
    except pydantic_core.PydanticSerializationError as exc:
        raise PublishError(f"{event_type}: data is not JSON-serializable: {exc}") from exc
    if contract is not None:
        contract.validate(payload)
        if key is None:
            key = contract.key_of(payload)
    body = pydantic_core.to_json(payload)
    if len(body) > max_payload_bytes:
        raise PublishError(
            f"{event_type}: payload is {len(body)} bytes, over the limit of "
            f"{max_payload_bytes}; publish a reference to the data instead"
        )
    ext = dict(extensions or {})
    traceparent = current_traceparent()
    if traceparent and "traceparent" not in ext:
        ext["traceparent"] = traceparent
    validate_extensions(ext)
    envelope = Envelope(
        id=event_id or new_event_id(),
        type=event_type,
        source=contract.source if contract else f"/apps/{app}",
        time=time or datetime.now(UTC),
        data=body,
        subject=subject,
        dataschema=contract.dataschema if contract else None,
        partitionkey=None if key is None else str(key),
        extensions=ext,
    )
    naming = naming or Naming()
    if contract is None:
        return OutgoingEvent(naming.scoped(event_topic(event_type)), envelope)
    return OutgoingEvent(naming.topic_of(contract), to_wire(envelope, contract, app))


class Events:
    def __init__(
        self,
        app: str,
        contracts: ContractSet | str | Path | None = None,
        *,
        outbox_schema: str = "bizevents",
        notify: bool = True,
        notify_interval: float = 0.005,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD,
        space: str | None = None,
        mendix_topic_prefix: str | None = None,
    ) -> None:
        self.app = app
        if space is None or mendix_topic_prefix is None:
            from .settings import ConnectionSettings

            env = ConnectionSettings()
            space = env.space if space is None else space
            mendix_topic_prefix = mendix_topic_prefix or env.mendix_topic_prefix
        # Topic names in this app's space (BIZEVENTS_SPACE) and mesh conventions per contract.
        self.naming = Naming(space or None, mendix_topic_prefix or None)
        if isinstance(contracts, str | Path):
            from .contracts import load_contracts

            contracts = load_contracts(contracts)
        self.contracts: ContractSet | None = contracts
        self.outbox = OutboxWriter(outbox_schema, notify=notify, notify_interval=notify_interval)
        self.max_payload_bytes = max_payload_bytes
        # Subscribers: `@events.subscriber(type, group=...)`, run by `bizevents worker`.
        self.router = Router()
        self.subscriber = self.router.subscriber

    # -- building (pure) ------------------------------------------------------------------------
    def build(
        self,
        event_type: str,
        data: Any,
        *,
        key: str | None = None,
        subject: str | None = None,
        extensions: Mapping[str, str] | None = None,
    ) -> OutgoingEvent:
        """Validate against the contract and build the CloudEvent; raises before any I/O."""
        contract = None
        if self.contracts is not None:
            contract = self.contracts.get(event_type)
            if contract.publishers and self.app not in contract.publishers:
                raise PermissionDeniedError(
                    f"app {self.app!r} may not publish {event_type!r} "
                    f"(allowed: {', '.join(contract.publishers)})"
                )
        return build_event(
            contract,
            event_type,
            data,
            app=self.app,
            key=key,
            subject=subject,
            extensions=extensions,
            max_payload_bytes=self.max_payload_bytes,
            naming=self.naming,
        )

    # -- the outbox -----------------------------------------------------------------------------
    async def migrate(self, conn: asyncpg.Connection) -> None:
        """Create or upgrade the outbox table (idempotent)."""
        await migrate_outbox(conn, self.outbox.schema)

    async def publish(
        self,
        conn: asyncpg.Connection,
        event_type: str,
        data: Any,
        *,
        key: str | None = None,
        subject: str | None = None,
        extensions: Mapping[str, str] | None = None,
    ) -> str:
        """Write one event into the outbox on `conn`; it commits with the caller's transaction.

        Returns the event id. Nothing is written when validation fails.
        """
        event = self.build(event_type, data, key=key, subject=subject, extensions=extensions)
        await self.outbox.write(conn, [event])
        return event.envelope.id

    async def publish_many(self, conn: asyncpg.Connection, events: Iterable[Event]) -> list[str]:
        """Write many events in one statement; all are validated before anything is written."""
        built = [
            self.build(e.type, e.data, key=e.key, subject=e.subject, extensions=e.extensions)
            for e in events
        ]
        await self.outbox.write(conn, built)
        return [b.envelope.id for b in built]

    # -- without an outbox ------------------------------------------------------------------------
    def direct(self, bootstrap: str | None = None, mode: Mode = Mode.BINARY) -> DirectPublisher:
        """A publisher straight to Kafka, for apps without PostgreSQL (weaker guarantee)."""
        from .direct import DirectPublisher

        return DirectPublisher(self, bootstrap, mode)
