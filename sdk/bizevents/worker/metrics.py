"""Prometheus metrics of the worker (process-wide, labelled by group)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from ..metrics import metric_name

# Label values known in advance are exported as 0 from the start: a counter that is born at 1
# has no increase() in Prometheus, so a group's first dead letter would go unnoticed.
OUTCOMES = ("success", "skipped", "duplicate", "ignored", "retry", "dead_letter")
RETRY_KINDS = ("immediate", "delayed")

HANDLED = Counter(
    metric_name("worker_messages_total"),
    "Messages finished, by outcome (success, skipped, duplicate, ignored, retry, dead_letter)",
    ["group", "outcome"],
)
DURATION = Histogram(
    metric_name("worker_handler_seconds"),
    "Handler run time per attempt",
    ["group", "event_type"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RETRIES = Counter(
    metric_name("worker_retries_total"),
    "Retries, immediate or through a delayed-retry topic",
    ["group", "kind"],
)
DEAD_LETTERS = Counter(
    metric_name("worker_dead_letters_total"),
    "Messages sent to the dead-letter topic, by error type",
    ["group", "error_type"],
)
IN_FLIGHT = Gauge(
    metric_name("worker_in_flight"),
    "Messages fetched and not yet finished",
    ["group"],
)
LAG = Gauge(
    metric_name("worker_consumer_lag"),
    "High watermark minus committed offset",
    ["group", "topic", "partition"],
)
