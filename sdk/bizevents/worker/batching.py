"""Batch subscribers (`batch=True`): gathering ready records into batches (pure asyncio, no I/O).

A record of a batch subscriber that may run (the first of its key's lane) goes to its
subscription's `Batcher` instead of the scheduler. The batcher hands its records on (`flush`)
when it holds `batch_size` of them, or `batch_wait` seconds after the first came. The group then
adds, while there is room, the records waiting right behind in the lanes of its keys, so one
key's consecutive records share a batch; sorted by fetch number, the batch keeps each key's
records in offset order. The batch runs on one of the scheduler's tasks like one record, and the
lanes of its keys stay taken until it ends: a later record of a key never runs before, or beside,
an earlier one, within a batch or across batches.

What does not go into a batch, and runs alone (the handler gets a list of one): records from a
delayed-retry topic, and records whose key is held by a retry (checked when the batch runs, and
again after each failed half, see group.py): those are parked behind the key's head, as for any
subscriber. A failed batch is split in halves, left (earlier) half first, until the failing
records stand alone; a record alone gets the usual immediate retries, retry topics and dead
letters, and the others are handled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .router import Subscription


class Batch:
    """Records of one batch subscriber that run in one handler call (fetch order)."""

    __slots__ = ("items", "seq", "sub")
    key = None  # a batch takes no lane itself: its records' lanes are released when it ends

    def __init__(self, sub: Subscription, items: list[Any]) -> None:
        self.sub = sub
        self.items = items
        self.seq = items[0].seq  # the scheduler runs the oldest ready work first


class Batcher:
    """Collects the ready records of one batch subscriber, bounded in size and wait."""

    __slots__ = ("_closed", "_flush", "_items", "_timer", "size", "wait")

    def __init__(self, size: int, wait: float, flush: Callable[[list[Any]], None]) -> None:
        self.size = size
        self.wait = wait
        self._flush = flush
        self._items: list[Any] = []
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def add(self, item: Any) -> None:
        if self._closed:
            return  # the group stopped: left unrun, so uncommitted
        items = self._items
        items.append(item)
        if len(items) >= self.size:
            self.flush()
        elif len(items) == 1:
            # Even with no wait, records decoded in the same fetch round join the batch.
            self._timer = asyncio.get_running_loop().call_later(self.wait, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        items, self._items = self._items, []
        if items:
            self._flush(items)

    def hurry(self) -> None:
        """Hand everything on at once from now on (the group is stopping)."""
        self.wait = 0.0
        self.flush()

    @property
    def waiting(self) -> int:
        return len(self._items)

    def close(self) -> None:
        """Stop handing records on (the group stopped)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._items = []
