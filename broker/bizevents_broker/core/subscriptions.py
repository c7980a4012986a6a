"""Subscriptions: what an app wants delivered (event types, where to start), stored in the
gateway's schema. Pull subscriptions are read over HTTP (`pull.py`); webhook subscriptions are
pushed by the webhook worker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from bizevents.contracts import ContractSet, EventContract
from bizevents.migrations import checked_identifier

from .errors import ErrorKind, GatewayError, ProblemDetail
from .incoming import parse_time
from .permissions import Action, Principal, allowed

STEP = """
    CREATE TABLE {schema}.subscriptions (
        id uuid PRIMARY KEY,
        app text NOT NULL REFERENCES {schema}.apps (name),
        kind text NOT NULL CHECK (kind IN ('pull', 'webhook')),
        event_types text[] NOT NULL,
        start text NOT NULL,
        config jsonb NOT NULL DEFAULT '{{}}',
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX subscriptions_app ON {schema}.subscriptions (app);
"""

MAX_TYPES = 50


@dataclass(frozen=True)
class Subscription:
    id: str
    app: str
    kind: str
    event_types: tuple[str, ...]
    start: str  # "earliest", "latest" or an RFC 3339 time
    config: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None

    @property
    def group(self) -> str:
        """The Kafka consumer group that holds this subscription's cursors."""
        return f"bizevents.{self.kind}.{self.id}"

    @property
    def commit_timeout(self) -> float:
        return float(self.config.get("commit_timeout", 60.0))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "app": self.app,
            "kind": self.kind,
            "event_types": list(self.event_types),
            "start": self.start,
            **{k: v for k, v in self.config.items() if k != "secrets"},
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


def check_types(
    principal: Principal, contracts: ContractSet, event_types: Sequence[str]
) -> list[EventContract]:
    """The contracts of `event_types`, each one the principal may subscribe to; unknown types
    are refused like forbidden ones."""
    if not event_types:
        raise GatewayError(ErrorKind.BAD_REQUEST, "a subscription needs at least one event type")
    if len(event_types) > MAX_TYPES:
        raise GatewayError(ErrorKind.BAD_REQUEST, f"at most {MAX_TYPES} event types")
    found = []
    for event_type in dict.fromkeys(event_types):
        contract = contracts.get(event_type) if event_type in contracts else None
        if contract is None or not allowed(principal, Action.SUBSCRIBE, contract):
            raise GatewayError(
                ErrorKind.FORBIDDEN, f"app {principal.app!r} may not subscribe to {event_type!r}"
            )
        found.append(contract)
    return found


def check_start(start: str) -> str:
    if start in ("earliest", "latest"):
        return start
    try:
        return parse_time(start, "/start").isoformat()
    except GatewayError:
        raise GatewayError(
            ErrorKind.BAD_REQUEST,
            "start is 'earliest', 'latest' or an RFC 3339 time with an offset",
            problems=[ProblemDetail("not earliest, latest or a time", "/start")],
        ) from None


def parse_id(raw: str) -> str | None:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


class SubscriptionStore:
    def __init__(self, schema: str) -> None:
        self.table = f"{checked_identifier(schema)}.subscriptions"

    async def create(
        self,
        conn: asyncpg.Connection,
        principal: Principal,
        kind: str,
        event_types: Sequence[str],
        start: str,
        config: Mapping[str, Any],
        subscription_id: str | None = None,
    ) -> Subscription:
        row = await conn.fetchrow(
            f"INSERT INTO {self.table} (id, app, kind, event_types, start, config) "
            "VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
            uuid.UUID(subscription_id) if subscription_id else uuid.uuid4(),
            principal.app,
            kind,
            list(dict.fromkeys(event_types)),
            start,
            json.dumps(dict(config)),
        )
        return _subscription(row)

    async def get(
        self, conn: asyncpg.Connection, principal: Principal, raw_id: str, kind: str | None = None
    ) -> Subscription:
        """The subscription if the principal owns it (admins: any); NOT_FOUND otherwise, so
        other apps' subscriptions cannot be probed."""
        sub_id = parse_id(raw_id)
        row = None
        if sub_id is not None:
            row = await conn.fetchrow(f"SELECT * FROM {self.table} WHERE id = $1", sub_id)
        if (
            row is None
            or (row["app"] != principal.app and not principal.admin)
            or (kind is not None and row["kind"] != kind)
        ):
            raise GatewayError(ErrorKind.NOT_FOUND, f"no subscription {raw_id!r}")
        return _subscription(row)

    async def list(
        self, conn: asyncpg.Connection, principal: Principal | None, kind: str | None = None
    ) -> list[Subscription]:
        """The principal's subscriptions (admins and None: every app's)."""
        rows = await conn.fetch(
            f"SELECT * FROM {self.table} WHERE ($1::text IS NULL OR app = $1) "
            "AND ($2::text IS NULL OR kind = $2) ORDER BY created_at, id",
            None if principal is None or principal.admin else principal.app,
            kind,
        )
        return [_subscription(r) for r in rows]

    async def set_config(
        self, conn: asyncpg.Connection, subscription: Subscription, config: Mapping[str, Any]
    ) -> Subscription:
        row = await conn.fetchrow(
            f"UPDATE {self.table} SET config = $2 WHERE id = $1 RETURNING *",
            uuid.UUID(subscription.id),
            json.dumps(dict(config)),
        )
        return _subscription(row)

    async def delete(self, conn: asyncpg.Connection, subscription: Subscription) -> None:
        await conn.execute(f"DELETE FROM {self.table} WHERE id = $1", uuid.UUID(subscription.id))


def _subscription(row: asyncpg.Record) -> Subscription:
    return Subscription(
        id=str(row["id"]),
        app=row["app"],
        kind=row["kind"],
        event_types=tuple(row["event_types"]),
        start=row["start"],
        config=json.loads(row["config"]),
        created_at=row["created_at"],
    )
