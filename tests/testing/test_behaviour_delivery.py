"""Delivery on both backends: handling and commits, a failure holding its offset, explicit
outcomes and their dead letters (as the sink got them and as written on the topic), per-key order
through retry topics, unordered subscribers, replay dispatch, retries not blocking the partition,
backpressure (fetching paused at the pending limit, handler concurrency bounded).

(A restart with parked records stays in tests/worker/test_delivery.py: it needs a second worker
reading the same group's committed offsets on the real Kafka.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from prometheus_client import REGISTRY
from pydantic import BaseModel

from bizevents import topics
from bizevents.deadletter import from_kafka_record
from bizevents.envelope import to_kafka
from bizevents.worker import Context, DeadLetter, Retry, RetryPolicy, Router, Skip
from bizevents.worker.backoff import delay_label
from bizevents.worker.metrics import HANDLED

from .conftest import ends_of, eventually, new_group, new_type, nonzero, on


class Thing(BaseModel):
    n: int


def _sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def _lag(group: str, topic: str, partition: int) -> float | None:
    return _sample(
        "bizevents_worker_consumer_lag", group=group, topic=topic, partition=str(partition)
    )


async def test_handles_typed_events_and_commits_everything(backend: str | None) -> None:
    etype, group = new_type(), new_group()
    router = Router()
    seen: list[tuple[int, int, str, str | None]] = []

    @router.subscriber(etype, group=group)
    async def handle(event: Thing, ctx: Context) -> None:
        assert isinstance(event, Thing)
        assert structlog.contextvars.get_contextvars()["event_id"] == ctx.id
        seen.append((event.n, ctx.attempt, ctx.type, ctx.key))

    before = HANDLED.labels(group, "success")._value.get()
    async with on(backend, router) as t:
        for i in range(30):
            await t.publish(etype, {"n": i}, key=f"k{i % 7}", wait=False)
        await eventually(lambda: len(seen) == 30)
        ends = ends_of(await t.records(etype))
        assert sum(ends.values()) == 30

        async def all_committed() -> bool:
            return nonzero(await t.committed(etype, group)) == ends

        await eventually(all_committed)
        await eventually(lambda: all(_lag(group, etype, p) == 0 for p in range(3)))
    assert sorted(n for n, *_ in seen) == list(range(30))
    assert _sample("bizevents_worker_handler_seconds_count", group=group, event_type=etype) == 30
    assert {(a, t) for _, a, t, _ in seen} == {(1, etype)}
    assert {key for *_, key in seen} == {f"k{i}" for i in range(7)}
    assert HANDLED.labels(group, "success")._value.get() - before == 30


async def test_failing_message_keeps_later_offsets_uncommitted(backend: str | None) -> None:
    etype, group = new_type(), new_group()
    router = Router()
    healed = asyncio.Event()
    done: list[int] = []

    # Many immediate attempts: message 2 keeps failing while 3..9 (other keys) succeed.
    @router.subscriber(etype, group=group, retry=RetryPolicy(attempts=10_000))
    async def handle(event: dict[str, int], ctx: Context) -> None:
        if event["n"] == 2 and not healed.is_set():
            raise RuntimeError("database down")
        done.append(event["n"])

    settings = {"retry_backoff_initial": 0.01, "retry_backoff_max": 0.02, "commit_interval": 0.1}
    async with on(backend, router, partitions=1, **settings) as t:

        async def committed_up_to(offset: int) -> bool:
            return nonzero(await t.committed(etype, group)) == {0: offset}

        for i in range(10):
            await t.publish(etype, {"n": i}, key=f"k{i}", wait=False)
        await eventually(lambda: sorted(done) == [0, 1, 3, 4, 5, 6, 7, 8, 9])
        await eventually(lambda: committed_up_to(2))
        await asyncio.sleep(0.1 * 5)  # several commit rounds later...
        assert await t.committed(etype, group) == {0: 2}  # ...still not past the failure
        healed.set()
        await eventually(lambda: committed_up_to(10))
    assert sorted(done) == list(range(10))


async def test_outcomes_skip_retry_dead_letter_and_never_retry(backend: str | None) -> None:
    etype, group = new_type(), new_group()
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
    async with on(backend, router) as t:
        for kind in kinds:
            await t.publish(etype, {"do": kind}, key=kind, wait=False)
        await t.drain(60)
        records = await t.records(topics.dead_letter_topic(group))
        sunk = t.dead_letters(group)
    assert calls["skip"] == [1]
    assert calls["later"] == [1, 2]
    assert calls["dead"] == [1]
    assert calls["reject"] == [1]  # never retried
    # 2 immediate attempts, then the 0.2 s and 0.4 s retry topics: 2 more each.
    assert calls["always"] == [1, 2, 3, 4, 5, 6]
    assert len(records) == 3
    by_key = {r.key: dict(r.headers) for r in records}
    assert by_key[b"dead"]["bizevents_error_type"] == b"DeadLetter"
    assert by_key[b"dead"]["bizevents_error"] == b"customer unknown"
    assert by_key[b"reject"]["bizevents_attempts"] == b"1"
    assert by_key[b"always"]["bizevents_attempts"] == b"6"
    assert b"RuntimeError" in by_key[b"always"]["bizevents_error_type"]
    assert b"still broken" in by_key[b"always"]["bizevents_stack"]
    first = by_key[b"always"]["bizevents_first_failure"]
    assert first < by_key[b"always"]["bizevents_last_failure"]
    # What the topic holds is what the sink got: one model, one wire format.
    read = {r.key: from_kafka_record(r.key, r.value, r.headers, topic=r.topic) for r in records}
    assert {letter.key: letter for letter in sunk} == read


async def test_retry_topics_keep_per_key_order(backend: str | None) -> None:
    etype, group = new_type(), new_group()
    router = Router()
    order: list[tuple[str, int, str]] = []
    fails = {2: 2}  # message 2 of key "k" fails on its first 2 deliveries

    @router.subscriber(etype, group=group, retry=RetryPolicy(attempts=1, delays=(0.3, 0.3, 0.3)))
    async def handle(event: dict[str, Any], ctx: Context) -> None:
        if event["key"] == "k" and fails.get(event["n"], 0) > 0:
            fails[event["n"]] -= 1
            raise RuntimeError("transient")
        order.append((event["key"], event["n"], ctx.topic))

    async with on(backend, router) as t:
        sent = [("k", i) for i in range(8)] + [("other", i) for i in range(3)]
        for key, n in sent:
            await t.publish(etype, {"key": key, "n": n}, key=key, wait=False)
        await eventually(lambda: len(order) == 11)
    k_order = [n for key, n, _ in order if key == "k"]
    assert k_order == list(range(8))
    # 3..7 were parked behind 2 in the retry topic; 0, 1 and the other key were not held up.
    retried = {n for key, n, topic in order if key == "k" and topic.startswith("bizevents.retry.")}
    assert retried == {2, 3, 4, 5, 6, 7}
    assert [n for key, n, _ in order if key == "other"] == [0, 1, 2]
    k2 = next(i for i, (key, n, _) in enumerate(order) if (key, n) == ("k", 2))
    assert order.index(("other", 2, etype)) < k2


async def test_unordered_subscriber_lets_later_messages_pass(backend: str | None) -> None:
    etype, group = new_type(), new_group()
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

    async with on(backend, router, partitions=1) as t:
        for i in range(3):
            await t.publish(etype, {"n": i}, key="k", wait=False)
        await eventually(lambda: len(order) == 3)
    assert order == [1, 2, 0]


async def test_replay_topic_is_dispatched_by_type(backend: str | None) -> None:
    etype, group = new_type(), new_group()
    router = Router()
    seen: list[tuple[str, str]] = []

    @router.subscriber(etype, group=group)
    async def handle(event: dict[str, int], ctx: Context) -> None:
        seen.append((ctx.id, ctx.topic))

    async with on(backend, router) as t:
        _, event = t.build(etype, {"n": 1}, key="k")
        await t.send_record(topics.replay_topic(group), *to_kafka(event))
        await eventually(lambda: len(seen) == 1)
    assert seen == [(event.id, topics.replay_topic(group))]


async def _retry_records(t: Any, group: str, delays: tuple[float, ...]) -> list[Any]:
    found = []
    for delay in delays:
        found += await t.records(topics.retry_topic(group, delay_label(delay)))
    return found


async def test_records_behind_a_retried_one_go_round_the_retry_topics_once(
    backend: str | None,
) -> None:
    """A parked record back from its retry topic before its key's head resolved waits for the head
    in memory: it is not sent round again on every pass of the head (a storm of re-sends when a
    key is held for long), and it runs once the head is done."""
    etype, group = new_type(), new_group()
    router = Router()
    order: list[int] = []
    fails = {1: 3}  # message 1 fails on its first 3 deliveries: a retry through every tier
    delays = (0.3, 0.6, 0.9)

    @router.subscriber(etype, group=group, retry=RetryPolicy(attempts=1, delays=delays))
    async def handle(event: dict[str, int], ctx: Context) -> None:
        if fails.get(event["n"], 0) > 0:
            fails[event["n"]] -= 1
            raise RuntimeError("transient")
        order.append(event["n"])

    async with on(backend, router, partitions=1) as t:
        for i in range(10):
            await t.publish(etype, {"n": i}, key="k", wait=False)
        await eventually(lambda: len(order) == 10)
        sent = [
            Thing.model_validate_json(r.value).n for r in await _retry_records(t, group, delays)
        ]
    assert order == list(range(10))
    # 1 went to each tier once; 2..9 were parked behind it once each, and only once.
    assert sorted(sent) == [1, 1, 1, *range(2, 10)]


async def test_records_waiting_for_their_head_never_stall_its_partition(
    backend: str | None,
) -> None:
    """Backpressure far below what waits behind a head that failed again into the same retry
    partition, after them: the partition is read on until the head comes back."""
    followers = 30
    etype, group = new_type(), new_group()
    router = Router()
    order: list[int] = []
    fails = {0: 2}

    @router.subscriber(etype, group=group, retry=RetryPolicy(attempts=1, delays=(0.2, 0.2, 0.2)))
    async def handle(event: dict[str, int], ctx: Context) -> None:
        if fails.get(event["n"], 0) > 0:
            fails[event["n"]] -= 1
            raise RuntimeError("transient")
        order.append(event["n"])

    limits = {"max_pending_per_partition": 4, "fetch_max_records": 2}
    async with on(backend, router, partitions=1, **limits) as t:
        for i in range(followers + 1):
            await t.publish(etype, {"n": i}, key="k", wait=False)
        await eventually(lambda: len(order) == followers + 1, 60)
        resent = await _retry_records(t, group, (0.2,))
    assert order == list(range(followers + 1))
    # 0 went round twice, each of the others once.
    sent = sorted(Thing.model_validate_json(r.value).n for r in resent)
    assert sent == [0, 0, *range(1, followers + 1)]


async def test_a_stop_parks_the_records_waiting_for_their_head(backend: str | None) -> None:
    """What waits in memory behind a retried record goes round its retry topic at a stop, so the
    retry partition is committed to its end and a restart re-delivers nothing."""
    etype, group = new_type(), new_group()
    router = Router()
    order: list[int] = []
    delays = (0.3, 60.0)

    @router.subscriber(etype, group=group, retry=RetryPolicy(attempts=1, delays=delays))
    async def handle(event: dict[str, int], ctx: Context) -> None:
        if event["n"] == 0:
            raise RuntimeError("waits a minute after its second failure")
        order.append(event["n"])

    async with on(backend, router, partitions=1) as t:
        for i in range(5):
            await t.publish(etype, {"n": i}, key="k", wait=False)
        assert t.worker is not None
        (consumer,) = t.worker.groups
        # 0 failed twice (now in the 60 s tier); 1..4 came back from the 0.3 s tier behind it.
        await eventually(lambda: len(consumer.behind) == 4)
        short = topics.retry_topic(group, delay_label(0.3))

        async def head_committed() -> bool:
            return nonzero(await t.committed(short, group)) == {0: 1}  # 1..4 are open

        await eventually(head_committed)
    assert order == []
    assert nonzero(await t.committed(short, group)) == {0: 5}
    waiting = await t.records(topics.retry_topic(group, delay_label(60.0)))
    assert [Thing.model_validate_json(r.value).n for r in waiting] == [0, 1, 2, 3, 4]


async def test_waiting_retry_does_not_block_the_source_partition(backend: str | None) -> None:
    etype, group = new_type(), new_group()
    router = Router()
    order: list[int] = []
    failed = False

    # Due 3 s after the failure: time enough, on a loaded machine, to see the source committed
    # while 0 still waits.
    @router.subscriber(etype, group=group, retry=RetryPolicy(attempts=1, delays=(3.0,)))
    async def handle(event: dict[str, int], ctx: Context) -> None:
        nonlocal failed
        if event["n"] == 0 and not failed:
            failed = True
            raise RuntimeError("once")
        order.append(event["n"])

    async with on(backend, router, partitions=1) as t:

        async def source_committed() -> bool:
            return nonzero(await t.committed(etype, group)) == {0: 5}

        for i in range(5):
            await t.publish(etype, {"n": i}, key="k", wait=False)
        # 1..4 are parked behind 0 at once: the source partition is committed to its end...
        await eventually(source_committed)
        assert order == []  # ...while 0 still waits in the retry topic, and 1..4 behind it
        await eventually(lambda: len(order) == 5)
    assert order == [0, 1, 2, 3, 4]


async def test_backpressure_bounds_fetched_records_and_handler_concurrency(
    backend: str | None,
) -> None:
    etype, group = new_type(), new_group()
    router = Router()
    running_now = 0
    most_running = 0
    most_pending = 0.0
    handled = 0

    @router.subscriber(etype, group=group)
    async def handle(event: dict[str, int], ctx: Context) -> None:
        nonlocal running_now, most_running, handled
        running_now += 1
        most_running = max(most_running, running_now)
        await asyncio.sleep(0.002)
        running_now -= 1
        handled += 1

    settings = {"concurrency": 4, "max_pending_per_partition": 40, "fetch_max_records": 10}
    async with on(backend, router, partitions=1, **settings) as t:
        topic, _ = t.build(etype, {}, key="k")
        records = [to_kafka(t.build(etype, {"n": i}, key=f"k{i}")[1]) for i in range(600)]
        await t.send_records(topic, records)

        def sample() -> bool:
            nonlocal most_pending
            # Fetched and not finished, as the worker reports it after every fetch.
            most_pending = max(
                most_pending, _sample("bizevents_worker_in_flight", group=group) or 0
            )
            return handled == 600

        await eventually(sample, 60)
    assert most_running == 4  # the concurrency limit, reached and never passed
    # Paused at 40 open records; at most one more fetch (10 records) lands on top.
    assert 0 < most_pending <= 50
