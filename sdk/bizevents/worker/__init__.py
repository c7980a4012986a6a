"""Subscriber workers: at-least-once delivery, per-key order, retries, dead letters, inbox.

See `group.py` for the delivery design (offset tracking, key lanes, retry holds).
"""

from .context import Context
from .deadletter import DeadLetter as DeadLetterRecord
from .deadletter import DeadLetterSink
from .outcomes import DeadLetter, Outcome, Retry, Skip
from .router import RetryPolicy, Router, Subscription
from .runner import Worker
from .settings import WorkerSettings

__all__ = [
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
