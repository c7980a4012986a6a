"""Backlog drain: a relay catches up on a large outbox at a steady rate with flat memory.

    .venv/bin/python bench/backlog.py [--rows 1000000] [--batch-size N] [--out backlog.json]

Fills the outbox with --rows events (one INSERT ... SELECT, not through publish: the relay's side is
what is measured), starts `bizevents relay` and samples, every 2 s (--every), the rows left, the
drain rate in that window and the relay's resident memory. Prints a table and writes
bench/results/backlog.json (--out another name; --batch-size sets the relay's
BIZEVENTS_RELAY_BATCH_SIZE, for the sweep).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from bizevents.app import Events
from bizevents.outbox.writer import _row
from bizevents.settings import ConnectionSettings

ROOT = Path(__file__).resolve().parents[1]
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def main(rows: int, batch_size: int | None, out_name: str, every: float) -> None:
    settings = ConnectionSettings()
    schema = f"backlog_{uuid.uuid4().hex[:8]}"
    topic = f"bench.backlog.{uuid.uuid4().hex[:8]}"
    events = Events(app="orders", outbox_schema=schema)
    conn = await asyncpg.connect(settings.database_url)
    await events.migrate(conn)
    template = _row(events.build(topic, {"order_id": "o-1", "total": 12.5, "currency": "EUR"}))
    started = time.perf_counter()
    await conn.execute(
        f"INSERT INTO {schema}.outbox (topic, key, event_id, type, source, time, subject, "
        "dataschema, content_type, extensions, data) "
        "SELECT $1, 'k' || (g % 1000), gen_random_uuid(), $2, $3, now(), NULL, NULL, $4, NULL, $5 "
        "FROM generate_series(1, $6) g",
        topic, template[3], template[4], template[8], template[10], rows,
    )  # fmt: skip
    print(f"filled {rows:,} rows in {time.perf_counter() - started:.1f}s")
    env = {**os.environ, "BIZEVENTS_OUTBOX_SCHEMA": schema}
    if batch_size:
        env["BIZEVENTS_RELAY_BATCH_SIZE"] = str(batch_size)
    relay = subprocess.Popen([BIZEVENTS, "relay"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    samples = []
    try:
        t0 = time.perf_counter()
        last_left, last_t = rows, t0
        while True:
            await asyncio.sleep(every)
            left = int(await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox"))
            now = time.perf_counter()
            rate = (last_left - left) / (now - last_t)
            sample = {
                "t": round(now - t0, 1),
                "left": left,
                "rate": rate,
                "rss_mb": rss_mb(relay.pid),
            }
            samples.append(sample)
            print(f"t={sample['t']:6.1f}s left={left:9,} rate={rate:9,.0f}/s "
                  f"relay_rss={sample['rss_mb']:.0f} MB")  # fmt: skip
            last_left, last_t = left, now
            if left == 0:
                break
        total = time.perf_counter() - t0
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(30)
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        await admin.delete_topics([topic])
        await admin.close()
    steady = [s["rate"] for s in samples[1:-1]] or [s["rate"] for s in samples]
    result = {
        "rows": rows, "batch_size": batch_size or 1000, "seconds": total, "mean_rate": rows / total,
        "window_rate_min": min(steady), "window_rate_max": max(steady),
        "rss_mb_first": samples[0]["rss_mb"], "rss_mb_max": max(s["rss_mb"] for s in samples),
        "samples": samples,
    }  # fmt: skip
    r = result
    print(f"\ndrained {rows:,} rows in {total:.1f}s: mean {r['mean_rate']:,.0f}/s, "
          f"{every:g}-s windows {r['window_rate_min']:,.0f}..{r['window_rate_max']:,.0f}/s, "
          f"relay RSS {r['rss_mb_first']:.0f} -> max {r['rss_mb_max']:.0f} MB")  # fmt: skip
    out = Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "bench" / "results")
    out.mkdir(parents=True, exist_ok=True)
    (out / out_name).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, help="the relay's batch size (default: its own)")
    parser.add_argument("--out", default="backlog.json", help="file name under bench/results/")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.batch_size, args.out, args.every))
