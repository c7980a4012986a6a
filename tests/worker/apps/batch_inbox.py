"""A worker app with a batch subscriber on the inbox, for kill -9 tests, configured by
environment variables:

APP_TYPE, APP_GROUP: what to subscribe to; APP_OUT: file receiving "batch N,N,..." lines once a
batch's rows are inserted (not yet committed); APP_BATCH_SIZE: the batch size; APP_HANG: N whose
batch hangs forever after inserting its rows, its transaction open.

Each event becomes a row of `effects (event_id, n)` in the handler's transaction, which also
holds the batch's inbox rows.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from bizevents.worker import BatchContext, Router

events = Router()
OUT = Path(os.environ["APP_OUT"])
HANG = int(os.environ.get("APP_HANG", "-1"))


def note(line: str) -> None:
    with OUT.open("a") as out:
        out.write(line + "\n")


@events.subscriber(
    os.environ["APP_TYPE"],
    group=os.environ["APP_GROUP"],
    inbox=True,
    batch=True,
    batch_size=int(os.environ.get("APP_BATCH_SIZE", "100")),
)
async def handle(batch: list[dict[str, Any]], ctx: BatchContext) -> None:
    assert ctx.connection is not None
    numbers = [e["n"] for e in batch]
    await ctx.connection.executemany(
        "INSERT INTO effects (event_id, n) VALUES ($1, $2)",
        list(zip(ctx.ids, numbers, strict=True)),
    )
    note("batch " + ",".join(map(str, numbers)))
    if HANG in numbers:
        note("hang")
        await asyncio.Event().wait()
