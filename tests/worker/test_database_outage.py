"""A PostgreSQL outage under a running worker: one line when it goes, one when it is back, no
tracebacks; records that need the database wait (no retries used up, nothing dead-lettered) and
are handled once it answers again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from bizevents.logging import configure_logging
from bizevents.worker import BatchContext, Context, Router, Worker, WorkerSettings
from bizevents.worker.metrics import HANDLED

from .tcp_proxy import CuttableProxy
from .worker_helpers import Kafka, envelope, running, wait_until

pytestmark = pytest.mark.services


@pytest.mark.parametrize("batch", [False, True], ids=["per-event", "batch"])
async def test_an_outage_is_told_once_and_waited_out(
    batch: bool,
    kafka: Kafka,
    group: str,
    services: Any,
    db: asyncpg.Connection,
    db_schema: str,
    fast_settings: Callable[..., WorkerSettings],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure_logging("INFO")
    caplog.set_level(logging.DEBUG, logger="asyncpg")
    await db.execute(f"CREATE TABLE {db_schema}.effects (event_id text PRIMARY KEY, n int)")
    proxy = await CuttableProxy("127.0.0.1", _pg_port(services.database_url)).start()
    etype = await kafka.new_type()
    router = Router()

    insert = f"INSERT INTO {db_schema}.effects VALUES ($1, $2)"
    if batch:
        # A batch subscriber waits out the outage the same way: no split, no retry.
        @router.subscriber(etype, group=group, inbox=True, batch=True, batch_wait=0.2)
        async def record_batch(events: list[dict[str, int]], ctx: BatchContext) -> None:
            assert ctx.connection is not None
            rows = [(i, e["n"]) for i, e in zip(ctx.ids, events, strict=True)]
            await ctx.connection.executemany(insert, rows)
    else:

        @router.subscriber(etype, group=group, inbox=True)
        async def record(event: dict[str, int], ctx: Context) -> None:
            assert ctx.connection is not None
            await ctx.connection.execute(insert, ctx.id, event["n"])

    url = f"postgresql://bizevents@127.0.0.1:{proxy.port}/bizevents"
    settings = fast_settings(database_url=url, inbox_cleanup_interval=0.3)
    output = ""
    try:
        async with running(Worker(router, settings)):
            await kafka.send(etype, [envelope(etype, {"n": i}, key=f"k{i}") for i in range(5)])
            await wait_until(lambda: _count(db, db_schema, 5))
            proxy.cut()
            await kafka.send(etype, [envelope(etype, {"n": i}, key=f"k{i}") for i in range(5, 10)])
            await asyncio.sleep(4)  # an outage of several probe rounds and cleanup rounds
            output += _read(capsys)
            assert "database unreachable" in output
            assert await _count(db, db_schema, 5)  # nothing handled meanwhile
            proxy.restore()
            await wait_until(lambda: _count(db, db_schema, 10))
    finally:
        await proxy.stop()
    output += _read(capsys)
    assert output.count("database unreachable") == 1, output
    assert output.count("database reachable again") == 1, output
    assert "Traceback" not in output
    assert "handler failed" not in output
    assert "batch failed" not in output
    assert [r.getMessage() for r in caplog.records if r.name.startswith("asyncpg")] == []
    # Waiting used no retry and dead-lettered nothing; every event has one effect.
    assert HANDLED.labels(group, "retry")._value.get() == 0
    assert HANDLED.labels(group, "dead_letter")._value.get() == 0
    assert await db.fetchval(f"SELECT count(*) FROM {db_schema}.effects") == 10


def _pg_port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def _read(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


async def _count(db: asyncpg.Connection, schema: str, n: int) -> bool:
    return bool(await db.fetchval(f"SELECT count(*) FROM {schema}.effects") == n)
