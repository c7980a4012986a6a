"""The soak's subscriber app: one group reading both event types the soak publishes.

Each handled event is reported to the soak driver as one UDP datagram `w <event id> <unix time>`
(SOAK_REPORT_PORT on 127.0.0.1), so the driver measures commit-to-handler latency without the
handler touching the database. Run by `bizevents worker soak_app:events` from bench/.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from bizevents.worker import Context, Router

events = Router()
_SOCK = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
_TO = ("127.0.0.1", int(os.environ["SOAK_REPORT_PORT"]))


@events.subscriber(
    "com.acme.orders.OrderPlaced.v1", "com.acme.orders.OrderShipped.v1", group="soak-billing"
)
async def handle(event: Any, ctx: Context) -> None:
    _SOCK.sendto(f"w {ctx.envelope.id} {time.time():.6f}".encode(), _TO)
