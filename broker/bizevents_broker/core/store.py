"""The gateway's tables in PostgreSQL: apps, API keys, grants and idempotency records.

They live in the gateway's schema beside its outbox (`bizevents outbox` migrations put the outbox
there), so one transaction covers an HTTP publish: idempotency record plus outbox rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from bizevents.migrations import checked_identifier, migrate
from bizevents.outbox import migrate_outbox

from . import keys
from .errors import ErrorKind, GatewayError
from .incoming import check_text
from .permissions import Action, Grant, Principal
from .subscriptions import STEP as SUBSCRIPTIONS_STEP

COMPONENT = "gateway"
APP_NAME = re.compile(r"^[a-z][a-z0-9._-]{0,62}$")

STEPS = [
    """
    CREATE TABLE {schema}.apps (
        name text PRIMARY KEY,
        admin boolean NOT NULL DEFAULT false,
        description text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
    );
    CREATE TABLE {schema}.api_keys (
        key_id text PRIMARY KEY,
        app text NOT NULL REFERENCES {schema}.apps (name),
        digest bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz,
        revoked_at timestamptz
    );
    CREATE INDEX api_keys_app ON {schema}.api_keys (app);
    CREATE TABLE {schema}.grants (
        app text NOT NULL REFERENCES {schema}.apps (name),
        action text NOT NULL CHECK (action IN ('publish', 'subscribe')),
        event_type text NOT NULL,
        PRIMARY KEY (app, action, event_type)
    );
    CREATE TABLE {schema}.idempotency (
        app text NOT NULL,
        key text NOT NULL,
        fingerprint bytea NOT NULL,
        response jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (app, key)
    );
    CREATE INDEX idempotency_created ON {schema}.idempotency (created_at);
    """,
    SUBSCRIPTIONS_STEP,
]


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def to_json(self) -> dict[str, object]:
        return {
            "key_id": self.key_id,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True)
class AppInfo:
    name: str
    admin: bool
    description: str
    created_at: datetime
    revoked_at: datetime | None
    grants: tuple[Grant, ...]
    keys: tuple[KeyInfo, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "admin": self.admin,
            "description": self.description,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "grants": [{"action": g.action.value, "event_type": g.event_type} for g in self.grants],
            "keys": [k.to_json() for k in self.keys],
        }


def check_app_name(name: str) -> str:
    if not APP_NAME.match(name):
        raise GatewayError(
            ErrorKind.BAD_REQUEST,
            "an app name is 1-63 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter",
        )
    return name


async def migrate_gateway(conn: asyncpg.Connection, schema: str) -> None:
    await migrate_outbox(conn, schema)
    await migrate(conn, schema, COMPONENT, STEPS)


class AppStore:
    """Apps, keys and grants. Every method takes a connection (the caller's transaction)."""

    def __init__(self, schema: str) -> None:
        s = self.schema = checked_identifier(schema)
        self._authenticate = f"""
            SELECT k.app, k.digest, a.admin,
                   coalesce((SELECT array_agg(g.action || ' ' || g.event_type)
                             FROM {s}.grants g WHERE g.app = a.name), '{{}}') AS grants
            FROM {s}.api_keys k JOIN {s}.apps a ON a.name = k.app
            WHERE k.key_id = $1 AND k.revoked_at IS NULL AND a.revoked_at IS NULL
              AND (k.expires_at IS NULL OR k.expires_at > now())"""

    async def authenticate(self, conn: asyncpg.Connection, key: str) -> Principal | None:
        key_id = keys.key_id_of(key)
        if key_id is None:
            return None
        row = await conn.fetchrow(self._authenticate, key_id)
        if row is None or not keys.matches(key, row["digest"]):
            return None
        grants = tuple(_grant(text) for text in row["grants"])
        return Principal(row["app"], admin=row["admin"], grants=grants, key_id=key_id)

    async def principal(self, conn: asyncpg.Connection, name: str) -> Principal | None:
        """The app as a principal (for work done on its behalf), or None if revoked or unknown."""
        row = await conn.fetchrow(
            f"SELECT admin FROM {self.schema}.apps WHERE name = $1 AND revoked_at IS NULL", name
        )
        if row is None:
            return None
        grants = await conn.fetch(
            f"SELECT action, event_type FROM {self.schema}.grants WHERE app = $1", name
        )
        return Principal(
            name,
            admin=row["admin"],
            grants=tuple(Grant(Action(g["action"]), g["event_type"]) for g in grants),
        )

    async def create(
        self,
        conn: asyncpg.Connection,
        name: str,
        *,
        admin: bool = False,
        description: str = "",
        grants: tuple[Grant, ...] = (),
    ) -> tuple[AppInfo, str]:
        """A new app and its first key; the key's secret is returned here and never again."""
        check_app_name(name)
        async with conn.transaction():
            inserted = await conn.fetchval(
                f"INSERT INTO {self.schema}.apps (name, admin, description) VALUES ($1, $2, $3) "
                "ON CONFLICT (name) DO NOTHING RETURNING name",
                name,
                admin,
                description,
            )
            if inserted is None:
                raise GatewayError(ErrorKind.CONFLICT, f"app {name!r} already exists")
            for grant in grants:
                await self._grant(conn, name, grant)
            secret = await self._new_key(conn, name)
            return await self.show(conn, name), secret

    async def _new_key(self, conn: asyncpg.Connection, app: str) -> str:
        new = keys.generate()
        await conn.execute(
            f"INSERT INTO {self.schema}.api_keys (key_id, app, digest) VALUES ($1, $2, $3)",
            new.key_id,
            app,
            new.digest,
        )
        return new.secret

    async def _grant(self, conn: asyncpg.Connection, app: str, grant: Grant) -> None:
        await conn.execute(
            f"INSERT INTO {self.schema}.grants (app, action, event_type) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            app,
            grant.action.value,
            grant.event_type,
        )

    async def list(self, conn: asyncpg.Connection) -> list[AppInfo]:
        names = await conn.fetch(f"SELECT name FROM {self.schema}.apps ORDER BY name")
        return [await self.show(conn, r["name"]) for r in names]

    async def show(self, conn: asyncpg.Connection, name: str) -> AppInfo:
        app = await conn.fetchrow(f"SELECT * FROM {self.schema}.apps WHERE name = $1", name)
        if app is None:
            raise GatewayError(ErrorKind.NOT_FOUND, f"no app named {name!r}")
        grants = await conn.fetch(
            f"SELECT action, event_type FROM {self.schema}.grants WHERE app = $1 "
            "ORDER BY action, event_type",
            name,
        )
        key_rows = await conn.fetch(
            f"SELECT key_id, created_at, expires_at, revoked_at FROM {self.schema}.api_keys "
            "WHERE app = $1 ORDER BY created_at, key_id",
            name,
        )
        return AppInfo(
            name=app["name"],
            admin=app["admin"],
            description=app["description"],
            created_at=app["created_at"],
            revoked_at=app["revoked_at"],
            grants=tuple(Grant(Action(g["action"]), g["event_type"]) for g in grants),
            keys=tuple(KeyInfo(**dict(k)) for k in key_rows),
        )

    async def rotate(
        self, conn: asyncpg.Connection, name: str, grace_seconds: float
    ) -> tuple[AppInfo, str]:
        """A new key; the app's current keys stay valid for `grace_seconds` more (0: not at all)."""
        async with conn.transaction():
            await self._active_app(conn, name)
            await conn.execute(
                f"UPDATE {self.schema}.api_keys SET expires_at = least("
                "coalesce(expires_at, 'infinity'), now() + make_interval(secs => $2)) "
                "WHERE app = $1 AND revoked_at IS NULL",
                name,
                grace_seconds,
            )
            secret = await self._new_key(conn, name)
            return await self.show(conn, name), secret

    async def revoke(
        self, conn: asyncpg.Connection, name: str, key_id: str | None = None
    ) -> AppInfo:
        """Revoke one key, or (no key id) the app and all its keys; effective at once."""
        async with conn.transaction():
            await self._active_app(conn, name)
            if key_id is None:
                await conn.execute(
                    f"UPDATE {self.schema}.apps SET revoked_at = now() WHERE name = $1", name
                )
                await conn.execute(
                    f"UPDATE {self.schema}.api_keys SET revoked_at = now() "
                    "WHERE app = $1 AND revoked_at IS NULL",
                    name,
                )
            else:
                done = await conn.fetchval(
                    f"UPDATE {self.schema}.api_keys SET revoked_at = now() "
                    "WHERE app = $1 AND key_id = $2 AND revoked_at IS NULL RETURNING key_id",
                    name,
                    key_id,
                )
                if done is None:
                    raise GatewayError(
                        ErrorKind.NOT_FOUND, f"app {name!r} has no active key {key_id!r}"
                    )
            return await self.show(conn, name)

    async def grant(self, conn: asyncpg.Connection, name: str, grant: Grant) -> AppInfo:
        async with conn.transaction():
            await self._active_app(conn, name)
            await self._grant(conn, name, grant)
            return await self.show(conn, name)

    async def ungrant(self, conn: asyncpg.Connection, name: str, grant: Grant) -> AppInfo:
        async with conn.transaction():
            await self._active_app(conn, name)
            await conn.execute(
                f"DELETE FROM {self.schema}.grants "
                "WHERE app = $1 AND action = $2 AND event_type = $3",
                name,
                grant.action.value,
                grant.event_type,
            )
            return await self.show(conn, name)

    async def _active_app(self, conn: asyncpg.Connection, name: str) -> None:
        revoked = await conn.fetchrow(
            f"SELECT revoked_at FROM {self.schema}.apps WHERE name = $1 FOR UPDATE", name
        )
        if revoked is None:
            raise GatewayError(ErrorKind.NOT_FOUND, f"no app named {name!r}")
        if revoked["revoked_at"] is not None:
            raise GatewayError(ErrorKind.CONFLICT, f"app {name!r} is revoked")


def _grant(text: str) -> Grant:
    action, _, event_type = text.partition(" ")
    return Grant(Action(action), event_type)


def parse_grant(text: str) -> Grant:
    """`publish:TYPE` or `subscribe:TYPE` (TYPE may be `*`)."""
    check_text(text, "a grant")
    action, sep, event_type = text.partition(":")
    if not sep or action not in ("publish", "subscribe") or not event_type:
        raise GatewayError(
            ErrorKind.BAD_REQUEST, f"a grant is publish:TYPE or subscribe:TYPE, not {text!r}"
        )
    return Grant(Action(action), event_type)
