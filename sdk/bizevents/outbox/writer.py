"""Writes events into the outbox inside the caller's transaction.

One statement per call: a single event is one INSERT, many events are one INSERT over unnest()
arrays, and the wake-up NOTIFY rides in the same statement. PostgreSQL folds identical
notifications of one transaction into one, so a transaction notifies the relay at most once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from ..envelope import Envelope
from ..migrations import checked_identifier
from .schema import notify_channel

_COLUMNS = (
    "topic, key, event_id, type, source, time, subject, dataschema, content_type, extensions, data"
)


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
    def __init__(self, schema: str = "bizevents", notify: bool = True) -> None:
        self.schema = checked_identifier(schema)
        self.notify = notify
        self.channel = notify_channel(schema)
        table = f"{self.schema}.outbox"
        values = ", ".join(f"${i}" for i in range(1, 12))
        wake = "SELECT pg_notify($12, '')" if notify else "SELECT 1"
        self._insert_one = (
            f"WITH ins AS (INSERT INTO {table} ({_COLUMNS}) VALUES ({values})) {wake}"
        )
        types = (
            "text[]", "text[]", "uuid[]", "text[]", "text[]", "timestamptz[]",
            "text[]", "text[]", "text[]", "jsonb[]", "bytea[]",
        )  # fmt: skip
        arrays = ", ".join(f"${i}::{t}" for i, t in enumerate(types, start=1))
        self._insert_many = (
            f"WITH ins AS (INSERT INTO {table} ({_COLUMNS}) "
            f"SELECT {_COLUMNS} FROM unnest({arrays}) WITH ORDINALITY "
            f"AS u({_COLUMNS}, n) ORDER BY n) {wake}"
        )

    async def write(self, conn: asyncpg.Connection, events: Sequence[OutgoingEvent]) -> None:
        if not events:
            return
        extra = (self.channel,) if self.notify else ()
        if len(events) == 1:
            await conn.execute(self._insert_one, *_row(events[0]), *extra)
            return
        columns = list(zip(*(_row(e) for e in events), strict=True))
        await conn.execute(self._insert_many, *(list(c) for c in columns), *extra)
