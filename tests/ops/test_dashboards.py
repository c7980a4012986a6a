"""The Grafana dashboards: committed JSON equals what the code generates, and every panel's query
works against a real Prometheus that scraped a live flow (no error, at least one series)."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from bizevents.ops import dashboards

from .live import ROOT, Live, http_json

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]
FOLDER = ROOT / "deploy" / "grafana" / "dashboards"


def committed() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(FOLDER.glob("*.json"))}


def test_committed_dashboards_are_what_the_code_generates() -> None:
    assert committed() == dashboards.render()
    assert dashboards.main([str(FOLDER), "--check"]) == 0


def test_check_reports_a_stale_dashboard(tmp_path: Path) -> None:
    for name, text in committed().items():
        (tmp_path / name).write_text(text.replace("sum by", "max by", 1))
    assert dashboards.main([str(tmp_path), "--check"]) == 1


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) for every target of every panel."""
    found = []
    for name, text in committed().items():
        for panel in json.loads(text)["panels"]:
            for target in panel.get("targets", []):
                found.append((name, panel["title"], target["expr"]))
    return found


def variables() -> list[tuple[str, str]]:
    found = []
    for text in committed().values():
        for variable in json.loads(text)["templating"]["list"]:
            if variable["type"] == "query":
                found.append((variable["name"], variable["query"]))
    return found


def grafana_regex_escape(value: str) -> str:
    """How Grafana's Prometheus data source escapes a variable's value inside `=~"..."`."""
    return re.sub(r"([\\^$*+?.()|\[\]{}/])", r"\\\\\1", value)


def concrete(expr: str, live: Live) -> str:
    """The query Grafana would send with this flow's outbox and group selected."""
    expr = expr.replace("$__rate_interval", "1m")
    expr = expr.replace("$schema", grafana_regex_escape(live.schema))
    return expr.replace("$group", grafana_regex_escape(live.group))


def problem(live: Live, expr: str) -> str | None:
    answer = live.query(expr)
    if answer.get("status") != "success":
        return f"error: {answer.get('errorType')}: {answer.get('error')}"
    if not answer["data"]["result"]:
        return "no series"
    return None


def test_the_dashboards_have_the_expected_panels() -> None:
    titles = {title for _, title, _ in panel_queries()}
    assert len(panel_queries()) >= 20
    for expected in (
        "Consumer lag by partition",
        "Dead letters (per second)",
        "Kafka produce latency",
        "Outbox backlog (rows)",
        "Relay leader by instance",
        "Kafka reachable (active relay)",
        "Since the last send to Kafka",
    ):
        assert expected in titles


def test_every_panel_query_returns_series_from_a_live_flow(live: Live) -> None:
    # A rate needs two samples of its counter inside the window: on a loaded machine a missed
    # scrape can leave one for a while, so an empty answer is asked again until a deadline.
    pending = panel_queries()
    deadline = time.monotonic() + 60
    while True:
        failures = []
        for name, title, expr in pending:
            why = problem(live, concrete(expr, live))
            if why:
                failures.append((name, title, expr, why))
        if not failures or time.monotonic() > deadline:
            break
        pending = [(name, title, expr) for name, title, expr, _ in failures]
        time.sleep(2)
    assert not failures, "\n".join(f"{n} / {t}: {why}\n    {e}" for n, t, e, why in failures)


def test_every_variable_lists_the_live_values(live: Live) -> None:
    for name, query in variables():
        match = re.fullmatch(r"label_values\((\w+), (\w+)\)", query)
        assert match, query
        metric, label = match.groups()
        url = f"{live.prometheus_url}/api/v1/label/{label}/values?" + urllib.parse.urlencode(
            {"match[]": metric}
        )
        values = http_json(url)["data"]
        assert {"schema": live.schema, "group": live.group}[name] in values, (name, values)


def test_the_check_fails_on_broken_and_empty_queries(live: Live) -> None:
    """The checker above can fail: a syntax error and a misspelt metric are both reported."""
    assert (problem(live, "sum by (group (bizevents_worker_in_flight)") or "").startswith("error")
    assert problem(live, "bizevents_worker_in_flite") == "no series"
    assert problem(live, f'bizevents_worker_in_flight{{group="{live.group}"}}') is None


def test_the_flow_is_what_the_panels_show(live: Live) -> None:
    """Numbers, not only series: the dashboards' metrics count this flow's events."""
    g = live.group
    assert live.value(f'bizevents_worker_messages_total{{group="{g}",outcome="success"}}') >= 20
    assert live.value(f'bizevents:worker_dead_letters:increase1h{{group="{g}"}}') >= 1
    assert live.value(f'sum(bizevents_worker_retries_total{{group="{g}",kind="delayed"}})') >= 2
    assert live.value(f'sum(bizevents_relay_events_total{{schema="{live.schema}"}})') >= 22
    # One leader and one standby. A relay learns it lost its session at its next query, so for
    # a scrape or two after a takeover both can say leader: wait for it to settle.
    deadline = time.monotonic() + 60
    while True:
        total = live.value(f'bizevents:relay_leaders:sum{{schema="{live.schema}"}}')
        leaders: Any = live.query(f'bizevents_relay_leader{{schema="{live.schema}"}}')
        values = sorted(float(r["value"][1]) for r in leaders["data"]["result"])
        if (total, values) == (1, [0.0, 1.0]) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert total == 1
    assert values == [0.0, 1.0]
