"""The dead-letter store on real PostgreSQL: migration, idempotent sink, filters, paging, purge."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from bizevents.dlq import (
    DeadLetterFilter,
    DeadLetterSettings,
    PostgresSink,
    Status,
    store_sink,
)
from bizevents.dlq.schema import migrate
from bizevents.errors import ConfigurationError, DeadLetterError

from .conftest import BASE, letter

pytestmark = pytest.mark.services


async def test_migration_is_idempotent_and_versioned(store, db):  # type: ignore[no-untyped-def]
    assert await store.migrate() == 1
    assert await migrate(db, store.schema) == 1
    versions = await db.fetch(f'SELECT version FROM "{store.schema}".dlq_migrations')
    assert [r["version"] for r in versions] == [1]


def test_schema_name_is_checked():
    from bizevents.dlq.schema import quote_schema

    with pytest.raises(ConfigurationError, match="invalid dead-letter schema"):
        quote_schema('x"; DROP TABLE y; --')


async def test_sink_stores_the_letter_once_even_when_dead_lettered_twice(store):  # type: ignore[no-untyped-def]
    sink = store_sink(store)
    dl = letter(1)
    await sink(dl)
    await sink(replace(dl, error="boom again", attempts=9))  # same original record
    page = await store.list(DeadLetterFilter())
    assert len(page.items) == 1
    got = page.items[0]
    assert got.error == "boom" and got.attempts == 3 and got.status is Status.DEAD
    assert (got.key, got.value, got.headers) == (dl.key, dl.value, dl.headers)
    assert got.event_type == "com.acme.orders.OrderPlaced.v1"
    assert got.first_failure == BASE and got.stack.startswith("app.py:12")
    assert (await store.get(got.id)).event_id == got.event_id


async def test_filters_by_type_group_time_error_and_status(store):  # type: ignore[no-untyped-def]
    await store.add_many(
        [
            letter(1, group="billing", minutes=0, error="timeout talking to SAP"),
            letter(2, group="billing", minutes=10, error="100% broken"),
            letter(3, group="shipping", minutes=20, event_type="com.acme.orders.OrderShipped.v1"),
            letter(4, group="shipping", minutes=30, value=b"poison"),
        ]
    )

    async def offsets(**kw):  # type: ignore[no-untyped-def]
        page = await store.list(DeadLetterFilter(**kw))
        return sorted(i.original_offset for i in page.items)

    assert await offsets() == [1, 2, 3, 4]
    assert await offsets(groups=("shipping",)) == [3, 4]
    assert await offsets(types=("com.acme.orders.OrderShipped.v1",)) == [3]
    assert await offsets(since=BASE + timedelta(minutes=10)) == [2, 3, 4]
    assert await offsets(
        since=BASE + timedelta(minutes=10), until=BASE + timedelta(minutes=25)
    ) == [2, 3]
    assert await offsets(error="SAP") == [1]
    assert await offsets(error="sap") == [1]  # case-insensitive
    assert await offsets(error="0%") == [2]  # % matched literally, not as a wildcard
    assert await offsets(error="valueerror") == [1, 2, 3, 4]  # the error type matches too
    ids = [i.id for i in (await store.list(DeadLetterFilter(groups=("billing",)))).items]
    await store.mark_replayed(ids)
    assert await offsets(statuses=(Status.REPLAYED,)) == [1, 2]
    assert await offsets(statuses=(Status.DEAD,)) == [3, 4]
    assert await store.count(DeadLetterFilter(statuses=(Status.DEAD,), limit=1)) == 2


async def test_keyset_pagination_visits_every_letter_once_while_new_ones_arrive(store):  # type: ignore[no-untyped-def]
    await store.add_many([letter(n) for n in range(25)])
    seen: list[int] = []
    f: DeadLetterFilter | None = DeadLetterFilter(limit=10)
    pages = 0
    while f is not None:
        page = await store.list(f)
        seen += [i.original_offset for i in page.items]
        pages += 1
        if pages == 1:  # a newer letter must not shift the following pages
            await store.add(letter(100))
        f = page.next
    assert pages == 3
    assert seen == list(range(24, -1, -1))
    everything = [
        i.original_offset async for i in store.iterate(DeadLetterFilter(limit=None), batch=7)
    ]
    assert everything == [*range(25), 100]  # oldest first
    capped = [i async for i in store.iterate(DeadLetterFilter(limit=12), batch=5)]
    assert len(capped) == 12


async def test_a_replayed_letter_that_fails_again_updates_its_row(store):  # type: ignore[no-untyped-def]
    letter_id, inserted = await store.add(letter(1))
    assert inserted
    await store.mark_replayed([letter_id])
    again = letter(1)
    # Dead-lettered again from the replay topic: new coordinates, the replay marker header.
    again = replace(
        again,
        original_topic="bizevents.replay.billing",
        original_offset=0,
        error="still broken",
        last_failure=BASE + timedelta(hours=1),
        replay_of=letter_id,
    )
    assert await store.add(again) == (letter_id, False)
    row = await store.get(letter_id)
    assert row.status is Status.DEAD and row.error == "still broken" and row.replay_count == 1
    assert row.last_failure == BASE + timedelta(hours=1)
    assert row.original_topic == "orders"  # identity of the first failure kept
    assert await store.count(DeadLetterFilter()) == 1


async def test_soft_purge_drops_bytes_and_blocks_resurrection_hard_purge_deletes(store):  # type: ignore[no-untyped-def]
    await store.add_many([letter(n, group="g1" if n < 3 else "g2") for n in range(5)])
    assert await store.purge(DeadLetterFilter(groups=("g1",))) == 3
    assert await store.purge(DeadLetterFilter(groups=("g1",))) == 0  # already purged
    purged = (await store.list(DeadLetterFilter(statuses=(Status.PURGED,)))).items
    assert len(purged) == 3 and all(p.value is None and p.headers == [] for p in purged)
    # The ingester re-reading the dead-letter topic must not bring them back.
    assert await store.add_many([letter(n, group="g1") for n in range(3)]) == 0
    assert await store.count(DeadLetterFilter(statuses=(Status.DEAD,))) == 2
    assert await store.purge(DeadLetterFilter(groups=("g2",)), hard=True) == 2
    assert await store.count(DeadLetterFilter()) == 3
    with pytest.raises(DeadLetterError, match="no dead letter with id"):
        await store.get(10**9)


async def test_postgres_sink_connects_lazily_and_migrates(services, db_schema, db):  # type: ignore[no-untyped-def]
    sink = PostgresSink(
        DeadLetterSettings(database_url=services.database_url, dlq_schema=db_schema)
    )
    dl = letter(3)
    try:
        await sink(dl)
        await sink(dl)
    finally:
        await sink.close()
    rows = await db.fetch(f'SELECT original_offset, error FROM "{db_schema}".dead_letters')
    assert [(r["original_offset"], r["error"]) for r in rows] == [(3, "boom")]


async def test_concurrent_stores_of_one_letter_keep_one_row(store):  # type: ignore[no-untyped-def]
    record = letter(8)
    results = await asyncio.gather(*(store.add(record) for _ in range(12)))
    assert len({letter_id for letter_id, _ in results}) == 1
    assert sum(inserted for _, inserted in results) == 1
    assert await store.count(DeadLetterFilter()) == 1
