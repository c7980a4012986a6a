"""Per-app PostgreSQL roles from the contracts, enforced by PostgreSQL itself.

Roles are cluster-wide: each test uses apps with unique names and drops their roles and schemas.
The shared `bizevents_relay` role stays (other sessions may use it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from bizevents.app import Events
from bizevents.cli import app as cli
from bizevents.dlq import DeadLetterFilter, DeadLetterRecord, DeadLetterStore
from bizevents.envelope import Envelope, new_event_id, to_kafka
from bizevents.relay import Relay
from bizevents.security.pg_roles import (
    DLQ_ROLE,
    GATEWAY_ROLE,
    PASSWORD_PLACEHOLDER,
    RELAY_ROLE,
    AppDatabase,
    SharedSchemas,
)
from bizevents.settings import RelaySettings
from bizevents.worker.inbox import claim, cleanup, migrate_inbox
from gateway.conftest import BIZEVENTS
from secrets_registry import leaks, remember_log, remember_secret
from servers import free_port, stop_process, wait_healthy

from .conftest import write_contracts

pytestmark = pytest.mark.services
runner = CliRunner()


def as_role(url: str, role: str) -> str:
    """The same database, logged in as `role` (the dev cluster trusts 127.0.0.1)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))


def roles(services: Any, domain: dict[str, Any], *args: str, url: str | None = None) -> Any:
    """`bizevents db roles ...` on the test's contracts, with the test's own shared schemas
    (on the shared dev database unless `url` says another)."""
    shared = domain["shared"]
    env = {
        "BIZEVENTS_DATABASE_URL": url or services.database_url,
        "BIZEVENTS_GATEWAY_SCHEMA": shared.gateway,
        "BIZEVENTS_REGISTRY_SCHEMA": shared.registry,
        "BIZEVENTS_DLQ_SCHEMA": shared.dlq,
    }
    extra = ["--passwords", str(domain["passwords"])] if args[0] == "apply" else []
    return runner.invoke(cli, ["db", "roles", *args, *extra, str(domain["folder"])], env=env)


@pytest.fixture
def domain(services: Any, tmp_path: Path, names: Callable[[str], str]) -> Iterator[dict[str, Any]]:
    orders, billing = names("orders"), names("billing")
    topic = f"com.acme.{orders.replace('-', '')}.OrderPlaced.v1"
    folder = write_contracts(tmp_path / "contracts", "orders", {topic: ([orders], [billing])})
    dbs = {"orders": AppDatabase.of(orders), "billing": AppDatabase.of(billing)}
    suffix = uuid.uuid4().hex[:10]
    shared = SharedSchemas(f"gw_{suffix}", f"reg_{suffix}", f"dlq_{suffix}")
    yield {
        "folder": folder,
        "topic": topic,
        "apps": {"orders": orders, "billing": billing},
        "db": dbs,
        "shared": shared,
        "passwords": tmp_path / "db-passwords",
    }

    async def drop() -> None:
        conn = await asyncpg.connect(services.database_url)
        try:
            for schema in (shared.gateway, shared.registry, shared.dlq):
                await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
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
    planned = roles(services, domain, "plan", "--json")
    assert planned.exit_code == 0, planned.output
    wanted = {c["what"] for c in json.loads(planned.stdout)["add"]}
    o = domain["db"]["orders"]
    assert f"role {o.role}" in wanted
    assert f"INSERT on {o.schema}.outbox to {o.role}" in wanted
    assert f"DELETE, SELECT on {o.schema}.outbox to {RELAY_ROLE}" in wanted
    assert f"{o.worker_role} owns {o.schema}.inbox" in wanted

    applied = roles(services, domain, "apply")
    assert applied.exit_code == 0, applied.output
    again = roles(services, domain, "plan")
    assert "roles and grants match the contracts" in again.stdout
    assert "applied: 0 added, 0 removed" in roles(services, domain, "apply").stdout


async def test_app_role_writes_its_outbox_only(services: Any, domain: dict[str, Any]) -> None:
    assert (await asyncio.to_thread(roles, services, domain, "apply")).exit_code == 0
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

    assert (await asyncio.to_thread(roles, services, domain, "apply")).exit_code == 0
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
    assert (await asyncio.to_thread(roles, services, domain, "apply")).exit_code == 0
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
    assert roles(services, domain, "apply").exit_code == 0
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
    plan = roles(services, domain, "plan")
    assert f"- SELECT on {o.schema}.outbox from {o.role}" in plan.stdout
    assert (
        "only with `bizevents db roles apply --remove`" in roles(services, domain, "apply").stdout
    )
    assert asyncio.run(can_read())
    assert roles(services, domain, "apply", "--remove").exit_code == 0
    assert not asyncio.run(can_read())
    assert b.schema != o.schema


def _letter(group: str, event_type: str) -> DeadLetterRecord:
    envelope = Envelope(
        id=new_event_id(), type=event_type, source="/acme/orders", time=datetime.now(UTC),
        data=b'{"id": "o-1"}', partitionkey="o-1",
    )  # fmt: skip
    key, value, headers = to_kafka(envelope)
    now = datetime.now(UTC)
    return DeadLetterRecord.build(
        group=group, original_topic=event_type, original_partition=0, original_offset=7,
        error="boom", error_type="ValueError", stack="", attempts=3, first_failure=now,
        last_failure=now, key=key, value=value, headers=headers,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def store_as(url: str, schema: str) -> AsyncIterator[DeadLetterStore]:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        yield DeadLetterStore(pool, schema)
    finally:
        await pool.close()


async def test_dlq_role_owns_the_dead_letters(services: Any, domain: dict[str, Any]) -> None:
    assert (await asyncio.to_thread(roles, services, domain, "apply")).exit_code == 0
    dlq, o = domain["shared"].dlq, domain["db"]["orders"]
    async with store_as(as_role(services.database_url, DLQ_ROLE), dlq) as store:
        await store.migrate()  # up to date: no DDL, no right to create schemas needed
        letter_id, _ = await store.add(_letter("billing", domain["topic"]))
        assert (await store.get(letter_id)).error == "boom"
        assert await store.purge(DeadLetterFilter(ids=(letter_id,)), hard=True) == 1
        async with store.pool.acquire() as conn:
            # Dead letters are not a door into the apps' schemas.
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(f"SELECT * FROM {o.schema}.outbox")
    async with connect(as_role(services.database_url, o.worker_role)) as conn:
        # An app (even its worker) reads no dead letters: they hold every app's events.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f"SELECT * FROM {dlq}.dead_letters")


async def test_gateway_role_runs_the_broker_and_nothing_of_an_apps_outbox(
    services: Any,
    domain: dict[str, Any],
    kafka_admin: Any,
    read_topic: Any,
    tmp_path: Path,
) -> None:
    """`bizevents broker serve` as bizevents_gateway: it creates its own tables, takes an
    event through its outbox and relay to Kafka, lists and replays a dead letter; the same role
    cannot read or write an app's outbox, and an app's role cannot see the gateway's keys."""
    from aiokafka.admin import NewTopic

    assert (await asyncio.to_thread(roles, services, domain, "apply")).exit_code == 0
    shared, topic = domain["shared"], domain["topic"]
    await kafka_admin.create_topics([NewTopic(topic, 3, 1)])
    async with store_as(as_role(services.database_url, DLQ_ROLE), shared.dlq) as store:
        letter_id, _ = await store.add(_letter(f"{domain['apps']['billing']}", topic))

    token = remember_secret("admin-token-" + secrets.token_urlsafe(16))
    gateway_url = as_role(services.database_url, GATEWAY_ROLE)
    env = {
        **os.environ,
        "BIZEVENTS_DATABASE_URL": gateway_url,
        "BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "BIZEVENTS_GATEWAY_SCHEMA": shared.gateway,
        "BIZEVENTS_REGISTRY_SCHEMA": shared.registry,
        "BIZEVENTS_DLQ_SCHEMA": shared.dlq,
        "BIZEVENTS_CONTRACTS_PATH": str(domain["folder"]),
        "BIZEVENTS_ADMIN_TOKEN": token,
    }
    port, log = free_port(), remember_log(tmp_path / "broker.log")
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            BIZEVENTS, "broker", "serve", "--port", str(port), env=env, stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url, process, timeout=120)
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            admin = {"Authorization": f"Bearer {token}"}
            keys = {}
            for name, is_admin in (("ops", True), (domain["apps"]["orders"], False)):
                created = await http.post(
                    "/api/apps", json={"name": name, "admin": is_admin}, headers=admin
                )
                assert created.status_code == 201, created.text
                keys[name] = {"Authorization": f"Bearer {remember_secret(created.json()['key'])}"}
            published = await http.post(
                f"/events/{topic}", json={"id": "o-9"}, headers=keys[domain["apps"]["orders"]]
            )
            assert published.status_code == 202, published.text
            listed = await http.get("/odata/DeadLetters", headers=keys["ops"])
            assert listed.status_code == 200, listed.text
            assert [d["Id"] for d in listed.json()["value"]] == [letter_id]
            replayed = await http.post(
                f"/odata/DeadLetters({letter_id})/BizEvents.Replay", headers=keys["ops"]
            )
            assert replayed.status_code == 200, replayed.text
            assert replayed.json()["Replayed"] == 1
        records = await read_topic(topic, count=1, timeout=60)
        assert json.loads(records[0].value) == {"id": "o-9"}
    finally:
        await stop_process(process)
    text = log.read_text()
    assert "Traceback" not in text and "permission denied" not in text, text[-3000:]

    o = domain["db"]["orders"]
    async with connect(gateway_url) as conn:
        for sql in (
            f"SELECT * FROM {o.schema}.outbox",
            f"DELETE FROM {o.schema}.outbox",
            f"INSERT INTO {o.schema}.outbox (topic) VALUES ('x')",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
        assert await conn.fetchval(f"SELECT count(*) FROM {shared.gateway}.apps") == 2
    async with connect(as_role(services.database_url, o.role)) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f"SELECT * FROM {shared.gateway}.api_keys")


@pytest.fixture(scope="module")
def password_checking_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private PostgreSQL that checks passwords over TCP (SCRAM-SHA-256), unlike the shared
    dev cluster, which trusts 127.0.0.1; its admin connects without one. Its URL."""
    from bizevents.devservices import PostgresServer
    from bizevents.settings import DevSettings

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = PostgresServer(
        DevSettings(state_dir=tmp_path_factory.mktemp("scram-pg"), pg_port=port)
    )
    server.start()
    try:
        (server.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {server.settings.pg_user} 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )

        async def reload() -> None:
            async with connect(server.url) as conn:
                await conn.execute("SELECT pg_reload_conf()")

        asyncio.run(reload())
        yield server.url
    finally:
        server.stop()
        server.wipe()


def test_roles_log_in_with_generated_passwords_never_shown(
    password_checking_pg: str, domain: dict[str, Any]
) -> None:
    admin_url = password_checking_pg

    async def relay_role_without_password() -> None:
        async with connect(admin_url) as conn:
            await conn.execute(f'CREATE ROLE "{RELAY_ROLE}" LOGIN')

    asyncio.run(relay_role_without_password())  # an existing role gets one too
    planned = roles(None, domain, "plan", "--json", url=admin_url)
    assert planned.exit_code == 0, planned.output
    o = domain["db"]["orders"]
    setting = next(c for c in json.loads(planned.stdout)["add"] if c["what"].startswith(
        f"login password for {o.role} "))  # fmt: skip
    assert setting["sql"] == f"ALTER ROLE \"{o.role}\" PASSWORD '{PASSWORD_PLACEHOLDER}'"

    applied = roles(None, domain, "apply", url=admin_url)
    assert applied.exit_code == 0, applied.output
    folder: Path = domain["passwords"]
    assert folder.stat().st_mode & 0o777 == 0o700
    wanted = {RELAY_ROLE, GATEWAY_ROLE, DLQ_ROLE}
    wanted |= {r for d in domain["db"].values() for r in (d.role, d.worker_role)}
    assert {p.name for p in folder.iterdir()} == wanted
    passwords = {}
    for path in folder.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600
        passwords[path.name] = remember_secret(path.read_text().strip())
        assert f"password of {path.name} written to {path} (mode 600)" in applied.output
    again = roles(None, domain, "plan", url=admin_url)
    assert "roles and grants match the contracts" in again.output

    async def login(role: str, password: str) -> str:
        url = as_role(admin_url, role).replace(f"{role}@", f"{role}:{password}@")
        async with connect(url) as conn:
            return str(await conn.fetchval("SELECT current_user"))

    for role in (o.role, o.worker_role, GATEWAY_ROLE, RELAY_ROLE):
        assert asyncio.run(login(role, passwords[role])) == role
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(login(o.role, passwords[o.worker_role]))

    rotated = roles(None, domain, "apply", "--rotate", o.role, url=admin_url)
    assert rotated.exit_code == 0, rotated.output
    new = remember_secret((folder / o.role).read_text().strip())
    assert new != passwords[o.role]
    assert asyncio.run(login(o.role, new)) == o.role
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(login(o.role, passwords[o.role]))
    unknown = roles(None, domain, "apply", "--rotate", "postgres", url=admin_url)
    assert unknown.exit_code == 1 and "cannot rotate postgres" in unknown.output
    for output in (planned, applied, again, rotated, unknown):
        assert not leaks(output.output)
