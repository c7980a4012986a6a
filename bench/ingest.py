"""HTTP gateway benchmark: our figures beside baselines measured in the same run.

    .venv/bin/python bench/ingest.py [--seconds 10] [--connections 32] [--batches 600]

Needs `bizevents dev up`. Prints a table and writes bench/results/ingest.json. Every server is
one uvicorn process with the same settings (`bizevents broker serve`, or uvicorn.run for the
baseline); the load comes from a minimal keep-alive HTTP/1.1 client in this process.

Figures:
  ours single       POST /events/{type}, one event per request (API key check, contract
                    validation, CloudEvent, one-row INSERT into the gateway's outbox), relay off
  bare single       a bare Starlette endpoint: parse the JSON body, one-row INSERT of the same
                    columns into an outbox table, commit, 202 with an id
  ours batch        POST /events with 100 structured CloudEvents per request (8 connections),
                    the broker's relay on: from the first request until every event is
                    acknowledged by Kafka and deleted from the outbox
  webhook           events published over HTTP at a steady 1,000/s to one webhook subscription
                    (relay and webhook worker inside the broker), delivered to a local receiver:
                    delivered events/s and the time from the event's `time` (set just before its
                    commit) to its arrival at the receiver; publishing stops after --seconds
                    even when the gateway could not take the rate asked
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bizevents.outbox import migrate_outbox
from bizevents.settings import ConnectionSettings

ROOT = Path(__file__).resolve().parents[1]
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")
TYPE = "com.acme.orders.OrderShipped.v1"
SOURCE = "/acme/orders"
TOKEN = "bench-" + uuid.uuid4().hex


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the bare baseline ---------------------------------------------------------------------------
BARE_APP = """
import json, os, uuid
from datetime import datetime, timezone
import asyncpg
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

SCHEMA = os.environ["BENCH_SCHEMA"]
SQL = (f"INSERT INTO {SCHEMA}.outbox (topic, key, event_id, type, source, time, subject, "
       "dataschema, content_type, extensions, data) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)")

async def publish(request):
    body = await request.body()
    data = json.loads(body)
    event_id = str(uuid.uuid4())
    async with request.app.state.pool.acquire() as conn:
        await conn.execute(SQL, request.path_params["type"], data.get("order_id"), event_id,
                           request.path_params["type"], "/acme/orders",
                           datetime.now(timezone.utc), None, None, "application/json", None, body)
    return JSONResponse({"ids": [event_id]}, status_code=202)

async def lifespan(app):
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=10, max_size=10)
    yield
    await app.state.pool.close()

app = Starlette(routes=[Route("/events/{type}", publish, methods=["POST"])], lifespan=lifespan)
"""


# -- a minimal HTTP/1.1 keep-alive client (the load generator must not be the bottleneck) -------
async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bytes]:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


def raw_post(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: bench", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def load(
    port: int, make: Any, connections: int, seconds: float | None = None, total: int | None = None
) -> tuple[int, float, dict[int, int]]:
    """Requests from `make(i)` over `connections` keep-alive connections, for `seconds` or until
    `total` requests; returns (completed, elapsed, counts by status)."""
    counts: dict[int, int] = {}
    issued = 0
    start = time.monotonic()
    stop = start + seconds if seconds else float("inf")

    async def one() -> None:
        nonlocal issued
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < stop and (total is None or issued < total):
                i = issued
                issued += 1
                status, _ = await _request(reader, writer, make(i))
                counts[status] = counts.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return sum(counts.values()), time.monotonic() - start, counts


# -- servers -------------------------------------------------------------------------------------
async def wait_healthy(url: str, proc: subprocess.Popen[bytes], path: str = "/healthz") -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                if (await http.get(url + path)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(url)


def start_broker(dsn: str, bootstrap: str, suffix: str, port: int, **env: str) -> Any:
    full = {
        **os.environ,
        "BIZEVENTS_DATABASE_URL": dsn,
        "BIZEVENTS_KAFKA_BOOTSTRAP": bootstrap,
        "BIZEVENTS_REGISTRY_SCHEMA": f"bench_reg_{suffix}",
        "BIZEVENTS_GATEWAY_SCHEMA": f"bench_gw_{suffix}",
        "BIZEVENTS_ADMIN_TOKEN": TOKEN,
        "BIZEVENTS_GATEWAY_RATE_LIMIT": "0",
        **env,
    }
    return subprocess.Popen(
        [BIZEVENTS, "broker", "serve", "--port", str(port), "--contracts", str(ROOT / "contracts")],
        env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


async def app_key(url: str, name: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        r = await http.post(
            "/api/apps", json={"name": name}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        r.raise_for_status()
        return str(r.json()["key"])


def shipped(i: int) -> bytes:
    return json.dumps({"order_id": f"o-{i}", "carrier": "DHL"}).encode()


# -- the measures --------------------------------------------------------------------------------
async def single(dsn: str, bootstrap: str, seconds: float, connections: int) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    out: dict[str, Any] = {}
    # Bare baseline first.
    bare_schema = f"bench_bare_{suffix}"
    conn = await asyncpg.connect(dsn)
    await migrate_outbox(conn, bare_schema)
    await conn.close()
    port = free_port()
    bare = subprocess.Popen(
        [sys.executable, "-c",
         BARE_APP + "\nimport uvicorn\n"
         f"uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning', access_log=False)"],
        env={**os.environ, "BENCH_SCHEMA": bare_schema, "BENCH_DSN": dsn},
    )  # fmt: skip
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", bare, "/events/x")
        path = f"/events/{TYPE}"
        headers = {"Content-Type": "application/json"}
        await load(port, lambda i: raw_post(path, shipped(i), headers), connections, seconds=1)
        _, elapsed, counts = await load(
            port, lambda i: raw_post(path, shipped(i), headers), connections, seconds=seconds
        )
        out["bare_single_rps"] = counts.get(202, 0) / elapsed
        out["bare_single_counts"] = counts
    finally:
        stop(bare)
    # Ours, same server settings, relay off (the baseline does not send to Kafka either).
    port = free_port()
    broker = start_broker(dsn, bootstrap, suffix, port, BIZEVENTS_GATEWAY_RELAY="false",
                          BIZEVENTS_GATEWAY_WEBHOOKS="false")  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_healthy(url, broker)
        key = await app_key(url, "orders")
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        path = f"/events/{TYPE}"
        await load(port, lambda i: raw_post(path, shipped(i), headers), connections, seconds=1)
        _, elapsed, counts = await load(
            port, lambda i: raw_post(path, shipped(i), headers), connections, seconds=seconds
        )
        out["ours_single_rps"] = counts.get(202, 0) / elapsed
        out["ours_single_counts"] = counts
    finally:
        stop(broker)
        await drop(dsn, bare_schema, f"bench_reg_{suffix}", f"bench_gw_{suffix}")
    out["single_ratio"] = out["ours_single_rps"] / out["bare_single_rps"]
    return out


def batch_body(start: int, size: int = 100) -> bytes:
    return json.dumps(
        [
            {"specversion": "1.0", "id": str(uuid.uuid4()), "source": SOURCE, "type": TYPE,
             "data": {"order_id": f"o-{start + j}", "carrier": "DHL"}}
            for j in range(size)
        ]
    ).encode()  # fmt: skip


async def batch(dsn: str, bootstrap: str, batches: int) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    port = free_port()
    schema = f"bench_gw_{suffix}"
    broker = start_broker(dsn, bootstrap, suffix, port, BIZEVENTS_GATEWAY_WEBHOOKS="false")
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_healthy(url, broker)
        key = await app_key(url, "orders")
        headers = {"Content-Type": "application/cloudevents-batch+json",
                   "Authorization": f"Bearer {key}"}  # fmt: skip
        bodies = [raw_post("/events", batch_body(i * 100), headers) for i in range(batches)]
        conn = await asyncpg.connect(dsn)
        try:
            start = time.monotonic()
            _, _, counts = await load(port, lambda i: bodies[i], 8, total=batches)
            written = time.monotonic()
            while await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox"):
                await asyncio.sleep(0.02)
            acked = time.monotonic()
        finally:
            await conn.close()
        events = counts.get(202, 0) * 100
        return {
            "batch_events": events,
            "batch_counts": counts,
            "batch_publish_rate": events / (written - start),
            "batch_end_to_end_rate": events / (acked - start),
        }
    finally:
        stop(broker)
        await drop(dsn, f"bench_reg_{suffix}", schema)


async def webhook(dsn: str, bootstrap: str, seconds: float, rate: int) -> dict[str, Any]:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    arrivals: list[float] = []
    delays: list[float] = []

    async def hook(request: Request) -> Response:
        doc = json.loads(await request.body())
        sent = datetime.fromisoformat(doc["time"].replace("Z", "+00:00")).timestamp()
        arrivals.append(time.monotonic())
        delays.append(time.time() - sent)
        return Response(status_code=204)

    receiver_port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        Starlette(routes=[Route("/hook", hook, methods=["POST"])]),
        host="127.0.0.1", port=receiver_port, log_level="warning", access_log=False,
    ))  # fmt: skip
    serving = asyncio.create_task(server.serve())
    suffix = uuid.uuid4().hex[:8]
    port = free_port()
    broker = start_broker(
        dsn, bootstrap, suffix, port, BIZEVENTS_GATEWAY_WEBHOOK_ALLOW='["127.0.0.1/32"]'
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_healthy(url, broker)
        orders, billing = await app_key(url, "orders"), await app_key(url, "billing")
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            r = await http.post(
                "/webhooks",
                json={"event_types": [TYPE], "url": f"http://127.0.0.1:{receiver_port}/hook"},
                headers={"Authorization": f"Bearer {billing}"},
            )
            r.raise_for_status()
        await asyncio.sleep(3)  # the webhook worker joins its group
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {orders}"}
        asked = int(seconds * rate)
        sent = 0
        start = time.monotonic()

        async def sender(k: int, lanes: int = 8) -> None:
            nonlocal sent
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for i in range(k, asked, lanes):  # steady: event i leaves at start + i / rate
                if time.monotonic() > start + seconds + 1:
                    break  # a gateway slower than the rate asked: stop on time, count what went
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await _request(reader, writer, raw_post(f"/events/{TYPE}", shipped(i), headers))
                sent += 1
            writer.close()

        await asyncio.gather(*(sender(k) for k in range(8)))
        published = time.monotonic()
        total = sent
        deadline = time.monotonic() + 120
        while len(delays) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        ordered = sorted(delays)
        return {
            "webhook_asked": asked,
            "webhook_events": total,
            "webhook_delivered": len(delays),
            "webhook_publish_rate": total / (published - start),
            "webhook_rate": len(arrivals) / (max(arrivals) - start) if arrivals else 0.0,
            "webhook_p50_ms": 1000 * statistics.median(ordered),
            "webhook_p99_ms": 1000 * ordered[int(len(ordered) * 0.99) - 1],
            # 101 quantiles (0, 1, ..., 100 %), for the report's latency plot
            "webhook_cdf_ms": [1000 * ordered[round(k * (len(ordered) - 1) / 100)]
                               for k in range(101)] if ordered else [],
        }  # fmt: skip
    finally:
        stop(broker)
        server.should_exit = True
        await serving
        await drop(dsn, f"bench_reg_{suffix}", f"bench_gw_{suffix}")


async def drop(dsn: str, *schemas: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for schema in schemas:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batches", type=int, default=600)
    parser.add_argument("--webhook-rate", type=int, default=1000)
    args = parser.parse_args()
    settings = ConnectionSettings()
    dsn, bootstrap = settings.database_url, settings.kafka_bootstrap
    results: dict[str, Any] = {"cpus": os.cpu_count()}
    for stage in (
        single(dsn, bootstrap, args.seconds, args.connections),
        batch(dsn, bootstrap, args.batches),
        webhook(dsn, bootstrap, args.seconds, args.webhook_rate),
    ):
        figures = await stage
        print(json.dumps(figures, default=str), flush=True)  # each stage as soon as it is done
        results.update(figures)
    rows = [
        ("ours single (1 event/request)", f"{results['ours_single_rps']:,.0f} req/s",
         f"bare Starlette INSERT {results['bare_single_rps']:,.0f} req/s: "
         f"{results['single_ratio']:.2f}x"),
        ("ours batch of 100, to Kafka ack", f"{results['batch_end_to_end_rate']:,.0f} events/s",
         f"(accepted at {results['batch_publish_rate']:,.0f} events/s)"),
        (f"webhook, published at {results['webhook_publish_rate']:,.0f}/s",
         f"{results['webhook_rate']:,.0f} events/s delivered",
         f"p50 {results['webhook_p50_ms']:.1f} ms, p99 {results['webhook_p99_ms']:.1f} ms "
         f"({results['webhook_delivered']}/{results['webhook_events']})"),
    ]  # fmt: skip
    for row in rows:
        print(f"{row[0]:<36} {row[1]:<26} {row[2]}")
    out = Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "bench" / "results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    asyncio.run(main())
