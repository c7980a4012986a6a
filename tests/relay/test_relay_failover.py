"""Crash and outage scenarios: relay processes killed with SIGKILL, Kafka stopped and restarted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from bizevents.app import Event, Events
from bizevents.devservices import KafkaServer
from bizevents.relay import Relay
from bizevents.settings import DevSettings, RelaySettings
from servers import host_port
from worker.tcp_proxy import CuttableProxy

pytestmark = [pytest.mark.services, pytest.mark.slow]
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")
KEYS = 50


@pytest.fixture
async def topic(make_topic) -> str:
    return str(await make_topic("com.acme.test"))


def start_relay(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [BIZEVENTS, "relay", "--log-json"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def leader_pid(db, candidates: set[int]) -> int | None:
    names = await db.fetch(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted "
        "AND a.application_name LIKE 'bizevents-relay:%'"
    )
    pids = {int(r[0].split(":")[1]) for r in names}
    found = pids & candidates
    return found.pop() if found else None


def check_order(records) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Every (key, seq) arrives; per key, first arrivals are in publish order. Returns
    (distinct events, duplicates)."""
    seen: set[str] = set()
    firsts: dict[bytes, list[int]] = defaultdict(list)
    duplicates = 0
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        event_id = dict(r.headers)["ce_id"].decode()
        if event_id in seen:
            duplicates += 1
            continue
        seen.add(event_id)
        firsts[r.key].append(json.loads(r.value)["seq"])
    for key, seqs in firsts.items():
        assert seqs == sorted(seqs), f"key {key!r} out of order"
    return len(seen), duplicates


async def test_two_relays_kill_active_keeps_every_event_in_order(
    services, db, db_url, db_schema, topic, read_topic, tmp_path
):
    total = 10_000
    events = Events(app="orders", outbox_schema=db_schema, require_transaction=False)
    await events.migrate(db)
    env = {
        "BIZEVENTS_DATABASE_URL": db_url,
        "BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "BIZEVENTS_OUTBOX_SCHEMA": db_schema,
        "BIZEVENTS_RELAY_BATCH_SIZE": "50",
        "BIZEVENTS_RELAY_STANDBY_INTERVAL": "0.1",
    }
    seq: dict[str, int] = defaultdict(int)
    relays: list[subprocess.Popen[bytes]] = []
    try:

        async def publish(n: int) -> None:
            for start in range(0, n, 20):
                batch = []
                for i in range(start, min(start + 20, n)):
                    key = f"k{i % KEYS}"
                    batch.append(Event(topic, {"seq": seq[key]}, key=key))
                    seq[key] += 1
                async with db.transaction():
                    await events.publish_many(db, batch)

        await publish(total // 2)  # a backlog, then both relays
        relays = [start_relay(env, tmp_path / f"relay{i}.log") for i in range(2)]
        pids = {p.pid for p in relays}
        async with asyncio.timeout(30):
            while (victim := await leader_pid(db, pids)) is None:
                await asyncio.sleep(0.01)
            while await db.fetchval(f"SELECT count(*) FROM {db_schema}.outbox") == total // 2:
                await asyncio.sleep(0.005)
        # Kill the active relay while it is busy with the backlog.
        os.kill(victim, signal.SIGKILL)
        pending_at_kill = await db.fetchval(f"SELECT count(*) FROM {db_schema}.outbox")
        assert pending_at_kill > 0
        await publish(total - total // 2)
        async with asyncio.timeout(60):
            while await db.fetchval(f"SELECT count(*) FROM {db_schema}.outbox"):
                await asyncio.sleep(0.1)
        survivor = await leader_pid(db, pids)
        assert survivor is not None and survivor != victim
        records = await read_topic(topic, None, timeout=60, idle=1.5)
    finally:
        for p in relays:
            p.send_signal(signal.SIGTERM)
        for p in relays:
            p.wait(timeout=20)
    distinct, duplicates = check_order(records)
    assert distinct == total
    assert duplicates <= 50 * 3  # at most the batches in flight at the kill


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _gauge(name: str, schema: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"schema": schema})


@pytest.mark.timeout(300)  # a private Kafka starts twice
async def test_kafka_outage_keeps_rows_and_resumes(services, db, db_url, db_schema, tmp_path):
    """A private Kafka is stopped mid-stream: rows wait in the outbox, then all arrive in order.
    The relay says so once in its own words, and once when Kafka is back; its gauges follow."""
    tmp_path.chmod(0o755)
    dev = DevSettings(
        state_dir=tmp_path / "state",
        kafka_port=_free_port(),
        kafka_controller_port=_free_port(),
    )
    kafka = KafkaServer(dev)
    await asyncio.to_thread(kafka.start)
    relay = Relay(
        RelaySettings(
            database_url=db_url,
            kafka_bootstrap=kafka.bootstrap,
            outbox_schema=db_schema,
            relay_poll_interval=0.2,
            relay_max_backoff=0.5,
            relay_stall_after=1.0,
        )
    )
    logs = contextlib.ExitStack()
    events = Events(app="orders", outbox_schema=db_schema, require_transaction=False)
    await events.migrate(db)
    task = asyncio.create_task(relay.run())
    etype = "com.acme.test.outage"
    try:
        await events.publish_many(db, [Event(etype, {"seq": i}, key="k") for i in range(50)])
        async with asyncio.timeout(30):
            while await db.fetchval(f"SELECT count(*) FROM {db_schema}.outbox"):
                await asyncio.sleep(0.05)
        said = logs.enter_context(capture_logs())  # from the outage on
        await asyncio.to_thread(kafka.stop)
        await events.publish_many(db, [Event(etype, {"seq": i}, key="k") for i in range(50, 100)])
        await asyncio.sleep(3)  # the relay retries against a dead broker meanwhile
        assert await db.fetchval(f"SELECT count(*) FROM {db_schema}.outbox") == 50
        assert not task.done()
        assert _gauge("bizevents_relay_kafka_up", db_schema) == 0
        last_send = _gauge("bizevents_relay_last_send_timestamp_seconds", db_schema)
        assert last_send is not None and time.time() - last_send >= 3
        await asyncio.to_thread(kafka.start)
        async with asyncio.timeout(90):
            while await db.fetchval(f"SELECT count(*) FROM {db_schema}.outbox"):
                await asyncio.sleep(0.1)
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            etype, bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        seqs: list[int] = []
        ids: set[bytes] = set()
        async with asyncio.timeout(30):
            while len(ids) < 100:
                for recs in (await consumer.getmany(timeout_ms=500)).values():
                    for r in recs:
                        if dict(r.headers)["ce_id"] not in ids:
                            ids.add(dict(r.headers)["ce_id"])
                            seqs.append(json.loads(r.value)["seq"])
        await consumer.stop()
        assert seqs == list(range(100))
        assert _gauge("bizevents_relay_kafka_up", db_schema) == 1
        names = [e["event"] for e in said if e["event"].startswith("relay.kafka")]
        assert names == ["relay.kafka_unreachable", "relay.kafka_recovered"], names
        warnings = [e for e in said if e["log_level"] == "warning"]
        assert len(warnings) <= 2, warnings  # said once, not once per retry
    finally:
        logs.close()
        relay.stop()
        await asyncio.wait_for(task, 30)
        await asyncio.to_thread(kafka.stop)


async def test_database_outage_is_told_once_and_the_rows_follow(services, db, db_url, db_schema):
    """The relay's database link is cut for several reconnect rounds: one warning when it is lost,
    one line when it is back, and every row published meanwhile reaches Kafka."""
    host, port = host_port(db_url)
    proxy = await CuttableProxy(host, port).start()
    relay = Relay(
        RelaySettings(
            database_url=db_url.replace(f":{port}/", f":{proxy.port}/"),
            kafka_bootstrap=services.kafka_bootstrap,
            outbox_schema=db_schema,
            relay_poll_interval=0.2,
            relay_max_backoff=0.5,
        )
    )
    events = Events(app="orders", outbox_schema=db_schema, require_transaction=False)
    await events.migrate(db)
    task = asyncio.create_task(relay.run())
    etype = "com.acme.test.dboutage"
    pending = f"SELECT count(*) FROM {db_schema}.outbox"
    logs = contextlib.ExitStack()
    try:
        await events.publish_many(db, [Event(etype, {"seq": i}, key="k") for i in range(20)])
        async with asyncio.timeout(30):
            while await db.fetchval(pending):
                await asyncio.sleep(0.05)
        said = logs.enter_context(capture_logs())
        proxy.cut()
        await events.publish_many(db, [Event(etype, {"seq": i}, key="k") for i in range(20, 40)])
        await asyncio.sleep(3)  # reconnect attempts every 0.2-0.5 s meanwhile
        assert await db.fetchval(pending) == 20
        proxy.restore()
        async with asyncio.timeout(30):
            while await db.fetchval(pending):
                await asyncio.sleep(0.05)
    finally:
        logs.close()
        relay.stop()
        await asyncio.wait_for(task, 30)
        await proxy.stop()
    names = [e["event"] for e in said if e["event"].startswith("relay.database")]
    assert names[0] == "relay.database_unavailable"
    assert names[-1] == "relay.database_available"
    shown = [e for e in said if e["log_level"] in ("info", "warning", "error")]
    assert [e["event"] for e in shown if e["event"].startswith("relay.database")] == [
        "relay.database_unavailable",
        "relay.database_available",
    ]
    # It did retry meanwhile (counted whatever the log level lets through).
    retries = REGISTRY.get_sample_value(
        "bizevents_relay_errors_total", {"schema": db_schema, "kind": "database"}
    )
    assert retries is not None and retries > 2
