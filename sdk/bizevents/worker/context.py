"""What a handler receives besides the event: CloudEvent attributes, attempt, logger, database
(`Context`); a batch handler gets one per event in a `BatchContext`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from ..envelope import Envelope
from ..errors import ConfigurationError
from ..topics import replay_topic
from .database import CONNECTION_ERRORS, DatabaseUnavailable

REPLAY_PREFIX = replay_topic("")

PoolProvider = Callable[[], Awaitable[asyncpg.Pool]]

LOG_FIELDS = ("event_id", "event_type", "group", "attempt", "traceparent", "replay")
_log_vars: tuple[ContextVar[Any], ...] = ()


@dataclass
class Context:
    envelope: Envelope
    group: str
    attempt: int  # 1 on first delivery; counts immediate and delayed retries
    topic: str
    partition: int
    offset: int
    # Set for `inbox=True` subscribers: the connection whose transaction also records the inbox
    # row, so the handler's writes and "processed" commit together.
    connection: asyncpg.Connection | None = None
    _pool: PoolProvider | None = field(default=None, repr=False)
    _log: Any = field(default=None, repr=False)

    @property
    def log(self) -> Any:
        """A structlog logger bound to event id, type, group, attempt and traceparent (built on
        first use: most handlers never log)."""
        if self._log is None:
            self._log = structlog.get_logger("bizevents.handler").bind(**self.log_fields())
        return self._log

    def log_values(self) -> tuple[Any, ...]:
        """The values of LOG_FIELDS."""
        envelope = self.envelope
        return (
            envelope.id,
            envelope.type,
            self.group,
            self.attempt,
            envelope.extensions.get("traceparent"),
            True if self.topic.startswith(REPLAY_PREFIX) else None,
        )

    def log_fields(self) -> dict[str, Any]:
        return dict(zip(LOG_FIELDS, self.log_values(), strict=True))

    def bind_log_fields(self) -> None:
        """Put this message's fields into structlog's context variables, so the app's own loggers
        get them too. The handler task's previous message left its own there: the event id is
        set, the other fields only when they differ (they rarely do)."""
        global _log_vars
        if not _log_vars:
            fields = self.log_fields()
            tokens = structlog.contextvars.bind_contextvars(**fields)
            _log_vars = tuple(token.var for token in tokens.values())
            return
        event_id, event_type, group, attempt, traceparent, replay = _log_vars
        envelope = self.envelope
        event_id.set(envelope.id)
        if event_type.get() != envelope.type:
            event_type.set(envelope.type)
        if group.get() != self.group:
            group.set(self.group)
        if attempt.get() != self.attempt:
            attempt.set(self.attempt)
        trace = envelope.extensions.get("traceparent")
        if traceparent.get() != trace:
            traceparent.set(trace)
        replayed = True if self.topic.startswith(REPLAY_PREFIX) else None
        if replay.get() is not replayed:
            replay.set(replayed)

    @property
    def id(self) -> str:
        return self.envelope.id

    @property
    def type(self) -> str:
        return self.envelope.type

    @property
    def source(self) -> str:
        return self.envelope.source

    @property
    def subject(self) -> str | None:
        return self.envelope.subject

    @property
    def key(self) -> str | None:
        return self.envelope.partitionkey

    @property
    def traceparent(self) -> str | None:
        return self.envelope.extensions.get("traceparent")

    def transaction(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A connection inside a transaction (the inbox transaction when there is one)."""
        return _transaction(self.connection, self._pool)


@dataclass
class BatchContext:
    """What a batch handler receives besides its events: one `Context` per event (`items`, in
    the order of the events), the group, and the database.

    With `inbox=True`, `connection` is the transaction that also records every event's inbox
    row: the handler's writes and "processed" commit together, for the whole batch.
    """

    items: list[Context]
    group: str
    connection: asyncpg.Connection | None = None
    _pool: PoolProvider | None = field(default=None, repr=False)
    _log: Any = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def ids(self) -> list[str]:
        """The event ids, in the order of the events."""
        return [c.envelope.id for c in self.items]

    @property
    def log(self) -> Any:
        """A structlog logger bound to the group and the batch's size."""
        if self._log is None:
            self._log = structlog.get_logger("bizevents.handler").bind(
                group=self.group, events=len(self.items)
            )
        return self._log

    def bind_log_fields(self) -> None:
        """The app's own loggers get the group and no single event's fields during a batch."""
        fields: dict[str, Any] = dict.fromkeys(LOG_FIELDS)
        fields["group"] = self.group
        structlog.contextvars.bind_contextvars(**fields)

    def transaction(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A connection inside a transaction (the inbox transaction when there is one)."""
        return _transaction(self.connection, self._pool)


@asynccontextmanager
async def _transaction(
    connection: asyncpg.Connection | None, provider: PoolProvider | None
) -> AsyncIterator[asyncpg.Connection]:
    if connection is not None:
        yield connection  # already inside the inbox transaction
        return
    if provider is None:
        raise ConfigurationError("no database configured for this worker")
    pool = await provider()
    try:
        conn = await pool.acquire()
    except CONNECTION_ERRORS as exc:
        # The worker waits for the database and makes this attempt again (not counted).
        raise DatabaseUnavailable(str(exc)) from exc
    try:
        async with conn.transaction():
            yield conn
    finally:
        await pool.release(conn)
