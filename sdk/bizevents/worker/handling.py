"""Running one message through its handler: decode, validate, immediate retries, outcome.

No Kafka here: the caller (the group consumer) routes the returned verdict to a retry topic,
the dead-letter topic, or marks the record done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import pydantic
import structlog

from ..deadletter import short_stack
from ..envelope import Envelope
from ..errors import BizEventsError
from ..tracing import set_traceparent
from . import inbox
from .backoff import backoff_delay
from .context import Context
from .database import CONNECTION_ERRORS, Database, DatabaseUnavailable
from .metrics import RETRIES, GroupMetrics
from .outcomes import DeadLetter, Outcome, Retry, Skip
from .router import Subscription

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


SUCCESS = Done("success")
DECODE_ERRORS = (BizEventsError, pydantic.ValidationError, ValueError)
_UNDECODED: Any = object()


class Executor:
    def __init__(
        self,
        group: str,
        contracts: Any,
        metrics: GroupMetrics,
        database: Database | None,
        inbox_schema: str,
        stopping: asyncio.Event,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.group = group
        self.contracts = contracts
        self.metrics = metrics
        self.database = database
        self.stopping = stopping
        self.inbox_schema = inbox_schema
        self.sleep = sleep

    def decode(self, sub: Subscription, envelope: Envelope) -> Any:
        """The handler's event argument; raises (poison) when the payload breaks the contract."""
        payload = envelope.payload()
        if self.contracts is not None and envelope.type in self.contracts:
            self.contracts.get(envelope.type).validate(payload)
        model = sub.model_for(envelope.type)
        return model.model_validate(payload) if model is not None else payload

    def context(
        self, envelope: Envelope, attempt: int, topic: str, partition: int, offset: int
    ) -> Context:
        """The handler's `ctx`, its fields set in structlog's context variables and the event's
        trace made current (events the handler publishes continue it)."""
        ctx = Context(envelope, self.group, attempt, topic, partition, offset, None, self.database)
        ctx.bind_log_fields()
        set_traceparent(envelope.extensions.get("traceparent"))
        return ctx

    async def run(
        self,
        sub: Subscription,
        envelope: Envelope,
        attempts_before: int,
        topic: str,
        partition: int,
        offset: int,
        *,
        event: Any = _UNDECODED,
        first: Exception | None = None,
    ) -> Verdict:
        """Run the handler, with immediate retries, and say what became of the message.

        `first`: the first attempt was made already (the caller's fast path, see group.py) and
        failed with this (raised, or an outcome returned); `event` is then what it decoded.
        An attempt that found the worker's database unreachable does not count: it is made again
        once the database answers (the key's later records wait behind it)."""
        if event is _UNDECODED:
            try:
                event = self.decode(sub, envelope)
            except DECODE_ERRORS as exc:
                return failure(exc, attempts_before, dead=True)
        policy_attempts = sub.retry.attempts or 1
        last: BaseException | None = None
        i = 1
        while i <= policy_attempts:
            attempt = attempts_before + i
            try:
                if first is not None:
                    made, first = first, None
                    raise made
                ctx = self.context(envelope, attempt, topic, partition, offset)
                started = perf_counter()
                try:
                    if sub.inbox:
                        return await self._with_inbox(sub, envelope, event, ctx)
                    result = await sub.handler(event, ctx)
                finally:
                    self.metrics.observe(envelope.type, perf_counter() - started)
                if isinstance(result, Outcome):
                    raise result
                return SUCCESS
            except Skip as exc:
                return Done("skipped", exc.reason)
            except DeadLetter as exc:
                return failure(exc, attempt, dead=True)
            except Retry as exc:
                return failure(exc, attempt, dead=False, after=exc.after)
            except DatabaseUnavailable as exc:
                assert self.database is not None
                self.database.lost(exc.__cause__ or exc)
                if not await self.database.wait_available(self.stopping):
                    raise  # stopping while the database is down: the record stays unfinished
                continue  # the same attempt again
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
                i += 1
        assert last is not None
        return failure(last, attempts_before + policy_attempts, dead=False)

    async def _with_inbox(
        self, sub: Subscription, envelope: Envelope, event: Any, ctx: Context
    ) -> Verdict:
        if self.database is None:
            raise BizEventsError("inbox=True needs a database (BIZEVENTS_DATABASE_URL)")
        pool = await self.database()
        acquired = ours_broke = False
        try:
            async with pool.acquire() as conn:
                acquired = True
                try:
                    async with conn.transaction():
                        if not await inbox.claim(
                            conn, self.inbox_schema, self.group, envelope.id, envelope.type
                        ):
                            return Done("duplicate", "already in the inbox")
                        ctx.connection = conn
                        result = await sub.handler(event, ctx)
                        # Any outcome but Skip must undo the handler's writes and the inbox row.
                        if isinstance(result, Outcome) and not isinstance(result, Skip):
                            raise result
                except CONNECTION_ERRORS:
                    # Asked here: once back in the pool the connection cannot be asked.
                    ours_broke = conn.is_closed()
                    raise
        except CONNECTION_ERRORS as exc:
            if acquired and not ours_broke:
                raise  # e.g. the handler's own call to another service: a handler failure
            # Our connection failed, so the transaction (handler writes, inbox row) did not
            # commit: the attempt is made again once the database answers.
            raise DatabaseUnavailable(str(exc)) from exc
        if isinstance(result, Skip):
            raise result
        return SUCCESS
