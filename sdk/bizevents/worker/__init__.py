"""Subscriber workers: at-least-once delivery, per-key order, retries, dead letters, inbox.

    events = Events(app="billing", contracts="contracts/")

    @events.subscriber("com.acme.orders.OrderShipped.v1", group="billing", inbox=True,
                       retry=RetryPolicy(attempts=3, delays=(10, 60, 600)),
                       never_retry=(CustomerUnknown,))
    async def on_shipped(event: OrderShipped, ctx: Context) -> None:
        ctx.log.info("shipping noted")
        await ctx.connection.execute(...)        # commits with the inbox row
        if ...: return Skip("already invoiced")  # or raise Retry(after=30) / DeadLetter("why")

    @events.subscriber("com.acme.orders.OrderShipped.v1", group="ledger", inbox=True,
                       batch=True, batch_size=200, batch_wait=0.05)
    async def on_shipped_batch(events: list[OrderShipped], ctx: BatchContext) -> None:
        await ctx.connection.executemany(...)    # one transaction with all the inbox rows

    $ bizevents worker billing.app:events        # BIZEVENTS_* settings: see WorkerSettings

See `group.py` for the delivery design (offset tracking, key lanes, retry holds, and the
modules of each concern), `batching.py` for batch subscribers and
`bizevents/deadletter.py` for the retry and dead-letter record format (the dead-letter
model shared with the store and the broker).
"""

from ..deadletter import DeadLetterRecord, DeadLetterSink
from .context import BatchContext, Context
from .outcomes import DeadLetter, Outcome, Retry, Skip
from .router import RetryPolicy, Router, Subscription
from .runner import Worker
from .settings import WorkerSettings

__all__ = [
    "BatchContext",
    "Context",
    "DeadLetter",
    "DeadLetterRecord",
    "DeadLetterSink",
    "Outcome",
    "Retry",
    "RetryPolicy",
    "Router",
    "Skip",
    "Subscription",
    "Worker",
    "WorkerSettings",
]
