"""`Gateway`: the operations every ingress calls. See the package docstring for the overview."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from bizevents.app import build_event
from bizevents.errors import (
    EnvelopeError,
    PayloadValidationError,
    PublishError,
    UnknownEventTypeError,
)
from bizevents.logging import get_logger
from bizevents.mesh import Naming
from bizevents.migrations import checked_identifier
from bizevents.outbox import OutboxWriter, OutgoingEvent
from bizevents.webhooks import AddressPolicy, new_secret

from .contracts import ContractSource
from .cursors import initialize_group
from .errors import ErrorKind, GatewayError, ProblemDetail
from .incoming import IncomingEvent, invalid
from .kafka import KafkaLogin
from .permissions import Action, Principal, allowed
from .pull import Fetched, PullSessions
from .ratelimit import RateLimiter
from .store import AppStore, migrate_gateway
from .subscriptions import Subscription, SubscriptionStore, check_start, check_types
from .webhooks import check_filters, checked_url

log = get_logger("bizevents.gateway")

SESSION_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# The errors that mean "PostgreSQL is not reachable right now": the caller may retry.
DATABASE_DOWN = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, TimeoutError)


@dataclass(frozen=True)
class Limits:
    max_batch: int = 500
    max_event_bytes: int = 900_000
    rate: float = 1000.0  # requests per second per app; 0: unlimited
    burst: float = 2000.0
    idempotency_retention: float = 24 * 3600.0  # seconds
    max_idempotency_key: int = 255
    max_fetch: int = 1000  # events per pull batch
    max_wait: float = 30.0  # seconds a pull fetch may long-poll
    commit_timeout: float = 60.0  # default for new pull subscriptions
    session_idle: float = 60.0  # seconds before an idle pull session leaves the group


@dataclass(frozen=True)
class Idempotency:
    """The caller's Idempotency-Key and a fingerprint of the request it came with."""

    key: str
    fingerprint: bytes


@dataclass(frozen=True)
class Accepted:
    ids: tuple[str, ...]
    replayed: bool = False  # an earlier request with the same idempotency key wrote these


class Gateway:
    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        contracts: ContractSource,
        *,
        limits: Limits | None = None,
        admin_token: str | None = None,
        kafka: KafkaLogin = "127.0.0.1:19092",
        webhook_policy: AddressPolicy | None = None,
        naming: Naming | None = None,
    ) -> None:
        self.pool = pool
        # The space's topic and consumer-group names (BIZEVENTS_SPACE), Mendix topics too.
        self.naming = naming or Naming()
        self.schema = checked_identifier(schema)
        self.contracts = contracts
        self.limits = limits or Limits()
        self.apps = AppStore(self.schema)
        self.outbox = OutboxWriter(self.schema)
        self.rate_limiter = RateLimiter(self.limits.rate, self.limits.burst)
        self.subscriptions = SubscriptionStore(self.schema)
        # What the gateway's own Kafka clients log in with (the broker's settings).
        self.kafka = kafka
        self.pull = PullSessions(kafka, session_idle=self.limits.session_idle, naming=self.naming)
        self._reaper: asyncio.Task[None] | None = None
        self.webhook_policy = webhook_policy or AddressPolicy()
        # Called after a webhook subscription changed (the dispatcher reconciles at once).
        self.on_webhooks_changed: Callable[[], None] = lambda: None
        self._admin_token = admin_token.encode() if admin_token else None
        s = self.schema
        self._claim_key = (
            f"INSERT INTO {s}.idempotency (app, key, fingerprint) VALUES ($1, $2, $3) "
            "ON CONFLICT (app, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
            "response = NULL, created_at = now() "
            f"WHERE {s}.idempotency.created_at < now() - make_interval(secs => $4) "
            "RETURNING true"
        )
        self._read_key = (
            f"SELECT fingerprint, response FROM {s}.idempotency WHERE app=$1 AND key=$2"
        )
        self._store_key = f"UPDATE {s}.idempotency SET response = $3 WHERE app = $1 AND key = $2"

    @classmethod
    async def open(
        cls,
        database_url: str,
        schema: str,
        contracts: ContractSource,
        *,
        limits: Limits | None = None,
        admin_token: str | None = None,
        pool_size: int = 10,
        kafka: KafkaLogin = "127.0.0.1:19092",
        webhook_policy: AddressPolicy | None = None,
        naming: Naming | None = None,
    ) -> Gateway:
        """A pool on `database_url` and the gateway's tables migrated; `close()` when done."""
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=pool_size)
        try:
            async with pool.acquire() as conn:
                await migrate_gateway(conn, checked_identifier(schema))
        except BaseException:
            await pool.close()
            raise
        gateway = cls(
            pool,
            schema,
            contracts,
            limits=limits,
            admin_token=admin_token,
            kafka=kafka,
            webhook_policy=webhook_policy,
            naming=naming,
        )
        gateway._reaper = asyncio.create_task(gateway._reap_idle_sessions())
        return gateway

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await self.pull.close()
        await self.pool.close()

    async def _reap_idle_sessions(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.limits.session_idle / 4))
            try:
                await self.pull.reap()
            except Exception as exc:  # a failing close must not end the reaper
                log.warning("gateway.reap_failed", error=str(exc))

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; PostgreSQL being away becomes UNAVAILABLE (503), not a crash."""
        try:
            async with self.pool.acquire() as conn:
                yield conn
        except DATABASE_DOWN as exc:
            log.warning("gateway.database_unavailable", error=type(exc).__name__)
            raise GatewayError(
                ErrorKind.UNAVAILABLE, "the gateway's database is not reachable; retry later"
            ) from exc

    # -- identity -------------------------------------------------------------------------------
    async def authenticate(self, key: str | None) -> Principal:
        """The caller behind an API key (or the operator's admin token); UNAUTHENTICATED else.
        The error never repeats the key, nor says whether it existed."""
        if not key:
            raise GatewayError(ErrorKind.UNAUTHENTICATED, "an API key is required")
        if self._admin_token is not None and hmac.compare_digest(key.encode(), self._admin_token):
            return Principal("admin", admin=True)
        async with self.connection() as conn:
            principal = await self.apps.authenticate(conn, key)
        if principal is None:
            raise GatewayError(ErrorKind.UNAUTHENTICATED, "the API key is not valid")
        return principal

    def require_admin(self, principal: Principal) -> None:
        if not principal.admin:
            raise GatewayError(ErrorKind.FORBIDDEN, "this needs the admin role")

    def admit(self, principal: Principal, now: float | None = None) -> None:
        """Count one request against the app's rate; RATE_LIMITED (with retry_after) if over."""
        wait = self.rate_limiter.acquire(principal.app, time.monotonic() if now is None else now)
        if wait > 0:
            raise GatewayError(
                ErrorKind.RATE_LIMITED,
                f"app {principal.app!r} is over its rate of {self.limits.rate:g} requests/s",
                retry_after=wait,
            )

    # -- publish --------------------------------------------------------------------------------
    async def build(
        self, principal: Principal, events: Sequence[IncomingEvent]
    ) -> list[OutgoingEvent]:
        """Check permission and validate every event (pure but for the contract cache): either
        all events are good or one error lists every problem found."""
        if not events:
            raise invalid("/", "the batch holds no events")
        if len(events) > self.limits.max_batch:
            raise GatewayError(
                ErrorKind.BATCH_TOO_LARGE,
                f"{len(events)} events in one request; the limit is {self.limits.max_batch}",
            )
        contracts = await self.contracts.current()
        built: list[OutgoingEvent] = []
        failures: list[GatewayError] = []
        for event in events:
            try:
                contract = contracts.get(event.type) if event.type else None
            except UnknownEventTypeError:
                contract = None
            if contract is None or not allowed(principal, Action.PUBLISH, contract):
                # Unknown and forbidden read the same, so callers cannot probe which types exist.
                if principal.admin and event.type:
                    raise GatewayError(
                        ErrorKind.NOT_FOUND, f"no contract declares event type {event.type!r}"
                    )
                raise GatewayError(
                    ErrorKind.FORBIDDEN,
                    f"app {principal.app!r} may not publish {event.type!r}",
                )
            if event.source is not None and event.source != contract.source:
                failures.append(
                    invalid(
                        f"{event.pointer}/source",
                        f"source of {event.type} is {contract.source!r} (its contract's), "
                        f"not {event.source!r}",
                    )
                )
                continue
            if event.dataschema is not None and event.dataschema != contract.dataschema:
                failures.append(
                    invalid(
                        f"{event.pointer}/dataschema",
                        f"dataschema of {event.type} is {contract.dataschema!r}",
                    )
                )
                continue
            try:
                built.append(
                    build_event(
                        contract,
                        event.type,
                        event.data,
                        app=principal.app,
                        key=event.key,
                        subject=event.subject,
                        extensions=event.extensions,
                        max_payload_bytes=self.limits.max_event_bytes,
                        event_id=event.id,
                        time=event.time,
                        naming=self.naming,
                    )
                )
            except PayloadValidationError as exc:
                failures.append(
                    GatewayError(
                        ErrorKind.PAYLOAD_INVALID,
                        exc.summary,
                        problems=[
                            ProblemDetail(p.message, f"{event.pointer}/data{p.pointer.rstrip('/')}")
                            for p in exc.problems
                        ],
                    )
                )
            except EnvelopeError as exc:
                failures.append(invalid(event.pointer or "/", str(exc)))
            except PublishError as exc:
                failures.append(
                    GatewayError(
                        ErrorKind.PAYLOAD_INVALID,
                        str(exc),
                        problems=[ProblemDetail(str(exc), f"{event.pointer}/data")],
                    )
                )
        if failures:
            first = failures[0]
            detail = first.detail if len(failures) == 1 else f"{len(failures)} events are invalid"
            problems = [p for f in failures for p in f.problems]
            raise GatewayError(first.kind, detail, problems=problems)
        return built

    async def publish(
        self,
        principal: Principal,
        events: Sequence[IncomingEvent],
        idempotency: Idempotency | None = None,
    ) -> Accepted:
        """Validate, then write every event into the gateway's outbox in one transaction (the
        relay moves them to Kafka). With an idempotency key, a repeat of the same request returns
        the first answer and writes nothing; the same key with another request is refused."""
        if idempotency is not None and not 1 <= len(idempotency.key) <= (
            self.limits.max_idempotency_key
        ):
            raise GatewayError(
                ErrorKind.BAD_REQUEST,
                f"Idempotency-Key must be 1 to {self.limits.max_idempotency_key} characters",
            )
        built = await self.build(principal, events)
        ids = tuple(b.envelope.id for b in built)
        async with self.connection() as conn:
            if idempotency is None:
                await self.outbox.write(conn, built)  # one statement: atomic on its own
                return Accepted(ids)
            async with conn.transaction():
                claimed = await conn.fetchval(
                    self._claim_key,
                    principal.app,
                    idempotency.key,
                    idempotency.fingerprint,
                    self.limits.idempotency_retention,
                )
                if not claimed:
                    return await self._replay(conn, principal, idempotency)
                await self.outbox.write(conn, built)
                await conn.execute(
                    self._store_key, principal.app, idempotency.key, json.dumps({"ids": ids})
                )
        return Accepted(ids)

    async def _replay(
        self, conn: asyncpg.Connection, principal: Principal, idempotency: Idempotency
    ) -> Accepted:
        row = await conn.fetchrow(self._read_key, principal.app, idempotency.key)
        if row is None or row["response"] is None:  # the first request's row vanished: retry
            raise GatewayError(
                ErrorKind.CONFLICT, "a request with this Idempotency-Key is still in progress"
            )
        if not hmac.compare_digest(bytes(row["fingerprint"]), idempotency.fingerprint):
            raise GatewayError(
                ErrorKind.IDEMPOTENCY_MISMATCH,
                "this Idempotency-Key was used with a different request; use a new key",
            )
        return Accepted(tuple(json.loads(row["response"])["ids"]), replayed=True)

    # -- pull subscriptions ---------------------------------------------------------------------
    async def create_subscription(
        self,
        principal: Principal,
        kind: str,
        event_types: Sequence[str],
        start: str = "latest",
        config: Mapping[str, Any] | None = None,
    ) -> Subscription:
        """A subscription of the principal's app to types it may subscribe to (contracts'
        subscribers, grants, admin); unknown types are refused like forbidden ones."""
        contracts = check_types(principal, await self.contracts.current(), event_types)
        start = check_start(start)
        subscription_id = str(uuid.uuid4())
        group = Subscription(subscription_id, principal.app, kind, (), start).group
        await initialize_group(
            self.kafka,
            self.naming.scoped(group),
            [self.naming.topic_of(c) for c in contracts],
            start,
        )
        async with self.connection() as conn:
            return await self.subscriptions.create(
                conn, principal, kind, event_types, start, config or {}, subscription_id
            )

    async def subscription(
        self, principal: Principal, subscription_id: str, kind: str | None = None
    ) -> Subscription:
        async with self.connection() as conn:
            return await self.subscriptions.get(conn, principal, subscription_id, kind)

    async def list_subscriptions(
        self, principal: Principal, kind: str | None = None
    ) -> list[Subscription]:
        async with self.connection() as conn:
            return await self.subscriptions.list(conn, principal, kind)

    async def delete_subscription(
        self, principal: Principal, subscription_id: str, kind: str | None = None
    ) -> None:
        subscription = await self.subscription(principal, subscription_id, kind)
        await self.pull.close_subscription(subscription.id)
        async with self.connection() as conn:
            await self.subscriptions.delete(conn, subscription)
        if subscription.kind == "webhook":
            self.on_webhooks_changed()

    # -- webhooks -------------------------------------------------------------------------------
    async def create_webhook(
        self,
        principal: Principal,
        event_types: Sequence[str],
        url: Any,
        *,
        filters: Any = None,
        start: str = "latest",
        dead_letter_4xx: bool = True,
    ) -> tuple[Subscription, str]:
        """A push subscription to `url` (checked against the SSRF policy) and its signing
        secret, returned here only."""
        check_types(principal, await self.contracts.current(), event_types)  # 403 before all else
        config = {
            "url": await checked_url(url, self.webhook_policy),
            "filters": check_filters(filters),
            "dead_letter_4xx": dead_letter_4xx,
            "secrets": [{"secret": (secret := new_secret()), "expires_at": None}],
        }
        subscription = await self.create_subscription(
            principal, "webhook", event_types, start, config
        )
        self.on_webhooks_changed()
        return subscription, secret

    async def rotate_webhook_secret(
        self, principal: Principal, subscription_id: str, grace_seconds: float
    ) -> tuple[Subscription, str]:
        """A new signing secret; the current ones keep signing for `grace_seconds` (receivers
        accept a request when any of its signatures verifies)."""
        subscription = await self.subscription(principal, subscription_id, "webhook")
        now = time.time()
        kept = [
            {"secret": s["secret"], "expires_at": min(s.get("expires_at") or now + grace_seconds,
                                                       now + grace_seconds)}
            for s in subscription.config.get("secrets", [])
            if s.get("expires_at") is None or s["expires_at"] > now
        ]  # fmt: skip
        secret = new_secret()
        config = {**subscription.config, "secrets": [{"secret": secret, "expires_at": None}, *kept]}
        async with self.connection() as conn:
            updated = await self.subscriptions.set_config(conn, subscription, config)
        self.on_webhooks_changed()
        return updated, secret

    def _session_name(self, name: str) -> str:
        if not SESSION_NAME.match(name):
            raise GatewayError(
                ErrorKind.BAD_REQUEST, "a session name is 1-64 letters, digits, '.', '_' or '-'"
            )
        return name

    async def fetch(
        self,
        principal: Principal,
        subscription_id: str,
        session: str = "default",
        max_events: int = 100,
        wait: float = 0.0,
    ) -> Fetched:
        """The session's next batch (or its open one again); long-polls up to `wait` s."""
        self._session_name(session)
        if not 1 <= max_events <= self.limits.max_fetch:
            raise GatewayError(ErrorKind.BAD_REQUEST, f"max must be 1 to {self.limits.max_fetch}")
        if not 0 <= wait <= self.limits.max_wait:
            raise GatewayError(
                ErrorKind.BAD_REQUEST, f"wait must be 0 to {self.limits.max_wait:g} seconds"
            )
        subscription = await self.subscription(principal, subscription_id, "pull")
        # Permission is checked on every fetch: a revoked grant stops delivery at once.
        contracts = check_types(principal, await self.contracts.current(), subscription.event_types)
        topics = [self.naming.topic_of(c) for c in contracts]
        pulled = await self.pull.session(subscription, session, topics)
        return await pulled.fetch(max_events, wait)

    async def commit(
        self, principal: Principal, subscription_id: str, session: str, token: str
    ) -> None:
        """Commit the session's open batch: its events will not come again."""
        self._session_name(session)
        subscription = await self.subscription(principal, subscription_id, "pull")
        pulled = self.pull.existing(subscription, session)
        if pulled is None:
            raise GatewayError(
                ErrorKind.CONFLICT,
                "no open session of that name (it was idle too long); its events come again",
            )
        await pulled.commit(token)
