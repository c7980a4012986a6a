"""`TestEvents`: run an app's real subscribers against an in-memory Kafka (or a real one).

    async with TestEvents(events) as t:
        await t.publish("com.acme.orders.OrderPlaced.v1", {...})   # waits until handled
        assert t.handled("com.acme.orders.OrderPlaced.v1")
        assert t.published("com.acme.billing.InvoiceIssued.v1")   # what handlers published
        assert not t.dead_letters()

The worker's own `GroupConsumer` does the dispatching (decoding, per-key lanes, immediate and
delayed retries, dead letters, offsets); the harness only swaps Kafka for `MemoryKafka`, records
handler calls, and routes `events.publish(conn, ...)` to the broker instead of the outbox table.
With `kafka="host:port"` the same calls run the real `Worker` on a real Kafka, so one behaviour
test can run both ways. Retry delays and backoff are scaled by `time_scale` (10 s -> 10 ms).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from ..deadletter import DeadLetterRecord
from ..envelope import Envelope, new_event_id, to_kafka
from ..errors import ConfigurationError
from ..mesh import Inbound
from ..topics import event_topic, replay_topic
from ..worker import Outcome, Router, Skip, Worker, WorkerSettings
from ..worker.group import GroupConsumer
from ..worker.inbox import migrate_inbox
from ..worker.router import RetryPolicy, Subscription
from .memory import MemoryKafka


@dataclass
class Call:
    """One handler invocation (every attempt is one call); a batch handler's call is one `Call`
    per event of the batch, `context` being that event's `Context`."""

    group: str
    type: str
    event_id: str
    key: str | None
    attempt: int
    event: Any
    context: Any
    result: Any = None
    error: BaseException | None = None
    batch: int | None = None  # a batch handler's call: how many events it got (this one among them)

    @property
    def ok(self) -> bool:
        """Returned normally (a returned Skip counts as handled, other outcomes don't)."""
        return self.error is None and (
            not isinstance(self.result, Outcome) or isinstance(self.result, Skip)
        )


class TestEvents:
    __test__ = False  # not a pytest test class

    def __init__(
        self,
        events: Any,
        *,
        kafka: str | None = None,
        groups: Sequence[str] = (),
        time_scale: float = 0.001,
        partitions: int = 3,
        database_url: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.events = events
        self.bootstrap = kafka
        self.partitions = partitions
        self.memory: MemoryKafka | None = None if kafka else MemoryKafka(partitions)
        self._calls: list[Call] = []
        self._dead: list[DeadLetterRecord] = []
        self._published: list[Envelope] = []
        self._user_sink = getattr(events, "dead_letter_sink", None)
        options: dict[str, Any] = {"commit_interval": 0.02, "groups": list(groups)}
        if kafka:
            options["kafka_bootstrap"] = kafka
        if database_url:
            options["database_url"] = database_url
        base = WorkerSettings(**{**options, **(settings or {})})
        self.settings = _scaled_settings(base, time_scale)
        router = _observed(_router_of(events), self._calls, time_scale)
        # The worker's own checks apply (e.g. may this app subscribe to that type?).
        shim = SimpleNamespace(
            router=router,
            contracts=getattr(events, "contracts", None),
            app=getattr(events, "app", None),
            naming=getattr(events, "naming", None),
        )
        self.contracts = shim.contracts
        # A publisher-only app has nothing to run: the harness then only records what the code
        # under test publishes.
        self.worker: Worker | None = (
            Worker(shim, self.settings, dead_letter_sink=self._sink)
            if router.subscriptions
            else None
        )
        self._producer: AIOKafkaProducer | None = None
        self._saved_outbox: Any = None

    # -- lifecycle ---------------------------------------------------------------------------------
    async def __aenter__(self) -> TestEvents:
        if hasattr(self.events, "outbox"):
            self._saved_outbox = self.events.outbox
            self.events.outbox = _Outbox(self)
        if self.memory is None:
            if self.worker is not None:
                await self._ensure_source_topics()
            self._producer = AIOKafkaProducer(
                **self.settings.kafka_client_options(), acks="all", enable_idempotence=True
            )
            await self._producer.start()
            if self.worker is not None:
                await self.worker.start()
        elif self.worker is not None:
            await self._start_in_memory(self.memory)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.worker is not None:
                await self.worker.stop()
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None
        finally:
            if self._saved_outbox is not None:
                self.events.outbox = self._saved_outbox

    async def _start_in_memory(self, memory: MemoryKafka) -> None:
        w = self.worker
        assert w is not None
        if any(s.inbox for s in w.router.subscriptions if s.group in w.group_names):
            pool = await w.pool()
            async with pool.acquire() as conn:
                await migrate_inbox(conn, self.settings.inbox_schema)
        producer = memory.producer()
        for name in w.group_names:
            subs = w.router.for_group(name)
            contracts = (
                [w.contracts.get(t) for t in subs if t in w.contracts]
                if (w.contracts is not None)
                else []
            )
            group = GroupConsumer(
                w.naming.scoped(name),
                subs,
                [self._topic_of(t) for t in subs],
                w.contracts,
                self.settings,
                producer,
                w.scheduler,
                w.database,
                self._sink,
                inbound=Inbound.of(w.naming, contracts),
            )
            w.groups.append(group)  # so Worker.stop drains and stops it
            await group.start(consumer=memory.consumer(group.group))

    async def _ensure_source_topics(self) -> None:
        assert self.worker is not None
        wanted = {
            self._topic_of(t) for s in self.worker.router.subscriptions for t in s.event_types
        }
        admin = AIOKafkaAdminClient(**self.settings.kafka_client_options())
        await admin.start()
        try:
            missing = wanted - set(await admin.list_topics())
            if missing:
                await admin.create_topics([NewTopic(t, self.partitions, 1) for t in missing])
        finally:
            await admin.close()

    def _topic_of(self, event_type: str) -> str:
        assert self.worker is not None  # only used to run subscribers
        return self.worker._topic_of(event_type)  # in the app's space and mesh

    # -- input -------------------------------------------------------------------------------------
    async def publish(
        self,
        event_type: str,
        data: Any,
        *,
        key: str | None = None,
        subject: str | None = None,
        extensions: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> str:
        """Publish as the event's producer app would (contract-validated); by default wait until
        every group has settled it (handled, retried to the end, or dead-lettered)."""
        topic, envelope = self.build(
            event_type, data, key=key, subject=subject, extensions=extensions
        )
        await self.send_record(topic, *to_kafka(envelope))
        if wait:
            await self.drain()
        return envelope.id

    async def send_record(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Put raw bytes on a topic (e.g. poison, or a hand-made structured-mode event)."""
        if self.memory is not None:
            await self.memory.append(topic, value, key, headers)
        else:
            assert self._producer is not None
            await self._producer.send_and_wait(topic, value, key=key, headers=list(headers))

    async def send_records(
        self,
        topic: str,
        records: Iterable[tuple[bytes | None, bytes | None, Sequence[tuple[str, bytes]]]],
    ) -> None:
        """Put many raw records on a topic in their order (on Kafka sent together, then all
        acknowledged: thousands take a moment, not one round trip each)."""
        if self.memory is not None:
            for key, value, headers in records:
                await self.memory.append(topic, value, key, headers)
            return
        assert self._producer is not None
        sent = [
            await self._producer.send(topic, value, key=key, headers=list(headers))
            for key, value, headers in records
        ]
        await asyncio.gather(*sent)

    async def replay(self, letter: DeadLetterRecord, *, wait: bool = True) -> None:
        """Send a dead letter back through its group (its replay topic, the original record),
        as `bizevents dlq replay` does."""
        await self.send_record(
            replay_topic(letter.group), letter.key, letter.value, letter.travelling_headers()
        )
        if wait:
            await self.drain()

    def build(
        self,
        event_type: str,
        data: Any,
        *,
        key: str | None = None,
        subject: str | None = None,
        extensions: Mapping[str, str] | None = None,
    ) -> tuple[str, Envelope]:
        """(topic, CloudEvent) as `publish` would send it; to send one event several times:
        `await t.send_record(topic, *to_kafka(envelope))`."""
        contracts = getattr(self.events, "contracts", None)
        if hasattr(self.events, "build"):
            builder = self.events
            if contracts is not None and event_type in contracts:
                publishers = contracts.get(event_type).publishers
                if publishers and self.events.app not in publishers:
                    # The test plays the producing app: same validation, its permission.
                    builder = copy.copy(self.events)
                    builder.app = publishers[0]
            out = builder.build(event_type, data, key=key, subject=subject, extensions=extensions)
            return out.topic, out.envelope
        envelope = Envelope(
            id=new_event_id(),
            type=event_type,
            source="/bizevents/testing",
            time=datetime.now(UTC),
            data=json.dumps(data).encode(),
            subject=subject,
            partitionkey=key,
            extensions=dict(extensions or {}),
        )
        return event_topic(event_type), envelope

    # -- waiting -----------------------------------------------------------------------------------
    async def drain(self, timeout: float = 15.0) -> None:
        """Wait until every group has committed everything on its topics (events, retry and
        replay topics): all work, retries included, is finished."""
        async with asyncio.timeout(timeout):
            while not await self._settled():
                await asyncio.sleep(0.01)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)

    async def _settled(self) -> bool:
        for group in self.worker.groups if self.worker is not None else []:
            await group.commit()
            consumer: Any = group.consumer
            if self.memory is not None:
                tps = [tp for t in group.all_topics for tp in self.memory.partitions_of(t)]
                committed = self.memory.committed.get(group.group, {})
                if any(committed.get(tp, 0) < self.memory.end(tp) for tp in tps):
                    return False
                continue
            tps = [
                TopicPartition(t, p)
                for t in group.all_topics
                for p in sorted(consumer.partitions_for_topic(t) or ())
            ]
            if not tps or consumer.assignment() != set(tps):
                return False
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                if ends[tp] and (await consumer.committed(tp) or 0) < ends[tp]:
                    return False
        return True

    # -- observations ------------------------------------------------------------------------------
    def calls(self, event_type: str | None = None, group: str | None = None) -> list[Call]:
        return [
            c
            for c in self._calls
            if (event_type is None or c.type == event_type) and (group is None or c.group == group)
        ]

    def handled(self, event_type: str | None = None, group: str | None = None) -> list[Call]:
        """Successful handler calls."""
        return [c for c in self.calls(event_type, group) if c.ok]

    def failures(self, event_type: str | None = None, group: str | None = None) -> list[Call]:
        return [c for c in self.calls(event_type, group) if not c.ok]

    def dead_letters(self, group: str | None = None) -> list[DeadLetterRecord]:
        return [d for d in self._dead if group is None or d.group == group]

    async def committed(self, topic: str, group: str) -> dict[int, int]:
        """The offsets `group` has committed on `topic`, by partition (none yet: left out)."""
        scoped = self.worker.naming.scoped(group) if self.worker is not None else group
        if self.memory is not None:
            offsets = self.memory.committed.get(scoped, {})
            return {tp.partition: o for tp, o in offsets.items() if tp.topic == topic}
        admin = AIOKafkaAdminClient(**self.settings.kafka_client_options())
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(scoped)
        finally:
            await admin.close()
        return {tp.partition: m.offset for tp, m in offsets.items() if tp.topic == topic}

    async def records(self, topic: str) -> list[Any]:
        """Every record on `topic` so far, partition by partition (`key`, `value`, `headers`,
        `partition`, `offset`): e.g. what the worker wrote to `bizevents.dlq.<group>`."""
        if self.memory is not None:
            return list(self.memory.records(topic))
        tps = [TopicPartition(topic, p) for p in sorted(await self._partitions_for(topic))]
        consumer = AIOKafkaConsumer(
            **self.settings.kafka_client_options(), group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            out: dict[TopicPartition, list[Any]] = {tp: [] for tp in tps}
            todo = {tp for tp in tps if ends[tp] > 0}
            while todo:
                for tp, batch in (await consumer.getmany(*todo, timeout_ms=200)).items():
                    out[tp] += [r for r in batch if r.offset < ends[tp]]
                for tp in list(todo):
                    if await consumer.position(tp) >= ends[tp]:
                        todo.discard(tp)
            return [r for tp in tps for r in out[tp]]
        finally:
            await consumer.stop()

    async def _partitions_for(self, topic: str) -> set[int]:
        if self._producer is not None:
            return set(await self._producer.partitions_for(topic))
        # The harness has stopped (a test looks at what the stop left): a producer of its own.
        producer = AIOKafkaProducer(**self.settings.kafka_client_options())
        await producer.start()
        try:
            return set(await producer.partitions_for(topic))
        finally:
            await producer.stop()

    def published(self, event_type: str | None = None) -> list[Envelope]:
        """Events the code under test published with `events.publish(conn, ...)`."""
        return [e for e in self._published if event_type is None or e.type == event_type]

    async def _sink(self, letter: DeadLetterRecord) -> None:
        self._dead.append(letter)
        if self._user_sink is not None:
            await self._user_sink(letter)


class _Outbox:
    """Stands in for the outbox table: `events.publish(conn, ...)` goes to the broker at once
    (as if the relay ran immediately); `conn` may be None in tests without a database."""

    def __init__(self, harness: TestEvents) -> None:
        self.harness = harness
        self.schema = "memory"

    async def write(self, conn: Any, events: Sequence[Any]) -> None:
        for event in events:
            self.harness._published.append(event.envelope)
            await self.harness.send_record(event.topic, *to_kafka(event.envelope))


def _router_of(events: Any) -> Router:
    router = events if isinstance(events, Router) else getattr(events, "router", None)
    if not isinstance(router, Router):
        raise ConfigurationError(f"{events!r} is neither an Events object nor a Router")
    return router


def _observed(router: Router, calls: list[Call], scale: float) -> Router:
    """A copy of the router whose handlers record their calls and whose delays are scaled."""
    observed = Router()
    observed.subscriptions = [
        replace(s, handler=_recording(s, calls), retry=_scaled_policy(s.retry, scale))
        for s in router.subscriptions
    ]
    return observed


def _recording(sub: Subscription, calls: list[Call]) -> Callable[..., Awaitable[Any]]:
    handler = sub.handler
    if sub.batch:
        return _recording_batches(handler, calls)

    @functools.wraps(handler)
    async def recorded(event: Any, ctx: Any) -> Any:
        call = Call(ctx.group, ctx.type, ctx.id, ctx.key, ctx.attempt, event, ctx)
        calls.append(call)
        try:
            call.result = await handler(event, ctx)
        except BaseException as exc:
            call.error = exc
            raise
        return call.result

    return recorded


def _recording_batches(
    handler: Callable[..., Awaitable[Any]], calls: list[Call]
) -> Callable[..., Awaitable[Any]]:
    """A batch handler's call is recorded as one `Call` per event, each with the batch's size,
    result and error (a failed batch: every event of it failed in that call)."""

    @functools.wraps(handler)
    async def recorded(events: list[Any], ctx: Any) -> Any:
        batch = [
            Call(ctx.group, c.type, c.id, c.key, c.attempt, event, c, batch=len(events))
            for event, c in zip(events, ctx.items, strict=True)
        ]
        calls.extend(batch)
        try:
            result = await handler(events, ctx)
        except BaseException as exc:
            for call in batch:
                call.error = exc
            raise
        for call in batch:
            call.result = result
        return result

    return recorded


def _scaled_policy(policy: RetryPolicy, scale: float) -> RetryPolicy:
    def s(value: float | None) -> float | None:
        return None if value is None else value * scale

    return replace(
        policy,
        backoff_initial=s(policy.backoff_initial),
        backoff_max=s(policy.backoff_max),
        delays=None if policy.delays is None else tuple(d * scale for d in policy.delays),
    )


def _scaled_settings(settings: WorkerSettings, scale: float) -> WorkerSettings:
    return settings.model_copy(
        update={
            "retry_delays": [d * scale for d in settings.retry_delays],
            "retry_backoff_initial": settings.retry_backoff_initial * scale,
            "retry_backoff_max": settings.retry_backoff_max * scale,
        }
    )
