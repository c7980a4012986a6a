"""The worker on the real Kafka only: a restart must find the records parked in a retry topic.

Handling, commits, explicit outcomes, retry topics, unordered subscribers and replay dispatch run
on both the in-memory harness and the real Kafka: tests/testing/test_behaviour_delivery.py.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import NewTopic

from bizevents import topics
from bizevents.deadletter import H_DUE, DeadLetterRecord
from bizevents.envelope import to_kafka
from bizevents.worker import (
    Context,
    RetryPolicy,
    Router,
    Worker,
    WorkerSettings,
    runner,
)

from .worker_helpers import Kafka, envelope, running, wait_until

pytestmark = pytest.mark.services


async def _equal(got: Any, expected: dict[int, int]) -> bool:
    return {p: o for p, o in (await got).items() if o} == {p: o for p, o in expected.items() if o}


async def test_after_a_restart_parked_records_hold_their_key_again(
    kafka: Kafka, group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    etype = await kafka.new_type(partitions=1)
    order: list[int] = []
    sent_to_retry = asyncio.Event()
    policy = RetryPolicy(attempts=1, delays=(1.0,))
    settings = fast_settings(topic_partitions=1, max_pending_per_partition=10_000)

    def app(fail_first: bool) -> Router:
        router = Router()

        @router.subscriber(etype, group=group, retry=policy)
        async def handle(event: dict[str, int], ctx: Context) -> None:
            if fail_first and event["n"] == 0:
                sent_to_retry.set()
                raise RuntimeError("first worker fails 0")
            if event["n"] >= 0:
                order.append(event["n"])

        return router

    # Other keys' records ahead in the retry topic, due a little later: the retry record of 0
    # comes thousands of offsets after the start of the retry partition.
    retry_topic = topics.retry_topic(group, "1s")
    await kafka.admin.create_topics([NewTopic(retry_topic, 1, 1)])
    # Due well after the first worker stops, even on a loaded machine (3000 sends and a worker start
    # took 28 s at a load average of 19).
    due = str(int((time.time() + 45) * 1000)).encode()
    filler = []
    for i in range(3000):
        key, value, headers = to_kafka(envelope(etype, {"n": -1}, key=f"x{i}"))
        filler.append(
            kafka.producer.send(retry_topic, value, key=key, headers=[*headers, (H_DUE, due)])
        )
    await asyncio.gather(*await asyncio.gather(*filler))
    await kafka.send(etype, [envelope(etype, {"n": 0}, key="k")])
    async with running(Worker(app(True), settings)) as first:
        await wait_until(sent_to_retry.is_set)
        await wait_until(lambda: _equal(kafka.committed(group, etype), {0: 1}))
        await first.stop()  # before anything in the retry topic is due: all of it stays unread
    assert await kafka.committed(group, retry_topic) == {}
    # 1 arrives while nobody runs; the next worker must not let it overtake 0.
    await kafka.send(etype, [envelope(etype, {"n": 1}, key="k")])
    async with running(Worker(app(False), settings)):
        await wait_until(lambda: len(order) == 2, 90)
    assert order == [0, 1]


async def test_after_a_restart_a_record_that_failed_again_still_runs_before_those_parked_behind_it(
    kafka: Kafka, group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    """A retry partition is not in origin order: a record that failed again is appended after the
    records of its key parked behind it earlier. A restarted worker must know the whole unread
    part before it runs any of it, even when backpressure lets it take in one record at a time."""
    etype = await kafka.new_type(partitions=1)
    retry_topic = topics.retry_topic(group, "1s")
    await kafka.admin.create_topics([NewTopic(retry_topic, 1, 1)])
    source = [envelope(etype, {"n": n}, key="k") for n in range(3)]
    await kafka.send(etype, source)  # offsets 0, 1, 2
    # An earlier worker handled 0, failed 1 and parked 2 behind it, committed the source, then
    # ran 1 again (it failed again: appended after 2) and died.
    committer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=group,
                                 enable_auto_commit=False)  # fmt: skip
    await committer.start()
    try:
        committer.assign([TopicPartition(etype, 0)])
        await committer.commit({TopicPartition(etype, 0): 3})
    finally:
        await committer.stop()
    now = datetime.now(UTC)

    def parked(n: int, attempts: int, due_in: float) -> tuple[Any, Any, Any]:
        key, value, headers = to_kafka(source[n])
        letter = DeadLetterRecord(
            group=group, original_topic=etype, original_partition=0, original_offset=n,
            error="failed", error_type="ConnectionError", attempts=attempts, first_failure=now,
            last_failure=now, key=key, value=value, headers=headers,
        )  # fmt: skip
        return letter.retry_record(1, now + timedelta(seconds=due_in), parked=attempts == 0)

    for key, value, headers in (parked(2, 0, -1.0), parked(1, 1, 1.5)):
        await kafka.producer.send_and_wait(retry_topic, value, key=key, headers=headers)
    order: list[int] = []
    router = Router()

    @router.subscriber(etype, group=group, retry=RetryPolicy(attempts=1, delays=(1.0,)))
    async def handle(event: dict[str, int], ctx: Context) -> None:
        order.append(event["n"])

    settings = fast_settings(topic_partitions=1, fetch_max_records=1, max_pending_per_partition=1)
    async with running(Worker(router, settings)):
        await kafka.send(etype, [envelope(etype, {"n": 3}, key="k")])
        await wait_until(lambda: len(order) >= 3, 60)
    assert order == [1, 2, 3]


async def test_start_alone_leaves_the_host_process_collector_alone(
    kafka: Kafka,
    group: str,
    fast_settings: Callable[..., WorkerSettings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`Worker.run` (the `bizevents worker` process) freezes its startup heap; `Worker.start`,
    embedded in an app or a test harness, must not freeze the host's objects."""
    monkeypatch.setattr(runner, "_frozen", False)
    gc.unfreeze()
    etype = await kafka.new_type(partitions=1)
    router = Router()

    @router.subscriber(etype, group=group)
    async def handle(event: dict[str, int], ctx: Context) -> None:
        return None

    async with running(Worker(router, fast_settings(topic_partitions=1))):
        assert gc.get_freeze_count() == 0
