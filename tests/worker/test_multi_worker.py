"""Several worker processes in one group keep every guarantee.

`bizevents worker effects:events --processes 3`, a fourth worker added mid-run and one of the
three killed with -9 mid-run, events arriving all along, random transient failures going through
delayed-retry topics. Every handler call writes a row; our own SQL then checks: every event
handled, per key the first successful handling of each event in publication order (a key never
ran ahead of an earlier event parked in a retry topic: no hold lost), work spread over the
processes, and SIGTERM stopping them all cleanly.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from .test_graceful_stop import EFFECTS
from .worker_helpers import APPS, ROOT, Kafka, envelope, spawn_worker, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]

KEYS = 40
EVENTS = 2400
PARTITIONS = 6


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def children_of(pid: int) -> set[int]:
    return {
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and parent_of(int(p.name)) == pid
    }


@pytest.mark.timeout(600)  # four worker processes start on a 2-core machine
async def test_three_processes_a_fourth_added_one_killed_every_guarantee_holds(
    kafka: Kafka, group: str, services: Any, tmp_path: Path, db: asyncpg.Connection, db_url: str
) -> None:
    await db.execute(EFFECTS)
    etype = await kafka.new_type(partitions=PARTITIONS)
    env = {
        **os.environ,
        "APP_TYPE": etype,
        "APP_GROUP": group,
        "APP_SLEEP_MS": "1,5",
        "APP_FAIL": "0.1",
        "APP_DELAYS": "0.3,0.6,1,2,3",
        "BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "BIZEVENTS_DATABASE_URL": db_url,
        "BIZEVENTS_COMMIT_INTERVAL": "0.2",
        "BIZEVENTS_LOG_LEVEL": "INFO",
        "BIZEVENTS_SESSION_TIMEOUT_MS": "6000",
        "PYTHONPATH": f"{APPS}{os.pathsep}{ROOT / 'sdk'}",
    }
    log = (tmp_path / "supervisor.log").open("ab")
    supervisor = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "bizevents"),
            "worker",
            "effects:events",
            "-p",
            "3",
            "--log-json",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=APPS,
    )
    added: subprocess.Popen[bytes] | None = None
    try:
        await wait_until(lambda: len(children_of(supervisor.pid)) == 3, 60)
        sender = asyncio.create_task(publish(kafka, etype))
        await wait_until(lambda: _ok_at_least(db, EVENTS // 5), 120)
        added = spawn_worker("effects:events", _plain(env), tmp_path / "added.log")
        await wait_until(lambda: _ok_at_least(db, EVENTS // 2), 120)
        busy = {r["pid"] for r in await db.fetch("SELECT DISTINCT pid FROM effects")}
        victim = next(iter(busy & children_of(supervisor.pid)))
        os.kill(victim, signal.SIGKILL)
        await sender
        await wait_until(lambda: _ok_events(db, EVENTS), 240)
        # The supervisor replaced the killed process.
        await wait_until(lambda: len(children_of(supervisor.pid)) == 3, 30)
        assert victim not in children_of(supervisor.pid)
        last_children = children_of(supervisor.pid)
    finally:
        for proc in (supervisor, added):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in (supervisor, added):
            if proc is not None:
                try:
                    codes.append(proc.wait(timeout=60))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    codes.append(None)
        log.close()
    assert codes == [0, 0], (tmp_path / "supervisor.log").read_text()[-3000:]
    assert not any(parent_of(pid) == supervisor.pid for pid in last_children)
    # --log-json reached the children: their lines are JSON too.
    running_lines = [
        line
        for line in (tmp_path / "supervisor.log").read_text().splitlines()
        if "worker running" in line
    ]
    assert len(running_lines) >= 4
    assert all(json.loads(line)["event"] == "worker running" for line in running_lines)

    rows = await db.fetch("SELECT key, n, ok, attempt, pid FROM effects ORDER BY id")
    ok = [r for r in rows if r["ok"]]
    assert {(r["key"], r["n"]) for r in ok} == {
        (f"k{i % KEYS}", i // KEYS) for i in range(EVENTS)
    }  # every event handled
    first_success: dict[str, list[int]] = {}
    for r in ok:
        seen = first_success.setdefault(r["key"], [])
        if r["n"] not in seen:
            seen.append(r["n"])
    for key, order in first_success.items():
        assert order == sorted(order), f"key {key} handled out of order: {order}"
    failed = sum(1 for r in rows if not r["ok"])
    retried_ok = sum(1 for r in ok if r["attempt"] > 1)
    pids = {r["pid"] for r in ok}
    print(
        f"\nmulti-worker: {len(rows)} handler calls, {failed} transient failures, "
        f"{retried_ok} successes after a delayed retry, "
        f"{len(ok) - len({(r['key'], r['n']) for r in ok})} duplicates, {len(pids)} processes"
    )
    assert failed > 50 and retried_ok > 50  # the retry topics were really used
    # 3 + the added one handled events; the killed one's replacement (checked above to be
    # running) may join after the last event was handled on a loaded machine.
    assert len(pids) >= 4


async def publish(kafka: Kafka, etype: str) -> None:
    """The events, in order, over about ten seconds."""
    chunk = EVENTS // 20
    for start in range(0, EVENTS, chunk):
        batch = [
            envelope(etype, {"n": i // KEYS}, key=f"k{i % KEYS}")
            for i in range(start, start + chunk)
        ]
        await kafka.send(etype, batch)
        await asyncio.sleep(0.5)


def _plain(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(("APP_", "BIZEVENTS_"))}


async def _ok_at_least(db: asyncpg.Connection, n: int) -> bool:
    return bool(await db.fetchval("SELECT count(*) FROM effects WHERE ok") >= n)


async def _ok_events(db: asyncpg.Connection, n: int) -> bool:
    return bool(await db.fetchval("SELECT count(DISTINCT event_id) FROM effects WHERE ok") >= n)
