"""No secret in logs, metrics, error messages or `dev status`: real processes, scanned.

The relay and a worker run as child processes, logged in as their apps on the secured broker (so
this is also the proof that the ACLs derived from the contracts are enough for them: the worker
creates its retry, replay and dead-letter topics and joins its group; the relay writes). Their
whole output, their metrics, the CLI's answers (including failed logins and bad settings) and
Kafka's own server log are scanned for every secret the suite made (tests/secrets_registry.py).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from typer.testing import CliRunner

from bizevents.app import Events
from bizevents.cli import app as cli
from bizevents.kafka import ensure_topics
from bizevents.outbox import migrate_outbox
from bizevents.settings import ConnectionSettings
from secrets_registry import KNOWN, leaks, remember_log, remember_secret

from .conftest import SecureKafka, write_contracts

# The first test also starts the secured broker; all of it must tolerate a loaded machine.
pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")

APP = """
import os
from pathlib import Path
from bizevents import Events

events = Events(app=os.environ["APP_NAME"], contracts=os.environ["APP_CONTRACTS"])

@events.subscriber(os.environ["APP_TYPE"], group=os.environ["APP_NAME"])
async def handle(event, ctx):
    ctx.log.info("invoice drafted", order=event["id"])
    with Path(os.environ["APP_OUT"]).open("a") as out:
        out.write(event["id"] + "\\n")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _scrape(port: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return str(r.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _run(args: list[str], env: dict[str, str]) -> str:
    """A command in a child process: its whole output, as an operator's terminal shows it."""
    result = subprocess.run(
        [BIZEVENTS, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return f"$ bizevents {' '.join(args)} -> {result.returncode}\n{result.stdout}{result.stderr}"


def _cli(args: list[str], env: dict[str, str]) -> str:
    """A command run in this process (the same code and output, without a Python start-up)."""
    result = CliRunner().invoke(cli, args, env=env)
    return f"$ bizevents {' '.join(args)} -> {result.exit_code}\n{result.output}"


class Processes:
    """Child processes whose output goes to files under `folder`; stopped at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str], cwd: Path) -> Path:
        log = remember_log(self.folder / f"{name}.log")
        with log.open("ab") as out:
            self.running.append(
                subprocess.Popen(
                    [BIZEVENTS, *args],
                    env={**os.environ, **env},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=cwd,
                )
            )
        return log

    def stop(self) -> None:
        for proc in self.running:
            proc.terminate()
        for proc in self.running:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop()


def test_no_secret_in_logs_metrics_errors_or_status(
    tmp_path: Path,
    services: Any,
    db_schema: str,
    secure_kafka: SecureKafka,
    names: Callable[[str], str],
    app_user: Callable[[str], ConnectionSettings],
    processes: Processes,
) -> None:
    orders, billing = names("orders"), names("billing")
    event_type = f"com.acme.{orders.replace('-', '')}.OrderPlaced.v1"
    contracts = write_contracts(
        tmp_path / "contracts", "orders", {event_type: ([orders], [billing])}
    )
    asyncio.run(ensure_topics(secure_kafka.admin, [event_type]))
    admin_env = secure_kafka.env(secure_kafka.admin)
    outputs = [_cli(["kafka", "acl", "apply", str(contracts)], admin_env)]
    orders_login, billing_login = app_user(orders), app_user(billing)
    db_password = remember_secret("db-" + secrets.token_urlsafe(18))
    database_url = _with_password(services.database_url, db_password)

    async def prepare_outbox() -> None:
        conn = await asyncpg.connect(services.database_url)
        try:
            await migrate_outbox(conn, db_schema)
        finally:
            await conn.close()

    asyncio.run(prepare_outbox())

    # The relay (as orders) and the worker (as billing), configured only by the environment.
    relay_port, worker_port = _free_port(), _free_port()
    relay_log = processes.start(
        "relay",
        ["relay"],
        {
            **secure_kafka.env(orders_login),
            "BIZEVENTS_DATABASE_URL": database_url,
            "BIZEVENTS_OUTBOX_SCHEMA": db_schema,
            "BIZEVENTS_RELAY_POLL_INTERVAL": "0.2",
            "BIZEVENTS_RELAY_METRICS_PORT": str(relay_port),
            "BIZEVENTS_LOG_LEVEL": "DEBUG",
        },
        tmp_path,
    )
    (tmp_path / "billing_app.py").write_text(textwrap.dedent(APP))
    handled = tmp_path / "handled.txt"
    worker_log = processes.start(
        "worker",
        ["worker", "billing_app:events"],
        {
            **secure_kafka.env(billing_login),
            "BIZEVENTS_DATABASE_URL": database_url,
            "BIZEVENTS_METRICS_PORT": str(worker_port),
            "BIZEVENTS_LOG_LEVEL": "DEBUG",
            "BIZEVENTS_RETRY_DELAYS": "[5]",  # one retry topic is enough here
            "APP_NAME": billing,
            "APP_TYPE": event_type,
            "APP_CONTRACTS": str(contracts),
            "APP_OUT": str(handled),
        },
        tmp_path,
    )

    async def publish() -> None:
        events = Events(app=orders, contracts=contracts, outbox_schema=db_schema)
        conn = await asyncpg.connect(services.database_url)
        try:
            async with conn.transaction():
                await events.publish(conn, event_type, {"id": "order-1"})
        finally:
            await conn.close()

    asyncio.run(publish())
    deadline = time.monotonic() + 120
    while not (handled.exists() and "order-1" in handled.read_text()):
        assert time.monotonic() < deadline, (
            f"not handled:\n{relay_log.read_text()[-3000:]}\n{worker_log.read_text()[-3000:]}"
        )
        time.sleep(0.2)
    outputs += [_scrape(relay_port), _scrape(worker_port)]

    # What operators type, including what fails: wrong password, half-set settings.
    secure = secure_kafka.server.settings
    status_env = {
        "BIZEVENTS_STATE_DIR": str(secure.state),
        "BIZEVENTS_KAFKA_PORT": str(secure.kafka_port),
        "BIZEVENTS_KAFKA_CONTROLLER_PORT": str(secure.controller_port),
        "BIZEVENTS_PG_PORT": str(_free_port()),
    }
    wrong = remember_secret("wrong-" + secrets.token_urlsafe(12))
    outputs += [
        _run(["dev", "status"], status_env),
        _cli(["dev", "status", "--json"], status_env),
        _cli(["kafka", "user", "list"], admin_env),
        _cli(["kafka", "acl", "plan", str(contracts)], admin_env),
        _cli(
            ["kafka", "acl", "plan", str(contracts)],
            {**admin_env, "BIZEVENTS_KAFKA_SASL_PASSWORD": wrong},
        ),
        _run(["relay"], {"BIZEVENTS_KAFKA_SASL_PASSWORD": wrong}),
        _cli(
            ["outbox", "status"],
            {
                "BIZEVENTS_DATABASE_URL": _with_password(
                    "postgresql://x@127.0.0.1:1/db", db_password
                )
            },
        ),
    ]
    processes.stop()
    logs = [relay_log.read_text(), worker_log.read_text()]
    kafka_logs = [p.read_text(errors="replace") for p in secure_kafka.server.logs.glob("*.log")]

    # The scan can find something, and what it scans is the real thing.
    assert len(KNOWN) >= 6 and all(leaks(f"..{s}..") for s in KNOWN)
    assert "relay.leader" in logs[0] and "invoice drafted" in logs[1]
    assert "bizevents_relay_events_total" in outputs[1] and "bizevents_" in outputs[2]
    assert '"secure": true' in outputs[4]
    assert "error: Kafka refused the login of user 'admin' (SCRAM-SHA-512" in outputs[7]
    assert "error:" in outputs[8] and "error:" in outputs[9]
    for text in [*outputs, *logs, *kafka_logs]:
        assert not leaks(text), f"secret in:\n{text[:3000]}"


def test_relay_and_worker_name_a_refused_login(
    tmp_path: Path,
    services: Any,
    db_schema: str,
    secure_kafka: SecureKafka,
    names: Callable[[str], str],
    app_user: Callable[[str], ConnectionSettings],
    processes: Processes,
) -> None:
    """A wrong password reads as what it is, not as "Kafka unreachable": the relay says it once
    (and keeps its rows), the worker gives up at its start timeout with the reason."""
    billing = names("billing")
    login = app_user(billing)
    wrong = remember_secret("wrong-" + secrets.token_urlsafe(12))
    env = {**secure_kafka.env(login), "BIZEVENTS_KAFKA_SASL_PASSWORD": wrong}
    env["BIZEVENTS_DATABASE_URL"] = services.database_url
    relay_log = processes.start(
        "relay",
        ["relay"],
        {**env, "BIZEVENTS_OUTBOX_SCHEMA": db_schema, "BIZEVENTS_RELAY_POLL_INTERVAL": "0.2"},
        tmp_path,
    )
    contracts = write_contracts(
        tmp_path / "contracts", "orders", {f"com.acme.{billing}.Thing.v1": ([], [billing])}
    )
    (tmp_path / "billing_app.py").write_text(textwrap.dedent(APP))
    worker = _run(
        ["worker", "billing_app:events"],
        {
            **env,
            "BIZEVENTS_START_TIMEOUT": "3",
            "APP_NAME": billing,
            "APP_TYPE": f"com.acme.{billing}.Thing.v1",
            "APP_CONTRACTS": str(contracts),
            "APP_OUT": str(tmp_path / "handled.txt"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.getenv("PYTHONPATH")])),
        },
    )
    refused = (
        f"Kafka refused the login of user '{billing}' (SCRAM-SHA-512: SaslAuthenticationFailed)"
    )
    assert "-> 2" in worker.splitlines()[0] and "error: Kafka still refused us" in worker, worker
    assert refused in worker
    deadline = time.monotonic() + 60
    while refused not in relay_log.read_text():
        assert time.monotonic() < deadline, relay_log.read_text()[-3000:]
        time.sleep(0.2)
    processes.stop()
    text = relay_log.read_text()
    assert text.count("relay.kafka_unreachable") == 1, text
    for output in (worker, text):
        assert "Traceback" not in output and not leaks(output)
