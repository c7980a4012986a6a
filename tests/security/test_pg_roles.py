"""Per-app PostgreSQL roles from the contracts, enforced by PostgreSQL itself.

Roles are cluster-wide: each test uses apps with unique names and drops their roles and schemas.
The shared `bizevents_relay` role stays (other sessions may use it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from typer.testing import CliRunner

from bizevents.app import Events
from bizevents.cli import app as cli
from bizevents.relay import Relay
from bizevents.security.pg_roles import RELAY_ROLE, AppDatabase
from bizevents.settings import RelaySettings
from bizevents.worker.inbox import claim, cleanup, migrate_inbox

from .conftest import write_contracts

pytestmark = pytest.mark.services
runner = CliRunner()


def as_role(url: str, role: str) -> str:
    """The same database, logged in as `role` (the dev cluster trusts 127.0.0.1)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))


def roles(services: Any, folder: Path, *args: str) -> Any:
    env = {"BIZEVENTS_DATABASE_URL": services.database_url}
    return runner.invoke(cli, ["db", "roles", *args, str(folder)], env=env)


@pytest.fixture
def domain(services: Any, tmp_path: Path, names: Callable[[str], str]) -> Iterator[dict[str, Any]]:
    orders, billing = names("orders"), names("billing")
    topic = f"com.acme.{orders.replace('-', '')}.OrderPlaced.v1"
    folder = write_contracts(tmp_path / "contracts", "orders", {topic: ([orders], [billing])})
    dbs = {"orders": AppDatabase.of(orders), "billing": AppDatabase.of(billing)}
    yield {
        "folder": folder,
        "topic": topic,
        "apps": {"orders": orders, "billing": billing},
        "db": dbs,
    }

    async def drop() -> None:
        conn = await asyncpg.connect(services.database_url)
        try:
            for d in dbs.values():
                await conn.execute(f"DROP SCHEMA IF EXISTS {d.schema} CASCADE")
                for role in (d.worker_role, d.role):
                    with contextlib.suppress(asyncpg.UndefinedObjectError):
                        await conn.execute(f'DROP OWNED BY "{role}"')
                    await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await conn.close()

    asyncio.run(drop())


@contextlib.asynccontextmanager
async def connect(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


def test_plan_then_apply_is_idempotent(services: Any, domain: dict[str, Any]) -> None:
    planned = roles(services, domain["folder"], "plan", "--json")
    assert planned.exit_code == 0, planned.output
    wanted = {c["what"] for c in json.loads(planned.stdout)["add"]}
    o = domain["db"]["orders"]
    assert f"role {o.role}" in wanted
    assert f"INSERT on {o.schema}.outbox to {o.role}" in wanted
    assert f"DELETE, SELECT on {o.schema}.outbox to {RELAY_ROLE}" in wanted
    assert f"{o.worker_role} owns {o.schema}.inbox" in wanted

    applied = roles(services, domain["folder"], "apply")
    assert applied.exit_code == 0, applied.output
    again = roles(services, domain["folder"], "plan")
    assert "roles and grants match the contracts" in again.stdout
    assert "applied: 0 added, 0 removed" in roles(services, domain["folder"], "apply").stdout


async def test_app_role_writes_its_outbox_only(services: Any, domain: dict[str, Any]) -> None:
    assert (await asyncio.to_thread(roles, services, domain["folder"], "apply")).exit_code == 0
    o, b = domain["db"]["orders"], domain["db"]["billing"]
    events = Events(app=domain["apps"]["orders"], outbox_schema=o.schema)
    async with connect(as_role(services.database_url, o.role)) as conn:
        await events.migrate(conn)  # up to date: no DDL needed, so the app role may call it
        async with conn.transaction():
            await events.publish(conn, domain["topic"], {"id": "o-1"})
        # Insert only: not even its own outbox can be read back.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f"SELECT * FROM {o.schema}.outbox")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f"DELETE FROM {o.schema}.outbox")

    # billing's outbox gets a row of its own, which orders cannot read nor add to.
    async with connect(services.database_url) as admin:
        await admin.execute(
            f"INSERT INTO {b.schema}.outbox (topic, event_id, type, source, time, content_type, "
            "data) VALUES ('t', gen_random_uuid(), 'x', '/s', now(), 'application/json', '{{}}')"
        )
    async with connect(as_role(services.database_url, o.role)) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="schema"):
            await conn.fetch(f"SELECT * FROM {b.schema}.outbox")
        billing_events = Events(app=domain["apps"]["orders"], outbox_schema=b.schema)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with conn.transaction():
                await billing_events.publish(conn, domain["topic"], {"id": "o-2"})
    async with connect(as_role(services.database_url, b.worker_role)) as conn:
        # A worker inherits its app's rights, not another app's.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f"SELECT * FROM {o.schema}.outbox")


async def test_relay_role_claims_and_deletes(
    services: Any, domain: dict[str, Any], read_topic: Any, kafka_admin: Any
) -> None:
    from aiokafka.admin import NewTopic

    assert (await asyncio.to_thread(roles, services, domain["folder"], "apply")).exit_code == 0
    o = domain["db"]["orders"]
    await kafka_admin.create_topics([NewTopic(domain["topic"], 3, 1)])
    events = Events(app=domain["apps"]["orders"], outbox_schema=o.schema)
    async with connect(as_role(services.database_url, o.role)) as conn, conn.transaction():
        await events.publish(conn, domain["topic"], {"id": "o-1"})

    relay = Relay(
        RelaySettings(
            database_url=as_role(services.database_url, RELAY_ROLE),
            kafka_bootstrap=services.kafka_bootstrap,
            outbox_schema=o.schema,
            relay_poll_interval=0.2,
        )
    )
    task = asyncio.create_task(relay.run())
    try:
        records = await read_topic(domain["topic"], count=1, timeout=60)
        assert len(records) == 1
        async with connect(services.database_url) as admin:
            async with asyncio.timeout(30):
                while await admin.fetchval(f"SELECT count(*) FROM {o.schema}.outbox"):
                    await asyncio.sleep(0.1)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 15)
    # The relay may claim and delete, not write.
    async with connect(as_role(services.database_url, RELAY_ROLE)) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with conn.transaction():
                await events.publish(conn, domain["topic"], {"id": "o-2"})


async def test_worker_role_owns_its_inbox(services: Any, domain: dict[str, Any]) -> None:
    assert (await asyncio.to_thread(roles, services, domain["folder"], "apply")).exit_code == 0
    b = domain["db"]["billing"]
    async with connect(as_role(services.database_url, b.worker_role)) as conn:
        await migrate_inbox(conn, b.schema)  # up to date: no DDL
        async with conn.transaction():
            assert await claim(conn, b.schema, "billing", "e-1", "T")
            assert not await claim(conn, b.schema, "billing", "e-1", "T")
        assert await conn.fetchval(f"SELECT count(*) FROM {b.schema}.inbox") == 1
        assert await cleanup(conn, b.schema, 0) == 1
    async with connect(as_role(services.database_url, b.role)) as conn:
        # The app role itself (the publishing web process) does not see the inbox.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f"SELECT * FROM {b.schema}.inbox")


def test_extra_grants_are_revoked_only_with_remove(services: Any, domain: dict[str, Any]) -> None:
    assert roles(services, domain["folder"], "apply").exit_code == 0
    o, b = domain["db"]["orders"], domain["db"]["billing"]

    async def grant_extra() -> None:
        async with connect(services.database_url) as admin:
            await admin.execute(f'GRANT SELECT ON {o.schema}.outbox TO "{o.role}"')

    async def can_read() -> bool:
        async with connect(as_role(services.database_url, o.role)) as conn:
            try:
                await conn.fetch(f"SELECT * FROM {o.schema}.outbox")
            except asyncpg.InsufficientPrivilegeError:
                return False
            return True

    asyncio.run(grant_extra())
    plan = roles(services, domain["folder"], "plan")
    assert f"- SELECT on {o.schema}.outbox from {o.role}" in plan.stdout
    assert (
        "only with `bizevents db roles apply --remove`"
        in roles(services, domain["folder"], "apply").stdout
    )
    assert asyncio.run(can_read())
    assert roles(services, domain["folder"], "apply", "--remove").exit_code == 0
    assert not asyncio.run(can_read())
    assert b.schema != o.schema
