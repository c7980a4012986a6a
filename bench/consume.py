"""Consumer benchmark: one pre-filled topic drained by raw aiokafka, FastStream and our worker.

    .venv/bin/python bench/consume.py [--events 200000] [--partitions 3] [--cap 40] [--only a,b]
                                      [--same-process]

Needs `bizevents dev up`. Prints a table and writes bench/results/consume.json.

Contenders (each a fresh consumer group reading the same topic from the start):
  raw aiokafka      getmany(500) loop, no decoding, offsets committed every 0.5 s (the same
                    cadence as our worker's commit_interval), no auto-commit
  raw + decode      the same, plus decoding each record as a CloudEvent and its JSON payload
                    (bizevents.envelope.from_kafka): the floor for any CloudEvents consumer
  faststream ack    FastStream 0.7 KafkaBroker subscriber with AckPolicy.ACK: auto-commit off,
                    the offset is committed after each handled message (its at-least-once mode);
                    a no-op handler
  faststream batch  the same with `batch=True` (up to 500 messages per call, the body of each
                    decoded as JSON), AckPolicy.ACK: one commit per batch. What a FastStream user
                    picks for throughput
  raw + validate    raw + decode, plus validating each payload against its contract (the
                    baseline of "ours contracts")
  raw + inbox       raw + decode, plus one transaction per record inserting its inbox row
                    (the same INSERT ... ON CONFLICT DO NOTHING), on as many connections as the
                    worker's pool (20), the baseline of "ours inbox"
  ours no-op        bizevents Worker: CloudEvent decoding, per-key lanes, offset tracking and
                    interval commits; a handler that does nothing
  ours 1 ms         the same with `await asyncio.sleep(0.001)` in the handler
  ours no-op tuned  no-op with BIZEVENTS_MAX_PENDING_PER_PARTITION=20000 (default 1000): shows
                    whether the back-pressure threshold limits a fast handler (a paused partition
                    is resumed by the fetch loop, after its current long poll)
  ours contracts    no-op, with the event type's contract loaded: every payload is validated
  ours inbox        no-op with `inbox=True`: one transaction per event for the inbox row

Why "x raw" is far below 0.7: the raw baseline does no per-record work at all. Any CloudEvents
consumer decodes each record; "raw + decode" shows what decoding alone costs one Python process.
Compare ours with that row (targets: ours no-op >= 0.7x raw + decode and >= 1.0x faststream
batch), and "ours contracts" / "ours inbox" with their own baselines.

Rate = messages / (time of the last message - time the consumer was started), group join
included for everyone. "cpu s/100k": the contender process's CPU time (all threads) from its
first message to its last, per 100k messages; on a shared machine it moves much less than msg/s
with what else runs, and "cpu x own" compares it with the contender's own baseline.
Our worker's group topics (retry, replay, dead letters) are created before its clock starts, as
the source topic is for everyone: a deployed group has them already.
A contender still running after --cap seconds is stopped and its rate is computed over what it
drained. Each contender runs in a fresh Python process (--same-process: all in this one; in runs
under load the contender after a FastStream one was then up to 2x slower).
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
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bizevents.contracts import load_contract_texts
from bizevents.envelope import Envelope, from_kafka, new_event_id, to_kafka
from bizevents.kafka import make_producer
from bizevents.logging import configure_logging
from bizevents.settings import ConnectionSettings
from bizevents.topics import dead_letter_topic, replay_topic, retry_topic
from bizevents.worker import Router, Worker, WorkerSettings
from bizevents.worker.inbox import migrate_inbox
from bizevents.worker.runner import freeze_startup_heap

ROOT = Path(__file__).resolve().parents[1]
INBOX_CONNECTIONS = 20  # the worker's pool at the default concurrency: max(2, min(64, 20))

CONTRACT = """\
asyncapi: 3.0.0
info: {{title: bench, version: 1.0.0, x-bizevents-owner: bench, x-bizevents-source: /bench}}
channels:
  tick:
    address: {topic}
    x-bizevents-type: {topic}
    x-bizevents-key: n
    messages:
      Tick: {{$ref: '#/components/messages/Tick'}}
operations:
  sendTick: {{action: send, channel: {{$ref: '#/channels/tick'}}}}
components:
  messages:
    Tick:
      payload:
        type: object
        additionalProperties: false
        required: [n]
        properties:
          n: {{type: integer, minimum: 0}}
"""


def contracts_for(topic: str) -> Any:
    return load_contract_texts({"bench.yaml": CONTRACT.format(topic=topic)})


class Bench:
    """What every contender gets: where Kafka and PostgreSQL are, the topic, its contracts."""

    def __init__(self, bootstrap: str, database_url: str, topic: str, partitions: int) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.database_url = database_url
        self.topic = topic
        self.contracts = contracts_for(topic)
        self.schema = f"bench_{uuid.uuid4().hex[:8]}"


class Counter:
    """Counts handled messages and remembers when the first and the last one arrived, and the
    process's CPU time then (read at those two moments only: a per-message clock read would
    weigh on the contenders that count one message at a time)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.cpu_first = 0.0
        self.cpu_last: float | None = None  # None: the target was not reached
        self.clock_from: float | None = None  # set by a contender whose set-up is not timed
        self.done = asyncio.Event()

    def hit(self, n: int = 1) -> None:
        if n and not self.count:
            self.first = time.perf_counter()
            self.cpu_first = time.process_time()
        self.count += n
        self.last = time.perf_counter()
        if self.count >= self.target and self.cpu_last is None:
            self.cpu_last = time.process_time()
            self.done.set()


async def fill(bootstrap: str, topic: str, events: int, event_type: str) -> float:
    producer = make_producer(bootstrap, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for i in range(events):
            env = Envelope(
                id=new_event_id(),
                type=event_type,
                source="/bench",
                time=datetime.now(UTC),
                data=b'{"n":%d}' % i,
                partitionkey=f"k{i % 1000}",
            )
            key, value, headers = to_kafka(env)
            pending.append(await producer.send(topic, value, key=key, headers=headers))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return events / (time.perf_counter() - started)


Contender = Callable[[Bench, Counter, asyncio.Event], Awaitable[None]]


async def raw_aiokafka(bench: Bench, counter: Counter, stop: asyncio.Event) -> None:
    await _raw(bench, counter, stop, decode=False)


async def raw_decoding(bench: Bench, counter: Counter, stop: asyncio.Event) -> None:
    await _raw(bench, counter, stop, decode=True)


async def raw_validating(bench: Bench, counter: Counter, stop: asyncio.Event) -> None:
    await _raw(bench, counter, stop, decode=True, validate=True)


async def raw_inbox(bench: Bench, counter: Counter, stop: asyncio.Event) -> None:
    pool = await asyncpg.create_pool(bench.database_url, min_size=1, max_size=INBOX_CONNECTIONS)
    assert pool is not None
    async with pool.acquire() as conn:
        await migrate_inbox(conn, bench.schema)
    group = f"bench-raw-inbox-{uuid.uuid4().hex[:8]}"
    sql = (
        f"INSERT INTO {bench.schema}.inbox (group_name, event_id, event_type) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING 1"
    )

    async def one_connection(envelopes: list[Envelope]) -> None:
        async with pool.acquire() as conn:
            for env in envelopes:
                async with conn.transaction():
                    await conn.fetchval(sql, group, env.id, env.type)

    async def per_batch(records: list[Any]) -> None:
        envelopes = []
        for r in records:
            env = from_kafka(r.key, r.value, r.headers)
            env.payload()
            envelopes.append(env)
        slices = [envelopes[i::INBOX_CONNECTIONS] for i in range(INBOX_CONNECTIONS)]
        await asyncio.gather(*(one_connection(s) for s in slices if s))

    try:
        await _raw(bench, counter, stop, decode=False, per_batch=per_batch)
    finally:
        await pool.close()


async def _raw(
    bench: Bench,
    counter: Counter,
    stop: asyncio.Event,
    decode: bool,
    validate: bool = False,
    per_batch: Callable[[list[Any]], Awaitable[None]] | None = None,
) -> None:
    consumer = AIOKafkaConsumer(
        bench.topic,
        bootstrap_servers=bench.bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
    )
    contract = bench.contracts.get(bench.topic)
    await consumer.start()
    try:
        last_commit = time.perf_counter()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            if decode:  # what any CloudEvents consumer must do per record, nothing more
                for records in batch.values():
                    for r in records:
                        payload = from_kafka(r.key, r.value, r.headers).payload()
                        if validate:
                            contract.validate(payload)
            if per_batch is not None:
                await per_batch([r for records in batch.values() for r in records])
            counter.hit(sum(len(records) for records in batch.values()))
            if time.perf_counter() - last_commit >= 0.5:
                await consumer.commit()
                last_commit = time.perf_counter()
        await consumer.commit()
    finally:
        await consumer.stop()


async def faststream_ack(bench: Bench, counter: Counter, stop: asyncio.Event) -> None:
    await _faststream(bench, counter, stop, batch=False)


async def faststream_batch(bench: Bench, counter: Counter, stop: asyncio.Event) -> None:
    await _faststream(bench, counter, stop, batch=True)


async def _faststream(bench: Bench, counter: Counter, stop: asyncio.Event, batch: bool) -> None:
    from faststream import AckPolicy
    from faststream.kafka import KafkaBroker

    broker = KafkaBroker(bench.bootstrap, logger=None)
    options: dict[str, Any] = {"batch": True, "max_records": 500} if batch else {}

    @broker.subscriber(
        bench.topic,
        group_id=f"bench-fs-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.ACK,
        **options,
    )
    async def handle(body: Any) -> None:
        counter.hit(len(body) if batch else 1)

    await broker.start()
    try:
        await stop.wait()
    finally:
        await broker.stop()


def ours(
    delay: float = 0.0, *, contracts: bool = False, inbox: bool = False, **tuning: Any
) -> Contender:
    async def run(bench: Bench, counter: Counter, stop: asyncio.Event) -> None:
        router = Router()
        group = f"bench-ours-{uuid.uuid4().hex[:8]}"
        group_topics = [dead_letter_topic(group), replay_topic(group)] + [
            retry_topic(group, label) for label in ("10s", "1m", "10m")
        ]
        # The group's own topics exist once it has been deployed: created before the clock
        # starts, as the source topic is for every contender.
        await create_topics(bench.bootstrap, group_topics, bench.partitions)
        counter.clock_from = time.perf_counter()

        @router.subscriber(bench.topic, group=group, inbox=inbox)
        async def handle(event: Any, ctx: Any) -> None:
            if delay:
                await asyncio.sleep(delay)
            counter.hit()

        settings = WorkerSettings(
            kafka_bootstrap=bench.bootstrap,
            database_url=bench.database_url,
            inbox_schema=bench.schema,
            commit_interval=0.5,
            **tuning,
        )
        app = SimpleNamespace(
            router=router, contracts=bench.contracts if contracts else None, app=None
        )
        worker = Worker(app, settings)
        await worker.start()
        freeze_startup_heap()  # as `bizevents worker` (Worker.run) does in its own process
        try:
            await stop.wait()
        finally:
            await worker.stop()
            await cleanup(bench.bootstrap, group_topics)

    return run


async def create_topics(bootstrap: str, topics: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
        while not set(topics) <= set(await admin.list_topics()):
            await asyncio.sleep(0.05)
    finally:
        await admin.close()


async def cleanup(bootstrap: str, topics: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [t for t in topics if t in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def measure(
    name: str,
    contender: Contender,
    bench: Bench,
    events: int,
    cap: float,
) -> dict[str, Any]:
    counter = Counter(events)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(contender(bench, counter, stop))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(counter.done.wait(), cap)
    cpu_last = counter.cpu_last if counter.cpu_last is not None else time.process_time()
    stop.set()
    await task
    started = counter.clock_from or started
    elapsed = (counter.last or time.perf_counter()) - started
    rate = counter.count / elapsed if elapsed > 0 else 0.0
    steady_time = counter.last - counter.first
    steady = (counter.count - 1) / steady_time if steady_time > 0 else 0.0
    complete = counter.count >= events
    # CPU seconds of this process per 100k messages, from the first message to the last (all
    # threads: aiokafka's work counts as much as ours). Less sensitive than msg/s to what else
    # runs on the machine.
    cpu = (
        (cpu_last - counter.cpu_first) * 100_000 / (counter.count - 1) if counter.count > 1 else 0.0
    )
    print(
        f"  {name:16} {counter.count:>8} msgs in {elapsed:6.2f} s = {rate:>9,.0f} msg/s"
        f" (first after {counter.first - started:4.2f} s, then {steady:>9,.0f} msg/s,"
        f" {cpu:.2f} cpu s per 100k)" + ("" if complete else f"  (stopped at the {cap:.0f} s cap)"),
        flush=True,
    )
    return {
        "name": name,
        "messages": counter.count,
        "seconds": round(elapsed, 3),
        "msgs_per_s": round(rate),
        "first_message_after_s": round(counter.first - started, 3),
        "steady_msgs_per_s": round(steady),
        "cpu_s_per_100k": round(cpu, 3),
        "complete": complete,
    }


CONTENDERS: list[tuple[str, Contender, str | None]] = [
    # name, contender, the baseline of its own (same run) for the "x own" column
    ("raw aiokafka", raw_aiokafka, None),
    ("raw + decode", raw_decoding, None),
    ("raw + validate", raw_validating, None),
    ("raw + inbox", raw_inbox, None),
    ("ours no-op", ours(), "raw + decode"),
    ("ours 1 ms", ours(0.001), "raw + decode"),
    ("ours no-op tuned", ours(max_pending_per_partition=20_000), "raw + decode"),
    ("ours contracts", ours(contracts=True), "raw + validate"),
    ("ours inbox", ours(inbox=True), "raw + inbox"),
    # Last: with --same-process, the contender right after a FastStream one was up to 2x slower
    # than the same code later in the run (cause not established).
    ("faststream ack", faststream_ack, None),
    ("faststream batch", faststream_batch, None),
]
TARGETS = {"ours no-op": {"raw + decode": 0.7, "faststream batch": 1.0}}


async def main(args: argparse.Namespace) -> None:
    configure_logging("WARNING")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    settings = ConnectionSettings()
    bootstrap = settings.kafka_bootstrap
    run = uuid.uuid4().hex[:8]
    # The worker reads an event type's default topic, which is the type itself.
    topic = f"com.acme.bench{run}.Tick.v1"
    bench = Bench(bootstrap, settings.database_url, topic, args.partitions)
    only = set(args.only.split(",")) if args.only else None
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, args.partitions, 1)])
    await admin.close()
    try:
        load = os.getloadavg()
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
        print(f"filling {topic} with {args.events} events ...", flush=True)
        fill_rate = await fill(bootstrap, topic, args.events, topic)
        print(f"  filled at {fill_rate:,.0f} msg/s\ndraining:", flush=True)
        results = []
        for name, contender, _ in CONTENDERS:
            if only is None or name in only:
                if args.same_process:
                    results.append(await measure(name, contender, bench, args.events, args.cap))
                else:
                    results.append(await measure_apart(name, bench, args))
    finally:
        await cleanup(bootstrap, [topic])
        await drop_schema(bench)
    report(results, args, fill_rate, load)


async def measure_apart(name: str, bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """One contender in a fresh Python process: what ran before (its garbage, its threads, a
    FastStream broker's leftovers) cannot slow it down."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--measure", name, "--topic", bench.topic,
        "--schema", bench.schema, "--events", str(args.events),
        "--partitions", str(args.partitions), "--cap", str(args.cap),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    lines = out.decode().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{name}: the measuring process exited with {proc.returncode}")
    print("\n".join(lines[:-1]), flush=True)
    result: dict[str, Any] = json.loads(lines[-1])
    return result


async def measure_one(args: argparse.Namespace) -> None:
    """The child of measure_apart: one contender on the parent's filled topic, its result as
    the last line (JSON)."""
    configure_logging("WARNING")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    settings = ConnectionSettings()
    bench = Bench(settings.kafka_bootstrap, settings.database_url, args.topic, args.partitions)
    bench.schema = args.schema
    contender = {name: c for name, c, _ in CONTENDERS}[args.measure]
    result = await measure(args.measure, contender, bench, args.events, args.cap)
    print(json.dumps(result), flush=True)


async def drop_schema(bench: Bench) -> None:
    with contextlib.suppress(Exception):
        conn = await asyncpg.connect(bench.database_url)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {bench.schema} CASCADE")
        finally:
            await conn.close()


def report(
    results: list[dict[str, Any]],
    args: argparse.Namespace,
    fill_rate: float,
    load: tuple[float, float, float],
) -> None:
    by = {r["name"]: r["msgs_per_s"] for r in results}
    own = {name: base for name, _, base in CONTENDERS}

    def ratio(rate: int, base: str | None) -> float | None:
        return round(rate / by[base], 3) if base and by.get(base) else None

    def cell(value: float | None) -> str:
        return "" if value is None else f"{value:.2f}"

    cpu_by = {r["name"]: r.get("cpu_s_per_100k") for r in results}

    def cpu_ratio(name: str, base: str | None) -> float | None:
        """How many times the CPU per message of `base` this contender needs (lower: cheaper)."""
        mine, theirs = cpu_by.get(name), cpu_by.get(base) if base else None
        return round(mine / theirs, 3) if mine and theirs else None

    print(
        f"\n{'contender':17} {'msg/s':>9} {'x raw':>7} {'x raw+decode':>13} {'x fs batch':>11}"
        f" {'x own baseline':>22} {'cpu s/100k':>11} {'cpu x own':>10}"
    )
    for r in results:
        rate = r["msgs_per_s"]
        r["ratio_raw"] = ratio(rate, "raw aiokafka")
        r["ratio_raw_decode"] = ratio(rate, "raw + decode")
        r["ratio_faststream"] = ratio(rate, "faststream ack")
        r["ratio_faststream_batch"] = ratio(rate, "faststream batch")
        r["baseline"] = own.get(r["name"])
        r["ratio_baseline"] = ratio(rate, r["baseline"])
        r["cpu_ratio_baseline"] = cpu_ratio(r["name"], r["baseline"])
        mine = f"{cell(r['ratio_baseline'])} ({r['baseline']})" if r["ratio_baseline"] else ""
        print(
            f"{r['name']:17} {rate:>9,} {cell(r['ratio_raw']):>7}"
            f" {cell(r['ratio_raw_decode']):>13} {cell(r['ratio_faststream_batch']):>11}"
            f" {mine:>22} {cell(r.get('cpu_s_per_100k')):>11}"
            f" {cell(r['cpu_ratio_baseline']):>10}"
        )
    for name, targets in TARGETS.items():
        for base, wanted in targets.items():
            got = ratio(by.get(name, 0), base)
            if got is not None:
                verdict = "met" if got >= wanted else f"missed by {wanted - got:.2f}"
                print(f"target {name} >= {wanted}x {base}: {got:.2f}x, {verdict}")
        for base in targets:
            spent = cpu_ratio(name, base)
            if spent is not None:
                print(f"  {name} spends {spent:.2f}x the CPU per message of {base}")
    out = Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "bench" / "results")
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": "consume",
        "events": args.events,
        "partitions": args.partitions,
        "cap_seconds": args.cap,
        "load_average": [round(x, 2) for x in load],
        "fill_msgs_per_s": round(fill_rate),
        "results": results,
        "targets": TARGETS,
        "measured_at": datetime.now(UTC).isoformat(),
    }
    (out / "consume.json").write_text(json.dumps(doc, indent=2))
    print(f"\nwritten to {out / 'consume.json'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--cap", type=float, default=40.0, help="seconds per contender at most")
    parser.add_argument("--only", default="", help="comma-separated contender names")
    parser.add_argument(
        "--same-process", action="store_true",
        help="run every contender in this process (default: each in a fresh one)",
    )  # fmt: skip
    # Internal: measure_apart's child.
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    asyncio.run(measure_one(parsed) if parsed.measure else main(parsed))
