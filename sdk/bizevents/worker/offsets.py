"""Per-partition offset tracking (pure logic): what may be committed.

Records of one partition finish out of order (different keys run concurrently), but Kafka keeps
one committed offset per partition. We commit only up to the lowest offset not yet done, so a
failed or slow record is never skipped because a later one succeeded.

Offsets are kept as runs, one per fetched batch of a partition: a record is marked done by its
place in its run (a flag and a counter, no hashing), a run whose records are all done is dropped
from the front, and the lowest unfinished offset is looked up only when a commit asks for it.

A record may also be *waiting* (for its key's head, see `ordering.Behind`): still unfinished for
commits, but not counted by backpressure (`pending`), which would otherwise stop fetching the
very head it waits for. `held` counts it, to bound what a partition keeps in memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

OPEN, DONE, WAITING = 0, 1, 2


class Run:
    """The records of one partition fetched together, in offset order, and which are done."""

    __slots__ = ("flags", "open", "records", "tracker")

    def __init__(self, tracker: OffsetTracker, records: Sequence[Any]) -> None:
        self.tracker = tracker
        self.records = records  # anything with an `offset` attribute (Kafka records)
        self.flags = bytearray(len(records))  # OPEN, DONE or WAITING
        self.open = len(records)  # not done (waiting included)

    def done(self, index: int) -> None:
        """Mark the record at `index` finished (idempotent)."""
        if self.flags[index] != DONE:
            self.flags[index] = DONE
            self.open -= 1
            if not self.open:
                self.tracker._trim()

    def wait(self, index: int, waiting: bool = True) -> None:
        """The record at `index` waits (for its key's head), or runs again; not if done."""
        if self.flags[index] != DONE:
            self.flags[index] = WAITING if waiting else OPEN

    def first_open(self) -> int:
        """Index of the lowest record not done (waiting included), or -1 when all are."""
        flags = self.flags
        first = flags.find(OPEN)
        waiting = flags.find(WAITING, 0, first) if first >= 0 else flags.find(WAITING)
        return waiting if waiting >= 0 else first


class _Offset:
    __slots__ = ("offset",)

    def __init__(self, offset: int) -> None:
        self.offset = offset


class OffsetTracker:
    """Offsets handed out for one partition, in fetch order, and which of them are done."""

    __slots__ = ("_committed", "_count", "_highest", "_runs")

    def __init__(self) -> None:
        self._runs: deque[Run] = deque()
        self._count = 0  # records in `_runs`
        self._highest: int | None = None
        self._committed: int | None = None

    def add_run(self, records: Sequence[Any]) -> Run | None:
        """Track a fetched batch of one partition (offset order). Records this tracker has seen
        already (a fetch that was in flight across a seek) are left out; None when none is new."""
        highest = self._highest
        if highest is not None and records and records[0].offset <= highest:
            records = [r for r in records if r.offset > highest]
        if not records:
            return None
        if self._committed is None:
            # We were handed this offset, so everything before it is already settled.
            self._committed = records[0].offset
        run = Run(self, records)
        self._runs.append(run)
        self._count += len(records)
        self._highest = records[-1].offset
        return run

    def _trim(self) -> None:
        runs = self._runs
        while runs and not runs[0].open:
            self._count -= len(runs.popleft().records)

    # -- one offset at a time (the same bookkeeping) ---------------------------------------------
    def add(self, offset: int) -> bool:
        """Track one fetched offset; False (and ignored) when seen already."""
        return self.add_run([_Offset(offset)]) is not None

    def done(self, offset: int) -> None:
        """Mark one offset finished (success, skip, sent to a retry topic or dead-lettered);
        unknown or already settled offsets are ignored."""
        for run in self._runs:
            records = run.records
            if records[0].offset <= offset <= records[-1].offset:
                for index, record in enumerate(records):
                    if record.offset == offset:
                        run.done(index)
                        return
                return

    # -- what to commit ---------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Backpressure's count: records fetched and not yet committable (done ones behind an
        open one included), not counting those held back by waiting records alone."""
        before = 0
        for run in self._runs:
            first = run.flags.find(OPEN)
            if first >= 0:
                return self._count - before - first
            before += len(run.records)
        return 0

    @property
    def held(self) -> int:
        """Records fetched and not yet committable, waiting ones and those behind them included:
        what the partition keeps in memory."""
        if not self._runs:
            return 0
        return self._count - self._runs[0].first_open()

    def committable(self) -> int | None:
        """The offset to commit next (Kafka's "next offset to read"), or None when that would not
        move the committed position. Gaps (transaction markers) are fine: fetches skip them."""
        if self._highest is None:
            return None
        if self._runs:
            head = self._runs[0]
            candidate = int(head.records[head.first_open()].offset)
        else:
            candidate = self._highest + 1
        return candidate if self._committed is None or candidate > self._committed else None

    @property
    def position(self) -> int | None:
        """The last committed offset (or where this partition started), None before any fetch."""
        return self._committed

    def committed(self, offset: int) -> None:
        """The broker accepted a commit of `offset`."""
        if self._committed is None or offset > self._committed:
            self._committed = offset
