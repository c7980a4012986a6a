"""The worker as a process: kill -9 mid-handler, SIGTERM drain, inbox across redeliveries."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bizevents.worker import Context, Router, Worker, WorkerSettings
from bizevents.worker.metrics import HANDLED

from .worker_helpers import Kafka, envelope, running, spawn_worker, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def exited(proc: subprocess.Popen[bytes], timeout: float) -> int:
    await wait_until(lambda: proc.poll() is not None, timeout)
    return int(proc.returncode)


def env_for(etype: str, group: str, out: Path, services: Any, **extra: str) -> dict[str, str]:
    return {
        "APP_TYPE": etype,
        "APP_GROUP": group,
        "APP_OUT": str(out),
        "BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "BIZEVENTS_COMMIT_INTERVAL": "0.1",
        "BIZEVENTS_RETRY_DELAYS": "[0.2]",
        "BIZEVENTS_LOG_LEVEL": "WARNING",
        "BIZEVENTS_SESSION_TIMEOUT_MS": "6000",  # the broker's minimum: faster takeover
        **extra,
    }


async def test_kill_9_mid_handler_redelivers(
    kafka: Kafka, group: str, services: Any, tmp_path: Path
) -> None:
    etype = await kafka.new_type()
    out = tmp_path / "out.txt"
    # 0, 1 in partition 0; 2 alone in partition 1; 3, 4 in partition 2.
    for partition, numbers in ((0, (0, 1)), (1, (2,)), (2, (3, 4))):
        events = [envelope(etype, {"n": n}, key=f"k{n}") for n in numbers]
        await kafka.send(etype, events, partition=partition)
    proc = spawn_worker(
        "killable:events", env_for(etype, group, out, services, APP_HANG="2"), tmp_path / "log1"
    )
    try:
        await wait_until(lambda: "start 2" in lines(out) and len(lines(out)) >= 9, 60)
        await wait_until(lambda: _committed(kafka, group, etype, {0: 2, 2: 2}))
    finally:
        proc.send_signal(signal.SIGKILL)
    assert await exited(proc, 10) == -signal.SIGKILL
    assert "done 2" not in lines(out)
    first_run = len(lines(out))

    proc = spawn_worker("killable:events", env_for(etype, group, out, services), tmp_path / "log2")
    try:
        await wait_until(lambda: "done 2" in lines(out), 60)
    finally:
        proc.send_signal(signal.SIGTERM)
    assert await exited(proc, 30) == 0
    # Only the interrupted event came back: the others' offsets were committed before the kill.
    assert lines(out)[first_run:] == ["start 2", "done 2"]


async def test_sigterm_finishes_fetched_records_in_order_until_the_timeout(
    kafka: Kafka, group: str, services: Any, tmp_path: Path
) -> None:
    etype = await kafka.new_type(partitions=1)
    out = tmp_path / "out.txt"
    # One key: the events run one after another, each taking 1 s; all ten are fetched at once.
    await kafka.send(etype, [envelope(etype, {"n": i}, key="k") for i in range(10)])
    env = env_for(etype, group, out, services, APP_SLEEP="1.0", BIZEVENTS_SHUTDOWN_TIMEOUT="2.5")
    proc = spawn_worker("killable:events", env, tmp_path / "log")
    try:
        await wait_until(lambda: "start 0" in lines(out), 60)
        proc.send_signal(signal.SIGTERM)
        assert await exited(proc, 30) == 0
    finally:
        proc.kill()
    done = [line for line in lines(out) if line.startswith("done")]
    # Fetched records kept running after SIGTERM, in order, until the timeout cancelled one.
    assert len(done) >= 2
    assert lines(out) == [f"{w} {n}" for n in range(len(done)) for w in ("start", "done")] + [
        f"start {len(done)}"
    ]
    assert await kafka.committed(group, etype) == {0: len(done)}


async def test_sigterm_cancels_handlers_past_the_timeout_without_committing(
    kafka: Kafka, group: str, services: Any, tmp_path: Path
) -> None:
    etype = await kafka.new_type(partitions=1)
    out = tmp_path / "out.txt"
    await kafka.send(etype, [envelope(etype, {"n": i}, key=f"k{i}") for i in range(3)])
    env = env_for(etype, group, out, services, APP_HANG="1", BIZEVENTS_SHUTDOWN_TIMEOUT="0.5")
    proc = spawn_worker("killable:events", env, tmp_path / "log")
    try:
        await wait_until(lambda: {"done 0", "start 1", "done 2"} <= set(lines(out)), 60)
        proc.send_signal(signal.SIGTERM)
        assert await exited(proc, 30) == 0
    finally:
        proc.kill()
    assert "done 1" not in lines(out)
    assert await kafka.committed(group, etype) == {0: 1}  # 2 is done, but 1 is not


async def test_inbox_gives_exactly_once_effects_across_redelivery(
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
    await kafka.send(etype, [envelope(etype, {"n": i}, key=f"k{i % 4}") for i in range(20)])
    env = env_for(
        etype,
        group,
        out,
        services,
        APP_INBOX="1",
        BIZEVENTS_DATABASE_URL=db_url,
        BIZEVENTS_INBOX_SCHEMA=db_schema,
        BIZEVENTS_COMMIT_INTERVAL="3600",  # nothing gets committed before the kill
    )
    proc = spawn_worker("killable:events", env, tmp_path / "log")
    try:
        await wait_until(lambda: _count(db, "effects", 20), 60)
    finally:
        proc.send_signal(signal.SIGKILL)
    await exited(proc, 10)
    assert await kafka.committed(group, etype) == {}

    router = Router()
    calls: list[int] = []

    @router.subscriber(etype, group=group, inbox=True)
    async def again(event: dict[str, int], ctx: Context) -> None:
        calls.append(event["n"])
        assert ctx.connection is not None
        await ctx.connection.execute("INSERT INTO effects VALUES ($1, $2)", ctx.id, event["n"])

    before = HANDLED.labels(group, "duplicate")._value.get()
    async with running(Worker(router, fast_settings(database_url=db_url))):
        await wait_until(lambda: HANDLED.labels(group, "duplicate")._value.get() - before == 20)
    assert calls == []
    assert await db.fetchval("SELECT count(DISTINCT event_id) FROM effects") == 20
    assert await db.fetchval("SELECT count(*) FROM effects") == 20
    assert await db.fetchval(f"SELECT count(*) FROM {db_schema}.inbox") == 20


async def _committed(kafka: Kafka, group: str, topic: str, expected: dict[int, int]) -> bool:
    return await kafka.committed(group, topic) == expected


async def _count(db: asyncpg.Connection, table: str, expected: int) -> bool:
    return bool(await db.fetchval(f"SELECT count(*) FROM {table}") == expected)
