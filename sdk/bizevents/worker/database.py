"""The worker's PostgreSQL pool (inbox, `ctx.transaction()`) and whether the database is reachable.

During an outage the worker says so once ("database unreachable") and once more when it is back
("database reachable again"), instead of a traceback per connection attempt. Records that need
the database (inbox subscribers, handlers that call `ctx.transaction()`) wait for it in their
key's lane without using up retry attempts: an outage is not the event's fault, and dead-lettering
every event of a ten-minute outage would only make work for someone.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time

import asyncpg
import structlog

from ..errors import BizEventsError
from ..startup import DATABASE_DOWN

log = structlog.get_logger("bizevents.worker")

CONNECTION_ERRORS = DATABASE_DOWN
PROBE_INTERVAL_MAX = 5.0


class DatabaseUnavailable(BizEventsError):
    """The worker's database cannot be reached (the record waits; no attempt is used up)."""


class Database:
    """Lazy pool plus reachability state. Calling it returns the pool (a `PoolProvider`)."""

    def __init__(self, url: str, max_size: int) -> None:
        self.url = url
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._available = asyncio.Event()
        self._available.set()
        self._lost_at = 0.0
        self._probe: asyncio.Task[None] | None = None

    async def __call__(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                # min_size=0: no background "restore the pool floor" loop, which logs a
                # traceback per failed reconnect during an outage. Connections open on demand.
                self._pool = await asyncpg.create_pool(self.url, min_size=0, max_size=self.max_size)
            return self._pool

    @property
    def available(self) -> bool:
        return self._available.is_set()

    def lost(self, exc: BaseException) -> None:
        """A connection failed: log the outage once and probe until the database answers."""
        if not self._available.is_set():
            return
        self._available.clear()
        self._lost_at = time.monotonic()
        # A process-wide state, not the record's: logged without the record's context fields.
        contextvars.Context().run(
            log.warning,
            "database unreachable: records that need it wait",
            error=f"{type(exc).__name__}: {exc}",
        )
        self._probe = asyncio.create_task(
            self._probe_until_back(), name="database-probe", context=contextvars.Context()
        )

    async def wait_available(self, stopping: asyncio.Event) -> bool:
        """Wait until the database is back (True) or the worker stops (False)."""
        if self._available.is_set():
            return True
        stop = asyncio.ensure_future(stopping.wait())
        back = asyncio.ensure_future(self._available.wait())
        try:
            await asyncio.wait({stop, back}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            back.cancel()
        return self._available.is_set()

    async def _probe_until_back(self) -> None:
        pause = 0.5
        while True:
            await asyncio.sleep(pause)
            try:
                pool = await self()
                async with pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")
            except CONNECTION_ERRORS:
                pause = min(pause * 2, PROBE_INTERVAL_MAX)
                continue
            except Exception as exc:  # answered, though not as expected: reachable
                log.debug("database probe", error=str(exc))
            self._available.set()
            log.info(
                "database reachable again",
                outage_seconds=round(time.monotonic() - self._lost_at, 1),
            )
            return

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        if self._pool is not None:
            await self._pool.close()
