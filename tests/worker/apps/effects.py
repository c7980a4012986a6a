"""A worker app whose handler writes one row per call into PostgreSQL, for tests that count
effects with their own SQL (duplicates, order, losses), configured by environment variables:

APP_TYPE, APP_GROUP: what to subscribe to; APP_SLEEP_MS: "lo,hi" handler time in ms (uniform);
APP_FAIL: probability that an attempt fails (a transient error, retried via retry topics);
APP_FAIL_ATTEMPTS: attempts that may fail (later ones always succeed), 3 by default;
APP_DELAYS: delayed-retry tiers in seconds, comma separated.

Table `effects (id bigserial, event_id, key, n, attempt, pid, ok)`: `ok` false for a failing
attempt. The table must exist in the connection's search path (BIZEVENTS_DATABASE_URL).
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

from bizevents.worker import Context, RetryPolicy, Router

events = Router()
LO, HI = (float(x) for x in os.environ.get("APP_SLEEP_MS", "0,0").split(","))
FAIL = float(os.environ.get("APP_FAIL", "0"))
FAIL_ATTEMPTS = int(os.environ.get("APP_FAIL_ATTEMPTS", "3"))
DELAYS = tuple(float(d) for d in os.environ.get("APP_DELAYS", "0.3,0.6,1,2,3").split(","))
PID = os.getpid()


@events.subscriber(
    os.environ["APP_TYPE"],
    group=os.environ["APP_GROUP"],
    retry=RetryPolicy(attempts=1, delays=DELAYS),
)
async def handle(event: dict[str, Any], ctx: Context) -> None:
    if HI:
        await asyncio.sleep(random.uniform(LO, HI) / 1000)
    fails = ctx.attempt <= FAIL_ATTEMPTS and random.random() < FAIL
    async with ctx.transaction() as conn:
        await conn.execute(
            "INSERT INTO effects (event_id, key, n, attempt, pid, ok) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            ctx.id,
            ctx.key,
            event["n"],
            ctx.attempt,
            PID,
            not fails,
        )
    if fails:
        raise ConnectionError("transient failure (test)")
