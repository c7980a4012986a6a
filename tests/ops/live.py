"""A live bizevents flow for operations tests: an app publishing through its outbox, two relays
(one active), a worker whose handler fails for some events (retries, dead letters), the broker,
and a real Prometheus (Debian's package) scraping all of them every 2 seconds."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bizevents import Events

ROOT = Path(__file__).resolve().parents[2]
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")
ADMIN_TOKEN = "ops-test-admin-token"
# Hostile event data: it must come out of every page as text, never as markup.
HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"

CONTRACT = """\
asyncapi: 3.0.0
info:
  title: shop
  version: 1.0.0
  x-bizevents-owner: team-shop
  x-bizevents-source: /tests/shop
defaultContentType: application/json
channels:
  placed:
    address: {placed}
    x-bizevents-type: {placed}
    x-bizevents-key: order_id
    x-bizevents-retention: 1d
    x-bizevents-publishers: [shop]
    x-bizevents-subscribers: [billing]
    messages:
      Order: {{$ref: '#/components/messages/Order'}}
  refused:
    address: {refused}
    x-bizevents-type: {refused}
    x-bizevents-key: order_id
    x-bizevents-publishers: [shop]
    x-bizevents-subscribers: [billing]
    messages:
      Order: {{$ref: '#/components/messages/Order'}}
operations:
  sendPlaced: {{action: send, channel: {{$ref: '#/channels/placed'}}}}
  sendRefused: {{action: send, channel: {{$ref: '#/channels/refused'}}}}
components:
  messages:
    Order:
      payload:
        type: object
        required: [order_id]
        properties:
          order_id: {{type: string}}
          flaky: {{type: boolean}}
"""

WORKER_APP = """\
import os
from bizevents import Events
from bizevents.worker import Context

events = Events(app="billing", contracts=os.environ["APP_CONTRACTS"])
REFUSED = os.environ["APP_REFUSED"]


@events.subscriber(os.environ["APP_PLACED"], REFUSED, group=os.environ["APP_GROUP"])
async def invoice(event: dict, ctx: Context) -> None:
    if ctx.envelope.type == REFUSED:
        raise RuntimeError("invoicing refused for " + event["order_id"])
    if event.get("flaky") and ctx.attempt == 1:
        raise ConnectionError("invoice service timed out")
"""

PROMETHEUS_CONFIG = """\
global: {{scrape_interval: 2s, scrape_timeout: 2s, evaluation_interval: 2s}}
rule_files: [{rules}]
scrape_configs:
  - job_name: bizevents-relay
    static_configs: [{{targets: [{relays}]}}]
  - job_name: bizevents-worker
    static_configs: [{{targets: [{workers}]}}]
  - job_name: bizevents-broker
    static_configs: [{{targets: [{broker}]}}]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


async def wait_for(what: str, check: Any, timeout: float = 90.0) -> Any:
    """Poll `check()` (sync or async) until truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


@dataclass
class Live:
    schema: str
    group: str
    placed: str
    refused: str
    database_url: str
    broker_url: str
    prometheus_url: str
    contracts: Path
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    published: int = 0

    def query(self, promql: str) -> dict[str, Any]:
        """Prometheus' instant-query answer (status, data or error), as JSON."""
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            return dict(http_json(url))
        except urllib.error.HTTPError as exc:  # 400/422 carry the error as JSON
            return dict(json.loads(exc.read()))

    def value(self, promql: str) -> float:
        result = self.query(promql)["data"]["result"]
        return sum(float(r["value"][1]) for r in result)

    def log_tail(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text()[-3000:] if path.exists() else ""


def _spawn(name: str, args: list[str], env: dict[str, str], logs: Path, cwd: Path) -> Any:
    with (logs / f"{name}.log").open("ab") as out:
        return subprocess.Popen(args, env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT, cwd=cwd)  # fmt: skip


def _stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in procs.values():
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@asynccontextmanager
async def live_flow(services: Any, tmp: Path) -> AsyncIterator[Live]:
    """Start everything, publish, and return once Prometheus has scraped the whole story."""
    assert shutil.which("prometheus"), "prometheus is not installed (deploy/run.sh installs it)"
    run = uuid.uuid4().hex[:10]
    placed, refused = f"test.o{run}.OrderPlaced.v1", f"test.o{run}.OrderRefused.v1"
    contracts, logs = tmp / "contracts", tmp / "logs"
    contracts.mkdir()
    logs.mkdir()
    (contracts / "shop.yaml").write_text(CONTRACT.format(placed=placed, refused=refused))
    (tmp / "billing_app.py").write_text(WORKER_APP)
    schema, group = f"ops_{run}", f"ops-billing-{run}"
    ports = {name: free_port() for name in ("relay1", "relay2", "worker", "broker", "prometheus")}
    live = Live(
        schema=schema,
        group=group,
        placed=placed,
        refused=refused,
        database_url=services.database_url,
        broker_url=f"http://127.0.0.1:{ports['broker']}",
        prometheus_url=f"http://127.0.0.1:{ports['prometheus']}",
        contracts=contracts,
        logs=logs,
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=services.kafka_bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(placed, 3, 1), NewTopic(refused, 1, 1)])
    await admin.close()
    conn = await asyncpg.connect(services.database_url)
    shop = Events(app="shop", contracts=contracts, outbox_schema=schema)
    await shop.migrate(conn)
    common = {
        "BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "BIZEVENTS_DATABASE_URL": services.database_url,
        "BIZEVENTS_OUTBOX_SCHEMA": schema,
        "BIZEVENTS_DLQ_SCHEMA": schema,
        "BIZEVENTS_LOG_LEVEL": "WARNING",
    }
    try:
        for name in ("relay1", "relay2"):
            env = {**common, "BIZEVENTS_RELAY_METRICS_PORT": str(ports[name])}
            live.procs[name] = _spawn(name, [BIZEVENTS, "relay"], env, logs, tmp)
        worker_env = {
            **common,
            "APP_CONTRACTS": str(contracts),
            "APP_PLACED": placed,
            "APP_REFUSED": refused,
            "APP_GROUP": group,
            "PYTHONPATH": str(tmp),
            "BIZEVENTS_METRICS_PORT": str(ports["worker"]),
            "BIZEVENTS_INBOX_SCHEMA": schema,
            "BIZEVENTS_DLQ_STORE": "true",
            "BIZEVENTS_COMMIT_INTERVAL": "0.1",
            "BIZEVENTS_RETRY_ATTEMPTS": "2",
            "BIZEVENTS_RETRY_BACKOFF_INITIAL": "0.05",
            "BIZEVENTS_RETRY_DELAYS": "[0.3]",
        }
        live.procs["worker"] = _spawn(
            "worker", [BIZEVENTS, "worker", "billing_app:events"], worker_env, logs, tmp
        )
        broker_env = {
            **common,
            "BIZEVENTS_REGISTRY_SCHEMA": f"reg_{run}",
            "BIZEVENTS_ADMIN_TOKEN": ADMIN_TOKEN,
            "BIZEVENTS_PROMETHEUS_URL": live.prometheus_url,
            # The flow has its own relays; the gateway's embedded one would be a third outbox.
            "BIZEVENTS_GATEWAY_RELAY": "false",
        }
        live.procs["broker"] = _spawn(
            "broker",
            [BIZEVENTS, "broker", "serve", "--port", str(ports["broker"]),
             "--contracts", str(contracts)],
            broker_env, logs, tmp,
        )  # fmt: skip
        rules = ", ".join(
            json.dumps(str(ROOT / "deploy" / "prometheus" / f))
            for f in ("alerts.yml", "recording.yml")
        )
        config = tmp / "prometheus.yml"
        config.write_text(
            PROMETHEUS_CONFIG.format(
                rules=rules,
                relays=f"'127.0.0.1:{ports['relay1']}', '127.0.0.1:{ports['relay2']}'",
                workers=f"'127.0.0.1:{ports['worker']}'",
                broker=f"'127.0.0.1:{ports['broker']}'",
            )
        )
        live.procs["prometheus"] = _spawn(
            "prometheus",
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{ports['prometheus']}", "--log.level=warn"],
            {}, logs, tmp,
        )  # fmt: skip

        def targets_up() -> bool:
            try:
                active = http_json(f"{live.prometheus_url}/api/v1/targets")["data"]["activeTargets"]
            except OSError:
                return False
            return len(active) == 4 and all(t["health"] == "up" for t in active)

        await wait_for("every process scraped by Prometheus", targets_up, 120)
        # New topics and auto_offset_reset=earliest: the worker reads all, whenever it joins.
        async with conn.transaction():
            for i in range(20):
                await shop.publish(conn, placed, {"order_id": f"o-{i}", "flaky": i % 7 == 3})
            await shop.publish(conn, refused, {"order_id": "o-bad"})
            await shop.publish(conn, refused, {"order_id": HOSTILE})
        live.published = 22
        await wait_for(
            "all events handled or dead-lettered, as Prometheus saw it",
            lambda: (
                live.value(f'bizevents_worker_messages_total{{group="{group}",outcome="success"}}')
                >= 20
                and live.value(f'bizevents_worker_dead_letters_total{{group="{group}"}}') >= 2
            ),
        )
        # A database error on the relays (their sessions are cut): counted, and one takes over.
        pids = [str(p.pid) for n, p in live.procs.items() if n.startswith("relay")]
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = ANY($1::text[])",
            [f"bizevents-relay:{pid}" for pid in pids],
        )
        await wait_for(
            "a relay error and a leader again",
            lambda: (
                live.value(f'bizevents_relay_errors_total{{schema="{schema}"}}') >= 1
                and live.value(f'bizevents:relay_leaders:sum{{schema="{schema}"}}') == 1
            ),
        )
        # Rates need two samples of the newest counters inside their window; the standby relay
        # reports leader=0 once it noticed its session was cut.
        series = [
            f'rate(bizevents_relay_errors_total{{schema="{schema}"}}[1m])',
            f'bizevents:relay_events:rate1m{{schema="{schema}"}}',
            f'bizevents:worker_dead_letters:increase1h{{group="{group}"}}',
            f'bizevents_relay_leader{{schema="{schema}"}} == 0',
        ]
        await wait_for(
            "rates over the whole flow",
            lambda: all(live.query(q)["data"]["result"] for q in series),
        )
        # Every process survived, the relays whose sessions were cut included.
        for name, proc in live.procs.items():
            assert proc.poll() is None, f"{name} exited:\n{live.log_tail(name)}"
        await wait_for(
            "both relays reporting again",
            lambda: live.value(f'count(bizevents_relay_leader{{schema="{schema}"}})') == 2,
        )
        yield live
    finally:
        _stop(live.procs)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.execute(f'DROP SCHEMA IF EXISTS "reg_{run}" CASCADE')
        await conn.close()
