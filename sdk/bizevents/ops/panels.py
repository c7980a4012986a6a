"""What the Grafana dashboards show, as plain data: rows of panels, each with PromQL queries.

Pure (no Grafana library here), so tests and other views can read the same definitions.
Queries use Grafana's `$__rate_interval` and the dashboard variables `$schema` and `$group`
(regular expressions; "All" is `.*`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    TIMESERIES = "timeseries"
    STAT = "stat"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class PanelSpec:
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: Kind = Kind.TIMESERIES
    description: str = ""
    width: int = 8
    height: int = 8


@dataclass(frozen=True)
class RowSpec:
    title: str
    panels: tuple[PanelSpec, ...]


@dataclass(frozen=True)
class VariableSpec:
    name: str
    label: str
    metric: str  # label_values(metric, name)


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    title: str
    description: str
    rows: tuple[RowSpec, ...]
    variables: tuple[VariableSpec, ...] = field(default_factory=tuple)


RATE = "$__rate_interval"
SCHEMA = 'schema=~"$schema"'
GROUP = 'group=~"$group"'


def _q(expr: str, legend: str = "") -> Query:
    return Query(" ".join(expr.split()), legend)


GLANCE = RowSpec(
    "At a glance",
    (
        PanelSpec(
            "Relayed (events/s)",
            (_q(f"sum(bizevents:relay_events:rate1m{{{SCHEMA}}})"),),
            unit="ops",
            kind=Kind.STAT,
            width=5,
            height=5,
        ),
        PanelSpec(
            "Active relays",
            (_q(f"bizevents:relay_leaders:sum{{{SCHEMA}}}", "{{schema}}"),),
            kind=Kind.STAT,
            width=4,
            height=5,
            description="Exactly 1 per outbox: one relay holds the lock, the others stand by.",
        ),
        PanelSpec(
            "Consumer lag",
            (_q(f"bizevents:worker_consumer_lag:sum{{{GROUP}}}", "{{group}}"),),
            kind=Kind.STAT,
            width=5,
            height=5,
        ),
        PanelSpec(
            "Dead letters, last hour",
            (_q(f"bizevents:worker_dead_letters:increase1h{{{GROUP}}}", "{{group}}"),),
            kind=Kind.STAT,
            width=5,
            height=5,
        ),
        PanelSpec(
            "Handler p99 (5m)",
            (_q(f"bizevents:worker_handler_seconds:p99_5m{{{GROUP}}}", "{{group}}"),),
            unit="s",
            kind=Kind.STAT,
            width=5,
            height=5,
        ),
    ),
)

FLOW = RowSpec(
    "Event flow",
    (
        PanelSpec(
            "Relayed to Kafka (events/s)",
            (
                _q(
                    f"sum by (schema) (rate(bizevents_relay_events_total{{{SCHEMA}}}[{RATE}]))",
                    "{{schema}}",
                ),
            ),
            unit="ops",
            description="Events moved from each outbox to Kafka by the active relay.",
        ),
        PanelSpec(
            "Handled by outcome (messages/s)",
            (
                _q(
                    f"sum by (group, outcome) "
                    f"(rate(bizevents_worker_messages_total{{{GROUP}}}[{RATE}]))",
                    "{{group}} {{outcome}}",
                ),
            ),
            unit="ops",
            description="Messages finished by subscriber workers: success, skipped, duplicate, "
            "ignored, retry, dead_letter.",
        ),
        PanelSpec(
            "Handler time p99 by event type",
            (
                _q(
                    f"histogram_quantile(0.99, sum by (le, group, event_type) "
                    f"(rate(bizevents_worker_handler_seconds_bucket{{{GROUP}}}[{RATE}])))",
                    "{{group}} {{event_type}}",
                ),
            ),
            unit="s",
        ),
    ),
)

OUTBOX = RowSpec(
    "Outbox and relay",
    (
        PanelSpec(
            "Outbox backlog (rows)",
            (_q(f"bizevents:outbox_pending_rows:leader{{{SCHEMA}}}", "{{schema}}"),),
            description="As the active relay counts it (a standby's last figures are stale).",
            kind=Kind.STAT,
            width=6,
            height=6,
        ),
        PanelSpec(
            "Oldest pending event",
            (
                _q(
                    f"bizevents:outbox_oldest_pending_age_seconds:leader{{{SCHEMA}}}",
                    "{{schema}}",
                ),
            ),
            unit="s",
            kind=Kind.STAT,
            width=6,
            height=6,
            description="Above a minute for two minutes fires BizeventsOutboxStalled.",
        ),
        PanelSpec(
            "Pending rows over time",
            (_q(f"bizevents:outbox_pending_rows:leader{{{SCHEMA}}}", "{{schema}}"),),
            width=6,
            height=6,
        ),
        PanelSpec(
            "Relay leader by instance",
            (_q(f"max by (instance) (bizevents_relay_leader{{{SCHEMA}}})", "{{instance}}"),),
            width=6,
            height=6,
        ),
        PanelSpec(
            "Kafka reachable (active relay)",
            (
                _q(
                    f"min by (schema) (bizevents_relay_kafka_up{{{SCHEMA}}}"
                    f" and on (schema, instance) (bizevents_relay_leader{{{SCHEMA}}} == 1))",
                    "{{schema}}",
                ),
            ),
            kind=Kind.STAT,
            width=6,
            height=6,
            description="0 while the active relay's sends stall or fail "
            "(BizeventsRelayKafkaUnreachable).",
        ),
        PanelSpec(
            "Since the last send to Kafka",
            (
                _q(
                    f"time() - max by (schema) "
                    f"(bizevents_relay_last_send_timestamp_seconds{{{SCHEMA}}})",
                    "{{schema}}",
                ),
            ),
            unit="s",
            kind=Kind.STAT,
            width=6,
            height=6,
        ),
        PanelSpec(
            "Kafka produce latency",
            (
                _q(
                    f"histogram_quantile(0.99, sum by (le, schema) "
                    f"(rate(bizevents_relay_produce_seconds_bucket{{{SCHEMA}}}[{RATE}])))",
                    "p99 {{schema}}",
                ),
                _q(
                    f"histogram_quantile(0.5, sum by (le, schema) "
                    f"(rate(bizevents_relay_produce_seconds_bucket{{{SCHEMA}}}[{RATE}])))",
                    "p50 {{schema}}",
                ),
            ),
            unit="s",
        ),
        PanelSpec(
            "Rows per batch (mean)",
            (
                _q(
                    f"sum by (schema) (rate(bizevents_relay_batch_size_sum{{{SCHEMA}}}[{RATE}])) "
                    f"/ sum by (schema) (rate(bizevents_relay_batch_size_count{{{SCHEMA}}}"
                    f"[{RATE}]))",
                    "{{schema}}",
                ),
            ),
        ),
        PanelSpec(
            "Relay errors (per second)",
            (
                _q(
                    f"sum by (schema, kind) (rate(bizevents_relay_errors_total{{{SCHEMA}}}"
                    f"[{RATE}]))",
                    "{{schema}} {{kind}}",
                ),
            ),
            unit="ops",
        ),
    ),
)

WORKERS = RowSpec(
    "Subscribers",
    (
        PanelSpec(
            "Consumer lag by group",
            (_q(f"sum by (group) (bizevents_worker_consumer_lag{{{GROUP}}})", "{{group}}"),),
            description="High watermark minus committed offset, summed over partitions.",
        ),
        PanelSpec(
            "Consumer lag by partition",
            (
                _q(
                    f"max by (group, topic, partition) (bizevents_worker_consumer_lag{{{GROUP}}})",
                    "{{group}} {{topic}}[{{partition}}]",
                ),
            ),
        ),
        PanelSpec(
            "In flight",
            (_q(f"sum by (group) (bizevents_worker_in_flight{{{GROUP}}})", "{{group}}"),),
            description="Fetched and not finished; a plateau at the pending limit is backpressure.",
        ),
        PanelSpec(
            "Retries (per second)",
            (
                _q(
                    f"sum by (group, kind) "
                    f"(rate(bizevents_worker_retries_total{{{GROUP}}}[{RATE}]))",
                    "{{group}} {{kind}}",
                ),
            ),
            unit="ops",
        ),
        PanelSpec(
            "Dead letters (per second)",
            (
                _q(
                    f"sum by (group, error_type) "
                    f"(rate(bizevents_worker_dead_letters_total{{{GROUP}}}[{RATE}]))",
                    "{{group}} {{error_type}}",
                ),
            ),
            unit="ops",
            description="Inspect and replay with `bizevents dlq list --group GROUP`.",
        ),
        PanelSpec(
            "Handler time p50",
            (
                _q(
                    f"histogram_quantile(0.5, sum by (le, group) "
                    f"(rate(bizevents_worker_handler_seconds_bucket{{{GROUP}}}[{RATE}])))",
                    "{{group}}",
                ),
            ),
            unit="s",
        ),
    ),
)

BROKER = RowSpec(
    "Broker",
    (
        PanelSpec(
            "HTTP requests (per second)",
            (
                _q(
                    f"sum by (route, status) (rate(bizevents_broker_http_requests_total[{RATE}]))",
                    "{{route}} {{status}}",
                ),
            ),
            unit="reqps",
            width=12,
        ),
        PanelSpec(
            "HTTP latency p99",
            (
                _q(
                    f"histogram_quantile(0.99, sum by (le, route) "
                    f"(rate(bizevents_broker_http_request_seconds_bucket[{RATE}])))",
                    "{{route}}",
                ),
            ),
            unit="s",
            width=12,
        ),
    ),
)

OVERVIEW = DashboardSpec(
    uid="bizevents-overview",
    title="bizevents",
    description="Business events: outbox, relay, subscribers, dead letters, broker.",
    rows=(GLANCE, FLOW, OUTBOX, WORKERS, BROKER),
    variables=(
        VariableSpec("schema", "Outbox", "bizevents_outbox_pending_rows"),
        VariableSpec("group", "Group", "bizevents_worker_messages_total"),
    ),
)

DASHBOARDS: tuple[DashboardSpec, ...] = (OVERVIEW,)
