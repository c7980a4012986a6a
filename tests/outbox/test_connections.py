"""Publishing in the app's own transaction whatever its driver (asyncpg, psycopg 3, SQLAlchemy's
AsyncSession over either), refused outside a transaction unless opted out, a clear hint when the
outbox table is missing, and generated models that know their event type. Real PostgreSQL."""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bizevents.app import Event, Events
from bizevents.errors import PublishError

pytestmark = pytest.mark.services
CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
PLACED = "com.acme.orders.OrderPlaced.v1"
GOOD = {"order_id": "o-1", "customer_id": "c-1", "total": 12.5, "currency": "EUR"}


@pytest.fixture
async def orders(db: asyncpg.Connection, db_schema: str) -> Events:
    events = Events(app="orders", contracts=CONTRACTS, outbox_schema=db_schema)
    await events.migrate(db)
    await db.execute(f"CREATE TABLE {db_schema}.orders (id text PRIMARY KEY)")
    return events


async def _state(db: asyncpg.Connection, schema: str) -> tuple[list[str], list[str]]:
    orders = [r["id"] for r in await db.fetch(f"SELECT id FROM {schema}.orders ORDER BY id")]
    keys = [r["key"] for r in await db.fetch(f"SELECT key FROM {schema}.outbox ORDER BY id")]
    return orders, keys


def _event(order_id: str) -> dict[str, Any]:
    return {**GOOD, "order_id": order_id}


async def test_asyncpg_outside_a_transaction_is_refused_unless_opted_out(
    orders: Events, db: asyncpg.Connection, db_schema: str
) -> None:
    with pytest.raises(PublishError, match="needs an open transaction"):
        await orders.publish(db, PLACED, GOOD)
    with pytest.raises(PublishError, match="needs an open transaction"):
        await orders.publish_many(db, [Event(PLACED, GOOD)])
    assert await _state(db, db_schema) == ([], [])
    relaxed = Events(
        app="orders", contracts=CONTRACTS, outbox_schema=db_schema, require_transaction=False
    )
    await relaxed.publish(db, PLACED, GOOD)
    assert await _state(db, db_schema) == ([], ["o-1"])


async def test_missing_outbox_table_hints_at_migrate(db: asyncpg.Connection) -> None:
    events = Events(app="orders", contracts=CONTRACTS, outbox_schema="public")
    async with db.transaction():
        with pytest.raises(PublishError, match=r"bizevents outbox migrate"):
            await events.publish(db, PLACED, GOOD)


async def test_sqlalchemy_async_session_commits_and_rolls_back_with_the_app(
    orders: Events, db: asyncpg.Connection, db_schema: str, db_url: str
) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    for driver in ("asyncpg", "psycopg"):
        url = db_url.replace("postgresql://", f"postgresql+{driver}://")
        if driver == "asyncpg":
            url = url.split("?")[0]
            engine = create_async_engine(
                url, connect_args={"server_settings": {"search_path": db_schema}}
            )
        else:
            engine = create_async_engine(url)
        try:
            # Our row first: SQLAlchemy has not opened the database transaction yet.
            async with AsyncSession(engine) as session, session.begin():
                await orders.publish(session, PLACED, _event(f"{driver}-first"))
                await session.execute(
                    text(f"INSERT INTO {db_schema}.orders VALUES (:id)"), {"id": f"{driver}-first"}
                )
            with pytest.raises(RuntimeError):
                async with AsyncSession(engine) as session, session.begin():
                    await session.execute(
                        text(f"INSERT INTO {db_schema}.orders VALUES (:id)"), {"id": f"{driver}-x"}
                    )
                    await orders.publish(session, PLACED, _event(f"{driver}-x"))
                    raise RuntimeError("rolled back")
        finally:
            await engine.dispose()
    assert await _state(db, db_schema) == (
        ["asyncpg-first", "psycopg-first"],
        ["asyncpg-first", "psycopg-first"],
    )


async def test_psycopg_connection(
    orders: Events, db: asyncpg.Connection, db_schema: str, db_url: str
) -> None:
    import psycopg

    dsn = db_url.replace("options=-csearch_path%3D", "options=-csearch_path%3D")
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        with pytest.raises(PublishError, match="needs an open transaction"):
            await orders.publish(conn, PLACED, GOOD)
        async with conn.transaction():
            await conn.execute(f"INSERT INTO {db_schema}.orders VALUES ('p-1')")
            await orders.publish_many(
                conn, [Event(PLACED, _event("p-1")), Event(PLACED, _event("p-2"))]
            )
    async with await psycopg.AsyncConnection.connect(dsn) as conn:  # implicit transactions
        await orders.publish(conn, PLACED, _event("p-rolled-back"))
        await conn.rollback()
    assert await _state(db, db_schema) == (["p-1"], ["p-1", "p-2"])


@pytest.fixture
def generated(tmp_path: Path) -> AsyncIterator[Any]:
    from bizevents.contracts import load_contracts
    from bizevents.contracts.codegen import generate_models

    package = f"gen_{uuid.uuid4().hex[:8]}"
    generate_models(load_contracts(CONTRACTS), tmp_path / package)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(package)
    finally:
        sys.path.remove(str(tmp_path))


async def test_a_generated_model_carries_its_event_type(
    orders: Events, db: asyncpg.Connection, db_schema: str, generated: Any
) -> None:
    model = generated.OrderPlacedV1(**_event("m-1"))
    async with db.transaction():
        event_id = await orders.publish(db, model)
        await orders.publish_many(db, [generated.OrderPlacedV1(**_event("m-2"))])
    row = await db.fetchrow(
        f"SELECT type, key FROM {db_schema}.outbox WHERE event_id = $1", uuid.UUID(event_id)
    )
    assert row is not None and (row["type"], row["key"]) == (PLACED, "m-1")
    with pytest.raises(PublishError, match="does not say its event type"):
        async with db.transaction():
            await orders.publish(db, object())  # type: ignore[arg-type]


async def test_a_key_or_subject_postgresql_cannot_store_is_refused_before_any_write(
    orders: Events, db: asyncpg.Connection, db_schema: str
) -> None:
    async with db.transaction():
        with pytest.raises(PublishError, match="key contains a NUL character"):
            await orders.publish(db, PLACED, {**GOOD, "order_id": "o\x001"})  # key: order_id
        with pytest.raises(PublishError, match="subject contains a lone UTF-16 surrogate"):
            await orders.publish(db, PLACED, GOOD, subject="s\ud800")
        await orders.publish(db, PLACED, GOOD)  # the transaction is still usable
    assert await _state(db, db_schema) == ([], ["o-1"])
