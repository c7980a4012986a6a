"""Pull delivery: clients fetch batches over HTTP and commit them (at least once, Nakadi-style).

Each (subscription, session) is one member of the subscription's Kafka consumer group, so
several clients of a subscription share its partitions the way Kafka consumers do. A session has
at most one batch out at a time:
- fetch returns the next events (long poll up to `wait` seconds) and remembers the batch;
- commit of that batch's token commits its offsets to the group, and the next fetch goes on;
- fetching again before committing returns the same batch (a lost response costs nothing);
- a batch not committed within the subscription's `commit_timeout` is given up: the session
  seeks back and the next fetch delivers the same events again (new token); a late commit of
  the old token is refused;
- a session idle longer than `session_idle` leaves the group, and its partitions (from their
  last committed offsets) go to the other sessions.
Per-key order holds: a key lives on one partition, a partition belongs to one session at a time,
and nothing after an uncommitted batch is delivered before it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from bizevents.envelope import JSON, format_time, from_kafka
from bizevents.errors import EnvelopeError
from bizevents.kafka import client_options
from bizevents.logging import get_logger
from bizevents.mesh import Naming

from .errors import ErrorKind, GatewayError
from .kafka import KafkaLogin, kafka_unavailable
from .subscriptions import Subscription

log = get_logger("bizevents.gateway.pull")


@dataclass
class Batch:
    token: str
    events: list[dict[str, Any]]
    first: dict[TopicPartition, int]  # first offset of the batch per partition
    next: dict[TopicPartition, int]  # the offset to commit per partition
    delivered_at: float


@dataclass
class Fetched:
    token: str | None  # None: nothing to commit (no events)
    events: list[dict[str, Any]]


def event_json(key: bytes | None, value: bytes | None, headers: Sequence[Any]) -> dict[str, Any]:
    """A Kafka record as a CloudEvent in the JSON format (what a pull client receives)."""
    envelope = from_kafka(key, value, headers)
    doc: dict[str, Any] = dict(envelope.attributes())
    doc["datacontenttype"] = envelope.datacontenttype
    if envelope.datacontenttype == JSON or envelope.datacontenttype.endswith("+json"):
        doc["data"] = json.loads(envelope.data) if envelope.data else None
    else:
        doc["data_base64"] = base64.b64encode(envelope.data).decode()
    doc["time"] = format_time(envelope.time)
    return doc


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, session: PullSession) -> None:
        self.session = session

    async def on_partitions_revoked(self, revoked: Any) -> None:
        batch = self.session.batch
        if batch is not None and set(batch.first) & set(revoked):
            # Another member will deliver these from the last commit; this batch is void.
            self.session.batch = None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        pass  # the start position was committed when the subscription was created


@dataclass
class PullSession:
    subscription: Subscription
    name: str
    consumer: AIOKafkaConsumer
    types: frozenset[str]
    kafka: KafkaLogin  # what the consumer logs in with (to explain a refusal)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    batch: Batch | None = None
    last_used: float = field(default_factory=time.monotonic)

    async def fetch(self, max_events: int, wait: float) -> Fetched:
        async with self.lock:
            self.last_used = time.monotonic()
            batch = self.batch
            if batch is not None:
                if time.monotonic() - batch.delivered_at < self.subscription.commit_timeout:
                    return Fetched(batch.token, batch.events)  # not committed yet: the same
                self._rewind(batch)
            deadline = time.monotonic() + wait
            while True:
                remaining = max(0.0, deadline - time.monotonic())
                try:
                    records = await self.consumer.getmany(
                        timeout_ms=int(remaining * 1000), max_records=max_events
                    )
                except KafkaError as exc:  # e.g. the gateway's ACLs were removed meanwhile
                    raise await kafka_unavailable(self.kafka, exc) from exc
                fetched = self._batch(records)
                self.last_used = time.monotonic()
                if fetched.events or time.monotonic() >= deadline:
                    return fetched

    def _rewind(self, batch: Batch) -> None:
        assigned = self.consumer.assignment()
        for tp, offset in batch.first.items():
            if tp in assigned:
                self.consumer.seek(tp, offset)
        self.batch = None
        log.info(
            "pull.batch_expired",
            subscription=self.subscription.id,
            session=self.name,
            events=len(batch.events),
        )

    def _batch(self, records: dict[TopicPartition, list[Any]]) -> Fetched:
        events: list[dict[str, Any]] = []
        first: dict[TopicPartition, int] = {}
        after: dict[TopicPartition, int] = {}
        for tp, recs in sorted(
            records.items(), key=lambda item: (item[0].topic, item[0].partition)
        ):
            if not recs:
                continue
            first[tp] = recs[0].offset
            after[tp] = recs[-1].offset + 1
            for record in recs:
                try:
                    doc = event_json(record.key, record.value, record.headers)
                except (EnvelopeError, ValueError) as exc:
                    # Not a CloudEvent: skipped (its offset is committed with the batch).
                    log.warning("pull.undecodable", topic=tp.topic, offset=record.offset,
                                error=str(exc))  # fmt: skip
                    continue
                if doc["type"] in self.types:
                    events.append(doc)
        if not after:
            return Fetched(None, [])
        self.batch = Batch(secrets.token_urlsafe(16), events, first, after, time.monotonic())
        return Fetched(self.batch.token, events)

    async def commit(self, token: str) -> None:
        async with self.lock:
            self.last_used = time.monotonic()
            batch = self.batch
            if batch is None or not secrets.compare_digest(batch.token, token):
                raise GatewayError(
                    ErrorKind.CONFLICT,
                    "this batch is not the session's open batch (committed, expired, or its "
                    "partitions moved to another session); its events come again",
                )
            if time.monotonic() - batch.delivered_at >= self.subscription.commit_timeout:
                self._rewind(batch)
                raise GatewayError(
                    ErrorKind.CONFLICT,
                    f"the batch was not committed within {self.subscription.commit_timeout:g} s; "
                    "its events come again",
                )
            try:
                await self.consumer.commit(batch.next)
            except KafkaError as exc:
                self._rewind(batch)
                raise GatewayError(
                    ErrorKind.CONFLICT,
                    f"the commit failed ({type(exc).__name__}: a rebalance moved partitions); "
                    "the events come again",
                ) from exc
            self.batch = None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.consumer.stop()


class PullSessions:
    """The open sessions of this broker process; idle ones are closed by `reap()`."""

    def __init__(
        self,
        kafka: KafkaLogin,
        *,
        session_idle: float = 60.0,
        max_sessions: int = 200,
        naming: Naming | None = None,
    ) -> None:
        self.kafka = kafka
        self.naming = naming or Naming()
        self.session_idle = session_idle
        self.max_sessions = max_sessions
        self._sessions: dict[tuple[str, str], PullSession] = {}
        self._opening = asyncio.Lock()

    async def session(
        self, subscription: Subscription, name: str, topics: Sequence[str]
    ) -> PullSession:
        key = (subscription.id, name)
        found = self._sessions.get(key)
        if found is not None:
            return found
        async with self._opening:
            found = self._sessions.get(key)
            if found is not None:
                return found
            if len(self._sessions) >= self.max_sessions:
                raise GatewayError(
                    ErrorKind.UNAVAILABLE, "this gateway holds its maximum of pull sessions"
                )
            consumer = AIOKafkaConsumer(
                **client_options(self.kafka),
                group_id=self.naming.scoped(subscription.group),
                client_id=f"bizevents-pull-{name}",
                enable_auto_commit=False,
                # The start was committed at creation (cursors.py): a partition without offsets
                # is a new one, to be read from its beginning.
                auto_offset_reset="earliest",
                max_poll_interval_ms=int(max(self.session_idle * 2, 60) * 1000),
                session_timeout_ms=10_000,
                heartbeat_interval_ms=1_000,
            )
            session = PullSession(
                subscription, name, consumer, frozenset(subscription.event_types), self.kafka
            )
            consumer.subscribe(sorted(set(topics)), listener=_Listener(session))
            try:
                await consumer.start()
            except KafkaError as exc:
                with contextlib.suppress(Exception):
                    await consumer.stop()
                raise await kafka_unavailable(self.kafka, exc) from exc
            self._sessions[key] = session
            log.info("pull.session_opened", subscription=subscription.id, session=name)
            return session

    def existing(self, subscription: Subscription, name: str) -> PullSession | None:
        return self._sessions.get((subscription.id, name))

    async def close_subscription(self, subscription_id: str) -> None:
        for key in [k for k in self._sessions if k[0] == subscription_id]:
            await self._sessions.pop(key).close()

    async def reap(self, now: float | None = None) -> int:
        """Close sessions idle longer than `session_idle` (a fetch in progress is not idle)."""
        now = time.monotonic() if now is None else now
        idle = [
            key
            for key, s in self._sessions.items()
            if now - s.last_used > self.session_idle and not s.lock.locked()
        ]
        for key in idle:
            session = self._sessions.pop(key)
            log.info("pull.session_closed", subscription=key[0], session=key[1], reason="idle")
            await session.close()
        return len(idle)

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions))
