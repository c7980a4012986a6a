"""The outbox table.

Rows are deleted once Kafka acknowledged them, so the table holds only pending events and stays
small; aggressive autovacuum keeps the dead tuples of those deletes from piling up.
"""

from __future__ import annotations

import asyncpg

from ..migrations import checked_identifier, migrate

COMPONENT = "outbox"

STEPS = [
    """
    CREATE TABLE {schema}.outbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        topic text NOT NULL,
        key text,
        event_id uuid NOT NULL,
        type text NOT NULL,
        source text NOT NULL,
        time timestamptz NOT NULL,
        subject text,
        dataschema text,
        content_type text NOT NULL,
        extensions jsonb,
        data bytea NOT NULL
    ) WITH (autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 1000,
            autovacuum_vacuum_cost_delay = 0);
    """,
]


def notify_channel(schema: str) -> str:
    return f"bizevents_outbox_{checked_identifier(schema)}"


async def migrate_outbox(conn: asyncpg.Connection, schema: str = "bizevents") -> int:
    """Create or upgrade the outbox in `schema` (idempotent; safe to run at every start)."""
    return await migrate(conn, schema, COMPONENT, STEPS)
