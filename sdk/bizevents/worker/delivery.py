"""A fetched record on its way through the worker (`Delivery`): where it came from, what it
decoded to, and its place in its partition's offset run."""

from __future__ import annotations

from enum import Enum

from aiokafka import ConsumerRecord, TopicPartition

from ..deadletter import FailureState
from ..envelope import Envelope
from .offsets import OffsetTracker, Run
from .ordering import Origin
from .router import Subscription


class Source(Enum):
    EVENTS = "events"
    RETRY = "retry"
    REPLAY = "replay"


class Delivery:
    """A fetched record on its way through the worker: where it came from, what it decoded to,
    and its place in its partition's offset run (to mark it done)."""

    __slots__ = (
        "_origin",
        "envelope",
        "index",
        "key",
        "poison",
        "record",
        "run",
        "seq",
        "source",
        "state",
        "sub",
        "tp",
    )

    def __init__(
        self,
        record: ConsumerRecord,
        tp: TopicPartition,
        run: Run,
        index: int,
        source: Source,
        state: FailureState,
        origin: Origin | None,
        envelope: Envelope | None,
        sub: Subscription | None,
        poison: BaseException | None,
        seq: int,
    ) -> None:
        self.record = record
        self.tp = tp
        self.run = run  # its partition's offset run, and its place there
        self.index = index
        self.source = source
        self.state = state
        self._origin = origin  # None: where it is now (built on demand)
        self.envelope = envelope
        self.sub = sub
        self.poison = poison
        self.seq = seq  # fetch order: lower runs first when handler tasks are short
        # The key whose order this record keeps, or None when it keeps none.
        self.key: bytes | None = (
            record.key if poison is None and sub is not None and sub.ordered else None
        )

    @property
    def origin(self) -> Origin:
        """Where it first appeared: (topic, partition, offset); a retried record's original."""
        origin = self._origin
        if origin is None:
            record = self.record
            origin = self._origin = (record.topic, record.partition, record.offset)
        return origin

    @property
    def tracker(self) -> OffsetTracker:
        return self.run.tracker
