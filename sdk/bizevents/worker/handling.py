"""Running one message through its handler: decode, validate, immediate retries, outcome; and
one call of a batch handler (`Executor.attempt_batch`; splitting a failed batch is the caller's).

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
from .context import BatchContext, Context
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
DUPLICATE = Done("duplicate", "already in the inbox")
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
                    result = await self._call(sub, event, ctx)
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
                            return DUPLICATE
                        ctx.connection = conn
                        result = await self._call(sub, event, ctx)
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

    async def _call(self, sub: Subscription, event: Any, ctx: Context) -> Any:
        """The handler with one event; a batch handler gets a batch of one."""
        if sub.batch:
            batch = BatchContext([ctx], self.group, ctx.connection, self.database)
            return await sub.handler([event], batch)
        return await sub.handler(event, ctx)

    # -- batches --------------------------------------------------------------------------------
    def item_context(
        self, envelope: Envelope, attempt: int, topic: str, partition: int, offset: int
    ) -> Context:
        """One event's `Context` inside a batch (nothing bound: a batch binds the group only)."""
        return Context(envelope, self.group, attempt, topic, partition, offset, None, self.database)

    async def attempt_batch(
        self, sub: Subscription, events: list[Any], contexts: list[Context]
    ) -> list[Done] | Exception:
        """One call of a batch handler: no immediate retries and no splitting (a failed batch is
        split by the caller). Returns each event's verdict, in order (success, skipped,
        duplicate), or what failed the batch (an exception, or an outcome other than Skip).

        With the inbox, the events' rows are inserted first in one statement, those already there
        are left out of the call (duplicates), and the handler's writes and the rows commit in
        one transaction. A lost database connection is no failure: the call is made again once
        the database answers."""
        while True:
            try:
                if sub.inbox:
                    return await self._batch_with_inbox(sub, events, contexts)
                ctx = BatchContext(contexts, self.group, None, self.database)
                result = await self._call_batch(sub, events, ctx)
                if isinstance(result, Skip):
                    return [Done("skipped", result.reason)] * len(events)
                if isinstance(result, Outcome):
                    return result
                return [SUCCESS] * len(events)
            except Skip as exc:
                return [Done("skipped", exc.reason)] * len(events)
            except DatabaseUnavailable as exc:
                assert self.database is not None
                self.database.lost(exc.__cause__ or exc)
                if not await self.database.wait_available(self.stopping):
                    raise  # stopping while the database is down: the records stay unfinished
            except Exception as exc:
                return exc

    async def _call_batch(self, sub: Subscription, events: list[Any], ctx: BatchContext) -> Any:
        ctx.bind_log_fields()
        set_traceparent(None)  # events of many traces: what the handler publishes starts its own
        started = perf_counter()
        try:
            return await sub.handler(events, ctx)
        finally:
            self.metrics.observe(ctx.items[0].envelope.type, perf_counter() - started)

    async def _batch_with_inbox(
        self, sub: Subscription, events: list[Any], contexts: list[Context]
    ) -> list[Done]:
        if self.database is None:
            raise BizEventsError("inbox=True needs a database (BIZEVENTS_DATABASE_URL)")
        pool = await self.database()
        acquired = ours_broke = False
        try:
            async with pool.acquire() as conn:
                acquired = True
                try:
                    async with conn.transaction():
                        verdicts = await self._claim_batch(conn, contexts)
                        fresh = [i for i, v in enumerate(verdicts) if v is SUCCESS]
                        if not fresh:
                            return verdicts
                        ctx = BatchContext([contexts[i] for i in fresh], self.group, conn)
                        result = await self._call_batch(sub, [events[i] for i in fresh], ctx)
                        # Any outcome but Skip must undo the handler's writes and the inbox rows.
                        if isinstance(result, Outcome) and not isinstance(result, Skip):
                            raise result
                except CONNECTION_ERRORS:
                    ours_broke = conn.is_closed()
                    raise
        except CONNECTION_ERRORS as exc:
            if acquired and not ours_broke:
                raise  # the handler's own call to another service: a handler failure
            raise DatabaseUnavailable(str(exc)) from exc
        if isinstance(result, Skip):
            skipped = Done("skipped", result.reason)
            return [skipped if v is SUCCESS else v for v in verdicts]
        return verdicts

    async def _claim_batch(self, conn: Any, contexts: list[Context]) -> list[Done]:
        """SUCCESS for the events whose inbox row is new (to run), DUPLICATE for the others."""
        pairs = [(c.envelope.id, c.envelope.type) for c in contexts]
        new = await inbox.claim_many(conn, self.inbox_schema, self.group, pairs)
        verdicts = []
        for event_id, _ in pairs:
            if event_id in new:
                new.discard(event_id)  # the same event twice in one batch runs once
                verdicts.append(SUCCESS)
            else:
                verdicts.append(DUPLICATE)
        return verdicts
