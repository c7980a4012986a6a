"""Batch handlers: a handler inserting each event into PostgreSQL, per event vs in batches.

    .venv/bin/python bench/batch.py [--events 20000] [--partitions 3] [--batch-size 100] [--cap 90]

Needs `bizevents dev up`. Prints a table and writes bench/results/batch.json.

One pre-filled topic (CloudEvents, 1,000 keys), drained in turn by fresh consumer groups of our
worker (default settings: 20 handler tasks, a pool of 20 connections), each inserting one row
per event into a table of its own:
  per event         `@subscriber(...)`: one INSERT in its own transaction (`ctx.transaction()`)
                    per event: the same-run baseline of "batch"
  batch             `@subscriber(..., batch=True, batch_size=N)`: one transaction per batch,
                    the rows inserted with `executemany`
  per event inbox   `inbox=True`: the INSERT and the inbox row in one transaction per event:
                    the baseline of "batch inbox"
  batch inbox       `inbox=True, batch=True`: one transaction per batch, holding its inbox
                    rows (one statement) and the rows (`executemany`)
  raw executemany   no worker: aiokafka getmany(500), CloudEvent decoding and one executemany
                    transaction per fetch: the floor of any consumer writing these rows

Rate = events / (time of the last insert - time the worker was started), group join included;
the group's own topics are created before the clock starts. Every contender must find every
row in its table at the end (`rows` in the table). A contender still running after --cap
seconds is stopped and its rate is computed over what it inserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bizevents.envelope import from_kafka  # noqa: E402
from bizevents.logging import configure_logging  # noqa: E402
from bizevents.settings import ConnectionSettings  # noqa: E402
from bizevents.topics import dead_letter_topic, replay_topic, retry_topic  # noqa: E402
from bizevents.worker import BatchContext, Context, Router, Worker, WorkerSettings  # noqa: E402
from consume import Bench, Contender, Counter, _raw, cleanup, create_topics, fill  # noqa: E402

ROOT = HERE.parent


def table_of(bench: Bench, name: str) -> str:
    return f"{bench.schema}.rows_{name.replace(' ', '_')}"


async def make_table(bench: Bench, table: str) -> None:
    conn = await asyncpg.connect(bench.database_url)
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {bench.schema}")
        await conn.execute(f"CREATE TABLE {table} (event_id text NOT NULL, n int NOT NULL)")
    finally:
        await conn.close()


def ours(name: str, *, batch: int | None, inbox: bool) -> Contender:
    async def run(bench: Bench, counter: Counter, stop: asyncio.Event) -> None:
        table = table_of(bench, name)
        await make_table(bench, table)
        sql = f"INSERT INTO {table} (event_id, n) VALUES ($1, $2)"
        router = Router()
        group = f"bench-batch-{uuid.uuid4().hex[:8]}"
        group_topics = [dead_letter_topic(group), replay_topic(group)] + [
            retry_topic(group, label) for label in ("10s", "1m", "10m")
        ]
        await create_topics(bench.bootstrap, group_topics, bench.partitions)
        counter.clock_from = time.perf_counter()

        if batch:

            @router.subscriber(bench.topic, group=group, inbox=inbox, batch=True, batch_size=batch)
            async def handle_batch(events: list[Any], ctx: BatchContext) -> None:
                async with ctx.transaction() as conn:
                    await conn.executemany(
                        sql, [(i, e["n"]) for i, e in zip(ctx.ids, events, strict=True)]
                    )
                counter.hit(len(events))

        else:

            @router.subscriber(bench.topic, group=group, inbox=inbox)
            async def handle(event: Any, ctx: Context) -> None:
                async with ctx.transaction() as conn:
                    await conn.execute(sql, ctx.id, event["n"])
                counter.hit()

        settings = WorkerSettings(
            kafka_bootstrap=bench.bootstrap,
            database_url=bench.database_url,
            inbox_schema=bench.schema,
            commit_interval=0.5,
        )
        worker = Worker(SimpleNamespace(router=router, contracts=None, app=None), settings)
        await worker.start()
        try:
            await stop.wait()
        finally:
            await worker.stop()
            await cleanup(bench.bootstrap, group_topics)

    return run


def raw_executemany(name: str) -> Contender:
    async def run(bench: Bench, counter: Counter, stop: asyncio.Event) -> None:
        table = table_of(bench, name)
        await make_table(bench, table)
        sql = f"INSERT INTO {table} (event_id, n) VALUES ($1, $2)"
        conn = await asyncpg.connect(bench.database_url)

        async def per_batch(records: list[Any]) -> None:
            rows = []
            for r in records:
                env = from_kafka(r.key, r.value, r.headers)
                rows.append((env.id, env.payload()["n"]))
            if rows:
                async with conn.transaction():
                    await conn.executemany(sql, rows)

        try:
            await _raw(bench, counter, stop, decode=False, per_batch=per_batch)
        finally:
            await conn.close()

    return run


async def measure(
    name: str, contender: Contender, bench: Bench, events: int, cap: float
) -> dict[str, Any]:
    counter = Counter(events)
    stop = asyncio.Event()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    task = asyncio.create_task(contender(bench, counter, stop))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(counter.done.wait(), cap)
    stop.set()
    await task
    started = counter.clock_from or started
    elapsed = (counter.last or time.perf_counter()) - started
    rate = counter.count / elapsed if elapsed > 0 else 0.0
    conn = await asyncpg.connect(bench.database_url)
    try:
        rows = await conn.fetchval(f"SELECT count(DISTINCT event_id) FROM {table_of(bench, name)}")
    finally:
        await conn.close()
    complete = rows >= events
    load_after = os.getloadavg()[0]
    print(
        f"  {name:16} {rows:>7} rows in {elapsed:6.2f} s = {rate:>8,.0f} events/s"
        f"  (load {load_before:.1f} -> {load_after:.1f})"
        + ("" if complete else f"  (stopped at the {cap:.0f} s cap)"),
        flush=True,
    )
    return {
        "name": name,
        "events": counter.count,
        "rows": rows,
        "seconds": round(elapsed, 3),
        "events_per_s": round(rate),
        "complete": complete,
        "load_before": round(load_before, 2),
        "load_after": round(load_after, 2),
    }


def contenders(batch_size: int) -> list[tuple[str, Contender, str | None]]:
    # name, contender, its baseline (same run)
    return [
        ("per event", ours("per event", batch=None, inbox=False), None),
        ("batch", ours("batch", batch=batch_size, inbox=False), "per event"),
        ("per event inbox", ours("per event inbox", batch=None, inbox=True), None),
        ("batch inbox", ours("batch inbox", batch=batch_size, inbox=True), "per event inbox"),
        ("raw executemany", raw_executemany("raw executemany"), None),
    ]


async def main(args: argparse.Namespace) -> None:
    configure_logging("WARNING")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    settings = ConnectionSettings()
    bootstrap = settings.kafka_bootstrap
    topic = f"com.acme.benchbatch{uuid.uuid4().hex[:8]}.Tick.v1"
    bench = Bench(bootstrap, settings.database_url, topic, args.partitions)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, args.partitions, 1)])
    await admin.close()
    load = os.getloadavg()
    listed = contenders(args.batch_size)
    only = set(args.only.split(",")) if args.only else None
    try:
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
        print(f"filling {topic} with {args.events} events ...", flush=True)
        await fill(bootstrap, topic, args.events, topic)
        print("draining:", flush=True)
        results = []
        for name, contender, _ in listed:
            if only is None or name in only:
                results.append(await measure(name, contender, bench, args.events, args.cap))
    finally:
        await cleanup(bootstrap, [topic])
        await drop_schema(bench)
    report(results, listed, args, load)


async def drop_schema(bench: Bench) -> None:
    conn = await asyncpg.connect(bench.database_url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {bench.schema} CASCADE")
    finally:
        await conn.close()


def report(
    results: list[dict[str, Any]],
    listed: list[tuple[str, Contender, str | None]],
    args: argparse.Namespace,
    load: tuple[float, float, float],
) -> None:
    by = {r["name"]: r["events_per_s"] for r in results}
    base_of = {name: base for name, _, base in listed}
    print(f"\n{'contender':17} {'events/s':>9} {'x baseline':>28} {'x raw executemany':>18}")
    for r in results:
        base = base_of.get(r["name"])
        r["baseline"] = base
        r["ratio_baseline"] = round(r["events_per_s"] / by[base], 2) if by.get(base or "") else None
        floor = by.get("raw executemany")
        r["ratio_raw"] = round(r["events_per_s"] / floor, 2) if floor else None
        mine = f"{r['ratio_baseline']:.2f}x ({base})" if r["ratio_baseline"] else ""
        raw = f"{r['ratio_raw']:.2f}x" if r["ratio_raw"] else ""
        print(f"{r['name']:17} {r['events_per_s']:>9,} {mine:>28} {raw:>18}")
    out = Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "bench" / "results")
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": "batch",
        "events": args.events,
        "partitions": args.partitions,
        "batch_size": args.batch_size,
        "cap_seconds": args.cap,
        "load_average": [round(x, 2) for x in load],
        "results": results,
        "measured_at": datetime.now(UTC).isoformat(),
    }
    (out / "batch.json").write_text(json.dumps(doc, indent=2))
    print(f"\nwritten to {out / 'batch.json'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--cap", type=float, default=90.0, help="seconds per contender at most")
    parser.add_argument("--only", default="", help="comma-separated contender names")
    asyncio.run(main(parser.parse_args()))
