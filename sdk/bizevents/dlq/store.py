"""The PostgreSQL store of dead letters: add (idempotent), query, mark replayed, purge."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import asyncpg

from ..deadletter import (
    STORED_FIELDS,
    DeadLetterRecord,
    StoredDeadLetter,
    column_of,
    headers_to_json,
    stored_from_row,
)
from ..errors import DeadLetterError
from .query import DEFAULT_PAGE, MAX_PAGE, DeadLetterFilter, where
from .schema import migrate, quote_schema

DEFAULT_SCHEMA = "bizevents"

_COLUMNS = ", ".join(column_of(name) for name in STORED_FIELDS)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[StoredDeadLetter]
    next: DeadLetterFilter | None  # the filter for the following page, None on the last one


class DeadLetterStore:
    """Works on an asyncpg pool (or anything with `acquire()`); call `migrate()` once at start."""

    def __init__(self, pool: asyncpg.Pool, schema: str = DEFAULT_SCHEMA) -> None:
        self.pool = pool
        self.schema = schema
        self._t = f"{quote_schema(schema)}.dead_letters"

    async def migrate(self) -> int:
        async with self.pool.acquire() as conn:
            return await migrate(conn, self.schema)

    # -- writing --------------------------------------------------------------------------------

    async def add(self, record: DeadLetterRecord) -> tuple[int, bool]:
        """Stores a letter; returns (id, inserted). The same failed record stored twice (by the
        sink and the ingester, or a redelivered dead-letter record) keeps one row. A replayed
        letter that fails again updates its row back to 'dead'."""
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._add(conn, record)

    async def add_many(self, records: Sequence[DeadLetterRecord]) -> int:
        """Stores a batch in one transaction; returns how many rows are new."""
        new = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for record in records:
                new += (await self._add(conn, record))[1]
        return new

    async def _add(self, conn: asyncpg.Connection, r: DeadLetterRecord) -> tuple[int, bool]:
        if r.replay_of is not None:
            row_id = await conn.fetchval(
                f"UPDATE {self._t} SET status = 'dead', error = $2, error_type = $3, stack = $4,"
                " attempts = $5, last_failure = greatest(last_failure, $6)"
                " WHERE id = $1 AND status <> 'purged' RETURNING id",
                r.replay_of,
                r.error,
                r.error_type,
                r.stack,
                r.attempts,
                r.last_failure,
            )
            if row_id is not None:
                return int(row_id), False
        row = await conn.fetchrow(
            f"WITH ins AS (INSERT INTO {self._t} (group_name, original_topic, original_partition,"
            " original_offset, event_id, event_type, event_source, record_key, record_value,"
            " record_headers, error, error_type, stack, attempts, first_failure, last_failure)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14, $15, $16)"
            " ON CONFLICT (group_name, original_topic, original_partition, original_offset)"
            " DO NOTHING RETURNING id)"
            " SELECT id, true AS inserted FROM ins UNION ALL"
            f" SELECT id, false FROM {self._t} WHERE group_name = $1 AND original_topic = $2"
            " AND original_partition = $3 AND original_offset = $4 LIMIT 1",
            r.group,
            r.original_topic,
            r.original_partition,
            r.original_offset,
            r.event_id,
            r.event_type,
            r.event_source,
            r.key,
            r.value,
            json.dumps(headers_to_json(r.headers)),
            r.error,
            r.error_type,
            r.stack,
            r.attempts,
            r.first_failure,
            r.last_failure,
        )
        if row is None:
            # A concurrent transaction (the sink and the ingester at once) committed the same
            # letter after this statement's snapshot: a new statement sees it.
            existing = await conn.fetchval(
                f"SELECT id FROM {self._t} WHERE group_name = $1 AND original_topic = $2"
                " AND original_partition = $3 AND original_offset = $4",
                r.group,
                r.original_topic,
                r.original_partition,
                r.original_offset,
            )
            if existing is None:
                raise DeadLetterError(
                    f"dead letter {r.group}/{r.original_topic}[{r.original_partition}]@"
                    f"{r.original_offset} could not be stored or found"
                )
            return int(existing), False
        return int(row["id"]), bool(row["inserted"])

    async def mark_replayed(
        self, ids: Sequence[int], last_failures: Sequence[datetime] | None = None
    ) -> int:
        """Count a replay of each letter. `last_failures`, the letters' last failure times as
        read before sending: a letter that has failed again since (the worker was quicker than
        this update) stays 'dead' instead of being marked replayed."""
        if last_failures is None:
            last_failures = [datetime.max.replace(tzinfo=UTC)] * len(ids)
        async with self.pool.acquire() as conn:
            result = await conn.execute(
                f"UPDATE {self._t} AS t SET replay_count = t.replay_count + 1,"
                " last_replayed_at = now(),"
                " status = CASE WHEN t.last_failure <= r.seen THEN 'replayed' ELSE t.status END"
                " FROM unnest($1::bigint[], $2::timestamptz[]) AS r(id, seen)"
                " WHERE t.id = r.id AND t.status <> 'purged'",
                list(ids),
                list(last_failures),
            )
        return int(result.split()[-1])

    async def purge(self, f: DeadLetterFilter, *, hard: bool = False) -> int:
        """Purges matching letters; returns how many. Soft (default): status 'purged' and the
        event bytes dropped, the identity kept so re-ingesting cannot resurrect them. Hard: rows
        deleted."""
        clause, params = where(_unlimited(f))
        if hard:
            sql = f"DELETE FROM {self._t} WHERE {clause}"
        else:
            sql = (
                f"UPDATE {self._t} SET status = 'purged', record_key = NULL,"
                " record_value = NULL, record_headers = '[]'"
                f" WHERE status <> 'purged' AND {clause}"
            )
        async with self.pool.acquire() as conn:
            result = await conn.execute(sql, *params)
        return int(result.split()[-1])

    # -- reading --------------------------------------------------------------------------------

    async def get(self, letter_id: int) -> StoredDeadLetter:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM {self._t} WHERE id = $1", letter_id)
        if row is None:
            raise DeadLetterError(f"no dead letter with id {letter_id}")
        return stored_from_row(row)

    async def list(self, f: DeadLetterFilter, *, ascending: bool = False) -> Page:
        """One page, newest first (oldest first when `ascending`); `Page.next` continues it."""
        clause, params = where(f)
        limit = min(f.limit or DEFAULT_PAGE, MAX_PAGE)
        params.append(limit + 1)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM {self._t} WHERE {clause}"
                f" ORDER BY id {'ASC' if ascending else 'DESC'} LIMIT ${len(params)}",
                *params,
            )
        items = [stored_from_row(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, f.next_page(items[-1].id, ascending) if more and items else None)

    async def count(self, f: DeadLetterFilter) -> int:
        clause, params = where(_unlimited(f))
        async with self.pool.acquire() as conn:
            return int(
                await conn.fetchval(f"SELECT count(*) FROM {self._t} WHERE {clause}", *params)
            )

    async def iterate(
        self, f: DeadLetterFilter, batch: int = 500
    ) -> AsyncIterator[StoredDeadLetter]:
        """Every matching letter oldest first (the order they failed in, which keeps per-key
        order on replay), page by page; `f.limit` caps the total."""
        remaining = f.limit
        page_filter = f
        while True:
            size = batch if remaining is None else min(batch, remaining)
            if size <= 0:
                return
            page = await self.list(replace(page_filter, limit=size), ascending=True)
            for item in page.items:
                yield item
            if remaining is not None:
                remaining -= len(page.items)
            if page.next is None:
                return
            page_filter = page.next


def _unlimited(f: DeadLetterFilter) -> DeadLetterFilter:
    return replace(f, limit=None)
