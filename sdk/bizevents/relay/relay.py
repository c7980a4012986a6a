"""The relay: moves committed outbox rows to Kafka, in order per key, never skipping a row.

Design (chosen on purpose):
- One active relay per outbox. It holds a session-level advisory lock on its own connection; other
  relays wait as standbys and take over when that session ends (crash, kill -9, network loss).
  The claim and the delete run on the lock's connection, so a relay that lost its session cannot
  go on deleting, and its claim fails at once.
- Claim-and-delete, no "last id sent" cursor: each round reads the oldest committed rows by id,
  sends them, and deletes them only after Kafka acknowledged them. A transaction that took its
  ids early but committed late is simply read in a later round: there is no cursor for it to fall
  behind of (the late-commit gap of sequence-ordered outboxes cannot happen).
- While a full batch is being sent, the next one is claimed, so PostgreSQL and Kafka work at the
  same time; sends themselves never overlap. Every claim, this one included, reads the lowest ids
  still in the table (it only leaves out the rows in flight, which are deleted before it is sent).
  A claim that started after a batch's last id would be a cursor, and a cursor skips a row that
  took its id early and committed late: that row would go out after the next event of its key.
  Reading from the lowest id instead, the claim sees every row of a key that committed before a
  later row of the key was even inserted, so a key's rows are always claimed in commit order.
- Rows are ordered by id, i.e. by insert time. Transactions that write the same key are serialised
  by the app's own row locks, so a later one inserts (and gets its id) after the earlier one
  committed: id order is commit order for each key.
- Failure of one partition stops only that partition's rows (see sender.py); they are retried in
  the next round, before anything newer of the same key.
- At least once: a crash after Kafka's ack and before the delete resends that batch (duplicates
  only for the batch in flight); consumers dedupe by event id.
- Wake-up: LISTEN/NOTIFY with polling as the fallback. Writers notify at most every few ms (see
  outbox/writer.py), so for `relay_busy_window` after it last found rows the relay polls every
  `relay_busy_poll_interval`; idle, it sleeps until a NOTIFY or `relay_poll_interval`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections import Counter
from typing import Any

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaError

from ..envelope import Mode
from ..kafka import login_refused, make_producer
from ..logging import get_logger
from ..migrations import checked_identifier
from ..outbox.schema import migrate_outbox, notify_channel
from ..settings import RelaySettings
from . import metrics
from .health import KafkaHealth
from .sender import BatchSender, Row, SendResult

log = get_logger("bizevents.relay")

CLAIM = (
    "SELECT id, topic, key, event_id::text AS event_id, type, source, time, subject, dataschema, "
    "content_type, extensions, data, "
    # Formatted by PostgreSQL for the ce_time header and the record timestamp (cheaper than Python).
    "to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS time_text, "
    "(extract(epoch FROM time) * 1000)::bigint AS ts_ms "
    # $2: the batch in flight (sent, not yet deleted); every other committed row is a candidate.
    "FROM {schema}.outbox WHERE id <> ALL($2::bigint[]) ORDER BY id LIMIT $1"
)


class LostLeadership(Exception):
    """The relay's database session ended: another relay may be active now."""


class Relay:
    def __init__(self, settings: RelaySettings | None = None) -> None:
        self.settings = settings or RelaySettings()
        self.schema = checked_identifier(self.settings.outbox_schema)
        self.mode = Mode(self.settings.relay_mode)
        self._select = CLAIM.format(schema=self.schema)
        self._delete = f"DELETE FROM {self.schema}.outbox WHERE id = ANY($1::bigint[])"
        self._lock_key = f"bizevents-relay:{self.schema}"
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.is_leader = False
        self._labels = {"schema": self.schema}
        self._database_lost_at: float | None = None
        for kind in metrics.ERROR_KINDS:
            metrics.ERRORS.labels(kind=kind, **self._labels)
        metrics.LEADER.labels(**self._labels).set(0)  # standing by until it holds the lock

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Run until `stop()`: wait for leadership, relay, and start over after any failure."""
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                await self._session()
                backoff = 0.2
            except (
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                # A session cut in the middle of a query can leave the connection in a state
                # asyncpg refuses to use again: start over, like any lost session.
                asyncpg.InternalClientError,
                LostLeadership,
            ) as exc:
                metrics.ERRORS.labels(kind="database", **self._labels).inc()
                # Said once per outage (and once when it ends), not at every reconnect attempt.
                if self._database_lost_at is None:
                    self._database_lost_at = time.monotonic()
                    log.warning("relay.database_unavailable", error=str(exc), retry_in=backoff)
                else:
                    log.debug("relay.database_unavailable", error=str(exc), retry_in=backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, self.settings.relay_max_backoff)

    async def _session(self) -> None:
        conn = await asyncpg.connect(
            self.settings.database_url,
            server_settings={"application_name": f"bizevents-relay:{os.getpid()}"},
        )
        if self._database_lost_at is not None:
            waited = round(time.monotonic() - self._database_lost_at, 1)
            log.info("relay.database_available", outage_seconds=waited)
            self._database_lost_at = None
        try:
            await migrate_outbox(conn, self.schema)
            while not self._stopping.is_set():
                if await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", self._lock_key):
                    break
                await self._sleep(self.settings.relay_standby_interval)
            else:
                return
            log.info("relay.leader", schema=self.schema, pid=os.getpid())
            self.is_leader = True
            metrics.LEADER.labels(**self._labels).set(1)
            await conn.add_listener(notify_channel(self.schema), self._on_notify)
            await self._lead(conn)
        finally:
            self.is_leader = False
            metrics.LEADER.labels(**self._labels).set(0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=5)
            if not conn.is_closed():
                conn.terminate()

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _lead(self, conn: asyncpg.Connection) -> None:
        s = self.settings
        producer = make_producer(
            s,
            max_batch_size=1_000_000,
            compression_type=s.relay_compression,
            client_id=f"bizevents-relay-{self.schema}",
        )
        health = KafkaHealth(self._labels)
        await self._start_producer(producer, health)
        sender = BatchSender(producer, self.mode)
        backoff = 0.1
        next_stats = 0.0
        last_busy = -1e9
        ahead: list[Any] | None = None  # the next batch, claimed while the last one was sent
        try:
            while not self._stopping.is_set():
                if time.monotonic() >= next_stats:
                    await self._stats(conn)
                    next_stats = time.monotonic() + s.relay_stats_interval
                self._wake.clear()
                if ahead is None:
                    records = await self._claim(conn, in_flight=[])
                else:
                    records, ahead = ahead, None
                if not records:
                    metrics.OLDEST_AGE.labels(**self._labels).set(0)
                    busy = time.monotonic() - last_busy < s.relay_busy_window
                    await self._wait_for_work(
                        s.relay_busy_poll_interval if busy else s.relay_poll_interval
                    )
                    continue
                last_busy = time.monotonic()
                rows = [Row(r) for r in records]
                metrics.OLDEST_AGE.labels(**self._labels).set(
                    max(0.0, time.time() - records[0]["ts_ms"] / 1000)
                )
                started = time.perf_counter()
                sending = asyncio.ensure_future(sender.send(rows))
                try:
                    # Claim the next batch while Kafka works on this one. Sends never overlap, and
                    # after any failure the claim is dropped, so a failed partition cannot be
                    # overtaken by its own later rows.
                    if len(records) == s.relay_batch_size:
                        ahead = await self._claim(conn, in_flight=[r.id for r in rows]) or None
                finally:
                    result = await self._await_send(sending, len(rows), health)
                metrics.PRODUCE_SECONDS.labels(**self._labels).observe(
                    time.perf_counter() - started
                )
                if result.sent:
                    await conn.execute(self._delete, result.sent)
                    log.debug(
                        "relay.batch",
                        sent=len(result.sent),
                        first_event_id=rows[0].event_id,
                        last_event_id=rows[-1].event_id,
                    )
                    sent = set(result.sent)
                    by_type = Counter((r.record["type"], r.topic) for r in rows if r.id in sent)
                    for (event_type, topic), count in by_type.items():
                        metrics.RELAYED.labels(**self._labels, type=event_type, topic=topic).inc(
                            count
                        )
                    metrics.BATCH_SIZE.labels(**self._labels).observe(len(result.sent))
                if result.failed:
                    ahead = None  # the failed rows go first: claim again from the start
                    already_down = health.down
                    health.stalled(
                        waited=time.perf_counter() - started,
                        pending_rows=sum(len(ids) for ids, _ in result.failed),
                        error=repr(result.failed[0][1]),
                    )
                    for ids, error in result.failed:
                        metrics.ERRORS.labels(kind="kafka", **self._labels).inc()
                        # During an outage the first failure is said; the rest are detail.
                        (log.debug if already_down else log.warning)(
                            "relay.send_failed",
                            error=repr(error),
                            rows=len(ids),
                            event_ids=[r.event_id for r in rows if r.id in set(ids[:5])],
                        )
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, s.relay_max_backoff)
                else:
                    health.sent()
                    backoff = 0.1
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), timeout=10)

    async def _claim(self, conn: asyncpg.Connection, in_flight: list[int]) -> list[Any]:
        return list(await conn.fetch(self._select, self.settings.relay_batch_size, in_flight))

    async def _await_send(
        self, sending: asyncio.Future[SendResult], rows: int, health: KafkaHealth
    ) -> SendResult:
        started = time.monotonic()
        while True:
            done, _ = await asyncio.wait({sending}, timeout=self.settings.relay_stall_after)
            if done:
                return sending.result()
            health.stalled(waited=time.monotonic() - started, pending_rows=rows)

    async def _start_producer(self, producer: Any, health: KafkaHealth) -> None:
        """Kafka down at start: keep the rows, back off, try again (leadership kept)."""
        backoff = 0.2
        started = time.monotonic()
        while True:
            try:
                await producer.start()
                return
            except KafkaError as exc:
                metrics.ERRORS.labels(kind="kafka", **self._labels).inc()
                error = repr(exc)
                if not health.down and isinstance(exc, KafkaConnectionError):
                    # aiokafka says "Unable to bootstrap" for a refused login too: tell them apart
                    # in the one line this outage gets.
                    error = await login_refused(self.settings) or error
                health.stalled(waited=time.monotonic() - started, pending_rows=0, error=error)
                log.debug("relay.kafka_retry", error=repr(exc), retry_in=backoff)
                with contextlib.suppress(Exception):
                    await producer.stop()
                if self._stopping.is_set():
                    raise LostLeadership("stopping") from exc
                await self._sleep(backoff)
                backoff = min(backoff * 2, self.settings.relay_max_backoff)

    async def _stats(self, conn: asyncpg.Connection) -> None:
        pending = await conn.fetchval(f"SELECT count(*) FROM {self.schema}.outbox")
        metrics.PENDING.labels(**self._labels).set(pending)

    async def _wait_for_work(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _sleep(self, seconds: float) -> None:
        # Jitter keeps two relays from retrying in lock-step.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds * random.uniform(0.8, 1.2))
