"""Batch subscribers on the real Kafka and PostgreSQL: per-key order within and across batches
through retry topics, the inbox batch as one transaction, a failed batch split down to its poison
event, exactly-once effects across kill -9."""

from __future__ import annotations

import asyncio
import random
import signal
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bizevents import topics
from bizevents.worker import BatchContext, RetryPolicy, Router, Worker, WorkerSettings
from bizevents.worker.metrics import HANDLED

from .test_process import env_for, exited, lines
from .worker_helpers import Kafka, envelope, running, spawn_worker, wait_until

pytestmark = pytest.mark.services

KEYS = 60
PER_KEY = 30


def flaky(key: str, n: int) -> bool:
    """About 2% of the events fail their first two attempts (then pass, from a retry topic)."""
    return random.Random(f"{key}/{n}").random() < 0.02


@pytest.mark.slow
async def test_per_key_order_within_and_across_batches_through_retry_topics(
    kafka: Kafka, group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    etype = await kafka.new_type(partitions=3)
    router = Router()
    succeeded: dict[str, list[int]] = defaultdict(list)
    in_flight: set[str] = set()
    overlaps: list[str] = []
    sizes: list[int] = []
    from_retry_topics = 0

    @router.subscriber(
        etype, group=group, batch=True, batch_size=40, batch_wait=0.02,
        retry=RetryPolicy(attempts=2, delays=(0.05, 0.1)),
    )  # fmt: skip
    async def handle(batch: list[dict[str, Any]], ctx: BatchContext) -> None:
        nonlocal from_retry_topics
        keys = {str(e["k"]) for e in batch}
        overlaps.extend(keys & in_flight)  # a key in two batches at once
        in_flight.update(keys)
        try:
            await asyncio.sleep(0)  # let other batches interleave
            for e, c in zip(batch, ctx.items, strict=True):
                if flaky(str(e["k"]), int(e["n"])) and c.attempt <= 2:
                    raise RuntimeError("transient")
            # An all-or-nothing handler: the batch's effects land only when it succeeds.
            sizes.append(len(batch))
            from_retry_topics += sum(c.topic != etype for c in ctx.items)
            for e in batch:
                succeeded[str(e["k"])].append(int(e["n"]))
        finally:
            in_flight.difference_update(keys)

    await kafka.send(
        etype,
        [envelope(etype, {"k": f"k{k}", "n": n}, key=f"k{k}") for n in range(PER_KEY)
         for k in range(KEYS)],
    )  # fmt: skip
    settings = fast_settings(concurrency=8)
    async with running(Worker(router, settings)):
        await wait_until(lambda: sum(map(len, succeeded.values())) >= KEYS * PER_KEY, 120)
        ends = await kafka.end_offsets(etype, 3)
        await wait_until(lambda: _committed(kafka, group, etype, ends), 30)

    assert overlaps == []
    assert {k: v for k, v in succeeded.items()} == {
        f"k{k}": list(range(PER_KEY)) for k in range(KEYS)
    }
    assert from_retry_topics >= 5  # the retry topics were used (and held their keys)
    assert max(sizes) == 40  # real batches, bounded
    assert sum(1 for s in sizes if s > 1) > KEYS * PER_KEY // 40 // 2


async def test_inbox_batch_commits_as_one_transaction_and_split_dead_letters_the_poison(
    kafka: Kafka,
    group: str,
    db: asyncpg.Connection,
    db_url: str,
    db_schema: str,
    fast_settings: Callable[..., WorkerSettings],
) -> None:
    await db.execute("CREATE TABLE effects (event_id text, n int)")
    etype = await kafka.new_type(partitions=1)
    router = Router()
    calls: list[list[int]] = []

    @router.subscriber(
        etype, group=group, inbox=True, batch=True, batch_size=64, batch_wait=0.5,
        retry=RetryPolicy(attempts=1, delays=()),
    )  # fmt: skip
    async def handle(batch: list[dict[str, Any]], ctx: BatchContext) -> None:
        assert ctx.connection is not None
        numbers = [int(e["n"]) for e in batch]
        calls.append(numbers)
        # The rows go in first; the failure comes after, and must take them back out.
        await ctx.connection.executemany(
            "INSERT INTO effects VALUES ($1, $2)", list(zip(ctx.ids, numbers, strict=True))
        )
        if 41 in numbers:
            raise ValueError("event 41: amount is negative")

    total = 64
    await kafka.send(etype, [envelope(etype, {"n": n}, key=f"k{n}") for n in range(total)])
    async with running(Worker(router, fast_settings(database_url=db_url))):
        (letter,) = await kafka.read(topics.dead_letter_topic(group), 1)
        await wait_until(lambda: _count(db, "effects", total - 1), 60)
        ends = await kafka.end_offsets(etype, 1)
        await wait_until(lambda: _committed(kafka, group, etype, ends), 30)

    headers = dict(letter.headers)
    assert headers["bizevents_error"] == b"ValueError: event 41: amount is negative"
    assert b'"n": 41' in letter.value or b'"n":41' in letter.value
    # The poison event came in a batch of several, whose call inserted rows and failed.
    assert len(next(c for c in calls if 41 in c)) > 1
    # Every failed call inserted rows; none of them stayed: each good event's row is there once,
    # the poison event has neither a row nor an inbox row.
    good = set(range(total)) - {41}
    rows = await db.fetch("SELECT n, count(*) AS c FROM effects GROUP BY n")
    assert {r["n"]: r["c"] for r in rows} == dict.fromkeys(good, 1)
    inbox_rows = await db.fetchval(f"SELECT count(*) FROM {db_schema}.inbox")
    assert inbox_rows == total - 1
    assert await db.fetchval(
        f"SELECT count(*) FROM {db_schema}.inbox i JOIN effects e ON e.event_id = i.event_id"
    ) == total - 1  # fmt: skip


@pytest.mark.slow
async def test_kill_9_mid_batch_then_redelivery_gives_exactly_once_effects(
    kafka: Kafka,
    group: str,
    services: Any,
    tmp_path: Path,
    db: asyncpg.Connection,
    db_url: str,
    db_schema: str,
    fast_settings: Callable[..., WorkerSettings],
) -> None:
    await db.execute("CREATE TABLE effects (event_id text, n int)")
    etype = await kafka.new_type()
    out = tmp_path / "out.txt"
    total = 40
    await kafka.send(etype, [envelope(etype, {"n": n}, key=f"k{n}") for n in range(total)])
    env = env_for(
        etype, group, out, services,
        APP_BATCH_SIZE="8",
        APP_HANG="39",  # its batch inserts its rows, then hangs with the transaction open
        BIZEVENTS_DATABASE_URL=db_url,
        BIZEVENTS_INBOX_SCHEMA=db_schema,
        BIZEVENTS_COMMIT_INTERVAL="3600",  # no offset is committed before the kill
    )  # fmt: skip
    proc = spawn_worker("batch_inbox:events", env, tmp_path / "log")
    hung: set[int] = set()

    async def all_but_the_hung_batch_committed() -> bool:
        batches = [line.split()[1] for line in lines(out) if line.startswith("batch ")]
        hanging = [b for b in batches if "39" in b.split(",")]
        if "hang" not in lines(out) or not hanging:
            return False
        hung.clear()
        hung.update(int(n) for n in hanging[0].split(","))
        return bool(await db.fetchval("SELECT count(*) FROM effects") == total - len(hung))

    try:
        await wait_until(all_but_the_hung_batch_committed, 60)
    finally:
        proc.send_signal(signal.SIGKILL)
    await exited(proc, 10)
    assert await kafka.committed(group, etype) == {}
    assert 1 <= len(hung) <= 8

    router = Router()
    calls: list[int] = []

    @router.subscriber(etype, group=group, inbox=True, batch=True, batch_size=8)
    async def again(batch: list[dict[str, Any]], ctx: BatchContext) -> None:
        assert ctx.connection is not None
        numbers = [int(e["n"]) for e in batch]
        calls.extend(numbers)
        await ctx.connection.executemany(
            "INSERT INTO effects VALUES ($1, $2)", list(zip(ctx.ids, numbers, strict=True))
        )

    before = HANDLED.labels(group, "duplicate")._value.get()
    async with running(Worker(router, fast_settings(database_url=db_url))):
        await wait_until(lambda: _count(db, "effects", total), 60)
        ends = await kafka.end_offsets(etype, 3)
        await wait_until(lambda: _committed(kafka, group, etype, ends), 30)
    # Only the batch whose transaction the kill cut ran again; the committed ones were found in
    # the inbox and left out of the calls.
    assert sorted(calls) == sorted(hung)
    assert HANDLED.labels(group, "duplicate")._value.get() - before == total - len(hung)
    rows = await db.fetch("SELECT n, count(*) AS c FROM effects GROUP BY n")
    assert {r["n"]: r["c"] for r in rows} == dict.fromkeys(range(total), 1)
    assert await db.fetchval(f"SELECT count(*) FROM {db_schema}.inbox") == total


async def _committed(kafka: Kafka, group: str, topic: str, ends: dict[int, int]) -> bool:
    committed = await kafka.committed(group, topic)
    return all(committed.get(p, 0) >= end for p, end in ends.items() if end)


async def _count(db: asyncpg.Connection, table: str, expected: int) -> bool:
    return bool(await db.fetchval(f"SELECT count(*) FROM {table}") == expected)
