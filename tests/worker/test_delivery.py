"""The worker on the real Kafka: handling, commits, explicit outcomes, retry topics, replay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from aiokafka.admin import NewTopic
from prometheus_client import REGISTRY
from pydantic import BaseModel

from bizevents import topics
from bizevents.deadletter import H_DUE
from bizevents.envelope import to_kafka
from bizevents.worker import (
    Context,
    DeadLetter,
    Retry,
    RetryPolicy,
    Router,
    Skip,
    Worker,
    WorkerSettings,
)
from bizevents.worker.metrics import HANDLED

from .worker_helpers import Kafka, envelope, running, wait_until

pytestmark = pytest.mark.services


class Thing(BaseModel):
    n: int


async def test_handles_typed_events_and_commits_everything(
    kafka: Kafka, group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    etype = await kafka.new_type()
    router = Router()
    seen: list[tuple[int, int, str, str | None]] = []

    @router.subscriber(etype, group=group)
    async def handle(event: Thing, ctx: Context) -> None:
        assert isinstance(event, Thing)
        assert structlog.contextvars.get_contextvars()["event_id"] == ctx.id
        seen.append((event.n, ctx.attempt, ctx.type, ctx.key))

    sent = [envelope(etype, {"n": i}, key=f"k{i % 7}") for i in range(30)]
    await kafka.send(etype, sent)
    before = HANDLED.labels(group, "success")._value.get()
    async with running(Worker(router, fast_settings())):
        await wait_until(lambda: len(seen) == 30)
        ends = await kafka.end_offsets(etype, 3)
        await wait_until(lambda: _equal(kafka.committed(group, etype), ends))
        await wait_until(lambda: all(_lag(group, etype, p) == 0 for p in range(3)))
    assert sorted(n for n, *_ in seen) == list(range(30))
    assert _sample("bizevents_worker_handler_seconds_count", group=group, event_type=etype) == 30
    assert {(a, t) for _, a, t, _ in seen} == {(1, etype)}
    assert HANDLED.labels(group, "success")._value.get() - before == 30


def _sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def _lag(group: str, topic: str, partition: int) -> float | None:
    return _sample(
        "bizevents_worker_consumer_lag", group=group, topic=topic, partition=str(partition)
    )


async def _equal(got: Any, expected: dict[int, int]) -> bool:
    return {p: o for p, o in (await got).items() if o} == {p: o for p, o in expected.items() if o}


async def test_failing_message_keeps_later_offsets_uncommitted(
    kafka: Kafka, group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    etype = await kafka.new_type(partitions=1)
    router = Router()
    healed = asyncio.Event()
    done: list[int] = []

    # Many immediate attempts: message 2 keeps failing while 3..9 (other keys) succeed.
    @router.subscriber(etype, group=group, retry=RetryPolicy(attempts=10_000))
    async def handle(event: dict[str, int], ctx: Context) -> None:
        if event["n"] == 2 and not healed.is_set():
            raise RuntimeError("database down")
        done.append(event["n"])

    await kafka.send(etype, [envelope(etype, {"n": i}, key=f"k{i}") for i in range(10)])
    settings = fast_settings(retry_backoff_initial=0.01, retry_backoff_max=0.02)
    async with running(Worker(router, settings)):
        await wait_until(lambda: sorted(done) == [0, 1, 3, 4, 5, 6, 7, 8, 9])
        await wait_until(lambda: _equal(kafka.committed(group, etype), {0: 2}))
        await asyncio.sleep(settings.commit_interval * 5)  # several commit rounds later...
        assert await kafka.committed(group, etype) == {0: 2}  # ...still not past the failure
        healed.set()
        await wait_until(lambda: _equal(kafka.committed(group, etype), {0: 10}))
    assert sorted(done) == list(range(10))


async def test_outcomes_skip_retry_dead_letter_and_never_retry(
    kafka: Kafka, group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    etype = await kafka.new_type()
    router = Router()
    calls: dict[str, list[int]] = {}

    class Rejected(Exception):
        pass

    @router.subscriber(etype, group=group, never_retry=(Rejected,))
    async def handle(event: dict[str, str], ctx: Context) -> Any:
        calls.setdefault(event["do"], []).append(ctx.attempt)
        match event["do"]:
            case "skip":
                return Skip("not for us")
            case "later":
                if ctx.attempt == 1:
                    raise Retry(after=0.3)
            case "dead":
                raise DeadLetter("customer unknown")
            case "reject":
                raise Rejected("bad input")
            case "always":
                raise RuntimeError("still broken")
        return None

    kinds = ["skip", "later", "dead", "reject", "always"]
    await kafka.send(etype, [envelope(etype, {"do": k}, key=k) for k in kinds])
    async with running(Worker(router, fast_settings())):
        letters = await kafka.read(topics.dead_letter_topic(group), 3)
        await wait_until(lambda: calls.get("later") == [1, 2])
    assert calls["skip"] == [1]
    assert calls["dead"] == [1]
    assert calls["reject"] == [1]  # never retried
    # 2 immediate attempts, then the 0.2 s and 0.4 s retry topics: 2 more each.
    assert calls["always"] == [1, 2, 3, 4, 5, 6]
    by_key = {r.key: dict(r.headers) for r in letters}
    assert by_key[b"dead"]["bizevents_error_type"] == b"DeadLetter"
    assert by_key[b"dead"]["bizevents_error"] == b"customer unknown"
    assert by_key[b"reject"]["bizevents_attempts"] == b"1"
    assert by_key[b"always"]["bizevents_attempts"] == b"6"
    assert b"RuntimeError" in by_key[b"always"]["bizevents_error_type"]
    assert b"still broken" in by_key[b"always"]["bizevents_stack"]
    first = by_key[b"always"]["bizevents_first_failure"]
    assert first < by_key[b"always"]["bizevents_last_failure"]


async def test_retry_topics_keep_per_key_order(
    kafka: Kafka, group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    etype = await kafka.new_type()
    router = Router()
    order: list[tuple[str, int, str]] = []
    fails = {2: 2}  # message 2 of key "k" fails on its first 2 deliveries

    @router.subscriber(etype, group=group, retry=RetryPolicy(attempts=1, delays=(0.3, 0.3, 0.3)))
    async def handle(event: dict[str, Any], ctx: Context) -> None:
        if event["key"] == "k" and fails.get(event["n"], 0) > 0:
            fails[event["n"]] -= 1
            raise RuntimeError("transient")
        order.append((event["key"], event["n"], ctx.topic))

    events = [envelope(etype, {"key": "k", "n": i}, key="k") for i in range(8)]
    events += [envelope(etype, {"key": "other", "n": i}, key="other") for i in range(3)]
    await kafka.send(etype, events)
    async with running(Worker(router, fast_settings())):
        await wait_until(lambda: len(order) == 11)
    k_order = [n for key, n, _ in order if key == "k"]
    assert k_order == list(range(8))
    # 3..7 were parked behind 2 in the retry topic; 0, 1 and the other key were not held up.
    retried = {n for key, n, topic in order if key == "k" and topic.startswith("bizevents.retry.")}
    assert retried == {2, 3, 4, 5, 6, 7}
    assert [n for key, n, _ in order if key == "other"] == [0, 1, 2]
    k2 = next(i for i, (key, n, _) in enumerate(order) if (key, n) == ("k", 2))
    assert order.index(("other", 2, etype)) < k2


async def test_unordered_subscriber_lets_later_messages_pass(
    kafka: Kafka, group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    etype = await kafka.new_type(partitions=1)
    router = Router()
    order: list[int] = []
    failed = False

    @router.subscriber(etype, group=group, ordered=False, retry=RetryPolicy(attempts=1))
    async def handle(event: dict[str, int], ctx: Context) -> None:
        nonlocal failed
        if event["n"] == 0 and not failed:
            failed = True
            raise RuntimeError("once")
        order.append(event["n"])

    await kafka.send(etype, [envelope(etype, {"n": i}, key="k") for i in range(3)])
    async with running(Worker(router, fast_settings())):
        await wait_until(lambda: len(order) == 3)
    assert order == [1, 2, 0]


async def test_replay_topic_is_dispatched_by_type(
    kafka: Kafka, group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    etype = await kafka.new_type()
    router = Router()
    seen: list[tuple[str, str]] = []

    @router.subscriber(etype, group=group)
    async def handle(event: dict[str, int], ctx: Context) -> None:
        seen.append((ctx.id, ctx.topic))

    event = envelope(etype, {"n": 1}, key="k")
    async with running(Worker(router, fast_settings())):
        await kafka.send(topics.replay_topic(group), [event])
        await wait_until(lambda: len(seen) == 1)
    assert seen == [(event.id, topics.replay_topic(group))]


async def test_waiting_retry_does_not_block_the_source_partition(
    kafka: Kafka, group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    etype = await kafka.new_type(partitions=1)
    router = Router()
    order: list[int] = []
    failed = False

    @router.subscriber(etype, group=group, retry=RetryPolicy(attempts=1, delays=(1.5,)))
    async def handle(event: dict[str, int], ctx: Context) -> None:
        nonlocal failed
        if event["n"] == 0 and not failed:
            failed = True
            raise RuntimeError("once")
        order.append(event["n"])

    await kafka.send(etype, [envelope(etype, {"n": i}, key="k") for i in range(5)])
    async with running(Worker(router, fast_settings())):
        # 1..4 are parked behind 0 at once: the source partition is committed to its end...
        await wait_until(lambda: _equal(kafka.committed(group, etype), {0: 5}))
        assert order == []  # ...while 0 still waits in the retry topic, and 1..4 behind it
        await wait_until(lambda: len(order) == 5)
    assert order == [0, 1, 2, 3, 4]


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
