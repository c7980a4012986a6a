"""The contract registry: versioned event contracts in PostgreSQL, gated by compatibility modes.

Each event type has versions 1, 2, 3... A version is content-addressed by
`EventContract.fingerprint()`, so registering the same content again changes nothing and returns
the existing version. A new version must satisfy the stricter of the latest registered mode and
the newly declared one (so loosening a mode is a registration of its own), checked against the
latest version or, for *_TRANSITIVE modes, against every earlier one. A refusal lists every
violation at once. Registering a ContractSet also stores each service's AsyncAPI document (the
broker serves them) and refuses dropping an event type that was not deprecated first.

`plan_registration` is the pure decision; `Registry` does the I/O around it in one transaction,
holding per-event-type advisory locks so concurrent registrations cannot reuse a version number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from ..errors import BizEventsError, IncompatibleChangeError, Problem, UnknownEventTypeError
from ..migrations import checked_identifier, migrate
from .compat import Violation, check_compatibility
from .model import Compatibility, ContractSet, EventContract, ServiceDocument, canonical_dumps

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

# (old schema, new schema, mode without TRANSITIVE) -> every violation.
Checker = Callable[[Mapping[str, Any], Mapping[str, Any], Compatibility], Sequence[Violation]]


class VersionNotFoundError(BizEventsError):
    """The event type exists in the registry but not at this version."""

    def __init__(self, event_type: str, version: int) -> None:
        self.event_type = event_type
        self.version = version
        super().__init__(f"event type {event_type!r} has no registered version {version}")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class ContractVersion:
    """One registered version of an event type."""

    event_type: str
    version: int
    fingerprint: str
    service: str
    compatibility: Compatibility
    contract: dict[str, Any]
    registered_at: datetime | None = None
    deprecated_at: datetime | None = None
    deprecation_reason: str | None = None

    @property
    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = self.contract["schema"]
        return schema

    @property
    def deprecated(self) -> bool:
        return self.deprecated_at is not None

    def event_contract(self) -> EventContract:
        return EventContract.from_dict(self.contract)

    def to_json(self, *, with_contract: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_type": self.event_type,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "service": self.service,
            "compatibility": self.compatibility.value,
            "registered_at": _iso(self.registered_at),
            "deprecated": self.deprecated,
            "deprecated_at": _iso(self.deprecated_at),
            "deprecation_reason": self.deprecation_reason,
        }
        if with_contract:
            out["contract"] = self.contract
        return out


@dataclass(frozen=True)
class StoredServiceDocument:
    """The latest AsyncAPI document registered for a service."""

    service: str
    version: str
    fingerprint: str
    document: dict[str, Any]
    text: str
    registered_at: datetime | None = None


@dataclass(frozen=True)
class Registration:
    """The outcome for one event type: its version, and whether this call created it."""

    event_type: str
    version: int
    fingerprint: str
    created: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "event_type": self.event_type,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "created": self.created,
        }


@dataclass
class Plan:
    """What registering would do: one Registration per contract, or the problems refusing it."""

    registrations: list[Registration] = field(default_factory=list)
    new: dict[str, EventContract] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "compatible": not self.problems,
            "registrations": [r.to_json() for r in self.registrations],
            "problems": [problem_json(p) for p in self.problems],
        }


def problem_json(problem: Problem) -> dict[str, str]:
    return {
        "against": problem.file,
        "pointer": problem.pointer,
        "rule": problem.rule,
        "message": problem.message,
    }


def _violation_problem(violation: Violation, where: str) -> Problem:
    """The checker's Violation as a Problem naming the version it was checked against."""
    return violation.as_problem(where)


def effective_mode(registered: Compatibility, declared: Compatibility) -> Compatibility:
    """The stricter of the latest registered mode and the newly declared one: tightening applies
    at once, loosening (e.g. to NONE) only after a registration that changes nothing else."""
    backward = registered.backward or declared.backward
    forward = registered.forward or declared.forward
    if not (backward or forward):
        return Compatibility.NONE
    base = "FULL" if backward and forward else "BACKWARD" if backward else "FORWARD"
    transitive = registered.transitive or declared.transitive
    return Compatibility(base + ("_TRANSITIVE" if transitive else ""))


def compatibility_problems(
    history: Sequence[ContractVersion], new: EventContract, checker: Checker
) -> list[Problem]:
    """Every way `new` breaks the effective mode, against the latest version in `history`
    (oldest first) or, when transitive, against every version."""
    if not history:
        return []
    latest = history[-1]
    mode = effective_mode(latest.compatibility, new.compatibility)
    if mode is Compatibility.NONE:
        return []
    where = f"{latest.event_type} v{latest.version}"
    problems: list[Problem] = []
    # What producers and subscribers bind to beyond the payload: the checker only sees schemas.
    for key, rule, label in (
        ("source", "source-changed", "CloudEvents source"),
        ("topic", "topic-changed", "topic"),
        ("key_field", "key-changed", "ordering key field"),
    ):
        before, after = latest.contract.get(key), getattr(new, key)
        if before != after:
            problems.append(
                Problem(f"{label} changed from {before!r} to {after!r}", "/", where, rule)
            )
    targets = history if mode.transitive else history[-1:]
    for old in reversed(targets):
        at = f"{old.event_type} v{old.version}"
        problems.extend(
            _violation_problem(v, at) for v in checker(old.schema, new.schema, mode.base)
        )
    return problems


def removal_problems(
    services: Iterable[str], present: Iterable[str], latest_by_type: Mapping[str, ContractVersion]
) -> list[Problem]:
    """Event types registered for these services but missing from the new set: breaking, unless
    the latest version is deprecated (the way to retire an event) or its mode is NONE."""
    scope, kept = set(services), set(present)
    problems = []
    for event_type, latest in sorted(latest_by_type.items()):
        if latest.service not in scope or event_type in kept:
            continue
        if latest.deprecated or latest.compatibility is Compatibility.NONE:
            continue
        problems.append(
            Problem(
                f"event type {event_type} was removed from service {latest.service!r}; "
                "deprecate it in the registry first",
                "/",
                f"{event_type} v{latest.version}",
                "event-type-removed",
            )
        )
    return problems


def plan_registration(
    contracts: Sequence[EventContract],
    history_by_type: Mapping[str, Sequence[ContractVersion]],
    *,
    removal_scope: Iterable[str] = (),
    checker: Checker | None = None,
) -> Plan:
    """Decide versions and problems for `contracts` given the registered histories (pure)."""
    plan = Plan()
    check = checker or check_compatibility
    for contract in contracts:
        history = list(history_by_type.get(contract.event_type, ()))
        digest = contract.fingerprint()
        existing = next((v for v in history if v.fingerprint == digest), None)
        if existing is not None:
            plan.registrations.append(
                Registration(contract.event_type, existing.version, digest, False)
            )
            continue
        plan.problems.extend(compatibility_problems(history, contract, check))
        version = (history[-1].version if history else 0) + 1
        plan.registrations.append(Registration(contract.event_type, version, digest, True))
        plan.new[contract.event_type] = contract
    latest = {t: h[-1] for t, h in history_by_type.items() if h}
    present = [c.event_type for c in contracts]
    plan.problems.extend(removal_problems(removal_scope, present, latest))
    return plan


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


def _unpack(contracts: ContractSet | EventContract) -> tuple[list[EventContract], set[str]]:
    """The contracts, and the services whose dropped event types count as removals (a single
    contract says nothing about its siblings)."""
    if isinstance(contracts, EventContract):
        return [contracts], set()
    items = list(contracts)
    return items, {c.service for c in items} | set(contracts.services)
