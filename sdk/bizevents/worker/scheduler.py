"""Per-key scheduling on a fixed pool of long-lived tasks (pure asyncio, no I/O of its own).

The owner (a group consumer) keeps one lane per key (`ordering.KeyLanes`): the first record of a
lane is handed to the `Scheduler` as *ready*, the others wait behind it. The scheduler keeps the
ready records by fetch number and runs `size` tasks (the worker's `concurrency`), each taking the
oldest ready record, running it, and making the next record of its lane ready. So:

- one key runs one record at a time, in fetch order; different keys run concurrently;
- at most `size` records run at once across all keys, partitions and groups of the process, with
  no task or semaphore per record;
- when tasks are short, the oldest record goes first: the commit point (the lowest unfinished
  offset) moves fastest, which matters most when a stop must finish what is fetched in time.

A handler that does not wait on anything finishes without a task switch, so one task runs a whole
fetched batch in a row; it yields to the event loop every `YIELD_EVERY` records.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from typing import Any, Protocol

import structlog

log = structlog.get_logger("bizevents.worker")
YIELD_EVERY = 64


class Owner(Protocol):
    """Who runs the records (a group consumer), keeping one lane per key (see ordering.KeyLanes)."""

    async def run(self, item: Any) -> None:
        """Run one record; must not raise (an unfinished record simply stays uncommitted)."""

    def following(self, item: Any) -> Any | None:
        """`item` ran: the next record of its lane, which is then ready, or None."""


class _Runner:
    __slots__ = ("owner", "task")

    def __init__(self) -> None:
        self.owner: Owner | None = None
        self.task: asyncio.Task[None] | None = None


class Scheduler:
    """Records carry a `seq` attribute (their fetch number, from `next_seq`)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one task")
        self.size = size
        # Ready records, oldest first: new ones come in fetch order, so a FIFO holds them; the
        # few that come late with an older number (a lane's next record, a delayed retry that
        # is due) go to a heap. The oldest is at the head of one of the two.
        self._fifo: deque[tuple[int, Owner, Any]] = deque()
        self._heap: list[tuple[int, Owner, Any]] = []
        self._idle: deque[asyncio.Future[None]] = deque()
        self._runners: list[_Runner] = []
        self._closing = False
        self.next_seq = itertools.count(1).__next__

    def ready(self, owner: Owner, item: Any) -> None:
        """`item` is the first of its lane: run it when a task is free."""
        seq = item.seq
        fifo = self._fifo
        if not fifo or seq > fifo[-1][0]:
            fifo.append((seq, owner, item))
        else:
            heapq.heappush(self._heap, (seq, owner, item))
        if not self._runners:
            self._start()
        idle = self._idle
        while idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    def ready_all(self, owner: Owner, items: list[Any]) -> None:
        """`ready` for each of `items`, in one step: first records of their lanes, in fetch
        order (a fetched run as it is decoded)."""
        if not items:
            return
        fifo = self._fifo
        if fifo and fifo[-1][0] > items[0].seq:
            for item in items:
                self.ready(owner, item)
            return
        fifo.extend([(item.seq, owner, item) for item in items])
        if not self._runners:
            self._start()
        idle, wake = self._idle, len(items)
        while idle and wake:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                wake -= 1

    @property
    def running(self) -> int:
        return sum(1 for r in self._runners if r.owner is not None)

    @property
    def waiting(self) -> int:
        """Records ready and not yet taken."""
        return len(self._fifo) + len(self._heap)

    def busy(self, owner: Owner) -> bool:
        """Whether a record of `owner` is running now."""
        return any(r.owner is owner for r in self._runners)

    def cancel(self, owner: Owner) -> int:
        """Cancel the records of `owner` running now (a stop that timed out); returns how many."""
        cancelled = 0
        for runner in self._runners:
            if runner.owner is owner and runner.task is not None:
                runner.task.cancel()
                cancelled += 1
        return cancelled

    async def close(self) -> None:
        self._closing = True
        tasks = [r.task for r in self._runners if r.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._runners.clear()

    def _start(self) -> None:
        for i in range(self.size):
            runner = _Runner()
            runner.task = asyncio.create_task(self._work(runner), name=f"bizevents-handler-{i}")
            self._runners.append(runner)

    async def _work(self, runner: _Runner) -> None:
        fifo, heap = self._fifo, self._heap
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        in_a_row = 0
        while True:
            if not fifo and not heap:
                in_a_row = 0
                waiter = loop.create_future()
                self._idle.append(waiter)
                await waiter
                continue
            # The oldest ready record (inlined: this runs once per record).
            if heap and (not fifo or heap[0][0] < fifo[0][0]):
                _, owner, item = heapq.heappop(heap)
            else:
                _, owner, item = fifo.popleft()
            runner.owner = owner
            try:
                await owner.run(item)
            except asyncio.CancelledError:
                if self._closing:
                    raise
                task.uncancel()  # only this record was cancelled (its group stopped)
            except Exception:
                log.exception("record run failed")  # owners catch their own: a bug
            finally:
                runner.owner = None
            following = owner.following(item)
            if following is not None:
                seq = following.seq
                if not fifo or seq > fifo[-1][0]:
                    fifo.append((seq, owner, following))
                else:
                    heapq.heappush(heap, (seq, owner, following))
            in_a_row += 1
            if in_a_row >= YIELD_EVERY:
                in_a_row = 0
                await asyncio.sleep(0)
