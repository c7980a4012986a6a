"""The real Kafka and PostgreSQL that the project starts: round trips and lifecycle."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bizevents.devservices import KafkaServer, PostgresServer, process
from bizevents.settings import DevSettings

pytestmark = pytest.mark.services
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")


async def _consume(bootstrap: str, topic: str, group: str, count: int):  # type: ignore[no-untyped-def]
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    got = []
    try:
        async with asyncio.timeout(30):
            while len(got) < count:
                batch = await consumer.getmany(timeout_ms=500, max_records=count - len(got))
                for records in batch.values():
                    got.extend(records)
        await consumer.commit()
    finally:
        await consumer.stop()
    return got


async def test_kafka_round_trip_keys_headers_partitions_and_committed_resume(services, topic):
    producer = AIOKafkaProducer(
        bootstrap_servers=services.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for i in range(60):
            await producer.send(
                topic,
                f"v{i}".encode(),
                key=f"k{i % 6}".encode(),
                headers=[("ce_id", f"id-{i}".encode())],
            )
        await producer.flush()
    finally:
        await producer.stop()

    first = await _consume(services.kafka_bootstrap, topic, "g1", 30)
    rest = await _consume(services.kafka_bootstrap, topic, "g1", 30)
    records = first + rest
    assert len(records) == 60
    # A group that committed and came back resumes after its commit: nothing twice.
    assert len({r.value for r in records}) == 60

    partitions_of_key = defaultdict(set)
    values_of_key = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        partitions_of_key[r.key].add(r.partition)
        values_of_key[r.key].append(int(r.value[1:]))
        assert dict(r.headers)["ce_id"] == b"id-" + r.value[1:]
    assert all(len(p) == 1 for p in partitions_of_key.values())
    assert len({p for ps in partitions_of_key.values() for p in ps}) > 1
    assert all(v == sorted(v) for v in values_of_key.values())


async def test_committed_offset_is_where_group_resumes(services, topic):
    producer = AIOKafkaProducer(bootstrap_servers=services.kafka_bootstrap)
    await producer.start()
    for i in range(10):
        await producer.send_and_wait(topic, str(i).encode(), partition=0)
    await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=services.kafka_bootstrap,
        group_id="resume",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    await consumer.commit({tp: 4})
    await consumer.stop()
    got = [
        r for r in await _consume(services.kafka_bootstrap, topic, "resume", 6) if r.partition == 0
    ]
    assert [int(r.value) for r in got] == [4, 5, 6, 7, 8, 9]


async def test_asyncpg_round_trip(db):
    await db.execute("CREATE TABLE things (id int PRIMARY KEY, body jsonb)")
    async with db.transaction():
        await db.executemany(
            "INSERT INTO things VALUES ($1, $2)", [(i, json.dumps({"n": i})) for i in range(5)]
        )
    rows = await db.fetch("SELECT id, body FROM things ORDER BY id")
    assert [json.loads(r["body"])["n"] for r in rows] == [0, 1, 2, 3, 4]
    with pytest.raises(asyncpg.UniqueViolationError):
        await db.execute("INSERT INTO things VALUES (1, '{}')")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIZEVENTS, "dev", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=400,
        check=False,
    )


def test_status_reports_both_up_and_second_up_is_harmless(services):
    before = json.loads(_cli("status", "--json").stdout)
    assert before["kafka"]["running"] and before["postgres"]["running"]
    again = _cli("up")
    assert again.returncode == 0, again.stderr
    assert "BIZEVENTS_KAFKA_BOOTSTRAP=" in again.stdout
    after = json.loads(_cli("status", "--json").stdout)
    assert after["kafka"]["pid"] == before["kafka"]["pid"]
    assert after["postgres"]["pid"] == before["postgres"]["pid"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.timeout(600)  # two JVM starts and initdb: minutes on a loaded 2-core machine
def test_up_then_down_leaves_no_process(services, tmp_path):
    """A second, private stack: `down` must leave nothing of ours running."""
    env = {
        "BIZEVENTS_STATE_DIR": str(tmp_path / "state"),
        "BIZEVENTS_KAFKA_PORT": str(_free_port()),
        "BIZEVENTS_KAFKA_CONTROLLER_PORT": str(_free_port()),
        "BIZEVENTS_PG_PORT": str(_free_port()),
    }
    tmp_path.chmod(0o755)
    up = _cli("up", env=env)
    assert up.returncode == 0, up.stderr
    status = json.loads(_cli("status", "--json", env=env).stdout)
    kafka_pid, pg_pid = status["kafka"]["pid"], status["postgres"]["pid"]
    assert process.alive(kafka_pid) and process.alive(pg_pid)

    settings = DevSettings(state_dir=tmp_path / "state")
    assert (KafkaServer(settings).data / "meta.properties").exists()
    down = _cli("down", "--wipe", env=env)
    assert down.returncode == 0, down.stderr
    assert not process.alive(kafka_pid)
    assert not process.alive(pg_pid)
    assert process.pids_with_marker(KafkaServer(settings).marker) == []
    assert not KafkaServer(settings).data.exists()
    assert not (PostgresServer(settings).data / "PG_VERSION").exists()
    assert PostgresServer(settings).running_pid() is None
    assert _cli("status", env=env).returncode == 1
