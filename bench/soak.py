"""Soak: the whole path at half its measured maximum rate, sampled every 10 s for memory growth.

    .venv/bin/python bench/soak.py [--minutes 30] [--probe-seconds 60] [--warmup-minutes 5]

Needs `bizevents dev up`. Runs in its own space (topics and groups `soak<id>.*`) and throw-away
schemas, and writes bench/results/soak.json.

The path:
  in    the SDK: 8 connections publishing OrderPlaced through an outbox (one event per
        transaction), moved by a `bizevents relay` process;
        the gateway: `bizevents broker serve` (its own relay, webhooks and event log inside),
        OrderShipped posted as structured CloudEvents over 8 keep-alive connections
  out   a `bizevents worker` process (bench/soak_app.py) handling both types;
        a webhook subscription for OrderShipped delivered to a receiver process
Every consumer reports each event it handles (UDP to this process), so latency is measured from
the publisher's commit (SDK: as COMMIT is sent; gateway: just before the request is sent, an
over-estimate by the request's own time) to the handler or the receiver.

First a probe measures the maximum: publishers on both paths push as fast as they can, each with
at most --window events not yet received everywhere (so no backlog builds up), for
--probe-seconds; the maximum of a path is what came out of it per second over the probe's second
half. Then the soak publishes each path at half its maximum for --minutes, and every 10 s samples
the resident memory (RSS) of every process, p50/p99 latency of what was received in those 10 s,
the Kafka consumer lag of every group in the space, and the outbox backlogs. The growth of each
process's RSS from the end of the warm-up to the end of the run is compared with the 10% target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import ingest  # noqa: E402  (the gateway helpers: raw HTTP client, broker start, app keys)
from bizevents.app import Events  # noqa: E402
from bizevents.settings import ConnectionSettings  # noqa: E402

ROOT = HERE.parent
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")
PLACED = "com.acme.orders.OrderPlaced.v1"
SHIPPED = "com.acme.orders.OrderShipped.v1"
LABELS = ("sdk>worker", "gateway>worker", "gateway>webhook")
TARGET_GROWTH_PCT = 10.0

RECEIVER = """
import os, socket, time, json, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
to = ("127.0.0.1", int(os.environ["SOAK_REPORT_PORT"]))
async def hook(request):
    doc = json.loads(await request.body())
    sock.sendto(f"h {doc['id']} {time.time():.6f}".encode(), to)
    return Response(status_code=204)
app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(os.environ["SOAK_HOOK_PORT"]), log_level="warning",
            access_log=False)
"""


# -- what came out ----------------------------------------------------------------------------
@dataclass
class Tracker:
    """Commit times of events not yet received everywhere, and the latencies of what arrived."""

    sdk: dict[str, float] = field(default_factory=dict)  # id -> commit time
    gateway: dict[str, list[Any]] = field(default_factory=dict)  # id -> [sent, worker?, hook?]
    early: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    window: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in LABELS})
    received: dict[str, int] = field(default_factory=lambda: {k: 0 for k in LABELS})
    repeats: int = 0  # receipts of an event already received there (redeliveries)

    def committed_sdk(self, event_id: str, at: float) -> None:
        self.sdk[event_id] = at
        for source, when in self.early.pop(event_id, []):
            self.receipt(source, event_id, when)

    def sent_gateway(self, event_id: str, at: float) -> None:
        self.gateway[event_id] = [at, False, False]

    def receipt(self, source: str, event_id: str, when: float) -> None:
        if source == "w" and event_id in self.sdk:
            self._record("sdk>worker", when - self.sdk.pop(event_id))
        elif event_id in self.gateway:
            entry = self.gateway[event_id]
            slot = 1 if source == "w" else 2
            if entry[slot]:
                self.repeats += 1
                return
            entry[slot] = True
            self._record("gateway>worker" if source == "w" else "gateway>webhook", when - entry[0])
            if entry[1] and entry[2]:
                del self.gateway[event_id]
        else:  # a commit not recorded yet, or a redelivery of a finished event
            self.early.setdefault(event_id, []).append((source, when))

    def _record(self, label: str, seconds: float) -> None:
        self.window[label].append(seconds)
        self.received[label] += 1

    def take_window(self) -> dict[str, list[float]]:
        taken, self.window = self.window, {k: [] for k in LABELS}
        return taken


class Receipts(asyncio.DatagramProtocol):
    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def datagram_received(self, data: bytes, addr: Any) -> None:
        source, event_id, when = data.decode().split()
        self.tracker.receipt(source, event_id, float(when))


# -- processes --------------------------------------------------------------------------------
def rss_tree_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, MB."""
    total, stack = 0.0, [pid]
    while stack:
        p = stack.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings = ConnectionSettings()
        self.id = uuid.uuid4().hex[:8]
        self.space = f"soak{self.id}"
        self.outbox = f"soak_ob_{self.id}"
        self.tracker = Tracker()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = Path(args.logs) if args.logs else None
        self.events = Events(app="orders", contracts=ROOT / "contracts",
                             outbox_schema=self.outbox, space=self.space)  # fmt: skip
        self.published = {"sdk": 0, "gateway": 0}
        self.errors = {"sdk": 0, "gateway": 0}
        self.reconnects = 0  # gateway keep-alive connections found closed by the broker
        self.requests: list[float] = []

    # -- set-up -------------------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
        out: Any = subprocess.DEVNULL
        if self.logs:
            self.logs.mkdir(parents=True, exist_ok=True)
            out = (self.logs / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(argv, env={**os.environ, **env}, cwd=cwd,
                                            stdout=out, stderr=subprocess.STDOUT)  # fmt: skip

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        sock.bind(("127.0.0.1", 0))
        self.report_port = sock.getsockname()[1]
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: Receipts(self.tracker), sock=sock
        )
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)
        await admin.start()
        try:
            topics = [f"{self.space}.{t}" for t in (PLACED, SHIPPED)]
            await admin.create_topics([NewTopic(t, 3, 1) for t in topics])
        finally:
            await admin.close()
        self.pool = await asyncpg.create_pool(self.settings.database_url, min_size=2, max_size=10)
        async with self.pool.acquire() as conn:
            await self.events.migrate(conn)
        common = {"BIZEVENTS_SPACE": self.space, "SOAK_REPORT_PORT": str(self.report_port),
                  "BIZEVENTS_DATABASE_URL": self.settings.database_url,
                  "BIZEVENTS_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap}  # fmt: skip
        self.spawn(
            "relay", [BIZEVENTS, "relay"], {**common, "BIZEVENTS_OUTBOX_SCHEMA": self.outbox}
        )
        self.spawn("worker", [BIZEVENTS, "worker", "soak_app:events"], common, cwd=HERE)
        hook_port = ingest.free_port()
        self.spawn("receiver", [sys.executable, "-c", RECEIVER],
                   {**common, "SOAK_HOOK_PORT": str(hook_port)})  # fmt: skip
        self.port = ingest.free_port()
        self.procs["broker"] = ingest.start_broker(
            self.settings.database_url, self.settings.kafka_bootstrap, self.id, self.port,
            BIZEVENTS_SPACE=self.space, BIZEVENTS_GATEWAY_WEBHOOK_ALLOW='["127.0.0.1/32"]',
        )  # fmt: skip
        url = f"http://127.0.0.1:{self.port}"
        await ingest.wait_healthy(url, self.procs["broker"])
        self.orders_key = await ingest.app_key(url, "orders")
        billing = await ingest.app_key(url, "billing")
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            r = await http.post(
                "/webhooks",
                json={"event_types": [SHIPPED], "url": f"http://127.0.0.1:{hook_port}/hook"},
                headers={"Authorization": f"Bearer {billing}"},
            )
            r.raise_for_status()
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap)
        await self.consumer.start()
        self.admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)
        await self.admin.start()

    async def wait_ready(self, timeout: float = 300) -> None:
        """Until one event of each path has come out everywhere (groups joined, hook live)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.tracker.sdk.clear()
            self.tracker.gateway.clear()
            await self.publish_sdk(1)
            await self.publish_gateway(1)
            for _ in range(50):
                await asyncio.sleep(0.2)
                if not self.tracker.sdk and not self.tracker.gateway:
                    self.tracker.take_window()
                    self.tracker.received = {k: 0 for k in LABELS}
                    return
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}")
        raise TimeoutError("the path did not deliver an event of each kind in time")

    async def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                proc.kill()
        with contextlib.suppress(Exception):
            await self.consumer.stop()
        with contextlib.suppress(Exception):
            doomed = [t for t in await self.admin.list_topics() if t.startswith(self.space + ".")]
            await self.admin.delete_topics(doomed)
        with contextlib.suppress(Exception):
            await self.admin.close()
        self.transport.close()
        for schema in (self.outbox, f"bench_reg_{self.id}", f"bench_gw_{self.id}"):
            await self.pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await self.pool.close()

    # -- publishing ---------------------------------------------------------------------------
    async def publish_sdk(self, n: int) -> None:
        async with self.pool.acquire() as conn:
            for _ in range(n):
                await self._one_sdk(conn)

    async def _one_sdk(self, conn: asyncpg.Connection) -> None:
        i = self.published["sdk"]
        self.published["sdk"] += 1
        try:
            async with conn.transaction():
                event_id = await self.events.publish(conn, PLACED, {
                    "order_id": f"o-{i % 5000}", "customer_id": f"c-{i % 977}",
                    "total": round(10 + i % 500 * 1.37, 2), "currency": "EUR",
                    "items": [{"sku": f"sku-{i % 31}", "quantity": 1 + i % 3}],
                })  # fmt: skip
                # Taken as COMMIT is sent (after it returns, a slow loop could be late).
                commit_sent = time.time()
            self.tracker.committed_sdk(event_id, commit_sent)
        except (asyncpg.PostgresError, OSError):
            self.errors["sdk"] += 1

    def _gateway_request(self) -> tuple[str, bytes]:
        i = self.published["gateway"]
        self.published["gateway"] += 1
        event_id = str(uuid.uuid4())
        body = json.dumps({"specversion": "1.0", "id": event_id, "source": "/acme/orders",
                           "type": SHIPPED, "data": {"order_id": f"o-{i % 5000}",
                                                     "carrier": "DHL"}}).encode()  # fmt: skip
        headers = {"Content-Type": "application/cloudevents+json",
                   "Authorization": f"Bearer {self.orders_key}"}  # fmt: skip
        return event_id, ingest.raw_post("/events", body, headers)

    async def publish_gateway(self, n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            for _ in range(n):
                await self._one_gateway(reader, writer)
        finally:
            writer.close()

    async def _one_gateway(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        event_id, raw = self._gateway_request()
        sent = time.time()
        self.tracker.sent_gateway(event_id, sent)
        try:
            status, _ = await ingest._request(reader, writer, raw)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.tracker.gateway.pop(event_id, None)
            self.published["gateway"] -= 1
            raise
        # How much of the gateway latency is the request itself (sent to 202).
        self.requests.append(time.time() - sent)
        if status != 202:
            self.errors["gateway"] += 1
            self.tracker.gateway.pop(event_id, None)

    async def drive(self, seconds: float, rates: dict[str, float] | None,
                    window: int = 0) -> None:  # fmt: skip
        """Publish on both paths for `seconds`: at `rates` (events/s per path), or, when None,
        as fast as possible with at most `window` events of a path in flight."""
        stop_at = time.monotonic() + seconds
        lanes = 8

        async def paced(path: str, lane: int, step: Any) -> None:
            rate = rates[path] if rates else 0.0
            start, i = time.monotonic(), lane
            while (now := time.monotonic()) < stop_at:
                if rates:
                    delay = start + i / rate - now
                    if delay > 0:
                        await asyncio.sleep(min(delay, stop_at - now))
                        continue
                    i += lanes
                else:
                    inflight = self.tracker.sdk if path == "sdk" else self.tracker.gateway
                    if len(inflight) >= window:
                        await asyncio.sleep(0.01)
                        continue
                await step()

        async def sdk_lane(lane: int) -> None:
            async with self.pool.acquire() as conn:
                await paced("sdk", lane, lambda: self._one_sdk(conn))

        async def gateway_lane(lane: int) -> None:
            conn: list[Any] = []

            async def step() -> None:
                if not conn:
                    conn.extend(await asyncio.open_connection("127.0.0.1", self.port))
                try:
                    await self._one_gateway(*conn)
                except (asyncio.IncompleteReadError, ConnectionError):
                    # The broker closes a keep-alive connection after 5 s idle (uvicorn's
                    # default): at a low rate a lane's next request finds it closed. Nothing
                    # was accepted; the next request goes over a new connection.
                    conn.pop().close()
                    conn.clear()
                    self.reconnects += 1

            try:
                await paced("gateway", lane, step)
            finally:
                if conn:
                    conn[1].close()

        await asyncio.gather(*(sdk_lane(k) for k in range(lanes)),
                             *(gateway_lane(k) for k in range(lanes)))  # fmt: skip

    # -- measuring ----------------------------------------------------------------------------
    async def probe(self) -> dict[str, Any]:
        seconds = self.args.probe_seconds
        half = asyncio.get_running_loop().create_task(self._mark_half(seconds / 2))
        await self.drive(seconds, None, self.args.window)
        before, mark = await half
        after = dict(self.tracker.received)
        span = time.monotonic() - mark
        out = {k: (after[k] - before[k]) / span for k in LABELS}
        self.tracker.take_window()
        return {
            "seconds": seconds,
            "window": self.args.window,
            "out_rates": out,
            "max": {"sdk": out["sdk>worker"],
                    "gateway": min(out["gateway>worker"], out["gateway>webhook"])},
        }  # fmt: skip

    async def _mark_half(self, after: float) -> tuple[dict[str, int], float]:
        await asyncio.sleep(after)
        return dict(self.tracker.received), time.monotonic()

    async def drained(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.tracker.sdk or self.tracker.gateway:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.5)
        return True

    async def lag(self) -> dict[str, int]:
        """Kafka consumer lag of every group in the space (end offset minus committed)."""
        out: dict[str, int] = {}
        groups = await self.admin.list_consumer_groups()
        for group_id, *_ in groups:
            if not group_id.startswith(self.space + "."):
                continue
            offsets = await self.admin.list_consumer_group_offsets(group_id)
            tps = list(offsets)
            if not tps:
                continue
            ends = await self.consumer.end_offsets([TopicPartition(tp.topic, tp.partition)
                                                    for tp in tps])  # fmt: skip
            total = 0
            for tp in tps:
                committed = offsets[tp].offset
                if committed >= 0:
                    total += max(0, ends[TopicPartition(tp.topic, tp.partition)] - committed)
            out[group_id[len(self.space) + 1 :]] = total
        return out

    async def backlog(self) -> dict[str, int]:
        out = {}
        for name, schema in (
            ("sdk_outbox", self.outbox),
            ("gateway_outbox", f"bench_gw_{self.id}"),
        ):
            out[name] = int(await self.pool.fetchval(f"SELECT count(*) FROM {schema}.outbox"))
        return out

    def rss(self) -> dict[str, float]:
        out = {name: round(rss_tree_mb(p.pid), 1) for name, p in self.procs.items()}
        out["driver"] = round(rss_tree_mb(os.getpid()), 1)
        return out

    async def sample_loop(self, seconds: float, every: float) -> list[dict[str, Any]]:
        samples: list[dict[str, Any]] = []
        start = time.monotonic()
        published = dict(self.published)
        self.tracker.take_window()
        self.requests = []
        while (elapsed := time.monotonic() - start) < seconds - 0.5:
            await asyncio.sleep(min(every, seconds - elapsed))
            window = self.tracker.take_window()
            requests, self.requests = self.requests, []
            now = dict(self.published)
            span = time.monotonic() - start - (samples[-1]["t"] if samples else 0.0)
            sample: dict[str, Any] = {
                "t": round(time.monotonic() - start, 1),
                "rss_mb": self.rss(),
                "published_per_s": {k: (now[k] - published[k]) / span for k in now},
                "latency_ms": {
                    k: {
                        "n": len(v),
                        "p50": 1000 * statistics.median(v) if v else None,
                        "p99": 1000 * percentile(v, 0.99) if v else None,
                    }
                    for k, v in window.items()
                },
                "lag": await self.lag(),
                "backlog": await self.backlog(),
                "gateway_request_ms": {
                    "n": len(requests),
                    "p50": 1000 * statistics.median(requests) if requests else None,
                    "p99": 1000 * percentile(requests, 0.99) if requests else None,
                },
                "in_flight": {"sdk": len(self.tracker.sdk), "gateway": len(self.tracker.gateway)},
                "load": [round(x, 2) for x in os.getloadavg()],
            }
            published = now
            samples.append(sample)
            lat = sample["latency_ms"]
            print(f"t={sample['t']:7.1f}s rss={sum(sample['rss_mb'].values()):6.0f} MB "
                  + " ".join(f"{k} p50={lat[k]['p50'] or 0:.0f} p99={lat[k]['p99'] or 0:.0f}ms"
                             for k in LABELS)
                  + f" lag={sum(sample['lag'].values())} load={sample['load'][0]}",
                  flush=True)  # fmt: skip
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode} during the soak")
        return samples


def growth(samples: list[dict[str, Any]], warmup_s: float) -> dict[str, Any]:
    """RSS growth of each process from the end of the warm-up to the end of the run (medians of
    three samples at each end, so one GC pause or one burst does not decide it)."""
    after = [s for s in samples if s["t"] >= warmup_s]
    if len(after) < 2:
        return {}
    head, tail = after[:3], after[-3:]
    out: dict[str, Any] = {}
    for name in after[0]["rss_mb"]:
        first = statistics.median(s["rss_mb"][name] for s in head)
        last = statistics.median(s["rss_mb"][name] for s in tail)
        pct = 100 * (last - first) / first if first else 0.0
        out[name] = {"after_warmup_mb": first, "end_mb": last, "growth_pct": round(pct, 2),
                     "peak_mb": max(s["rss_mb"][name] for s in after),
                     "within_target": pct < TARGET_GROWTH_PCT}  # fmt: skip
    return out


def summarise(samples: list[dict[str, Any]], warmup_s: float) -> dict[str, Any]:
    after = [s for s in samples if s["t"] >= warmup_s] or samples
    out: dict[str, Any] = {}
    for label in LABELS:
        p50 = [s["latency_ms"][label]["p50"] for s in after if s["latency_ms"][label]["n"]]
        p99 = [s["latency_ms"][label]["p99"] for s in after if s["latency_ms"][label]["n"]]
        out[label] = {
            "p50_ms_median": statistics.median(p50) if p50 else None,
            "p99_ms_median": statistics.median(p99) if p99 else None,
            "p99_ms_worst": max(p99) if p99 else None,
        }
    requests = [s["gateway_request_ms"] for s in after if s.get("gateway_request_ms", {}).get("n")]
    if requests:
        out["gateway_request"] = {
            "p50_ms_median": statistics.median(r["p50"] for r in requests),
            "p99_ms_median": statistics.median(r["p99"] for r in requests),
        }
    lags = [sum(s["lag"].values()) for s in after]
    out["lag_max"] = max(lags) if lags else None
    out["lag_end"] = lags[-1] if lags else None
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    soak = Soak(args)
    load_before = os.getloadavg()
    result: dict[str, Any] = {
        "benchmark": "soak",
        "space": soak.space,
        "started_at": datetime.now(UTC).isoformat(),
        "load_before": [round(x, 2) for x in load_before],
        "minutes": args.minutes,
        "target_growth_pct": TARGET_GROWTH_PCT,
    }
    await soak.start()
    try:
        await soak.wait_ready()
        print(f"probing the maximum for {args.probe_seconds:.0f} s ...", flush=True)
        probe = await soak.probe()
        result["probe"] = probe
        rates = {k: max(1.0, v / 2) for k, v in probe["max"].items()}
        result["rates"] = rates
        print(
            f"maximum out: {probe['out_rates']}; soaking at {rates} for {args.minutes} min",
            flush=True,
        )
        result["drained_after_probe"] = await soak.drained(120)
        seconds = args.minutes * 60
        driving = asyncio.create_task(soak.drive(seconds, rates))
        samples = await soak.sample_loop(seconds, args.every)
        await driving
        result["drained_at_end"] = await soak.drained(120)
        warmup = min(args.warmup_minutes * 60, seconds / 3)
        result.update(
            warmup_s=warmup, samples=samples, growth=growth(samples, warmup),
            summary=summarise(samples, warmup), published=soak.published, errors=soak.errors,
            received=soak.tracker.received, repeats=soak.tracker.repeats,
            gateway_reconnects=soak.reconnects,
            not_received={"sdk": len(soak.tracker.sdk), "gateway": len(soak.tracker.gateway)},
        )  # fmt: skip
    finally:
        await soak.stop()
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def report(result: dict[str, Any]) -> None:
    print(f"\nsoak {result['minutes']} min at {result['rates']} events/s "
          f"(half of the probe's maximum {result['probe']['max']})")  # fmt: skip
    print(f"{'process':10} {'after warm-up':>14} {'end':>8} {'growth':>8} {'peak':>8}")
    for name, g in result["growth"].items():
        mark = "" if g["within_target"] else f"  above the {TARGET_GROWTH_PCT:.0f}% target"
        print(f"{name:10} {g['after_warmup_mb']:>11.1f} MB {g['end_mb']:>5.1f} MB "
              f"{g['growth_pct']:>7.1f}% {g['peak_mb']:>5.1f} MB{mark}")  # fmt: skip
    for label in LABELS:
        s = result["summary"][label]
        if s["p50_ms_median"] is not None:
            print(f"{label:16} p50 {s['p50_ms_median']:.1f} ms, p99 {s['p99_ms_median']:.1f} ms "
                  f"(worst 10-s p99 {s['p99_ms_worst']:.1f} ms)")  # fmt: skip
    print(
        f"consumer lag: max {result['summary']['lag_max']}, end {result['summary']['lag_end']}; "
        f"published {result['published']}, not received {result['not_received']}, "
        f"errors {result['errors']}, load {result['load_before']} -> {result['load_after']}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--probe-seconds", type=float, default=60.0)
    parser.add_argument(
        "--warmup-minutes",
        type=float,
        default=5.0,
        help="growth is measured from here (at most a third of the run)",
    )
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--window", type=int, default=2000, help="most events of a path in flight while probing"
    )
    parser.add_argument("--logs", help="directory for the processes' logs (default: discarded)")
    parser.add_argument(
        "--out",
        default=str(
            Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "bench" / "results") / "soak.json"
        ),
    )
    args = parser.parse_args()
    result = asyncio.run(main(args))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    report(result)
    print(f"\nwritten to {out}")
