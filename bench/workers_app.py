"""The worker-scaling benchmark's app: one group on one topic (both from the environment), and a
handler that does nothing, or sleeps WORK_MS milliseconds. Run by `bizevents worker
workers_app:events --processes N` from bench/."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from bizevents.worker import Context, Router

events = Router()
WORK_S = float(os.environ.get("WORK_MS", "0")) / 1000


@events.subscriber(os.environ["BENCH_TYPE"], group=os.environ["BENCH_GROUP"])
async def handle(event: Any, ctx: Context) -> None:
    if WORK_S:
        await asyncio.sleep(WORK_S)
