"""The chaos run's subscriber app: one group with the inbox, one without.

Each handler records an effect row (group, event id, key, seq) in PostgreSQL. With the inbox the
effect commits in one transaction with the inbox row; without it, on its own (duplicates expected
after redeliveries, and counted). CHAOS_TYPE names the event type (and topic).
"""

from __future__ import annotations

import os
from typing import Any

from bizevents.worker import Context, Router

events = Router()
TYPE = os.environ["CHAOS_TYPE"]
URL = os.environ["BIZEVENTS_DATABASE_URL"]
_pool: Any = None


async def _plain_pool() -> Any:
    global _pool
    if _pool is None:
        import asyncpg

        _pool = await asyncpg.create_pool(URL, min_size=1, max_size=4)
    return _pool


@events.subscriber(TYPE, group="chaos-inbox", inbox=True)
async def with_inbox(event: dict[str, Any], ctx: Context) -> None:
    assert ctx.connection is not None
    await ctx.connection.execute(
        "INSERT INTO chaos.effects (grp, event_id, key, seq) VALUES ('inbox', $1, $2, $3)",
        ctx.id, event["key"], event["seq"],
    )  # fmt: skip


@events.subscriber(TYPE, group="chaos-plain")
async def without_inbox(event: dict[str, Any], ctx: Context) -> None:
    pool = await _plain_pool()
    await pool.execute(
        "INSERT INTO chaos.effects (grp, event_id, key, seq) VALUES ('plain', $1, $2, $3)",
        ctx.id, event["key"], event["seq"],
    )  # fmt: skip
