"""The inbox: (group, event id) rows written in the handler's own transaction.

A redelivered event whose row exists was processed already (its transaction committed), so the
handler is skipped: exactly-once effects on top of at-least-once delivery. Old rows are deleted by
age, in small batches so cleanup never holds long locks.
"""

from __future__ import annotations

import asyncpg

from ..migrations import checked_identifier, migrate

STEPS = [
    """CREATE TABLE IF NOT EXISTS {schema}.inbox (
           group_name text NOT NULL,
           event_id text NOT NULL,
           event_type text NOT NULL,
           processed_at timestamptz NOT NULL DEFAULT now(),
           PRIMARY KEY (group_name, event_id))""",
    "CREATE INDEX IF NOT EXISTS inbox_processed_at ON {schema}.inbox (processed_at)",
]


async def migrate_inbox(conn: asyncpg.Connection, schema: str) -> None:
    """Create the inbox table in `schema` (idempotent, safe for concurrent starts)."""
    await migrate(conn, schema, "inbox", STEPS)


async def claim(
    conn: asyncpg.Connection, schema: str, group: str, event_id: str, etype: str
) -> bool:
    """Insert the inbox row inside the caller's transaction; False when it was there already."""
    schema = checked_identifier(schema)
    row = await conn.fetchval(
        f"INSERT INTO {schema}.inbox (group_name, event_id, event_type) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING RETURNING 1",
        group,
        event_id,
        etype,
    )
    return row is not None


async def claim_many(
    conn: asyncpg.Connection, schema: str, group: str, events: list[tuple[str, str]]
) -> set[str]:
    """Insert the inbox rows of (event id, type) pairs in one statement, inside the caller's
    transaction; returns the ids that were not there yet (an id given twice is new once)."""
    schema = checked_identifier(schema)
    rows = await conn.fetch(
        f"INSERT INTO {schema}.inbox (group_name, event_id, event_type) "
        "SELECT $1, e.id, e.type FROM unnest($2::text[], $3::text[]) AS e(id, type) "
        "ON CONFLICT DO NOTHING RETURNING event_id",
        group,
        [i for i, _ in events],
        [t for _, t in events],
    )
    return {row[0] for row in rows}


async def cleanup(
    conn: asyncpg.Connection, schema: str, older_than_seconds: float, batch: int = 5000
) -> int:
    """Delete rows older than the retention window; returns how many went."""
    schema = checked_identifier(schema)
    total = 0
    while True:
        status = await conn.execute(
            f"""DELETE FROM {schema}.inbox WHERE ctid IN (
                    SELECT ctid FROM {schema}.inbox
                    WHERE processed_at < now() - make_interval(secs => $1)
                    LIMIT $2)""",
            older_than_seconds,
            batch,
        )
        deleted = int(status.split()[-1])
        total += deleted
        if deleted < batch:
            return total
