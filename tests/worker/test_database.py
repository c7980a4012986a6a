"""The worker's PostgreSQL parts: inbox migration and cleanup, inbox rollback, ctx.transaction()."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest

from bizevents.worker import Context, DeadLetter, RetryPolicy, Router, Worker, WorkerSettings
from bizevents.worker.inbox import claim, cleanup, migrate_inbox

from .worker_helpers import Kafka, envelope, running, wait_until

pytestmark = pytest.mark.services


async def test_inbox_migration_is_idempotent_and_cleanup_deletes_by_age(
    db: asyncpg.Connection, db_schema: str
) -> None:
    await migrate_inbox(db, db_schema)
    await migrate_inbox(db, db_schema)
    async with db.transaction():
        assert await claim(db, db_schema, "g", "e1", "t") is True
        assert await claim(db, db_schema, "g", "e1", "t") is False
        assert await claim(db, db_schema, "other", "e1", "t") is True
        assert await claim(db, db_schema, "g", "e2", "t") is True
    await db.execute(
        f"UPDATE {db_schema}.inbox SET processed_at = now() - interval '2 days' "
        "WHERE event_id = 'e1'"
    )
    assert await cleanup(db, db_schema, older_than_seconds=86400, batch=1) == 2
    rows = await db.fetch(f"SELECT group_name, event_id FROM {db_schema}.inbox")
    assert [tuple(r) for r in rows] == [("g", "e2")]


async def test_failed_attempt_rolls_back_its_writes_and_inbox_row(
    kafka: Kafka,
    group: str,
    db: asyncpg.Connection,
    db_url: str,
    fast_settings: Callable[..., WorkerSettings],
) -> None:
    await db.execute("CREATE TABLE effects (event_id text, attempt int)")
    etype = await kafka.new_type()
    router = Router()
    attempts: list[int] = []
    plain: list[str] = []

    @router.subscriber(etype, group=group, inbox=True, retry=RetryPolicy(attempts=3))
    async def handle(event: dict[str, int], ctx: Context) -> None:
        attempts.append(ctx.attempt)
        async with ctx.transaction() as conn:  # the inbox transaction itself
            assert conn is ctx.connection
            await conn.execute("INSERT INTO effects VALUES ($1, $2)", ctx.id, ctx.attempt)
        if ctx.attempt < 3:
            raise RuntimeError("fails after writing")

    other = await kafka.new_type()

    @router.subscriber(other, group=group)
    async def no_inbox(event: dict[str, int], ctx: Context) -> None:
        assert ctx.connection is None
        async with ctx.transaction() as conn:
            plain.append(await conn.fetchval("SELECT current_setting('search_path')"))

    event = envelope(etype, {"n": 1}, key="k")
    await kafka.send(etype, [event])
    await kafka.send(other, [envelope(other, {"n": 1}, key="k")])
    async with running(Worker(router, fast_settings(database_url=db_url))):
        await wait_until(lambda: attempts == [1, 2, 3] and len(plain) == 1)
    rows = await db.fetch("SELECT event_id, attempt FROM effects")
    assert [tuple(r) for r in rows] == [(event.id, 3)]  # attempts 1 and 2 were rolled back


async def test_dlq_store_setting_records_dead_letters_in_postgresql(
    kafka: Kafka,
    group: str,
    db: asyncpg.Connection,
    db_schema: str,
    fast_settings: Callable[..., WorkerSettings],
) -> None:
    etype = await kafka.new_type()
    router = Router()

    @router.subscriber(etype, group=group)
    async def handle(event: dict[str, int], ctx: Context) -> None:
        raise DeadLetter(f"refused {event['n']}")

    event = envelope(etype, {"n": 7}, key="k")
    await kafka.send(etype, [event])
    settings = fast_settings(dlq_store=True, dlq_schema=db_schema)
    async with running(Worker(router, settings)):
        await wait_until(lambda: _has_letter(db, db_schema))
    row = await db.fetchrow(
        f"SELECT group_name, event_id, error, error_type, attempts FROM {db_schema}.dead_letters"
    )
    assert tuple(row) == (group, event.id, "refused 7", "DeadLetter", 1)


async def _has_letter(db: asyncpg.Connection, schema: str) -> bool:
    exists = await db.fetchval("SELECT to_regclass($1)", f"{schema}.dead_letters")
    return bool(exists and await db.fetchval(f"SELECT count(*) FROM {schema}.dead_letters"))
