"""Real peers read what the relay produces: a Prometheus server scrapes its metrics, kcat reads
its records."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bizevents.app import Event, Events

pytestmark = [pytest.mark.services, pytest.mark.slow]
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def topic(make_topic) -> str:
    return str(await make_topic("com.acme.test"))


@pytest.fixture
def relay_process(services, db_url, db_schema, tmp_path):  # type: ignore[no-untyped-def]
    port = free_port()
    log = tmp_path / "relay.log"
    env = {
        **os.environ,
        "BIZEVENTS_DATABASE_URL": db_url,
        "BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "BIZEVENTS_OUTBOX_SCHEMA": db_schema,
        "BIZEVENTS_RELAY_METRICS_PORT": str(port),
        "BIZEVENTS_RELAY_STATS_INTERVAL": "0.2",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen([BIZEVENTS, "relay", "--log-json"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    # Started means leading (its signal handlers are set by then), even on a loaded machine.
    deadline = time.monotonic() + 60
    while b'"relay.leader"' not in log.read_bytes():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    yield port, log
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0  # SIGTERM is a clean stop


async def query(client: httpx.AsyncClient, url: str, promql: str) -> float | None:
    resp = await client.get(f"{url}/api/v1/query", params={"query": promql})
    if resp.status_code == 503:  # Prometheus answers before its storage is ready
        return None
    result = resp.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed")
async def test_prometheus_scrapes_relay_metrics(db, db_schema, relay_process, topic, tmp_path):
    metrics_port, log = relay_process
    events = Events(app="orders", outbox_schema=db_schema, require_transaction=False)
    await events.migrate(db)
    await events.publish_many(db, [Event(topic, {"i": i}, key=f"k{i}") for i in range(30)])

    web = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: relay\n    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n"
    )
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{web}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{web}"
    try:
        async with httpx.AsyncClient(timeout=5) as client, asyncio.timeout(60):
            while True:
                try:
                    relayed = await query(client, url, "bizevents_relay_events_total")
                    leader = await query(client, url, "bizevents_relay_leader")
                    pending = await query(client, url, "bizevents_outbox_pending_rows")
                except httpx.HTTPError:
                    relayed = None
                if relayed == 30 and leader == 1 and pending == 0:
                    break
                await asyncio.sleep(0.5)
            up = await query(client, url, 'up{job="relay"}')
            batches = await query(client, url, "bizevents_relay_batch_size_count")
    finally:
        prom.terminate()
        prom.wait(timeout=20)
    assert up == 1
    assert batches is not None and batches >= 1
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(entry.get("event") == "relay.leader" for entry in lines)


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed")
async def test_kcat_reads_binary_cloudevents(services, db, db_schema, relay_process, topic):
    events = Events(app="orders", outbox_schema=db_schema, require_transaction=False)
    await events.migrate(db)
    ids = await events.publish_many(
        db, [Event(topic, {"n": i}, key="order-7", subject=f"s{i}") for i in range(3)]
    )
    async with asyncio.timeout(60):  # relayed: kcat -e stops at the end of what is there
        while await db.fetchval(f"SELECT count(*) FROM {db_schema}.outbox"):
            await asyncio.sleep(0.05)
    out = await asyncio.to_thread(
        subprocess.run,
        ["kcat", "-C", "-b", services.kafka_bootstrap, "-t", topic, "-o", "beginning",
         "-c", "3", "-e", "-q", "-f", "%k|%h|%s\\n"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3
    for line, event_id, n in zip(lines, ids, range(3), strict=True):
        key, headers, value = line.split("|")
        assert key == "order-7"
        assert f"ce_id={event_id}" in headers
        assert f"ce_type={topic}" in headers and "ce_specversion=1.0" in headers
        assert "content-type=application/json" in headers
        assert json.loads(value) == {"n": n}
