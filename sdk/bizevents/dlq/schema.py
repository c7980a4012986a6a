"""The dead-letter store's tables: versioned migrations, idempotent and safe to run concurrently."""

from __future__ import annotations

import re

import asyncpg

from ..errors import ConfigurationError
from ..migrations import create_schema_if_missing

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Append only: a released step never changes; `{s}` is the quoted schema name.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE {s}.dead_letters (
        id                 bigserial PRIMARY KEY,
        group_name         text        NOT NULL,
        original_topic     text        NOT NULL,
        original_partition integer     NOT NULL,
        original_offset    bigint      NOT NULL,
        event_id           text,
        event_type         text,
        event_source       text,
        record_key         bytea,
        record_value       bytea,
        record_headers     jsonb       NOT NULL DEFAULT '[]',
        error              text        NOT NULL,
        error_type         text        NOT NULL DEFAULT '',
        stack              text        NOT NULL DEFAULT '',
        attempts           integer     NOT NULL DEFAULT 0,
        first_failure      timestamptz NOT NULL,
        last_failure       timestamptz NOT NULL,
        status             text        NOT NULL DEFAULT 'dead'
                           CHECK (status IN ('dead', 'replayed', 'purged')),
        replay_count       integer     NOT NULL DEFAULT 0,
        last_replayed_at   timestamptz,
        stored_at          timestamptz NOT NULL DEFAULT now(),
        -- One row per failed record: the sink and the ingester may both deliver it.
        UNIQUE (group_name, original_topic, original_partition, original_offset)
    );
    CREATE INDEX dead_letters_group_status ON {s}.dead_letters (group_name, status, id);
    CREATE INDEX dead_letters_type ON {s}.dead_letters (event_type, id);
    CREATE INDEX dead_letters_last_failure ON {s}.dead_letters (last_failure);
    """,
)


def quote_schema(schema: str) -> str:
    if not _IDENT.match(schema):
        raise ConfigurationError(
            f"invalid dead-letter schema name {schema!r} (lower-case letters, digits, _)"
        )
    return f'"{schema}"'


async def migrate(conn: asyncpg.Connection, schema: str) -> int:
    """Brings the schema to the latest version; returns the version. Concurrent callers
    serialise on an advisory lock, so two workers starting together don't race."""
    s = quote_schema(schema)
    if await _applied(conn, schema) == len(MIGRATIONS):
        # Up to date: no DDL and no lock, so roles without DDL rights (the broker's under
        # `bizevents db roles`) start too.
        return len(MIGRATIONS)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"bizevents.dlq.{schema}")
        await create_schema_if_missing(conn, schema)
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {s}.dlq_migrations ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = await conn.fetchval(f"SELECT coalesce(max(version), 0) FROM {s}.dlq_migrations")
        for version, step in enumerate(MIGRATIONS, start=1):
            if version > current:
                await conn.execute(step.format(s=s))
                await conn.execute(f"INSERT INTO {s}.dlq_migrations (version) VALUES ($1)", version)
    return len(MIGRATIONS)


async def _applied(conn: asyncpg.Connection, schema: str) -> int | None:
    table = await conn.fetchval("SELECT to_regclass($1)::text", f'"{schema}".dlq_migrations')
    if table is None:
        return None
    return int(
        await conn.fetchval(f'SELECT coalesce(max(version), 0) FROM "{schema}".dlq_migrations')
    )
