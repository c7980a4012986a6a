"""The hostile-input corpus' fixtures: one real `bizevents broker serve` process for the HTTP
entry points (own schemas, own contract types and topics, apps with keys), table snapshots to
prove that refused input changed nothing, and the per-entry-point summary at the end."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from secrets_registry import remember_log, remember_secret
from servers import free_port

from . import tally

BIZEVENTS = str(Path(sys.executable).with_name("bizevents"))
CONTRACT = """\
asyncapi: 3.0.0
info:
  title: hostile{n}
  version: 1.0.0
  x-bizevents-owner: team-hostile
  x-bizevents-source: /acme/hostile{n}
channels:
  placed:
    address: {placed}
    x-bizevents-type: {placed}
    x-bizevents-key: order_id
    x-bizevents-publishers: [orders]
    x-bizevents-subscribers: [billing]
    messages:
      Placed: {{$ref: '#/components/messages/Placed'}}
  audited:
    address: {audited}
    x-bizevents-type: {audited}
    x-bizevents-publishers: [orders]
    x-bizevents-subscribers: [billing]
    messages:
      Audited: {{$ref: '#/components/messages/Audited'}}
operations:
  sendPlaced: {{action: send, channel: {{$ref: '#/channels/placed'}}}}
  sendAudited: {{action: send, channel: {{$ref: '#/channels/audited'}}}}
components:
  messages:
    Placed:
      payload:
        type: object
        required: [order_id, amount]
        additionalProperties: false
        properties:
          order_id: {{type: string, minLength: 1, maxLength: 64}}
          amount: {{type: integer, minimum: 0}}
          note: {{type: string}}
          tags: {{type: array, items: {{type: string}}}}
    Audited:
      payload:
        type: object
        required: [what]
        properties:
          what: {{type: string}}
"""


@dataclass(repr=False)  # failure reports show fixtures: the keys must not be in them
class Broker:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path
    database_url: str
    schemas: tuple[str, ...]  # registry, gateway, dead letters
    placed: str
    audited: str
    source: str
    keys: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Broker({self.url}, schemas={self.schemas})"

    @property
    def registry_schema(self) -> str:
        return self.schemas[0]

    @property
    def gateway_schema(self) -> str:
        return self.schemas[1]

    def auth(self, app: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[app]}"}

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def secrets(self) -> list[str]:
        """What must never come back: the admin token and every key's secret part."""
        return [
            self.token,
            # bze_<12 hex id>_<43 chars>: the secret may hold "_" itself (an rsplit took
            # its last few characters, which then turned up in responses by chance).
            *(key.split("_", 2)[2] for key in self.keys.values()),
            *self.keys.values(),
        ]

    def assert_alive(self) -> None:
        assert self.process.poll() is None, f"the broker died:\n{self.log.read_text()[-4000:]}"

    def snapshot(self, conn: psycopg.Connection[Any]) -> dict[str, tuple[int, str]]:
        """Every table of the broker's schemas: row count and a digest of all rows."""
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE' "
            "ORDER BY 1, 2",
            [list(self.schemas)],
        ).fetchall()
        state = {}
        for schema, table in tables:
            row = conn.execute(
                f"SELECT count(*), coalesce(md5(string_agg(md5(t::text), ',' "
                f'ORDER BY md5(t::text))), \'\') FROM "{schema}"."{table}" t'
            ).fetchone()
            assert row is not None
            state[f"{schema}.{table}"] = (int(row[0]), str(row[1]))
        return state


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


async def _create_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 3, 1) for name in names])
    finally:
        await admin.close()


def _drop(database_url: str, schemas: tuple[str, ...]) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def broker(services: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One broker process for every HTTP entry point of the corpus (it must survive them all)."""
    n = uuid.uuid4().hex[:10]
    placed, audited = f"test.hostile{n}.OrderPlaced.v1", f"test.hostile{n}.Audited.v1"
    asyncio.run(_create_topics(services.kafka_bootstrap, [placed, audited]))
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "contracts").mkdir()
    (folder / "contracts" / "hostile.yaml").write_text(
        CONTRACT.format(n=n, placed=placed, audited=audited)
    )
    schemas = (f"reg_{n}", f"gw_{n}", f"dlq_{n}")
    token = remember_secret("hostile-admin-" + uuid.uuid4().hex)
    log = remember_log(folder / "broker.log")
    port = free_port()
    env = {
        **os.environ,
        "BIZEVENTS_DATABASE_URL": services.database_url,
        "BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "BIZEVENTS_REGISTRY_SCHEMA": schemas[0],
        "BIZEVENTS_GATEWAY_SCHEMA": schemas[1],
        "BIZEVENTS_DLQ_SCHEMA": schemas[2],
        "BIZEVENTS_ADMIN_TOKEN": token,
        "BIZEVENTS_GATEWAY_RATE_LIMIT": "0",
        "BIZEVENTS_GATEWAY_RELAY": "false",
        "BIZEVENTS_GATEWAY_WEBHOOKS": "false",
        "BIZEVENTS_EVENT_LOG": "false",
        "BIZEVENTS_GATEWAY_SESSION_IDLE": "5",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [BIZEVENTS, "broker", "serve", "--port", str(port),
             "--contracts", str(folder / "contracts")],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    broker = Broker(url, token, process, log, services.database_url, schemas, placed, audited,
                    f"/acme/hostile{n}")  # fmt: skip
    try:
        _wait_healthy(url, process, log)
        for app, admin in (("orders", False), ("billing", False), ("ops", True)):
            created = httpx.post(
                f"{url}/api/apps", json={"name": app, "admin": admin}, headers=broker.admin()
            )
            assert created.status_code == 201, created.text
            broker.keys[app] = remember_secret(created.json()["key"])
        yield broker
        # Whatever came before, the process still answers.
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        broker.assert_alive()
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        _drop(services.database_url, schemas)
    text = log.read_text()
    assert "Traceback" not in text, text[-4000:]


@pytest.fixture(scope="session")
def db(services: Any) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        yield conn


def secret_free(broker: Broker, response: httpx.Response) -> None:
    text = response.text + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    for secret in broker.secrets():
        if secret in text:
            digest = hashlib.sha256(secret.encode()).hexdigest()[:12]
            raise AssertionError(f"a secret (sha256:{digest}) is in a response")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = tally.summary_lines()
    if lines:
        terminalreporter.write_sep("-", "hostile input: examples per entry point and outcome")
        for line in lines:
            terminalreporter.write_line(line)
        tally.write_report()
