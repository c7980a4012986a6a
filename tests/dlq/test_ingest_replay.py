"""The ingester and replay on real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import NewTopic

from bizevents.dlq import (
    DeadLetterFilter,
    DeadLetterIngester,
    DeadLetterSettings,
    Start,
    Status,
    replay_dead_letters,
    replay_history,
)
from bizevents.errors import DeadLetterError
from bizevents.topics import dead_letter_topic, replay_topic

from .conftest import letter

pytestmark = pytest.mark.services


def settings_for(services, group: str) -> DeadLetterSettings:  # type: ignore[no-untyped-def]
    return DeadLetterSettings(
        kafka_bootstrap=services.kafka_bootstrap,
        database_url=services.database_url,
        dlq_ingester_group=f"ingester-{uuid.uuid4().hex[:8]}",
        dlq_topic_pattern=re.escape(dead_letter_topic(group)),
        dlq_metadata_max_age_ms=1000,
        replay_batch=4,
    )


async def produce(bootstrap: str, topic: str, records) -> None:  # type: ignore[no-untyped-def]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send(topic, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


async def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.1)


async def test_ingester_stores_each_dead_letter_once_across_duplicates_and_restarts(
    services, store, kafka_admin
):  # type: ignore[no-untyped-def]
    group = f"g-{uuid.uuid4().hex[:8]}"
    topic = dead_letter_topic(group)
    await kafka_admin.create_topics([NewTopic(topic, 2, 1)])
    letters = [letter(n, group=group) for n in range(6)]
    poison = letter(99, group=group, value=b"\x00 not an event")
    records = [dl.record() for dl in [*letters, poison]]
    await produce(services.kafka_bootstrap, topic, records)
    # The same dead letters once more: a worker that crashed after producing them.
    await produce(services.kafka_bootstrap, topic, records[:3])

    settings = settings_for(services, group)
    ingester = DeadLetterIngester(store, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(ingester.run(stop))

    async def all_seen() -> bool:
        return ingester.seen >= 10

    await wait_for(all_seen)
    stop.set()
    await asyncio.wait_for(task, 15)
    assert ingester.stored == 7
    rows = [i async for i in store.iterate(DeadLetterFilter(groups=(group,), limit=None))]
    assert sorted(r.original_offset for r in rows) == [0, 1, 2, 3, 4, 5, 99]
    poison_row = next(r for r in rows if r.original_offset == 99)
    assert poison_row.event_type is None and poison_row.value == b"\x00 not an event"

    # A second ingester group re-reads the whole topic: still nothing new.
    again = DeadLetterIngester(store, settings_for(services, group))
    stop2 = asyncio.Event()
    task2 = asyncio.create_task(again.run(stop2))

    async def reread() -> bool:
        return again.seen >= 10

    await wait_for(reread)
    stop2.set()
    await asyncio.wait_for(task2, 15)
    assert again.stored == 0
    assert await store.count(DeadLetterFilter(groups=(group,))) == 7


async def test_replay_sends_the_original_record_to_the_group_replay_topic(services, store):  # type: ignore[no-untyped-def]
    group = f"g-{uuid.uuid4().hex[:8]}"
    dls = [letter(n, group=group) for n in range(10)]
    await store.add_many(dls)
    other = f"other-{uuid.uuid4().hex[:8]}"
    await store.add(letter(50, group=other))
    skip_id = (await store.list(DeadLetterFilter(groups=(group,), limit=1))).items[0].id
    await store.purge(DeadLetterFilter(ids=(skip_id,)))  # purged: nothing left to send

    progress: list[int] = []
    settings = settings_for(services, group)
    result = await replay_dead_letters(
        store,
        DeadLetterFilter(groups=(group,), statuses=(Status.DEAD, Status.PURGED), limit=None),
        settings,
        on_progress=progress.append,
    )
    assert (result.replayed, result.skipped) == (9, 0)
    assert sum(progress) == 9 and len(progress) == 3  # batches of 4, 4, 1

    consumer = AIOKafkaConsumer(
        replay_topic(group),
        bootstrap_servers=services.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    got = []
    try:
        async with asyncio.timeout(30):
            while len(got) < 9:
                for msgs in (await consumer.getmany(timeout_ms=500)).values():
                    got.extend(msgs)
    finally:
        await consumer.stop()
    by_offset = {dl.original_offset: dl for dl in dls}
    ids = {r.original_offset: r.id for r in (await store.list(DeadLetterFilter(limit=100))).items}
    for msg in got:
        headers = list(msg.headers)
        assert headers[-1][0] == "bizevents_replay_id"
        offset = next(o for o, i in ids.items() if str(i).encode() == headers[-1][1])
        dl = by_offset[offset]
        assert (msg.key, msg.value, headers[:-1]) == (dl.key, dl.value, dl.headers)
    assert len({m.key for m in got}) == 9

    replayed = await store.list(DeadLetterFilter(groups=(group,), statuses=(Status.REPLAYED,)))
    assert len(replayed.items) == 9 and all(r.replay_count == 1 for r in replayed.items)
    # Replaying again by default takes only 'dead' letters: none left.
    assert (
        await replay_dead_letters(store, DeadLetterFilter(groups=(group,)), settings)
    ).replayed == 0
    # The other group's letter was not touched.
    assert await store.count(DeadLetterFilter(groups=(other,), statuses=(Status.DEAD,))) == 1


async def test_history_replay_from_a_time_copies_only_later_records(services, make_topic):  # type: ignore[no-untyped-def]
    topic = await make_topic("hist", 3)
    group = f"hist-{uuid.uuid4().hex[:8]}"
    await produce(
        services.kafka_bootstrap, topic, [(b"k%d" % i, b"old-%d" % i, []) for i in range(9)]
    )
    await asyncio.sleep(0.05)  # record timestamps are milliseconds
    start = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await produce(
        services.kafka_bootstrap, topic, [(b"k%d" % i, b"new-%d" % i, []) for i in range(6)]
    )
    settings = settings_for(services, group)
    totals: list[int] = []
    result = await replay_history(
        settings, group, Start(time=start), topics=[topic], on_total=totals.append
    )
    assert (result.scanned, result.copied, totals) == (6, 6, [6])
    consumer = AIOKafkaConsumer(
        replay_topic(group),
        bootstrap_servers=services.kafka_bootstrap,
        group_id=f"r-{group}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    got = []
    try:
        async with asyncio.timeout(20):
            while len(got) < 6:
                for msgs in (await consumer.getmany(timeout_ms=500)).values():
                    got.extend(msgs)
    finally:
        await consumer.stop()
    assert sorted(m.value for m in got) == sorted(b"new-%d" % i for i in range(6))
    assert all(m.key == b"k" + m.value.split(b"-")[1] for m in got)  # keys kept
    with pytest.raises(DeadLetterError, match="does not exist"):
        await replay_history(settings, group, Start(offset=0), topics=["no-such-topic-here"])
