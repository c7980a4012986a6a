"""`bizevents status` and the PostgreSQL source: the same overview without Prometheus, the
fallback when Prometheus is unreachable, and hostile names rendered as text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bizevents import Events
from bizevents.ops.collect import collect
from bizevents.ops.overview import (
    FlowStatus,
    GroupStatus,
    OpsSettings,
    OutboxStatus,
    Overview,
    Plot,
)
from bizevents_broker.ops.page import render_overview

from .live import HOSTILE, Live, wait_for
from .test_ops_page import parse

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")


def settings(live: Live, **extra: Any) -> OpsSettings:
    return OpsSettings(
        database_url=live.database_url, outbox_schema=live.schema, dlq_schema=live.schema, **extra
    )


async def test_postgresql_alone_shows_outbox_relay_lock_and_dead_letters(live: Live) -> None:
    overview = await collect(settings(live))
    assert overview.source == "postgresql" and not overview.problems
    (outbox,) = overview.outboxes
    assert outbox.pending == 0
    assert outbox.active_relays == 1
    pids = {str(p.pid) for n, p in live.procs.items() if n.startswith("relay")}
    assert outbox.relay_holder is not None and outbox.relay_holder.split(":")[1] in pids
    group = next(g for g in overview.groups if g.group == live.group)
    assert group.dead_letters_stored is not None and group.dead_letters_stored >= 1
    assert group.lag is None  # lag lives in Kafka and the metrics, not in PostgreSQL


async def test_pending_events_per_type_without_a_relay(live: Live) -> None:
    schema = f"ops_idle_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(live.database_url)
    try:
        shop = Events(
            app="shop", contracts=live.contracts, outbox_schema=schema, require_transaction=False
        )
        await shop.migrate(conn)
        for i in range(3):
            await shop.publish(conn, live.placed, {"order_id": f"idle-{i}"})
        await shop.publish(conn, live.refused, {"order_id": "idle"})
        overview = await collect(
            OpsSettings(
                database_url=live.database_url, outbox_schema=schema, dlq_schema=live.schema
            )
        )
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
    (outbox,) = overview.outboxes
    assert outbox.pending == 4 and outbox.active_relays == 0 and outbox.relay_holder is None
    assert outbox.pending_by_type == {live.placed: 3, live.refused: 1}
    assert outbox.oldest_age_seconds is not None and outbox.oldest_age_seconds >= 0


async def test_unreachable_prometheus_falls_back_to_postgresql(live: Live) -> None:
    overview = await collect(settings(live, prometheus_url="http://127.0.0.1:1", ops_timeout=2))
    assert overview.source == "postgresql"
    assert any("cannot reach Prometheus" in p for p in overview.problems)
    assert overview.outboxes[0].active_relays == 1


def run_status(live: Live, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIZEVENTS, "status", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            **os.environ,
            "BIZEVENTS_DATABASE_URL": live.database_url,
            "COLUMNS": "200",
            "BIZEVENTS_OUTBOX_SCHEMA": live.schema,
            "BIZEVENTS_DLQ_SCHEMA": live.schema,
            **env,
        },
    )


async def test_status_json_from_prometheus(live: Live) -> None:
    # Both relays scraped (a scrape can time out on a loaded machine).
    await wait_for(
        "both relays in Prometheus",
        lambda: live.value(f'count(bizevents_relay_leader{{schema="{live.schema}"}})') == 2,
    )
    result = run_status(live, "--json", BIZEVENTS_PROMETHEUS_URL=live.prometheus_url)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["source"] == "prometheus"
    group = next(g for g in data["groups"] if g["group"] == live.group)
    assert group["lag"] is not None and group["dead_letters_stored"] >= 1
    assert group["per_second"].keys() >= {"success", "dead_letter"}
    outbox = next(o for o in data["outboxes"] if o["schema"] == live.schema)
    assert outbox["active_relays"] == 1 and outbox["standby_relays"] == 1
    assert {f["event_type"] for f in data["flows"]} >= {live.placed, live.refused}


def test_status_table(live: Live) -> None:
    result = run_status(live, BIZEVENTS_PROMETHEUS_URL=live.prometheus_url)
    assert result.returncode == 0, result.stderr
    assert "data from prometheus" in result.stdout
    assert live.group in result.stdout and live.schema in result.stdout


def test_unreachable_database_is_one_clear_line_without_the_password(live: Live) -> None:
    result = run_status(
        live, "--json", BIZEVENTS_DATABASE_URL="postgresql://u:s3cret@127.0.0.1:1/x"
    )
    assert result.returncode == 1
    assert "s3cret" not in result.stdout + result.stderr
    assert "cannot read postgresql://u:***@127.0.0.1:1/x" in result.stdout
    assert "Traceback" not in result.stderr


def test_hostile_names_are_text_on_the_page() -> None:
    evil = HOSTILE
    overview = Overview(
        "prometheus",
        (OutboxStatus(evil, 1, 2, 1, 0, 3.0, {evil: 1}, evil),),
        (GroupStatus(evil, 5, {evil: 1.0}, 1, 2, evil),),
        (FlowStatus(evil, evil, 1.0, 3),),
        (Plot(evil, evil, {evil: ((0.0, 1.0), (60.0, 2.0))}),),
        (evil,),
    )
    html = render_overview(overview, [], group=evil, now=datetime.now(UTC))
    parsed = parse(html)
    assert not any(tag in ("img", "script") for tag, _ in parsed.tags)
    assert "".join(parsed.text).count(evil) >= 8
