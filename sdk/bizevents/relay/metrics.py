"""Relay metrics (prefix bizevents_)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from ..metrics import metric_name

PENDING = Gauge(metric_name("outbox_pending_rows"), "Outbox rows not yet relayed", ["schema"])
OLDEST_AGE = Gauge(
    metric_name("outbox_oldest_pending_age_seconds"),
    "Age of the oldest outbox row not yet relayed",
    ["schema"],
)
RELAYED = Counter(
    metric_name("relay_events_total"),
    "Events relayed to Kafka, by CloudEvents type and topic",
    ["schema", "type", "topic"],
)
BATCH_SIZE = Histogram(
    metric_name("relay_batch_size"),
    "Rows per relayed batch",
    ["schema"],
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000),
)
PRODUCE_SECONDS = Histogram(
    metric_name("relay_produce_seconds"),
    "Time from sending a batch to Kafka's acknowledgement",
    ["schema"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# Exported as 0 from the start, so Prometheus sees the first error as an increase.
ERROR_KINDS = ("database", "kafka")
ERRORS = Counter(metric_name("relay_errors_total"), "Relay errors by kind", ["schema", "kind"])
LEADER = Gauge(metric_name("relay_leader"), "1 while this relay is the active one", ["schema"])
KAFKA_UP = Gauge(
    metric_name("relay_kafka_up"),
    "0 while the active relay's sends to Kafka stall or fail, else 1",
    ["schema"],
)
LAST_SEND = Gauge(
    metric_name("relay_last_send_timestamp_seconds"),
    "Unix time of the relay's last batch acknowledged by Kafka",
    ["schema"],
)
