"""The registry's storage: PostgreSQL tables in their own schema, versioned migrations, and
transactions with per-event-type advisory locks around the pure plan."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

import asyncpg

from ...errors import (
    BizEventsError,
    IncompatibleChangeError,
    UnknownEventTypeError,
    VersionNotFoundError,
)
from ...migrations import checked_identifier, migrate
from ..model import Compatibility, ContractSet, EventContract, ServiceDocument, canonical_dumps
from .plan import (
    Checker,
    ContractVersion,
    Plan,
    Registration,
    StoredServiceDocument,
    plan_registration,
)

DEFAULT_SCHEMA = "bizevents_registry"
COMPONENT = "registry"

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE {schema}.contract_versions (
        event_type text NOT NULL,
        version int NOT NULL CHECK (version >= 1),
        fingerprint text NOT NULL,
        service text NOT NULL,
        compatibility text NOT NULL,
        contract json NOT NULL,  -- json, not jsonb: keeps the author's key order for the docs
        registered_at timestamptz NOT NULL DEFAULT now(),
        deprecated_at timestamptz,
        deprecation_reason text,
        PRIMARY KEY (event_type, version),
        UNIQUE (event_type, fingerprint)
    );
    CREATE INDEX contract_versions_service ON {schema}.contract_versions (service);
    CREATE TABLE {schema}.service_documents (
        id bigserial PRIMARY KEY,
        service text NOT NULL,
        version text NOT NULL,
        fingerprint text NOT NULL,
        document json NOT NULL,  -- json, not jsonb: keeps the author's key order for the docs
        text text NOT NULL,
        registered_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX service_documents_latest ON {schema}.service_documents (service, id DESC);
    """,
)


def _document_fingerprint(doc: ServiceDocument) -> str:
    return hashlib.sha256(canonical_dumps(doc.document).encode("utf-8")).hexdigest()


def _row_version(row: asyncpg.Record) -> ContractVersion:
    return ContractVersion(
        event_type=row["event_type"],
        version=row["version"],
        fingerprint=row["fingerprint"],
        service=row["service"],
        compatibility=Compatibility(row["compatibility"]),
        contract=json.loads(row["contract"]),
        registered_at=row["registered_at"],
        deprecated_at=row["deprecated_at"],
        deprecation_reason=row["deprecation_reason"],
    )


_COLUMNS = (
    "event_type, version, fingerprint, service, compatibility, contract::text AS contract, "
    "registered_at, deprecated_at, deprecation_reason"
)


class Registry:
    """The registry in `schema` of the database behind `pool` (call `migrate` once first)."""

    def __init__(
        self, pool: asyncpg.Pool, schema: str = DEFAULT_SCHEMA, checker: Checker | None = None
    ) -> None:
        self._pool = pool
        self._checker = checker
        self.schema = checked_identifier(schema)
        self._versions = f"{self.schema}.contract_versions"
        self._documents = f"{self.schema}.service_documents"

    @classmethod
    async def connect(cls, dsn: str, schema: str = DEFAULT_SCHEMA) -> Registry:
        """A small pool on `dsn` and a migrated registry; `close()` it when done."""
        checked_identifier(schema)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        registry = cls(pool, schema)
        try:
            await registry.migrate()
        except BaseException:
            await pool.close()
            raise
        return registry

    async def close(self) -> None:
        await self._pool.close()

    async def migrate(self) -> int:
        async with self._pool.acquire() as conn:
            return await migrate(conn, self.schema, COMPONENT, MIGRATIONS)

    async def ping(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    # -- reading ------------------------------------------------------------------------------

    async def event_types(self) -> list[ContractVersion]:
        """The latest version of every event type, by name."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT DISTINCT ON (event_type) {_COLUMNS} FROM {self._versions} "
                "ORDER BY event_type, version DESC"
            )
        return [_row_version(r) for r in rows]

    async def versions(self, event_type: str) -> list[ContractVersion]:
        """Every version of `event_type`, oldest first; UnknownEventTypeError if none."""
        async with self._pool.acquire() as conn:
            found = await self._history(conn, event_type)
        if not found:
            raise UnknownEventTypeError(event_type)
        return found

    async def get(self, event_type: str, version: int | None = None) -> ContractVersion:
        """One version; the latest when `version` is None."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM {self._versions} WHERE event_type = $1 "
                "AND ($2::int IS NULL OR version = $2) ORDER BY version DESC LIMIT 1",
                event_type,
                version,
            )
            if row is None:
                raise await self._not_found(conn, event_type, version)
        return _row_version(row)

    async def service_documents(self) -> list[StoredServiceDocument]:
        """The latest AsyncAPI document of every service, by name."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT DISTINCT ON (service) service, version, fingerprint, "
                f"document::text AS document, text, registered_at FROM {self._documents} "
                "ORDER BY service, id DESC"
            )
        return [
            StoredServiceDocument(
                r["service"],
                r["version"],
                r["fingerprint"],
                json.loads(r["document"]),
                r["text"],
                r["registered_at"],
            )
            for r in rows
        ]

    async def _not_found(
        self, conn: asyncpg.Connection, event_type: str, version: int | None
    ) -> BizEventsError:
        exists = await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {self._versions} WHERE event_type = $1)", event_type
        )
        if exists and version is not None:
            return VersionNotFoundError(event_type, version)
        return UnknownEventTypeError(event_type)

    async def _history(self, conn: asyncpg.Connection, event_type: str) -> list[ContractVersion]:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM {self._versions} WHERE event_type = $1 ORDER BY version",
            event_type,
        )
        return [_row_version(r) for r in rows]

    async def _histories(
        self, conn: asyncpg.Connection, services: Iterable[str], event_types: Iterable[str]
    ) -> dict[str, list[ContractVersion]]:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM {self._versions} "
            "WHERE service = ANY($1::text[]) OR event_type = ANY($2::text[]) "
            "ORDER BY event_type, version",
            sorted(set(services)),
            sorted(set(event_types)),
        )
        out: dict[str, list[ContractVersion]] = {}
        for row in rows:
            out.setdefault(row["event_type"], []).append(_row_version(row))
        return out

    # -- writing ------------------------------------------------------------------------------

    async def check(self, contracts: ContractSet | EventContract) -> Plan:
        """What `register` would do, without writing (`contracts check --against-registry`)."""
        items, services = _unpack(contracts)
        async with self._pool.acquire() as conn:
            histories = await self._histories(conn, services, (c.event_type for c in items))
        return plan_registration(items, histories, removal_scope=services, checker=self._checker)

    async def register(self, contracts: ContractSet | EventContract) -> list[Registration]:
        """Register one contract, or a whole set all-or-nothing (with its services' AsyncAPI
        documents); IncompatibleChangeError lists every violation and nothing is written."""
        items, services = _unpack(contracts)
        event_types = sorted(c.event_type for c in items)
        async with self._pool.acquire() as conn, conn.transaction():
            # Sorted lock order: two sets sharing event types cannot deadlock.
            for event_type in event_types:
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))",
                    f"bizevents-registry:{self.schema}:{event_type}",
                )
            histories = await self._histories(conn, services, event_types)
            plan = plan_registration(
                items, histories, removal_scope=services, checker=self._checker
            )
            if plan.problems:
                raise IncompatibleChangeError(
                    f"registration refused: {len(plan.problems)} incompatible change(s)",
                    plan.problems,
                )
            for reg in plan.registrations:
                if reg.created:
                    await self._insert(conn, reg, plan.new[reg.event_type])
            if isinstance(contracts, ContractSet):
                for doc in contracts.services.values():
                    await self._store_document(conn, doc)
        return plan.registrations

    async def _insert(
        self, conn: asyncpg.Connection, reg: Registration, contract: EventContract
    ) -> None:
        await conn.execute(
            f"INSERT INTO {self._versions} (event_type, version, fingerprint, service, "
            "compatibility, contract) VALUES ($1, $2, $3, $4, $5, $6::json)",
            reg.event_type,
            reg.version,
            reg.fingerprint,
            contract.service,
            contract.compatibility.value,
            json.dumps(contract.to_dict(), ensure_ascii=False),
        )

    async def _store_document(self, conn: asyncpg.Connection, doc: ServiceDocument) -> None:
        digest = _document_fingerprint(doc)
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            f"bizevents-registry:{self.schema}:service:{doc.name}",
        )
        latest = await conn.fetchval(
            f"SELECT fingerprint FROM {self._documents} WHERE service = $1 "
            "ORDER BY id DESC LIMIT 1",
            doc.name,
        )
        if latest != digest:  # identical content changes nothing
            await conn.execute(
                f"INSERT INTO {self._documents} (service, version, fingerprint, document, text) "
                "VALUES ($1, $2, $3, $4::json, $5)",
                doc.name,
                doc.version,
                digest,
                json.dumps(doc.document, ensure_ascii=False),
                doc.text,
            )

    async def deprecate(
        self, event_type: str, version: int | None = None, reason: str = ""
    ) -> list[ContractVersion]:
        """Mark one version (with None: every version) deprecated; idempotent."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"UPDATE {self._versions} SET deprecated_at = coalesce(deprecated_at, now()), "
                "deprecation_reason = coalesce(deprecation_reason, nullif($3, '')) "
                "WHERE event_type = $1 AND ($2::int IS NULL OR version = $2) "
                f"RETURNING {_COLUMNS}",
                event_type,
                version,
                reason,
            )
            if not rows:
                raise await self._not_found(conn, event_type, version)
        return sorted((_row_version(r) for r in rows), key=lambda v: v.version)

    async def undeprecate(
        self, event_type: str, version: int | None = None
    ) -> list[ContractVersion]:
        """Take a deprecation back (one version, or with None every version); idempotent."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"UPDATE {self._versions} SET deprecated_at = NULL, deprecation_reason = NULL "
                "WHERE event_type = $1 AND ($2::int IS NULL OR version = $2) "
                f"RETURNING {_COLUMNS}",
                event_type,
                version,
            )
            if not rows:
                raise await self._not_found(conn, event_type, version)
        return sorted((_row_version(r) for r in rows), key=lambda v: v.version)


def _unpack(contracts: ContractSet | EventContract) -> tuple[list[EventContract], set[str]]:
    """The contracts, and the services whose dropped event types count as removals (a single
    contract says nothing about its siblings)."""
    if isinstance(contracts, EventContract):
        return [contracts], set()
    items = list(contracts)
    return items, {c.service for c in items} | set(contracts.services)
