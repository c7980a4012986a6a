"""Helpers for worker tests on the real Kafka: unique event types/topics, producing CloudEvents,
running a worker in-process or as a subprocess, reading topics and committed offsets."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bizevents.envelope import Envelope, new_event_id, to_kafka
from bizevents.worker import Worker

APPS = Path(__file__).parent / "apps"
ROOT = Path(__file__).resolve().parents[2]


def envelope(
    event_type: str, payload: Any, key: str | None, event_id: str | None = None
) -> Envelope:
    return Envelope(
        id=event_id or new_event_id(),
        type=event_type,
        source="/tests",
        time=datetime.now(UTC),
        data=json.dumps(payload).encode(),
        partitionkey=key,
    )


async def wait_until(check: Callable[[], bool | Awaitable[bool]], timeout: float = 30.0) -> None:
    """Poll `check` until true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


class Kafka:
    def __init__(self, bootstrap: str, admin: AIOKafkaAdminClient, producer: AIOKafkaProducer):
        self.bootstrap = bootstrap
        self.admin = admin
        self.producer = producer

    async def new_type(self, name: str = "Thing", partitions: int = 3) -> str:
        """A unique event type whose default topic (same name) exists with `partitions`."""
        event_type = f"test.{uuid.uuid4().hex[:10]}.{name}.v1"
        await self.admin.create_topics([NewTopic(event_type, partitions, 1)])
        return event_type

    async def send(
        self, topic: str, events: Iterable[Envelope], partition: int | None = None
    ) -> None:
        futures = []
        for event in events:
            key, value, headers = to_kafka(event)
            futures.append(
                await self.producer.send(
                    topic, value, key=key, headers=headers, partition=partition
                )
            )
        await asyncio.gather(*futures)

    async def send_raw(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        await self.producer.send_and_wait(topic, value, key=key, headers=headers)

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        offsets = await self.admin.list_consumer_group_offsets(group)
        return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}

    async def end_offsets(self, topic: str, partitions: int) -> dict[int, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            ends = await consumer.end_offsets(tps)
            return {tp.partition: off for tp, off in ends.items()}
        finally:
            await consumer.stop()

    async def read(self, topic: str, count: int, timeout: float = 30.0) -> list[Any]:
        """The first `count` records of `topic` (all partitions), waiting up to `timeout`."""
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        records: list[Any] = []
        try:
            deadline = time.monotonic() + timeout
            while len(records) < count:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{topic}: {len(records)} of {count} records")
                batch = await consumer.getmany(timeout_ms=200)
                for recs in batch.values():
                    records.extend(recs)
            return records
        finally:
            await consumer.stop()


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


def spawn_worker(target: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`bizevents worker <target>` as a child process (apps/ is importable)."""
    full = {**os.environ, **env, "PYTHONPATH": f"{APPS}{os.pathsep}{ROOT / 'sdk'}"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "bizevents"), "worker", target],
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=APPS,
        )
