"""A seeded event log for OData tests: known rows, so every query has a computed answer."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bizevents.envelope import new_event_id
from bizevents_broker.eventlog import COLUMNS, migrate_event_log

from .conftest import Env

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    id: str
    type: str
    subject: str | None
    time: datetime
    key: str
    amount: int


def make_rows(env: Env, placed: int = 25, audited: int = 5) -> list[Row]:
    rows = []
    for i in range(placed):
        subject = None if i % 5 == 0 else f"order/{i:03d}"
        rows.append(Row(new_event_id(), env.shop.placed, subject, T0 + timedelta(minutes=i),
                        f"o-{i:03d}", i))  # fmt: skip
    for i in range(audited):
        rows.append(Row(new_event_id(), env.shop.audited, f"audit/{i}",
                        T0 + timedelta(minutes=i, seconds=30), f"a-{i}", 0))  # fmt: skip
    return rows


async def seed(env: Env, rows: list[Row]) -> None:
    names = ", ".join(c for c, _ in COLUMNS)
    values = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
    async with env.gateway.connection() as conn:
        await migrate_event_log(conn, env.schema)
        await conn.executemany(
            f"INSERT INTO {env.schema}.event_log ({names}) VALUES ({values})",
            [
                (
                    r.id,
                    r.type,
                    env.shop.source,
                    r.subject,
                    r.time,
                    r.key,
                    None,
                    "application/json",
                    json.dumps({"order_id": r.key, "amount": r.amount}),
                    r.type,
                    0,
                    n,
                )
                for n, r in enumerate(rows)
            ],
        )


async def log_count(env: Env) -> int:
    async with env.gateway.connection() as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {env.schema}.event_log"))


def ids(body: dict[str, Any]) -> list[str]:
    return [e["Id"] for e in body["value"]]


def random_id() -> str:
    return str(uuid.uuid4())
