"""Publishing benchmark: outbox + relay against raw baselines measured in the same run.

    .venv/bin/python bench/publish.py [--events 100000] [--seconds 5]

Needs `bizevents dev up`. Prints a table and writes bench/results/publish.json.

Figures:
  ours batched      end to end: 100 events per transaction from 2 writer processes (apps) with 2
                    connections each (--procs, --writers), relay process running,
                    until every event is acknowledged by Kafka and deleted from the outbox
  I                 asyncpg bulk INSERT of the same rows built in advance (100 per transaction,
                    unnest, the same processes and connections), no relay
  R                 raw claim + DELETE of those rows (1000 per round), no Kafka
  P                 raw aiokafka send_batch of the same records (idempotent, acks=all)
  floor             1 / (1/I + 1/R + 1/P): the three steps done back to back
  ours single       one event per transaction, 32 concurrent writers (publish side)
  raw single        one plain one-row INSERT per transaction, 32 concurrent writers
  latency           commit-to-Kafka-ack at a steady 1,000 events/s: broker append time
                    (LogAppendTime topic) minus the time the writer sends COMMIT (so the
                    commit's own round trip is included)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bizevents.app import Event, Events
from bizevents.contracts import load_contracts
from bizevents.envelope import to_kafka
from bizevents.kafka import make_producer
from bizevents.outbox.writer import ARRAY_TYPES
from bizevents.relay.relay import CLAIM
from bizevents.settings import ConnectionSettings

ROOT = Path(__file__).resolve().parents[1]
TYPE = "com.acme.orders.OrderPlaced.v1"
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")
COLUMNS = (
    "topic, key, event_id, type, source, time, subject, dataschema, content_type, extensions, data"
)


def payload(i: int) -> dict[str, Any]:
    return {
        "order_id": f"o-{i}",
        "customer_id": f"c-{i % 977}",
        "total": round(10 + i % 500 * 1.37, 2),
        "currency": "EUR",
        "items": [{"sku": f"sku-{i % 31}", "quantity": 1 + i % 3}],
    }


def space_of(schema: str) -> str:
    """The run's own space (so its own topic), named after its outbox schema."""
    return schema.replace("_", "-")


def _writer_process(kind: str, dsn: str, schema: str, ranges: list[tuple[int, int]], conns: int,
                    barrier: Any, done: Any) -> None:  # fmt: skip
    """One writer process (apps are separate processes): `conns` connections, 100 events per
    transaction. kind "ours" publishes through Events; "raw" inserts rows built before the start."""
    asyncio.run(_writer_main(kind, dsn, schema, ranges, conns, barrier, done))


async def _writer_main(kind: str, dsn: str, schema: str, ranges: list[tuple[int, int]],
                       conns: int, barrier: Any, done: Any) -> None:  # fmt: skip
    from bizevents.outbox.writer import _row

    events = Events(app="orders", contracts=ROOT / "contracts", outbox_schema=schema,
                    space=space_of(schema))  # fmt: skip
    pool = await asyncpg.create_pool(dsn, min_size=conns, max_size=conns)
    arrays = ", ".join(f"${i}::{t}" for i, t in enumerate(ARRAY_TYPES, 1))
    raw_sql = f"INSERT INTO {schema}.outbox ({COLUMNS}) SELECT * FROM unnest({arrays})"
    prebuilt = {r: [_row(events.build(TYPE, payload(i))) for i in range(*r)] for r in ranges
                } if kind == "raw" else {}  # fmt: skip

    async def writer(mine: list[tuple[int, int]]) -> None:
        async with pool.acquire() as conn:
            for r in mine:
                async with conn.transaction():
                    if kind == "ours":
                        await events.publish_many(
                            conn, [Event(TYPE, payload(i)) for i in range(*r)]
                        )
                    else:
                        columns = zip(*prebuilt[r], strict=True)
                        await conn.execute(raw_sql, *(list(c) for c in columns))

    await asyncio.to_thread(barrier.wait)
    await asyncio.gather(*(writer(ranges[w::conns]) for w in range(conns)))
    done.put(time.time())
    await pool.close()


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings = ConnectionSettings()
        self.schema = f"bench_{uuid.uuid4().hex[:8]}"
        self.contracts = load_contracts(ROOT / "contracts")
        self.events = Events(app="orders", contracts=self.contracts, outbox_schema=self.schema,
                             space=space_of(self.schema))  # fmt: skip
        # A topic of this run alone (others' events on the shared one would skew every figure).
        self.topic = self.events.naming.topic_of(self.contracts.get(TYPE))
        self.results: dict[str, Any] = {}
        self.writers = args.writers
        self.procs = args.procs

    # -- set-up -----------------------------------------------------------------------------
    async def setup(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)
        await admin.start()
        try:
            if self.topic in await admin.list_topics():
                await admin.delete_topics([self.topic])
                await asyncio.sleep(2)
            # LogAppendTime: the broker stamps each record when it appends it (= when it acks).
            config = {"message.timestamp.type": "LogAppendTime"}
            await admin.create_topics([NewTopic(self.topic, 3, 1, topic_configs=config)])
        finally:
            await admin.close()
        self.pool = await asyncpg.create_pool(self.settings.database_url, min_size=4, max_size=40)
        async with self.pool.acquire() as conn:
            await self.events.migrate(conn)

    async def teardown(self) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA {self.schema} CASCADE")
        await self.pool.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([self.topic])
        finally:
            await admin.close()

    def relay(self) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "BIZEVENTS_OUTBOX_SCHEMA": self.schema,
            "BIZEVENTS_DATABASE_URL": self.settings.database_url,
            "BIZEVENTS_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
        }
        return subprocess.Popen(
            [BIZEVENTS, "relay", "--log-json"], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def pending(self) -> int:
        return int(await self.pool.fetchval(f"SELECT count(*) FROM {self.schema}.outbox"))

    async def relay_ready(self) -> None:
        """Until one event has gone through the relay just started (leader, connected to Kafka),
        so no timed figure includes the relay's own start-up."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self.events.publish(conn, TYPE, payload(0))
        await self.wait_drained(120)

    async def wait_drained(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while await self.pending():
            if time.monotonic() > deadline:
                raise TimeoutError("outbox not drained")
            await asyncio.sleep(0.02)

    # -- baselines --------------------------------------------------------------------------
    def rows(self, n: int) -> list[tuple[Any, ...]]:
        from bizevents.outbox.writer import _row

        return [_row(self.events.build(TYPE, payload(i))) for i in range(n)]

    async def write_in_processes(self, kind: str, n: int) -> tuple[float, float]:
        """(start, end) wall-clock times of `procs` writer processes x `writers` connections
        writing n events, started together at a barrier once they are connected."""
        ctx = multiprocessing.get_context("spawn")
        barrier, done = ctx.Barrier(self.procs + 1), ctx.Queue()
        ranges = [(i, min(i + 100, n)) for i in range(0, n, 100)]
        procs = [
            ctx.Process(target=_writer_process, args=(kind, self.settings.database_url,
                        self.schema, ranges[p :: self.procs], self.writers, barrier, done))
            for p in range(self.procs)
        ]  # fmt: skip
        for proc in procs:
            proc.start()
        await asyncio.to_thread(barrier.wait)
        start = time.time()
        ends = [await asyncio.to_thread(done.get, True, 600) for _ in procs]
        for proc in procs:
            proc.join(30)
        return start, max(ends)

    async def bulk_insert(self, n: int) -> float:
        """I: plain INSERT ... SELECT unnest of rows built in advance, 100 per transaction,
        the same writer processes and connections as ours."""
        start, end = await self.write_in_processes("raw", n)
        return n / (end - start)

    async def claim_delete(self, n: int) -> float:
        """R: the relay's own claim + delete queries over the rows I left, without Kafka."""
        assert await self.pending() == n
        select = CLAIM.format(schema=self.schema)
        delete = f"DELETE FROM {self.schema}.outbox WHERE id = ANY($1::bigint[])"
        start = time.perf_counter()
        async with self.pool.acquire() as conn:
            while rows := await conn.fetch(select, 1000, []):
                await conn.execute(delete, [r["id"] for r in rows])
        return n / (time.perf_counter() - start)

    async def send_batch(self, n: int) -> float:
        """P: raw aiokafka send_batch of the same records, batches of ~1000 per partition round."""
        records = [to_kafka(self.events.build(TYPE, payload(i)).envelope) for i in range(n)]
        producer = make_producer(self.settings.kafka_bootstrap, max_batch_size=1_000_000)
        await producer.start()
        try:
            parts = sorted(await producer.partitions_for(self.topic))
            start = time.perf_counter()
            for i in range(0, n, 1000):
                futures = []
                for p in parts:
                    batch = producer.create_batch()
                    for key, value, headers in records[i + p : i + 1000 : len(parts)]:
                        batch.append(key=key, value=value, timestamp=None, headers=headers)
                    batch.close()
                    futures.append(await producer.send_batch(batch, self.topic, partition=p))
                await asyncio.gather(*futures)
            return n / (time.perf_counter() - start)
        finally:
            await producer.stop()

    async def single_writers(self, ours: bool, seconds: float, writers: int = 32) -> float:
        """One event per transaction, `writers` concurrent connections, for `seconds`."""
        raw_row = self.rows(1)[0]
        raw_sql = (f"INSERT INTO {self.schema}.outbox ({COLUMNS}) VALUES "
                   f"({', '.join(f'${i}' for i in range(1, 12))})")  # fmt: skip
        done = 0
        stop_at = time.perf_counter() + seconds

        async def writer(w: int) -> None:
            nonlocal done
            async with self.pool.acquire() as conn:
                i = w
                while time.perf_counter() < stop_at:
                    async with conn.transaction():
                        if ours:
                            await self.events.publish(conn, TYPE, payload(i))
                        else:
                            await conn.execute(raw_sql, *raw_row[:2], uuid.uuid4(), *raw_row[3:])
                    done += 1
                    i += writers

        start = time.perf_counter()
        await asyncio.gather(*(writer(w) for w in range(writers)))
        return done / (time.perf_counter() - start)

    # -- ours -------------------------------------------------------------------------------
    async def batched_end_to_end(self, n: int) -> float:
        relay = self.relay()
        try:
            await self.relay_ready()
            start, written = await self.write_in_processes("ours", n)
            await self.wait_drained()
            drained = time.time()
            self.results["ours_batched_publish_rate"] = n / (written - start)
            self.results["ours_batched_drain_lag_s"] = drained - written
            return n / (drained - start)
        finally:
            relay.send_signal(signal.SIGTERM)
            relay.wait(30)

    async def latency(self, rate: int, seconds: float) -> dict[str, float]:
        """Commit-to-ack latency at a steady rate, relay running."""
        relay = self.relay()
        consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.settings.kafka_bootstrap,
                                    auto_offset_reset="latest")  # fmt: skip
        await consumer.start()
        await consumer.seek_to_end()
        committed: dict[str, float] = {}
        try:
            await self.relay_ready()
            interval = 1.0 / rate
            total = int(rate * seconds)
            start = time.time()

            async def writer(w: int, writers: int) -> None:
                async with self.pool.acquire() as conn:
                    for i in range(w, total, writers):
                        delay = start + i * interval - time.time()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        async with conn.transaction():
                            eid = await self.events.publish(conn, TYPE, payload(i))
                            # Taken as COMMIT is sent: a time taken after it returns can be later
                            # than the broker's append when the loop is slow to resume.
                            committed[eid] = time.time()

            await asyncio.gather(*(writer(w, 8) for w in range(8)))
            achieved = total / (time.time() - start)
            latencies: list[float] = []
            deadline = time.monotonic() + 30
            while len(latencies) < total and time.monotonic() < deadline:
                for recs in (await consumer.getmany(timeout_ms=500)).values():
                    for r in recs:
                        eid = dict(r.headers)["ce_id"].decode()
                        if eid in committed:
                            latencies.append(r.timestamp / 1000 - committed[eid])
        finally:
            await consumer.stop()
            relay.send_signal(signal.SIGTERM)
            relay.wait(30)
        latencies.sort()
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        # The distribution as 101 quantiles (0, 1, ..., 100 %), for the report's plot.
        cdf = [1000 * latencies[round(k * (len(latencies) - 1) / 100)] for k in range(101)]
        return {"rate": achieved, "count": len(latencies), "p50_ms": q[49] * 1000,
                "p99_ms": q[98] * 1000, "max_ms": latencies[-1] * 1000, "cdf_ms": cdf}  # fmt: skip

    # -- run --------------------------------------------------------------------------------
    async def run(self) -> None:
        n, secs = self.args.events, self.args.seconds
        await self.setup()
        try:
            r = self.results
            r["I_bulk_insert"] = await self.bulk_insert(n)
            r["R_claim_delete"] = await self.claim_delete(n)
            r["P_send_batch"] = await self.send_batch(n)
            steps = (r["I_bulk_insert"], r["R_claim_delete"], r["P_send_batch"])
            r["floor"] = 1 / sum(1 / x for x in steps)
            r["ours_batched"] = await self.batched_end_to_end(n)
            r["raw_single_insert"] = await self.single_writers(False, secs)
            await self.pool.execute(f"TRUNCATE {self.schema}.outbox")
            r["ours_single"] = await self.single_writers(True, secs)
            await self.pool.execute(f"TRUNCATE {self.schema}.outbox")
            r["latency"] = await self.latency(1000, self.args.latency_seconds)
        finally:
            await self.teardown()

    def report(self) -> None:
        r = self.results
        lat = r["latency"]
        rows = [
            ("ours: batched, end to end (100/tx)", r["ours_batched"], "events/s",
             f"{r['ours_batched'] / r['floor']:.2f}x floor (target >= 0.6x, >= 20k/s)"),
            ("  I: asyncpg bulk INSERT", r["I_bulk_insert"], "rows/s", ""),
            ("  R: raw claim + DELETE", r["R_claim_delete"], "rows/s", ""),
            ("  P: raw aiokafka send_batch", r["P_send_batch"], "msgs/s", ""),
            ("  floor 1/(1/I+1/R+1/P)", r["floor"], "events/s", ""),
            ("ours: 1 event/tx, 32 writers", r["ours_single"], "events/s",
             f"{r['ours_single'] / r['raw_single_insert']:.2f}x raw (target >= 0.8x)"),
            ("  raw one-row INSERT commit, 32 writers", r["raw_single_insert"], "tx/s", ""),
            (f"commit->Kafka ack p50 @ {lat['rate']:.0f}/s", lat["p50_ms"], "ms", ""),
            (f"commit->Kafka ack p99 @ {lat['rate']:.0f}/s", lat["p99_ms"], "ms",
             "(target <= 25 ms)"),
        ]  # fmt: skip
        print(f"\n{'measure':44} {'value':>12}  {'unit':9} note")
        print("-" * 100)
        for name, value, unit, note in rows:
            print(f"{name:44} {value:12,.1f}  {unit:9} {note}")
        out = Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "bench" / "results")
        out.mkdir(parents=True, exist_ok=True)
        (out / "publish.json").write_text(json.dumps(r, indent=2))
        print(f"\nwritten to {out / 'publish.json'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--procs", type=int, default=2, help="writer processes (apps)")
    parser.add_argument("--writers", type=int, default=2, help="connections per writer process")
    bench = Bench(parser.parse_args())
    asyncio.run(bench.run())
    bench.report()


if __name__ == "__main__":
    main()
