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
import pydantic
import pydantic_core

from .deprecation import warn_if_deprecated
from .envelope import Envelope, Mode, new_event_id, validate_extensions
from .errors import PermissionDeniedError, PublishError
from .mesh import Naming, to_wire
from .outbox import OutboxWriter, OutgoingEvent, migrate_outbox
from .outbox.connections import outbox_connection
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
    if isinstance(data, pydantic.BaseModel):
        # Optional fields the code never set are left out rather than sent as null: a
        # generated model's `None` default would otherwise break a schema without null.
        data = data.model_dump(mode="json", exclude_unset=True)
    try:
        payload = pydantic_core.to_jsonable_python(data)
    except pydantic_core.PydanticSerializationError as exc:
        raise PublishError(f"{event_type}: data is not JSON-serializable: {exc}") from exc
    if contract is not None:
        contract.validate(payload)
        if key is None:
            key = contract.key_of(payload)
    for what, value in (("key", key), ("subject", subject)):
        if value is not None and (problem := _text_problem(str(value))):
            # Both travel as Kafka header/key text and sit in the outbox's text columns.
            raise PublishError(f"{event_type}: the event {what} {problem}")
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


def _text_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character, which PostgreSQL cannot store as text"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate (not valid Unicode)"
    return None


def _type_and_data(event: Any, data: Any) -> tuple[str, Any]:
    if isinstance(event, str):
        return event, data
    event_type = getattr(type(event), "__event_type__", None)
    if not isinstance(event_type, str):
        raise PublishError(
            f"{type(event).__name__} does not say its event type: pass the type, "
            "publish(conn, 'com.acme.orders.OrderPlaced.v1', data), or a model generated by "
            "`bizevents contracts codegen`"
        )
    if data is not None:
        raise PublishError("pass either a generated model or an event type with data, not both")
    return event_type, event


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
        require_transaction: bool = True,
    ) -> None:
        self.app = app
        # Publishing outside a transaction would commit the event on its own (autocommit), not
        # with the app's data: refused unless the app opts out.
        self.require_transaction = require_transaction
        if space is None or mendix_topic_prefix is None:
            from .settings import ConnectionSettings

            env = ConnectionSettings()
            space = env.space if space is None else space
            mendix_topic_prefix = mendix_topic_prefix or env.mendix_topic_prefix
        # Topic names in this app's space (BIZEVENTS_SPACE) and mesh conventions per contract.
        self.naming = Naming(space or None, mendix_topic_prefix or None)
        if isinstance(contracts, str) and contracts.startswith(("http://", "https://")):
            from .contracts.pull import load_from_registry

            contracts = load_from_registry(contracts)  # the broker's registry
        elif isinstance(contracts, str | Path):
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
            warn_if_deprecated(contract, "publishing", self.app)
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
        conn: Any,
        event: str | pydantic.BaseModel,
        data: Any = None,
        *,
        key: str | None = None,
        subject: str | None = None,
        extensions: Mapping[str, str] | None = None,
    ) -> str:
        """Write one event into the outbox on `conn` (asyncpg, psycopg 3, or a SQLAlchemy
        AsyncSession/AsyncConnection); it commits with the caller's transaction.

        `event` is the event type with `data`, or a model from `bizevents contracts codegen`
        (which knows its type). Returns the event id. Nothing is written when validation fails.
        """
        event_type, data = _type_and_data(event, data)
        built = self.build(event_type, data, key=key, subject=subject, extensions=extensions)
        await self.outbox.write(await self._connection(conn), [built])
        return built.envelope.id

    async def publish_many(
        self, conn: Any, events: Iterable[Event | pydantic.BaseModel]
    ) -> list[str]:
        """Write many events in one statement; all are validated before anything is written."""
        built = []
        for e in events:
            if isinstance(e, Event):
                built.append(
                    self.build(
                        e.type, e.data, key=e.key, subject=e.subject, extensions=e.extensions
                    )
                )
            else:
                built.append(self.build(*_type_and_data(e, None)))
        await self.outbox.write(await self._connection(conn), built)
        return [b.envelope.id for b in built]

    async def _connection(self, conn: Any) -> Any:
        if conn is None or not isinstance(self.outbox, OutboxWriter):
            return conn  # the test harness's stand-in outbox needs no database
        try:
            adapter = await outbox_connection(conn)
        except TypeError as exc:
            raise PublishError(str(exc)) from None
        if self.require_transaction and not adapter.in_transaction():
            raise PublishError(
                "publish needs an open transaction on the connection (e.g. `async with "
                "conn.transaction():`), so the event commits with your data; "
                "Events(..., require_transaction=False) allows publishing on its own"
            )
        return adapter

    # -- without an outbox ------------------------------------------------------------------------
    def direct(self, bootstrap: str | None = None, mode: Mode = Mode.BINARY) -> DirectPublisher:
        """A publisher straight to Kafka, for apps without PostgreSQL (weaker guarantee)."""
        from .direct import DirectPublisher

        return DirectPublisher(self, bootstrap, mode)
