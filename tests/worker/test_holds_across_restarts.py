"""Per-key order through delayed retries survives kill -9, restarts and rebalances.

Two worker processes of one group (no inbox), a handler that fails often (so many keys are held
and many records parked in the retry topics at any time), backpressure far below the retry
backlog (`BIZEVENTS_MAX_PENDING_PER_PARTITION=20`: a restarted worker cannot read its retry
partitions in one go), and a member killed with -9 and restarted every couple of seconds, often
while the previous restart is still reading its retry partitions. Every handler call writes a row;
our own SQL then checks that every event was handled and that, per key, the first successful
handling of each event follows publication order: no later record of a key ran while an earlier
one was parked in a retry topic that a restarted worker had not read yet.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from .test_graceful_stop import EFFECTS
from .worker_helpers import Kafka, envelope, spawn_worker, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]

KEYS = 24
PER_KEY = 40
PARTITIONS = 2
KILLS = 10


@pytest.mark.timeout(600)
async def test_kill_9_and_restarts_while_records_are_parked_keep_per_key_order(
    kafka: Kafka, group: str, services: Any, tmp_path: Path, db: asyncpg.Connection, db_url: str
) -> None:
    await db.execute(EFFECTS)
    etype = await kafka.new_type(partitions=PARTITIONS)
    env = {
        "APP_TYPE": etype,
        "APP_GROUP": group,
        "APP_SLEEP_MS": "1,4",
        "APP_FAIL": "0.3",
        "APP_FAIL_ATTEMPTS": "2",
        "APP_DELAYS": "1,3",
        "BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "BIZEVENTS_DATABASE_URL": db_url,
        "BIZEVENTS_COMMIT_INTERVAL": "0.2",
        "BIZEVENTS_MAX_PENDING_PER_PARTITION": "20",
        "BIZEVENTS_FETCH_MAX_RECORDS": "10",
        "BIZEVENTS_SESSION_TIMEOUT_MS": "6000",
        "BIZEVENTS_LOG_LEVEL": "INFO",
    }
    rng = random.Random(7)
    workers: list[subprocess.Popen[bytes]] = []
    starts = 0

    def start() -> subprocess.Popen[bytes]:
        nonlocal starts
        starts += 1
        return spawn_worker("effects:events", env, tmp_path / f"worker{starts}.log")

    try:
        workers = [start(), start()]
        sender = asyncio.create_task(publish(kafka, etype))
        # Kill as soon as records are parked, then keep killing while the backlog is there.
        await wait_until(lambda: _failed_at_least(db, 20), 120)
        for _ in range(KILLS):
            victim = rng.randrange(len(workers))
            workers[victim].kill()
            workers[victim].wait()
            workers[victim] = start()
            await asyncio.sleep(rng.uniform(1.0, 3.0))
        await sender
        await wait_until(lambda: _ok_events(db, KEYS * PER_KEY), 300)
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in workers:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()

    rows = await db.fetch("SELECT key, n, ok, attempt FROM effects ORDER BY id")
    ok = [r for r in rows if r["ok"]]
    assert {(r["key"], r["n"]) for r in ok} == {
        (f"k{k}", n) for k in range(KEYS) for n in range(PER_KEY)
    }
    first_success: dict[str, list[int]] = {}
    for r in ok:
        seen = first_success.setdefault(r["key"], [])
        if r["n"] not in seen:
            seen.append(r["n"])
    out_of_order = {k: o for k, o in first_success.items() if o != sorted(o)}
    failed = sum(1 for r in rows if not r["ok"])
    print(
        f"\nholds across restarts: {len(rows)} handler calls, {failed} failures, "
        f"{KILLS} kills, {len(out_of_order)} keys out of order"
    )
    if out_of_order:
        detail = await db.fetch(
            "SELECT id, key, n, ok, attempt, pid FROM effects WHERE key = ANY($1) ORDER BY id",
            list(out_of_order),
        )
        (tmp_path / "detail.txt").write_text("\n".join(str(dict(r)) for r in detail))
    assert not out_of_order, f"keys handled out of order: {out_of_order}"
    assert failed > 100  # the retry topics were really used


async def publish(kafka: Kafka, etype: str) -> None:
    """The events, per key in order n = 0, 1, ..., over about twenty seconds."""
    for n in range(PER_KEY):
        await kafka.send(etype, [envelope(etype, {"n": n}, key=f"k{k}") for k in range(KEYS)])
        await asyncio.sleep(0.5)


async def _failed_at_least(db: asyncpg.Connection, n: int) -> bool:
    return bool(await db.fetchval("SELECT count(*) FROM effects WHERE NOT ok") >= n)


async def _ok_events(db: asyncpg.Connection, n: int) -> bool:
    return bool(await db.fetchval("SELECT count(DISTINCT event_id) FROM effects WHERE ok") >= n)
