"""The billing app's subscriber, as run by the `worker` service (an example: mount your own)."""

from __future__ import annotations

import os
from typing import Any

from bizevents import Events
from bizevents.worker import Context

# The image holds the contracts at /app/contracts.
events = Events(app="billing", contracts=os.environ.get("APP_CONTRACTS", "/app/contracts"))


@events.subscriber(
    "com.acme.orders.OrderPlaced.v1", "com.acme.orders.OrderShipped.v1", group="billing"
)
async def invoice(event: dict[str, Any], ctx: Context) -> None:
    ctx.log.info("invoicing", order=event["order_id"], type=ctx.envelope.type)
