"""`bizevents replay`: re-process one group's history from a time or an offset.

Chosen design: copy the matching records of the group's event topics, from the start position up
to the end offsets seen when the replay starts, to the group's replay topic
(`topics.replay_topic(group)`), which the group's worker already consumes and dispatches by type.

Why copy instead of rewinding the group's committed offsets (`offsets_for_times` + commit):
- the group keeps running: a rewind needs every member stopped (Kafka rejects offset commits for
  an active group), i.e. downtime for all of the group's subscriptions;
- `--type` works: a rewind re-delivers every type on the topic to every handler of the group;
- it is bounded (stops at the end offsets snapshot) and goes through the same path as dead-letter
  replays, so it is tested once.
The cost: the copied records take space on the replay topic, and replayed events of a key may
interleave with live events of that key; handlers are at-least-once anyway (use the inbox).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from ..envelope import from_kafka
from ..errors import DeadLetterError, EnvelopeError
from ..logging import get_logger
from ..topics import replay_topic
from .kafka import ensure_topics, replay_producer
from .settings import DeadLetterSettings

log = get_logger(__name__)

_DURATION = re.compile(
    r"^(\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?)$", re.IGNORECASE
)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
H_REPLAYED_FROM = "bizevents_replayed_from"


@dataclass(frozen=True, slots=True)
class Start:
    """Where to start: a moment, or one offset applied to every partition."""

    time: datetime | None = None
    offset: int | None = None


def parse_start(text: str, now: datetime | None = None, flag: str = "--from") -> Start:
    """'2026-11-28T04:00:00Z', '2026-11-28' (UTC midnight), '90m' / '2h' / '1d' ago, or '1234'."""
    text = text.strip()
    if text.isdigit():
        return Start(offset=int(text))
    match = _DURATION.match(text)
    if match:
        delta = timedelta(**{_UNITS[match.group(2)[0].lower()]: int(match.group(1))})
        return Start(time=(now or datetime.now(UTC)) - delta)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DeadLetterError(
            f"{flag} {text!r} is neither an offset, a duration (90m, 2h, 1d) nor an ISO 8601 time"
        ) from None
    return Start(time=moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def event_type_of(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
) -> str | None:
    for name, raw in headers:
        if name == "ce_type":  # binary mode: no need to decode the whole event
            return raw.decode("utf-8", errors="replace")
    try:
        return from_kafka(key, value, headers).type
    except EnvelopeError:
        return None


@dataclass(frozen=True, slots=True)
class HistoryResult:
    scanned: int
    copied: int
    topics: tuple[str, ...]


async def group_topics(settings: DeadLetterSettings, group: str) -> list[str]:
    """The event topics the group has committed offsets on (bizevents' own topics excluded)."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_options())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sorted({tp.topic for tp in offsets if not tp.topic.startswith("bizevents.")})


async def replay_history(
    settings: DeadLetterSettings,
    group: str,
    start: Start,
    *,
    topics: Sequence[str] = (),
    types: Sequence[str] = (),
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> HistoryResult:
    chosen = list(topics) or await group_topics(settings, group)
    if not chosen:
        raise DeadLetterError(
            f"group {group!r} has no committed offsets on any event topic; name them with --topic"
        )
    wanted = set(types)
    target = replay_topic(group)
    await ensure_topics(settings, [target])
    consumer = AIOKafkaConsumer(
        **settings.kafka_client_options(), group_id=None, enable_auto_commit=False
    )
    producer = replay_producer(settings)
    await consumer.start()
    await producer.start()
    scanned = copied = 0
    try:
        tps = []
        for topic in chosen:
            if topic not in await consumer.topics():
                raise DeadLetterError(f"topic {topic!r} does not exist")
            parts = await producer.partitions_for(topic)  # public call that waits for metadata
            tps += [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        begins = await consumer.beginning_offsets(tps)
        starts = await _start_offsets(consumer, tps, start, begins, ends)
        todo = {tp: ends[tp] for tp in tps if starts[tp] < ends[tp]}
        if on_total:
            on_total(sum(ends[tp] - starts[tp] for tp in todo))
        for tp in todo:
            consumer.seek(tp, starts[tp])
        consumer.pause(*[tp for tp in tps if tp not in todo])
        futures = []
        while todo:
            batches = await consumer.getmany(*todo.keys(), timeout_ms=1000, max_records=1000)
            for tp, msgs in batches.items():
                for msg in msgs:
                    if msg.offset >= ends[tp]:
                        break
                    scanned += 1
                    headers = list(msg.headers or ())
                    if msg.value is None or (
                        wanted and event_type_of(msg.key, msg.value, headers) not in wanted
                    ):
                        continue
                    origin = f"{tp.topic}/{tp.partition}/{msg.offset}".encode()
                    futures.append(
                        await producer.send(
                            target,
                            value=msg.value,
                            key=msg.key,
                            headers=[*headers, (H_REPLAYED_FROM, origin)],
                        )
                    )
                    copied += 1
                if on_progress and msgs:
                    on_progress(len(msgs))
            for tp in list(todo):
                if await consumer.position(tp) >= ends[tp]:
                    consumer.pause(tp)
                    del todo[tp]
        for fut in futures:
            await fut
    finally:
        await producer.stop()
        await consumer.stop()
    log.info("history replayed", group=group, topics=chosen, scanned=scanned, copied=copied)
    return HistoryResult(scanned, copied, tuple(chosen))


async def _start_offsets(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    start: Start,
    begins: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
) -> dict[TopicPartition, int]:
    if start.offset is not None:
        return {tp: min(max(start.offset, begins[tp]), ends[tp]) for tp in tps}
    assert start.time is not None
    ms = max(0, int(start.time.timestamp() * 1000))  # Kafka refuses times before the epoch
    found = await consumer.offsets_for_times({tp: ms for tp in tps})
    # No record at or after the time: nothing to replay on that partition.
    return {tp: (found[tp].offset if found.get(tp) else ends[tp]) for tp in tps}
