"""`Worker`: runs every consumer group of an app's subscribers until stopped (SIGTERM/SIGINT).

worker = Worker(events, WorkerSettings())
await worker.run()            # or: await worker.start(); ...; await worker.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from functools import partial
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from .. import topics
from ..deadletter import DeadLetterSink
from ..deprecation import warn_if_deprecated
from ..errors import (
    BizEventsError,
    ConfigurationError,
    PermissionDeniedError,
    UnknownEventTypeError,
)
from ..kafka import login_refused, make_producer
from ..mesh import Inbound, Naming
from ..metrics import serve_metrics
from ..startup import DATABASE_DOWN, KAFKA_DOWN, StartupWait
from .database import CONNECTION_ERRORS, Database
from .group import GroupConsumer
from .inbox import cleanup, migrate_inbox
from .router import Router
from .scheduler import Scheduler
from .settings import WorkerSettings

log = structlog.get_logger("bizevents.worker")

DEFAULT_PARTITIONS = 3


def router_of(events: Any) -> Router:
    """The Router of an `Events` object (or a Router itself)."""
    router = events if isinstance(events, Router) else getattr(events, "router", None)
    if not isinstance(router, Router):
        raise ConfigurationError(f"{events!r} has no subscribers (expected Events or Router)")
    return router


class Worker:
    def __init__(
        self,
        events: Any,
        settings: WorkerSettings | None = None,
        *,
        dead_letter_sink: DeadLetterSink | None = None,
    ) -> None:
        self.settings = settings or WorkerSettings()
        self.router = router_of(events).with_policy(self.settings)
        self.contracts = getattr(events, "contracts", None)
        # The app's space and mesh naming (from its Events object, else from the settings).
        naming = getattr(events, "naming", None)
        self.naming = (
            naming
            if isinstance(naming, Naming)
            else Naming(self.settings.space, self.settings.mendix_topic_prefix)
        )
        self.sink = dead_letter_sink or getattr(events, "dead_letter_sink", None)
        groups = self.settings.groups or self.router.groups()
        unknown = set(groups) - set(self.router.groups())
        if unknown:
            raise ConfigurationError(f"no subscriber uses group(s) {sorted(unknown)}")
        if not groups:
            raise ConfigurationError("the app declares no subscribers")
        self.group_names = groups
        self._check_contracts(getattr(events, "app", None))
        self.groups: list[GroupConsumer] = []
        self.producer: AIOKafkaProducer | None = None
        self.database = Database(
            self.settings.database_url, max(2, min(self.settings.concurrency, 20))
        )
        # The handler tasks, shared by every group (`concurrency` records run at once).
        self.scheduler = Scheduler(self.settings.concurrency)
        self._cleanup_task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()

    def _check_contracts(self, app: str | None) -> None:
        """Every subscribed type must have a contract that lets this app subscribe."""
        if self.contracts is None:
            return
        # Every problem at once (one alone keeps its own error type).
        problems: list[BizEventsError] = []
        for sub in self.router.subscriptions:
            for event_type in sub.event_types:
                try:
                    contract = self.contracts.get(event_type)
                except UnknownEventTypeError as exc:
                    problems.append(exc)
                    continue
                warn_if_deprecated(contract, "subscription", app)
                allowed = tuple(getattr(contract, "subscribers", ()) or ())
                if app is not None and allowed and app not in allowed:
                    problems.append(
                        PermissionDeniedError(
                            f"app {app!r} may not subscribe to {event_type!r} "
                            f"(allowed: {', '.join(allowed)})"
                        )
                    )
        if len(problems) == 1:
            raise problems[0]
        if problems:
            raise ConfigurationError(
                f"{len(problems)} contract problems: " + "; ".join(str(p) for p in problems)
            )

    # -- database (lazy: only apps that use it need it) ------------------------------------------
    async def pool(self) -> asyncpg.Pool:
        return await self.database()

    def _uses_inbox(self) -> bool:
        return any(s.inbox for s in self.router.subscriptions if s.group in self.group_names)

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        waiting = StartupWait(self.settings.start_timeout)
        if self._uses_inbox():
            await waiting.until_ready("database", self._migrate_inbox, DATABASE_DOWN)
            self._cleanup_task = asyncio.create_task(self._cleanup_loop())
        if self.sink is None and self.settings.dlq_store:
            self.sink = await waiting.until_ready(
                "database", self._dead_letter_store, DATABASE_DOWN
            )
        self.producer = await waiting.until_ready(
            "Kafka", self._start_producer, KAFKA_DOWN, lambda: login_refused(self.settings)
        )
        for name in self.group_names:
            subs = self.router.for_group(name)
            contracts = (
                [self.contracts.get(t) for t in subs if t in self.contracts]
                if (self.contracts is not None)
                else []
            )
            group = GroupConsumer(
                self.naming.scoped(name),  # the Kafka group, and its retry/dead-letter topics
                subs,
                [self._topic_of(t) for t in subs],
                self.contracts,
                self.settings,
                self.producer,
                self.scheduler,
                self.database,
                self.sink,
                inbound=Inbound.of(self.naming, contracts),
            )
            await waiting.until_ready("Kafka", partial(self._ensure_topics, group), KAFKA_DOWN)
            self.groups.append(group)
        for group in self.groups:
            await group.start()  # Kafka answered just above: a failure here is not a wait
        serve_metrics(self.settings.metrics_port, ("worker",), self.settings.metrics_host)

    async def _migrate_inbox(self) -> None:
        pool = await self.pool()
        async with pool.acquire() as conn:
            await migrate_inbox(conn, self.settings.inbox_schema)

    async def _dead_letter_store(self) -> DeadLetterSink:
        from ..dlq import DeadLetterStore, store_sink

        store = DeadLetterStore(await self.pool(), self.settings.dlq_schema)
        await store.migrate()
        return store_sink(store)

    async def _start_producer(self) -> AIOKafkaProducer:
        producer = make_producer(self.settings, client_id="bizevents-worker")
        try:
            await producer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        return producer

    def _topic_of(self, event_type: str) -> str:
        if self.contracts is not None and event_type in self.contracts:
            return self.naming.topic_of(self.contracts.get(event_type))
        return self.naming.scoped(topics.event_topic(event_type))

    async def _ensure_topics(self, group: GroupConsumer) -> None:
        """Create the group's retry, replay and dead-letter topics when missing."""
        admin = AIOKafkaAdminClient(**self.settings.kafka_client_options())
        await admin.start()
        try:
            partitions = self.settings.topic_partitions or await _widest(admin, group.source_topics)
            wanted = [*group.retry_topics, group.replay_topic, group.dead_letter_topic]
            existing = set(await admin.list_topics())
            replicas = self.settings.topic_replication_factor
            missing = [NewTopic(t, partitions, replicas) for t in wanted if t not in existing]
            # An event topic nobody created yet gets its contract's retention (auto-creation by
            # the relay's first send would give it the broker's default).
            for topic, retention_ms in self._retention_of(group).items():
                if topic not in existing:
                    config = {"retention.ms": str(retention_ms)}
                    missing.append(NewTopic(topic, partitions, replicas, topic_configs=config))
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(missing)
                # A consumer that subscribes before a new topic shows in the metadata misses it
                # until its next metadata refresh: retries would sit there unread meanwhile.
                await _wait_visible(admin, [t.name for t in missing], self.settings.topic_timeout)
            await _check_copartitioned(admin, group)
        finally:
            await admin.close()

    def _retention_of(self, group: GroupConsumer) -> dict[str, int]:
        if self.contracts is None:
            return {}
        found = {}
        for event_type in group.subs:
            if event_type in self.contracts:
                contract = self.contracts.get(event_type)
                if contract.retention_ms is not None:
                    found[str(contract.topic)] = contract.retention_ms
        return found

    async def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        timeout = self.settings.shutdown_timeout
        await asyncio.gather(*(g.stop(timeout) for g in self.groups), return_exceptions=True)
        await self.scheduler.close()
        if self._cleanup_task is not None:
            self._cleanup_task.cancel()
            await asyncio.gather(self._cleanup_task, return_exceptions=True)
        if self.producer is not None:
            await self.producer.stop()
        await self.database.close()

    async def run(self) -> None:
        """Start, then run until SIGTERM/SIGINT (or a group's consumer crashes), then drain."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            # `run` owns its process (signal handlers too); `start` alone, embedded in an app or
            # a test harness, leaves the host's garbage collector alone.
            freeze_startup_heap()
            log.info("worker running", groups=self.group_names)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
                crashed = [g.failed() for g in self.groups if g.failed() is not None]
                if crashed:
                    log.error("consumer crashed", error=str(crashed[0]))
                    raise crashed[0]  # type: ignore[misc]
            log.info(
                "stopping: draining in-flight handlers", timeout=self.settings.shutdown_timeout
            )
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self.stop()
        log.info("worker stopped")

    async def _cleanup_loop(self) -> None:
        while True:
            try:
                pool = await self.pool()
                async with pool.acquire() as conn:
                    deleted = await cleanup(
                        conn, self.settings.inbox_schema, self.settings.inbox_retention_seconds
                    )
                if deleted:
                    log.info("inbox cleaned", deleted=deleted)
            except CONNECTION_ERRORS as exc:
                self.database.lost(exc)  # said once; the next round tries again
            except Exception as exc:
                log.warning("inbox cleanup failed", error=str(exc))
            await asyncio.sleep(self.settings.inbox_cleanup_interval)


async def _check_copartitioned(admin: AIOKafkaAdminClient, group: GroupConsumer) -> None:
    """Per-key order through retries with several workers needs one partition count for all of
    the group's topics (see assignor.py): say so when they differ."""
    try:
        described = await admin.describe_topics(group.all_topics)
    except Exception:
        return
    counts = {
        d["topic"]: len(d.get("partitions") or []) for d in described if not d.get("error_code")
    }
    if len(set(counts.values())) > 1:
        log.warning(
            "topics of the group differ in partition count: with several workers, keys whose "
            "retry partition is read by another worker are not held while they wait",
            group=group.group,
            partitions=counts,
        )


async def _widest(admin: AIOKafkaAdminClient, names: list[str]) -> int:
    try:
        described = await admin.describe_topics(names)
    except Exception:
        return DEFAULT_PARTITIONS
    counts = [len(d.get("partitions") or []) for d in described if not d.get("error_code")]
    return max([c for c in counts if c] or [DEFAULT_PARTITIONS])


async def _wait_visible(admin: AIOKafkaAdminClient, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        described = await admin.describe_topics(names)
        ready = {
            d["topic"]
            for d in described
            if not d.get("error_code")
            and d.get("partitions")
            and all(p.get("leader", -1) >= 0 for p in d["partitions"])
        }
        if ready >= set(names):
            return
        if time.monotonic() > deadline:
            raise ConfigurationError(f"topics not ready after {timeout}s: {set(names) - ready}")
        await asyncio.sleep(0.1)


_frozen = False


def freeze_startup_heap() -> None:
    """Once per process: collect, then move what is left (modules, the app, its contracts) out
    of the garbage collector's reach. Records in flight live long enough to reach the oldest
    generation, so full collections come often; without this each one walks the whole startup
    heap again (a tenth of a no-op worker's CPU). Frozen objects are still freed when their
    last reference goes; only cycles among them would stay."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()
