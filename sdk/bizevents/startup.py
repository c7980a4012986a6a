"""Waiting at start for Kafka and PostgreSQL to answer (the worker and the broker).

A process started before its services (a fresh cluster, a pod scheduled first, a restart during an
outage) says once what it waits for, and once that it is there, instead of exiting with a
traceback. After `start_timeout` seconds it gives up with one clear error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import structlog
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable

from .errors import ServiceUnavailableError

log = structlog.get_logger("bizevents.startup")

T = TypeVar("T")

KAFKA_DOWN: tuple[type[BaseException], ...] = (
    KafkaConnectionError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    OSError,
)
DATABASE_DOWN: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable, DNS
    TimeoutError,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, connection closed under us
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)
RETRY_MAX = 5.0


class StartupWait:
    """Runs start-up steps again until their service answers, within one deadline for all."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.started = time.monotonic()

    async def until_ready(
        self,
        service: str,
        step: Callable[[], Awaitable[T]],
        unreachable: tuple[type[BaseException], ...],
        explain: Callable[[], Awaitable[str | None]] | None = None,
    ) -> T:
        """`explain`: why the service refuses us, when it answers but says no (a Kafka login
        refused looks like an unreachable broker to aiokafka)."""
        delay = 0.2
        waited = False
        explained: str | None = None
        while True:
            try:
                result = await step()
            except unreachable as exc:
                if explain is not None and not waited:
                    explained = await explain()
                reason = explained or f"{type(exc).__name__}: {exc}"
                elapsed = time.monotonic() - self.started
                if self.timeout and elapsed + delay > self.timeout:
                    what = "still refused us" if explained else "did not answer"
                    raise ServiceUnavailableError(
                        f"{service} {what} within {self.timeout:g}s of start "
                        f"(start_timeout): {reason}"
                    ) from exc
                if not waited:
                    log.warning(f"{service} unreachable at start: waiting", error=reason)
                    waited = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            if waited:
                log.info(f"{service} reachable: starting")
            return result
