"""Per-partition offset tracking (pure logic): what may be committed.

Records of one partition finish out of order (different keys run concurrently), but Kafka keeps
one committed offset per partition. We commit only up to the lowest offset not yet done, so a
failed or slow record is never skipped because a later one succeeded.
"""

from __future__ import annotations

from collections import deque


class OffsetTracker:
    """Offsets handed out for one partition, in fetch order, and which of them are done."""

    __slots__ = ("_committed", "_done", "_highest", "_pending")

    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._done: set[int] = set()
        self._highest: int | None = None
        self._committed: int | None = None

    def add(self, offset: int) -> bool:
        """Track a fetched offset; False (and ignored) when this tracker has seen it already,
        e.g. a fetch that was in flight across a seek."""
        if self._highest is not None and offset <= self._highest:
            return False
        if self._committed is None:
            # We were handed this offset, so everything before it is already settled.
            self._committed = offset
        self._pending.append(offset)
        self._highest = offset
        return True

    def done(self, offset: int) -> None:
        """Mark one offset finished (success, skip, sent to a retry topic or dead-lettered)."""
        highest = self._highest if self._highest is not None else -1  # offset 0 is falsy
        if not self._pending or offset < self._pending[0] or offset > highest:
            return  # unknown or already settled: idempotent
        self._done.add(offset)
        while self._pending and self._pending[0] in self._done:
            self._done.discard(self._pending.popleft())

    @property
    def pending(self) -> int:
        """Records fetched and not yet committable (done ones behind an open one included)."""
        return len(self._pending)

    def committable(self) -> int | None:
        """The offset to commit next (Kafka's "next offset to read"), or None when that would not
        move the committed position. Gaps (transaction markers) are fine: fetches skip them."""
        if self._highest is None:
            return None
        candidate = self._pending[0] if self._pending else self._highest + 1
        return candidate if self._committed is None or candidate > self._committed else None

    @property
    def position(self) -> int | None:
        """The last committed offset (or where this partition started), None before any fetch."""
        return self._committed

    def committed(self, offset: int) -> None:
        """The broker accepted a commit of `offset`."""
        if self._committed is None or offset > self._committed:
            self._committed = offset
