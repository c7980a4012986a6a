"""A worker app for subprocess tests, configured by environment variables:

APP_TYPE, APP_GROUP: what to subscribe to; APP_OUT: file receiving "start N" / "done N" lines;
APP_HANG: N whose handler hangs forever; APP_SLEEP: seconds every handler sleeps;
APP_INBOX=1: inbox subscriber writing each event into the `effects` table.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from bizevents.worker import Context, Router

events = Router()
OUT = Path(os.environ["APP_OUT"])
HANG = int(os.environ.get("APP_HANG", "-1"))
SLEEP = float(os.environ.get("APP_SLEEP", "0"))


def note(line: str) -> None:
    with OUT.open("a") as out:
        out.write(line + "\n")


@events.subscriber(
    os.environ["APP_TYPE"], group=os.environ["APP_GROUP"], inbox=os.environ.get("APP_INBOX") == "1"
)
async def handle(event: dict[str, Any], ctx: Context) -> None:
    n = event["n"]
    note(f"start {n}")
    if ctx.connection is not None:
        await ctx.connection.execute("INSERT INTO effects (event_id, n) VALUES ($1, $2)", ctx.id, n)
    if n == HANG:
        await asyncio.Event().wait()
    if SLEEP:
        await asyncio.sleep(SLEEP)
    note(f"done {n}")
