"""Versioned, idempotent schema migrations for bizevents' own tables in an app's database.

Each component (outbox, inbox, registry...) owns an ordered list of SQL steps; step N is applied
once and recorded in `<schema>.bizevents_migrations`. An advisory lock makes concurrent starts safe.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import asyncpg

from .errors import ConfigurationError

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def checked_identifier(name: str) -> str:
    """A schema/table name safe to splice into SQL (we never quote user text into queries)."""
    if not _IDENTIFIER.match(name):
        raise ConfigurationError(
            f"invalid PostgreSQL identifier {name!r}: use lower-case letters, digits and _"
        )
    return name


async def migrate(
    conn: asyncpg.Connection, schema: str, component: str, steps: Sequence[str]
) -> int:
    """Apply the missing steps (SQL with `{schema}` placeholders); returns the version applied."""
    schema = checked_identifier(schema)
    if await _applied(conn, schema, component) == len(steps):
        # Up to date: no DDL and no lock, so a role without CREATE rights (an app's, the
        # relay's under `bizevents db roles`) starts too.
        return len(steps)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"bizevents:{schema}")
        await create_schema_if_missing(conn, schema)
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {schema}.bizevents_migrations (
                    component text NOT NULL,
                    version int NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (component, version))"""
        )
        current = await conn.fetchval(
            f"SELECT coalesce(max(version), 0) FROM {schema}.bizevents_migrations "
            "WHERE component = $1",
            component,
        )
        for version in range(current + 1, len(steps) + 1):
            await conn.execute(steps[version - 1].format(schema=schema))
            await conn.execute(
                f"INSERT INTO {schema}.bizevents_migrations (component, version) VALUES ($1, $2)",
                component,
                version,
            )
        return len(steps)


async def create_schema_if_missing(conn: asyncpg.Connection, schema: str) -> None:
    """CREATE SCHEMA only when missing: even `IF NOT EXISTS` needs the right to create schemas
    in the database, which a role that owns its schema (`bizevents db roles`) does not have."""
    if await conn.fetchval("SELECT to_regnamespace($1)", schema) is None:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")


async def _applied(conn: asyncpg.Connection, schema: str, component: str) -> int | None:
    """The component's applied version, or None when the migrations table is not there."""
    table = await conn.fetchval("SELECT to_regclass($1)::text", f"{schema}.bizevents_migrations")
    if table is None:
        return None
    version = await conn.fetchval(
        f"SELECT max(version) FROM {schema}.bizevents_migrations WHERE component = $1", component
    )
    return None if version is None else int(version)
