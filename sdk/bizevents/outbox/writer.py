"""Writes events into the outbox inside the caller's transaction.

One statement per call: a single event is one INSERT, many events are one INSERT over unnest()
arrays, and the wake-up NOTIFY rides in the same statement. PostgreSQL folds identical
notifications of one transaction into one, so a transaction notifies the relay at most once.

NOTIFY takes a database-wide lock from commit until the commit is flushed, which serialises every
notifying transaction. So a writer notifies at most once per `notify_interval` (5 ms); the relay
polls at that pace for a while after any activity, which covers the transactions that skipped it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from ..envelope import Envelope
from ..errors import PublishError
from ..migrations import checked_identifier
from .connections import OutboxConnection
from .schema import notify_channel

_COLUMNS = (
    "topic, key, event_id, type, source, time, subject, dataschema, content_type, extensions, data"
)


# The PostgreSQL array type of each column in _COLUMNS, for INSERT ... SELECT FROM unnest(...).
ARRAY_TYPES = (
    "text[]", "text[]", "uuid[]", "text[]", "text[]", "timestamptz[]",
    "text[]", "text[]", "text[]", "jsonb[]", "bytea[]",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """An event bound for a topic: what the outbox stores and the relay sends."""

    topic: str
    envelope: Envelope


def _row(event: OutgoingEvent) -> tuple[object, ...]:
    e = event.envelope
    return (
        event.topic,
        e.partitionkey,
        e.id,
        e.type,
        e.source,
        e.time,
        e.subject,
        e.dataschema,
        e.datacontenttype,
        json.dumps(dict(e.extensions)) if e.extensions else None,
        e.data,
    )


class OutboxWriter:
    def __init__(
        self, schema: str = "bizevents", notify: bool = True, notify_interval: float = 0.005
    ) -> None:
        self.schema = checked_identifier(schema)
        self.notify = notify
        self.notify_interval = notify_interval
        self.channel = notify_channel(schema)
        self._last_notify = -1.0
        table = f"{self.schema}.outbox"
        values = ", ".join(f"${i}" for i in range(1, 12))
        self._insert_one = f"INSERT INTO {table} ({_COLUMNS}) VALUES ({values})"
        self._insert_one_notify = f"WITH ins AS ({self._insert_one}) SELECT pg_notify($12, '')"
        arrays = ", ".join(f"${i}::{t}" for i, t in enumerate(ARRAY_TYPES, start=1))
        self._insert_many = (
            f"INSERT INTO {table} ({_COLUMNS}) "
            f"SELECT {_COLUMNS} FROM unnest({arrays}) WITH ORDINALITY "
            f"AS u({_COLUMNS}, n) ORDER BY n"
        )
        self._insert_many_notify = f"WITH ins AS ({self._insert_many}) SELECT pg_notify($12, '')"

    def _wake(self) -> bool:
        if not self.notify:
            return False
        now = time.monotonic()
        if now - self._last_notify < self.notify_interval:
            return False
        self._last_notify = now
        return True

    async def write(
        self, conn: asyncpg.Connection | OutboxConnection, events: Sequence[OutgoingEvent]
    ) -> None:
        if not events:
            return
        wake = self._wake()
        extra = (self.channel,) if wake else ()
        try:
            if len(events) == 1:
                sql = self._insert_one_notify if wake else self._insert_one
                await conn.execute(sql, *_row(events[0]), *extra)
                return
            columns = list(zip(*(_row(e) for e in events), strict=True))
            sql = self._insert_many_notify if wake else self._insert_many
            await conn.execute(sql, *(list(c) for c in columns), *extra)
        except Exception as exc:
            # Any driver: SQLSTATE 42P01 is "undefined table".
            if getattr(exc, "sqlstate", None) == "42P01":
                raise PublishError(
                    f"the outbox table {self.schema}.outbox does not exist: run "
                    "`bizevents outbox migrate` (BIZEVENTS_OUTBOX_SCHEMA) or "
                    "`await events.migrate(conn)` once"
                ) from exc
            raise
