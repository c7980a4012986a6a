"""Running one message through its handler: decode, validate, immediate retries, outcome.

No Kafka here: the caller (the group consumer) routes the returned verdict to a retry topic,
the dead-letter topic, or marks the record done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pydantic
import structlog

from ..envelope import Envelope
from ..errors import BizEventsError
from ..tracing import use_traceparent
from . import inbox
from .backoff import backoff_delay
from .context import Context
from .database import CONNECTION_ERRORS, Database, DatabaseUnavailable
from .deadletter import short_stack
from .metrics import DURATION, RETRIES
from .outcomes import DeadLetter, Outcome, Retry, Skip
from .router import Subscription
from .slots import Slots

log = structlog.get_logger("bizevents.worker")


@dataclass(frozen=True)
class Done:
    outcome: str  # success, skipped, duplicate
    reason: str = ""


@dataclass(frozen=True)
class Failed:
    """Not done: retry later (`dead=False`) or dead-letter now (`dead=True`)."""

    error: str
    error_type: str
    stack: str
    attempts: int  # attempts made so far, all hops included
    dead: bool
    after: float | None = None  # Retry(after=...): the minimum delay asked for


Verdict = Done | Failed


def failure(exc: BaseException, attempts: int, dead: bool, after: float | None = None) -> Failed:
    if isinstance(exc, Outcome):
        text = str(exc) or type(exc).__name__
        return Failed(text, type(exc).__name__, "", attempts, dead, after)
    return Failed(
        f"{type(exc).__name__}: {exc}", _qualname(type(exc)), short_stack(exc), attempts, dead
    )


def _qualname(cls: type[BaseException]) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


class Executor:
    def __init__(
        self,
        group: str,
        contracts: Any,
        slots: Slots,
        database: Database | None,
        inbox_schema: str,
        stopping: asyncio.Event,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.group = group
        self.contracts = contracts
        self.slots = slots
        self.database = database
        self.stopping = stopping
        self.inbox_schema = inbox_schema
        self.sleep = sleep
        self._durations: dict[str, Any] = {}

    def _duration(self, event_type: str) -> Any:
        child = self._durations.get(event_type)
        if child is None:
            child = self._durations[event_type] = DURATION.labels(self.group, event_type)
        return child

    def decode(self, sub: Subscription, envelope: Envelope) -> Any:
        """The handler's event argument; raises (poison) when the payload breaks the contract."""
        payload = envelope.payload()
        if self.contracts is not None and envelope.type in self.contracts:
            self.contracts.get(envelope.type).validate(payload)
        model = sub.model_for(envelope.type)
        return model.model_validate(payload) if model is not None else payload

    async def run(
        self,
        sub: Subscription,
        envelope: Envelope,
        attempts_before: int,
        where: tuple[str, int, int],
        priority: int = 0,
    ) -> Verdict:
        """`priority`: the record's place in fetch order (lower runs first when slots are short)."""
        try:
            event = self.decode(sub, envelope)
        except (BizEventsError, pydantic.ValidationError, ValueError) as exc:
            return failure(exc, attempts_before, dead=True)
        policy_attempts = sub.retry.attempts or 1
        last: BaseException | None = None
        for i in range(1, policy_attempts + 1):
            attempt = attempts_before + i
            try:
                return await self._attempt_when_database_is_up(
                    sub, envelope, event, attempt, where, priority
                )
            except Skip as exc:
                return Done("skipped", exc.reason)
            except DeadLetter as exc:
                return failure(exc, attempt, dead=True)
            except Retry as exc:
                return failure(exc, attempt, dead=False, after=exc.after)
            except DatabaseUnavailable:
                raise  # stopping while the database is down: the record stays unfinished
            except Exception as exc:
                if sub.never_retry and isinstance(exc, sub.never_retry):
                    return failure(exc, attempt, dead=True)
                last = exc
                log.warning(
                    "handler failed",
                    group=self.group,
                    event_id=envelope.id,
                    event_type=envelope.type,
                    attempt=attempt,
                    error=f"{type(exc).__name__}: {exc}",
                )
                if i < policy_attempts:
                    RETRIES.labels(self.group, "immediate").inc()
                    await self.sleep(
                        backoff_delay(i, sub.retry.backoff_initial or 0, sub.retry.backoff_max or 0)
                    )
        assert last is not None
        return failure(last, attempts_before + policy_attempts, dead=False)

    async def _attempt_when_database_is_up(
        self,
        sub: Subscription,
        envelope: Envelope,
        event: Any,
        attempt: int,
        where: tuple[str, int, int],
        priority: int,
    ) -> Verdict:
        """An attempt that found the worker's database unreachable did not count: wait until it
        answers again (its key's later records wait behind it), then make the attempt again."""
        while True:
            try:
                return await self._attempt(sub, envelope, event, attempt, where, priority)
            except DatabaseUnavailable as exc:
                assert self.database is not None
                self.database.lost(exc.__cause__ or exc)
                if not await self.database.wait_available(self.stopping):
                    raise

    async def _attempt(
        self,
        sub: Subscription,
        envelope: Envelope,
        event: Any,
        attempt: int,
        where: tuple[str, int, int],
        priority: int,
    ) -> Verdict:
        ctx = Context(envelope, self.group, attempt, *where, _pool=self.database)
        # Also in structlog's context variables, so the app's own loggers get the same fields.
        # Each key's lane is its own task (own context copy): the next record just overwrites.
        structlog.contextvars.bind_contextvars(**ctx.log_fields())
        # Events the handler publishes continue the incoming event's trace.
        with use_traceparent(envelope.extensions.get("traceparent")):
            return await self._limited(sub, envelope, event, ctx, priority)

    async def _limited(
        self, sub: Subscription, envelope: Envelope, event: Any, ctx: Context, priority: int
    ) -> Verdict:
        await self.slots.acquire(priority)
        started = time.perf_counter()
        try:
            if sub.inbox:
                return await self._with_inbox(sub, envelope, event, ctx)
            result = await sub.handler(event, ctx)
        finally:
            self._duration(envelope.type).observe(time.perf_counter() - started)
            self.slots.release()
        if isinstance(result, Outcome):
            raise result
        return Done("success")

    async def _with_inbox(
        self, sub: Subscription, envelope: Envelope, event: Any, ctx: Context
    ) -> Verdict:
        if self.database is None:
            raise BizEventsError("inbox=True needs a database (BIZEVENTS_DATABASE_URL)")
        pool = await self.database()
        used: asyncpg.Connection | None = None
        try:
            async with pool.acquire() as conn, conn.transaction():
                used = conn
                if not await inbox.claim(
                    conn, self.inbox_schema, self.group, envelope.id, envelope.type
                ):
                    return Done("duplicate", "already in the inbox")
                ctx.connection = conn
                result = await sub.handler(event, ctx)
                # Any outcome other than Skip must undo the handler's writes and the inbox row.
                if isinstance(result, Outcome) and not isinstance(result, Skip):
                    raise result
        except CONNECTION_ERRORS as exc:
            if used is not None and not used.is_closed():
                raise  # e.g. the handler's own call to another service: a handler failure
            # Our connection failed, so the transaction (handler writes, inbox row) did not
            # commit: the attempt is made again once the database answers.
            raise DatabaseUnavailable(str(exc)) from exc
        if isinstance(result, Skip):
            raise result
        return Done("success")
