"""The event log table: one row per event, keyed by event id, indexed for the queries BI tools
run (recent events, recent events of a type)."""

from __future__ import annotations

import asyncpg

from bizevents.migrations import migrate

COMPONENT = "eventlog"

# (column, PostgreSQL type) in insert order; `data` keeps JSON payloads queryable as jsonb.
COLUMNS = (
    ("id", "text"),
    ("type", "text"),
    ("source", "text"),
    ("subject", "text"),
    ("time", "timestamptz"),
    ("partition_key", "text"),
    ("dataschema", "text"),
    ("datacontenttype", "text"),
    ("data", "jsonb"),
    ("topic", "text"),
    ("kafka_partition", "integer"),
    ("kafka_offset", "bigint"),
)

STEPS = [
    """
    CREATE TABLE {schema}.event_log (
        id text PRIMARY KEY,
        type text NOT NULL,
        source text NOT NULL,
        subject text,
        time timestamptz NOT NULL,
        partition_key text,
        dataschema text,
        datacontenttype text NOT NULL,
        data jsonb,
        topic text NOT NULL,
        kafka_partition integer NOT NULL,
        kafka_offset bigint NOT NULL,
        logged_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX event_log_time ON {schema}.event_log (time, id);
    CREATE INDEX event_log_type_time ON {schema}.event_log (type, time, id);
    """,
]


async def migrate_event_log(conn: asyncpg.Connection, schema: str) -> int:
    """Create or upgrade the event log in `schema` (idempotent)."""
    return await migrate(conn, schema, COMPONENT, STEPS)
