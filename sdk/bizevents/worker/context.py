"""What a handler receives besides the event: CloudEvent attributes, attempt, logger, database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
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

    def log_fields(self) -> dict[str, Any]:
        return {
            "event_id": self.envelope.id,
            "event_type": self.envelope.type,
            "group": self.group,
            "attempt": self.attempt,
            "traceparent": self.envelope.extensions.get("traceparent"),
            "replay": True if self.topic.startswith(REPLAY_PREFIX) else None,
        }

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

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside a transaction (the inbox transaction when there is one)."""
        if self.connection is not None:
            yield self.connection  # already inside the inbox transaction
            return
        if self._pool is None:
            raise ConfigurationError("no database configured for this worker")
        pool = await self._pool()
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
