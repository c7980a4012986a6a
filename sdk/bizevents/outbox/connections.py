"""The app's own database connection, whatever its driver: asyncpg, psycopg 3, or SQLAlchemy's
AsyncSession / AsyncConnection over either. The outbox row must go through that very connection,
inside that very transaction, so the event commits with the app's data or not at all.

Each adapter offers what the outbox writer needs: `execute(sql, *args)` with asyncpg-style `$n`
placeholders, and whether a transaction is open. Drivers are recognised by their module, so none
of them is imported unless the app uses it.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

_PLACEHOLDER = re.compile(r"\$\d+")


class OutboxConnection(Protocol):
    async def execute(self, sql: str, *args: Any) -> Any: ...

    def in_transaction(self) -> bool: ...


class _Asyncpg:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def execute(self, sql: str, *args: Any) -> Any:
        return await self.conn.execute(sql, *args)

    def in_transaction(self) -> bool:
        return bool(self.conn.is_in_transaction())


class _Psycopg:
    """psycopg 3 AsyncConnection. Without autocommit psycopg opens a transaction by itself at the
    first statement, so only an autocommit connection outside `conn.transaction()` is "outside"."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def execute(self, sql: str, *args: Any) -> Any:
        # The writer's statements use each $n once, in order.
        return await self.conn.execute(_PLACEHOLDER.sub("%s", sql), args)

    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        if not self.conn.autocommit:
            return True
        return bool(self.conn.info.transaction_status == TransactionStatus.INTRANS)


def _module(obj: Any) -> str:
    return type(obj).__module__ or ""


def _plain(conn: Any) -> OutboxConnection | None:
    module = _module(conn)
    if module.startswith("asyncpg"):
        return _Asyncpg(conn)
    if module.startswith("psycopg"):
        return _Psycopg(conn)
    return None


async def outbox_connection(conn: Any) -> OutboxConnection:
    """An adapter for `conn`; TypeError naming what is accepted otherwise."""
    plain = _plain(conn)
    if plain is not None:
        return plain
    if _module(conn).startswith("sqlalchemy"):
        return await _from_sqlalchemy(conn)
    raise TypeError(
        f"cannot publish on a {type(conn).__module__}.{type(conn).__name__}: pass an asyncpg "
        "connection, a psycopg AsyncConnection, or a SQLAlchemy AsyncSession/AsyncConnection"
    )


async def _from_sqlalchemy(conn: Any) -> OutboxConnection:
    # AsyncSession.connection() begins the session's transaction if it has not begun yet.
    connection = await conn.connection() if hasattr(conn, "get_bind") else conn
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    adapter = _plain(driver)
    if adapter is None:
        raise TypeError(
            f"SQLAlchemy over {_module(driver)} is not supported: use asyncpg or psycopg"
        )
    if not adapter.in_transaction() and connection.in_transaction():
        # SQLAlchemy's asyncpg adapter opens the database transaction at its first statement:
        # one trivial statement through SQLAlchemy, so our row joins that transaction.
        await connection.exec_driver_sql("SELECT 1")
    return adapter
