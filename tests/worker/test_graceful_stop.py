"""A graceful stop under load finishes what it fetched: a restart re-delivers nothing.

Worker processes (per-key lanes, 1-10 ms handlers, no inbox) are stopped with SIGTERM while busy,
then restarted; every handler call writes a row, and our own SQL counts the duplicates.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from .worker_helpers import Kafka, envelope, spawn_worker, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]

EFFECTS = """CREATE TABLE effects (id bigserial PRIMARY KEY, event_id text, key text, n int,
             attempt int, pid int, ok bool)"""
KEYS = 200
EVENTS = 10_000


def worker_env(etype: str, group: str, db_url: str, services: Any, **extra: str) -> dict[str, str]:
    return {
        "APP_TYPE": etype,
        "APP_GROUP": group,
        "APP_SLEEP_MS": "1,10",
        "BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "BIZEVENTS_DATABASE_URL": db_url,
        "BIZEVENTS_COMMIT_INTERVAL": "0.5",
        "BIZEVENTS_LOG_LEVEL": "WARNING",
        "BIZEVENTS_SESSION_TIMEOUT_MS": "6000",
        **extra,
    }


async def count(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM effects"))


async def test_sigterm_under_load_then_restart_redelivers_nothing(
    kafka: Kafka, group: str, services: Any, tmp_path: Path, db: asyncpg.Connection, db_url: str
) -> None:
    await db.execute(EFFECTS)
    etype = await kafka.new_type(partitions=3)
    await kafka.send(
        etype,
        [envelope(etype, {"n": i // KEYS}, key=f"k{i % KEYS}") for i in range(EVENTS)],
    )
    env = worker_env(etype, group, db_url, services)
    stops = []
    for run in range(3):
        proc = spawn_worker("effects:events", env, tmp_path / f"log{run}")
        try:
            # Busy: it has handled some hundreds since it started (and fetched many more).
            threshold = await count(db) + 500
            await wait_until(lambda t=threshold: _at_least(db, t), 90)
            proc.send_signal(signal.SIGTERM)
            await wait_until(lambda p=proc: p.poll() is not None, 60)
        finally:
            proc.kill()
        assert proc.returncode == 0, (tmp_path / f"log{run}").read_text()[-3000:]
        stops.append(await count(db))
    proc = spawn_worker("effects:events", env, tmp_path / "last")
    try:
        await wait_until(lambda: _distinct_at_least(db, EVENTS), 120)
        proc.send_signal(signal.SIGTERM)
        await wait_until(lambda: proc.poll() is not None, 60)
    finally:
        proc.kill()

    total = await count(db)
    distinct = await db.fetchval("SELECT count(DISTINCT event_id) FROM effects")
    print(
        f"\ngraceful stop: effects at each SIGTERM {stops}, total {total}, distinct {distinct}, "
        f"duplicates {total - distinct}"
    )
    assert distinct == EVENTS
    assert total - distinct == 0, f"{total - distinct} events handled twice"
    # Per-key order held across the restarts as well.
    rows = await db.fetch("SELECT key, n FROM effects ORDER BY id")
    last: dict[str, int] = {}
    for row in rows:
        assert row["n"] > last.get(row["key"], -1), f"key {row['key']}: {row['n']} out of order"
        last[row["key"]] = row["n"]


async def _at_least(db: asyncpg.Connection, n: int) -> bool:
    return await count(db) >= n


async def _distinct_at_least(db: asyncpg.Connection, n: int) -> bool:
    return bool(await db.fetchval("SELECT count(DISTINCT event_id) FROM effects") >= n)
