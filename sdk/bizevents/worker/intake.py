"""Intake: one partition's fetched records decoded into deliveries, in one loop (no I/O).

Each record is classified by the topic it came from (events, a delayed-retry topic, the replay
topic), its failure state read from its headers (retry topics only), decoded as a CloudEvent and
matched with its subscription. Poison (not a CloudEvent, an unknown type) is kept, with the
reason, for the dead-letter topic; a type this group does not handle, on a topic it shares with
other groups, is done at once ("ignored").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition

from ..deadletter import FailureState
from ..envelope import from_kafka
from ..errors import EnvelopeError, UnknownEventTypeError
from ..mesh import Inbound
from .delivery import Delivery, Source
from .metrics import GroupMetrics
from .offsets import Run
from .ordering import Origin
from .router import Subscription

NO_FAILURE = FailureState()


class Intake:
    def __init__(
        self,
        subscriptions: dict[str, Subscription],
        contracts: Any,
        inbound: Inbound | None,
        retry_topics: dict[str, float],
        replay_topic: str,
        metrics: GroupMetrics,
        next_seq: Callable[[], int],
    ) -> None:
        self.subs = subscriptions
        self.contracts = contracts
        # Records of Mendix topics: wire names back to contract types (see bizevents.mesh).
        self.inbound = inbound or None
        self.retry_topics = retry_topics
        self.replay_topic = replay_topic
        self.metrics = metrics
        self.next_seq = next_seq  # fetch order, for the scheduler

    def source_of(self, topic: str) -> Source:
        if topic in self.retry_topics:
            return Source.RETRY
        return Source.REPLAY if topic == self.replay_topic else Source.EVENTS

    def decode(self, tp: TopicPartition, run: Run, *, counting: bool = True) -> list[Delivery]:
        """The deliveries of a fetched run, in offset order (ignored records left out, done;
        counted in the metrics unless `counting` is off: a warm-up scan reads them again)."""
        topic = tp.topic
        source = self.source_of(topic)
        retry = source is Source.RETRY
        # Where a record came from decides its contract type on Mendix topics; a replayed one
        # carries its own.
        came_from = topic if source is not Source.REPLAY else None
        subs, inbound, contracts = self.subs, self.inbound, self.contracts
        next_seq = self.next_seq
        out: list[Delivery] = []
        for index, record in enumerate(run.records):
            state = NO_FAILURE
            origin: Origin | None = None  # where it is now, unless it was retried
            if retry:
                state = FailureState.from_headers(record.headers)
                if state.original_topic is not None:
                    origin = (
                        state.original_topic,
                        state.original_partition or 0,
                        state.original_offset or 0,
                    )
            envelope = sub = poison = None
            try:
                envelope = from_kafka(record.key, record.value, record.headers)
                if inbound is not None:
                    envelope = inbound(origin[0] if origin is not None else came_from, envelope)
                sub = subs.get(envelope.type)
                if sub is None:
                    if contracts is not None and envelope.type not in contracts:
                        raise UnknownEventTypeError(envelope.type)
                    if counting:
                        self.metrics.handled["ignored"] += 1
                    run.done(index)  # another group's event on a shared topic
                    continue
            except (EnvelopeError, UnknownEventTypeError) as exc:
                poison = exc
            out.append(
                Delivery(
                    record, tp, run, index, source, state, origin, envelope, sub, poison, next_seq()
                )
            )
        return out
