"""The handler concurrency limit, served in fetch order (pure asyncio, no I/O).

Like a semaphore, but a freed slot goes to the waiter with the lowest priority number (the
record fetched first), not to whoever asked first. The commit point is the lowest unfinished
offset, so finishing the oldest records first moves it fastest; it matters most in a graceful
stop, when what is fetched must be finished within the shutdown timeout.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class Slots:
    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one slot")
        self._free = size
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._tie = itertools.count()

    async def acquire(self, priority: int = 0) -> None:
        if self._free > 0:  # then every queued waiter is a cancelled one
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._tie), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed a slot at the moment we were cancelled: pass it on
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():  # cancelled waiters stay in the heap until reached here
                future.set_result(None)
                return
        self._free += 1

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, f in self._waiters if not f.done())
