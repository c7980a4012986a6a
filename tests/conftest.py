"""Session-wide real services and per-test isolation (own topics, own database schema).

Services: reused when `bizevents dev up` already runs them (or BIZEVENTS_TEST_REUSE=1 insists on
it); otherwise started here and stopped at the end of the session.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bizevents.devservices import KafkaServer, PostgresServer
from bizevents.settings import DevSettings


@dataclass(frozen=True)
class Services:
    kafka_bootstrap: str
    database_url: str
    settings: DevSettings


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    settings = DevSettings()
    kafka, pg = KafkaServer(settings), PostgresServer(settings)
    started: list[KafkaServer | PostgresServer] = []
    for server in (pg, kafka):
        if not server.ready():
            if os.environ.get("BIZEVENTS_TEST_REUSE") == "1":
                pytest.exit(f"{type(server).__name__} is not running and reuse was required", 2)
            server.start()
            started.append(server)
    yield Services(kafka.bootstrap, pg.url, settings)
    for server in reversed(started):
        server.stop()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def kafka_admin(services: Services) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=services.kafka_bootstrap)
    await admin.start()
    yield admin
    await admin.close()


@pytest.fixture
async def make_topic(kafka_admin: AIOKafkaAdminClient):  # type: ignore[no-untyped-def]
    """Creates uniquely named topics for this test (3 partitions unless told)."""

    async def make(prefix: str = "t", partitions: int = 3) -> str:
        name = unique(prefix).replace("_", "-")
        await kafka_admin.create_topics([NewTopic(name, partitions, 1)])
        return name

    return make


@pytest.fixture
async def topic(make_topic) -> str:  # type: ignore[no-untyped-def]
    return str(await make_topic())


@pytest.fixture
async def db_schema(services: Services) -> AsyncIterator[str]:
    """A fresh schema for this test, dropped afterwards."""
    name = unique("t")
    conn = await asyncpg.connect(services.database_url)
    await conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
    await conn.close()


@pytest.fixture
def db_url(services: Services, db_schema: str) -> str:
    """A database URL whose connections default to this test's schema."""
    return f"{services.database_url}?options=-csearch_path%3D{db_schema}"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_url)
    yield conn
    await conn.close()


@pytest.fixture
def read_topic(services: Services):  # type: ignore[no-untyped-def]
    """Reads a topic from the start: `count` records, or (count=None) until `idle` s of silence."""
    from aiokafka import AIOKafkaConsumer

    async def read(topic: str, count: int | None = None, timeout: float = 60, idle: float = 1.0):  # type: ignore[no-untyped-def]
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=services.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await consumer.start()
        got: list = []  # type: ignore[type-arg]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last = loop.time()
        try:
            while loop.time() < deadline:
                if count is not None and len(got) >= count:
                    break
                if count is None and got and loop.time() - last > idle:
                    break
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    got.extend(records)
                    last = loop.time()
        finally:
            await consumer.stop()
        return got

    return read


# -- the secrets scan ------------------------------------------------------------------------------
# Every test's captured output (stdout, stderr, log records, failure reports) is scanned for the
# secrets the suite handed out (tests/secrets_registry.py), as are the log files its child
# processes wrote; a hit fails the session. tests/security/test_secrets_scan.py drives the
# processes and commands most likely to leak one.
_LEAKS: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    from secrets_registry import KNOWN, leaks

    if not KNOWN:
        return
    texts = [content for _, content in report.sections]
    if report.failed:
        texts.append(report.longreprtext)
    for text in texts:
        for found in leaks(text):
            _LEAKS.append(f"{report.nodeid} ({report.when}): {found}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from secrets_registry import LOG_FILES, leaks

    for path in sorted(LOG_FILES):
        if path.exists():
            for found in leaks(path.read_text(errors="replace")):
                _LEAKS.append(f"{path}: {found}")
    if _LEAKS:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = "\n".join(f"  {leak}" for leak in _LEAKS)
        if reporter is not None:
            reporter.write_line(f"SECRETS LEAKED into the suite's output:\n{lines}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
