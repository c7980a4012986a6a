"""PostgreSQL roles per app, derived from the contracts (`bizevents db roles plan|apply`).

For every app of the contracts, in one database:
- schema `bizevents_<app>` (owned by the admin running `apply`) holds the app's outbox and inbox;
- role `bizevents_<app>` (LOGIN) may INSERT into its own outbox, and nothing else of ours: it can
  neither read its outbox nor see any other app's schema;
- role `bizevents_<app>_worker` (LOGIN, member of the app role, so its handlers may publish) owns
  the inbox table;
- role `bizevents_relay` (LOGIN) may read (claim) and delete the rows of every app's outbox.
All of them may read the schema's migrations table, so processes start without DDL rights.
`-` in app names becomes `_`. Grants beyond these on our tables are listed for removal, which
needs `--remove`. Roles are never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import asyncpg

from ..migrations import checked_identifier
from ..outbox.schema import migrate_outbox
from ..worker.inbox import migrate_inbox

RELAY_ROLE = "bizevents_relay"


@dataclass(frozen=True)
class AppDatabase:
    """The names one app uses in PostgreSQL."""

    app: str
    schema: str
    role: str
    worker_role: str

    @classmethod
    def of(cls, app: str) -> AppDatabase:
        base = checked_identifier(f"bizevents_{app.replace('-', '_')}")
        return cls(app, base, base, checked_identifier(f"{base}_worker"))


@dataclass(frozen=True)
class Change:
    """One statement of the plan and why."""

    what: str
    sql: str
    removal: bool = False

    def __str__(self) -> str:
        return f"{'-' if self.removal else '+'} {self.what}"


@dataclass
class RolesPlan:
    changes: list[Change] = field(default_factory=list)

    @property
    def additions(self) -> list[Change]:
        return [c for c in self.changes if not c.removal]

    @property
    def removals(self) -> list[Change]:
        return [c for c in self.changes if c.removal]


def _q(name: str) -> str:
    return f'"{checked_identifier(name)}"'


# The privileges each of our roles should hold on each app's objects: (object kind, name) ->
# role -> privileges. Anything else granted to one of our roles there is extra.
def desired_grants(apps: Iterable[AppDatabase]) -> dict[tuple[str, str], dict[str, set[str]]]:
    wanted: dict[tuple[str, str], dict[str, set[str]]] = {}
    for a in apps:
        wanted[("schema", a.schema)] = {a.role: {"USAGE"}, RELAY_ROLE: {"USAGE"}}
        wanted[("table", f"{a.schema}.outbox")] = {
            a.role: {"INSERT"},
            RELAY_ROLE: {"SELECT", "DELETE"},
        }
        wanted[("table", f"{a.schema}.bizevents_migrations")] = {
            a.role: {"SELECT"},
            RELAY_ROLE: {"SELECT"},
        }
    return wanted


async def _role_exists(conn: asyncpg.Connection, role: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role))


async def _granted(conn: asyncpg.Connection, kind: str, name: str) -> dict[str, set[str]]:
    """role -> privileges granted on a schema or table (the owner's implicit ones excluded)."""
    if kind == "schema":
        sql = (
            "SELECT r.rolname, a.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) a "
            "JOIN pg_roles r ON r.oid = a.grantee WHERE n.nspname = $1 AND a.grantee <> n.nspowner"
        )
    else:
        sql = (
            "SELECT r.rolname, a.privilege_type FROM pg_class c, aclexplode(c.relacl) a "
            "JOIN pg_roles r ON r.oid = a.grantee "
            "WHERE c.oid = to_regclass($1) AND a.grantee <> c.relowner"
        )
    found: dict[str, set[str]] = {}
    for role, privilege in await conn.fetch(sql, name):
        found.setdefault(role, set()).add(privilege)
    return found


async def plan_roles(conn: asyncpg.Connection, apps: Iterable[str]) -> RolesPlan:
    """Compare the database with the roles the apps need. Schemas and tables that do not exist
    yet are created by apply (migrations run as the connected admin)."""
    dbs = [AppDatabase.of(a) for a in sorted(set(apps))]
    result = RolesPlan()
    add = result.changes.append

    for role in [RELAY_ROLE, *(r for d in dbs for r in (d.role, d.worker_role))]:
        if not await _role_exists(conn, role):
            # Roles are cluster-wide: another apply may create the same one meanwhile.
            create = (
                f"DO $$ BEGIN CREATE ROLE {_q(role)} LOGIN; "
                "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
            add(Change(f"role {role}", create))
    for d in dbs:
        both = await _role_exists(conn, d.worker_role) and await _role_exists(conn, d.role)
        member = both and await conn.fetchval(
            "SELECT pg_has_role($1, $2, 'MEMBER')", d.worker_role, d.role
        )
        if not member:
            add(
                Change(
                    f"{d.worker_role} member of {d.role}",
                    f"GRANT {_q(d.role)} TO {_q(d.worker_role)}",
                )
            )
        inbox_owner = await conn.fetchval(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass($1)",
            f"{d.schema}.inbox",
        )
        if inbox_owner is None:
            add(Change(f"schema {d.schema} with outbox and inbox", f"-- migrate {d.schema}"))
        if inbox_owner != d.worker_role:
            add(
                Change(
                    f"{d.worker_role} owns {d.schema}.inbox",
                    f"ALTER TABLE {d.schema}.inbox OWNER TO {_q(d.worker_role)}",
                )
            )

    ours = {RELAY_ROLE, *(r for d in dbs for r in (d.role, d.worker_role))}
    for (kind, name), roles in desired_grants(dbs).items():
        granted = await _granted(conn, kind, name)
        target = "SCHEMA" if kind == "schema" else "TABLE"
        for role, privileges in sorted(roles.items()):
            missing = privileges - granted.get(role, set())
            if missing:
                privs = ", ".join(sorted(missing))
                add(
                    Change(
                        f"{privs} on {name} to {role}",
                        f"GRANT {privs} ON {target} {name} TO {_q(role)}",
                    )
                )
        for role, privileges in sorted(granted.items()):
            extra = privileges - roles.get(role, set())
            if extra and role in ours:
                privs = ", ".join(sorted(extra))
                add(
                    Change(
                        f"{privs} on {name} from {role}",
                        f"REVOKE {privs} ON {target} {name} FROM {_q(role)}",
                        removal=True,
                    )
                )
    return result


async def apply_roles(
    conn: asyncpg.Connection, apps: Iterable[str], remove: bool = False
) -> RolesPlan:
    """Create roles, schemas, tables and grants that are missing (idempotent); revoke extra
    grants only with `remove`. One transaction per step kind keeps a failure clear."""
    apps = sorted(set(apps))
    dbs = [AppDatabase.of(a) for a in apps]
    plan = await plan_roles(conn, apps)
    async with conn.transaction():
        for change in plan.changes:
            if change.what.startswith("role "):
                await conn.execute(change.sql)
        for d in dbs:
            await migrate_outbox(conn, d.schema)
            await migrate_inbox(conn, d.schema)
    # Ownership and grants are planned again now that every object exists.
    final = await plan_roles(conn, apps)
    async with conn.transaction():
        for change in final.changes:
            if change.removal and not remove:
                continue
            if not change.sql.startswith("--"):
                await conn.execute(change.sql)
    return plan
