"""The overview from the Prometheus HTTP API (instant and range queries).

It reads the recording rules of deploy/prometheus/recording.yml where there is one, so the page
stays cheap for Prometheus however many processes it scrapes.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from typing import Any

from .overview import FlowStatus, GroupStatus, OutboxStatus, Overview, Plot, Points

Q_PENDING = "bizevents:outbox_pending_rows:leader"
Q_AGE = "bizevents:outbox_oldest_pending_age_seconds:leader"
Q_LEADERS = "bizevents:relay_leaders:sum"
Q_RELAYS = "count by (schema) (bizevents_relay_leader)"
Q_RELAY_RATE = "bizevents:relay_events:rate1m"
Q_KAFKA_UP = (
    "min by (schema) (bizevents_relay_kafka_up and on (schema, instance) "
    "(bizevents_relay_leader == 1))"
)
Q_LAST_SEND = "time() - max by (schema) (bizevents_relay_last_send_timestamp_seconds)"
Q_LAG = "bizevents:worker_consumer_lag:sum"
Q_HANDLED = "bizevents:worker_messages:rate1m"
Q_DEAD_1H = "bizevents:worker_dead_letters:increase1h"
Q_FLOWS = "sum by (group, event_type) (rate(bizevents_worker_handler_seconds_count[5m]))"
Q_FLOW_TOTALS = "sum by (group, event_type) (bizevents_worker_handler_seconds_count)"


class PrometheusError(Exception):
    """Prometheus could not be asked, or refused a query (the message says which)."""


class PrometheusClient:
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, str]) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read())
            except ValueError:
                raise PrometheusError(f"Prometheus answered HTTP {exc.code}") from exc
        except (OSError, ValueError) as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {exc}") from exc
        if answer.get("status") != "success":
            raise PrometheusError(f"Prometheus refused a query: {answer.get('error')}")
        return answer["data"]["result"]

    async def query(self, promql: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await asyncio.to_thread(
            self._get, "/api/v1/query", {"query": promql}
        )
        return result

    async def query_range(self, promql: str, seconds: int, step: int) -> list[dict[str, Any]]:
        end = time.time()
        params = {"query": promql, "start": str(end - seconds), "end": str(end), "step": str(step)}
        result: list[dict[str, Any]] = await asyncio.to_thread(
            self._get, "/api/v1/query_range", params
        )
        return result


def by_label(result: list[dict[str, Any]], label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in result}


def series(result: list[dict[str, Any]], label: str) -> dict[str, Points]:
    return {
        r["metric"].get(label, ""): tuple((float(t), float(v)) for t, v in r["values"])
        for r in result
    }


class PrometheusSource:
    def __init__(self, url: str, plot_minutes: int = 30, timeout: float = 5.0) -> None:
        self.client = PrometheusClient(url, timeout)
        self.plot_seconds = plot_minutes * 60

    async def overview(self) -> Overview:
        c = self.client
        instant = [
            Q_PENDING,
            Q_AGE,
            Q_LEADERS,
            Q_RELAYS,
            Q_RELAY_RATE,
            Q_LAG,
            Q_HANDLED,
            Q_DEAD_1H,
            Q_FLOWS,
            Q_FLOW_TOTALS,
            Q_KAFKA_UP,
            Q_LAST_SEND,
        ]
        step = max(15, self.plot_seconds // 120)
        ranges = [Q_RELAY_RATE, "sum by (group) (bizevents:worker_messages:rate1m)", Q_LAG]
        results = await asyncio.gather(
            *(c.query(q) for q in instant),
            *(c.query_range(q, self.plot_seconds, step) for q in ranges),
        )
        pending, age, leaders, relays, relay_rate, lag, handled, dead, flows, totals = results[:10]
        kafka_up, last_send = (by_label(r, "schema") for r in results[10:12])
        relay_plot, handled_plot, lag_plot = results[12:]
        total_of = {
            (r["metric"].get("event_type", ""), r["metric"].get("group", "")): float(r["value"][1])
            for r in totals
        }
        leader_of, relays_of = by_label(leaders, "schema"), by_label(relays, "schema")
        pending_of, age_of, rate_of = (by_label(r, "schema") for r in (pending, age, relay_rate))
        outboxes = tuple(
            OutboxStatus(
                schema=schema,
                pending=pending_of.get(schema),
                oldest_age_seconds=age_of.get(schema),
                active_relays=_int(leader_of.get(schema)),
                standby_relays=_int(relays_of[schema] - leader_of.get(schema, 0))
                if schema in relays_of
                else None,
                relayed_per_second=rate_of.get(schema),
                kafka_up=None if schema not in kafka_up else kafka_up[schema] == 1,
                since_last_send_seconds=last_send.get(schema),
            )
            for schema in sorted({*pending_of, *leader_of, *relays_of})
        )
        per_second: dict[str, dict[str, float]] = defaultdict(dict)
        for r in handled:
            per_second[r["metric"].get("group", "")][r["metric"].get("outcome", "")] = float(
                r["value"][1]
            )
        lag_of, dead_of = by_label(lag, "group"), by_label(dead, "group")
        groups = tuple(
            GroupStatus(
                group=group,
                lag=lag_of.get(group),
                per_second=dict(sorted(per_second.get(group, {}).items())),
                dead_letters_last_hour=dead_of.get(group),
            )
            for group in sorted({*lag_of, *per_second, *dead_of})
        )
        flow_rows = tuple(
            sorted(
                (
                    FlowStatus(
                        r["metric"].get("event_type", ""),
                        r["metric"].get("group", ""),
                        float(r["value"][1]),
                        total_of.get(
                            (r["metric"].get("event_type", ""), r["metric"].get("group", ""))
                        ),
                    )
                    for r in flows
                ),
                key=lambda f: (f.event_type, f.group),
            )
        )
        plots = (
            Plot("Relayed to Kafka", "events/s", series(relay_plot, "schema")),
            Plot("Handled", "messages/s", series(handled_plot, "group")),
            Plot("Consumer lag", "messages", series(lag_plot, "group")),
        )
        return Overview("prometheus", outboxes, groups, flow_rows, plots)


def _int(value: float | None) -> int | None:
    return None if value is None else round(value)
