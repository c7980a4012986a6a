"""The overview from what the processes keep in PostgreSQL: outbox rows (pending, age, types),
the relay's advisory lock and sessions (leader, standbys), and the dead-letter store."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from ..migrations import checked_identifier
from .overview import GroupStatus, OutboxStatus, Overview

# The relay holds pg_try_advisory_lock(hashtext('bizevents-relay:<schema>')); pg_locks shows a
# bigint key as classid (high half) and objid (low half).
RELAY_LOCK_HOLDER = """
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext($1)::bigint
"""
RELAY_SESSIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'bizevents-relay:%'"
)


class PostgresSource:
    def __init__(self, database_url: str, outbox_schemas: Sequence[str], dlq_schema: str) -> None:
        self.database_url = database_url
        self.outbox_schemas = [checked_identifier(s) for s in outbox_schemas]
        self.dlq_schema = checked_identifier(dlq_schema)

    async def overview(self) -> Overview:
        conn = await asyncpg.connect(self.database_url, timeout=10)
        problems: list[str] = []
        try:
            outboxes = [
                await self._outbox(conn, schema, problems) for schema in self.outbox_schemas
            ]
            groups = await self._groups(conn, problems)
        finally:
            await conn.close()
        return Overview(
            "postgresql", tuple(o for o in outboxes if o), groups, (), (), tuple(problems)
        )

    async def _outbox(
        self, conn: asyncpg.Connection, schema: str, problems: list[str]
    ) -> OutboxStatus | None:
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.outbox"):
            problems.append(f"no outbox table in schema {schema!r}")
            return None
        row = await conn.fetchrow(
            "SELECT count(*) AS n, extract(epoch FROM now() - min(time)) AS age"
            f" FROM {schema}.outbox"
        )
        by_type = await conn.fetch(
            f"SELECT type, count(*) AS n FROM {schema}.outbox GROUP BY type ORDER BY type"
        )
        holder = await conn.fetchval(RELAY_LOCK_HOLDER, f"bizevents-relay:{schema}")
        sessions = int(await conn.fetchval(RELAY_SESSIONS))
        active = 1 if holder else 0
        return OutboxStatus(
            schema=schema,
            pending=float(row["n"]),
            oldest_age_seconds=float(row["age"] or 0),
            active_relays=active,
            # Relay sessions are counted across every outbox: a standby of another outbox is
            # indistinguishable here (Prometheus tells them apart).
            standby_relays=max(0, sessions - active) if len(self.outbox_schemas) == 1 else None,
            pending_by_type={r["type"]: int(r["n"]) for r in by_type},
            relay_holder=holder,
        )

    async def _groups(
        self, conn: asyncpg.Connection, problems: list[str]
    ) -> tuple[GroupStatus, ...]:
        table = f"{self.dlq_schema}.dead_letters"
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
            problems.append(f"no dead-letter store in schema {self.dlq_schema!r}")
            return ()
        rows = await conn.fetch(
            f"SELECT group_name, count(*) FILTER (WHERE status = 'dead') AS dead,"
            f" count(*) FILTER (WHERE last_failure > now() - interval '1 hour') AS last_hour,"
            f" max(last_failure) AS last FROM {table} GROUP BY group_name ORDER BY group_name"
        )
        return tuple(
            GroupStatus(
                group=r["group_name"],
                dead_letters_last_hour=float(r["last_hour"]),
                dead_letters_stored=int(r["dead"]),
                last_dead_letter=r["last"].isoformat() if r["last"] else None,
            )
            for r in rows
        )
