"""One overview from the sources that are configured: Prometheus for what every process reports,
PostgreSQL for what only it knows (pending events per type, who holds the relay lock, dead
letters stored). Either may be unreachable: the overview says so instead of failing."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import asyncpg

from ..logging import redact_url
from .overview import OpsSettings, Overview
from .pgstate import PostgresSource
from .prometheus import PrometheusError, PrometheusSource


async def collect(settings: OpsSettings) -> Overview:
    pg = PostgresSource(settings.database_url, settings.outbox_schemas, settings.dlq_schema)
    try:
        from_pg = await asyncio.wait_for(pg.overview(), settings.ops_timeout * 2)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        from_pg = Overview(
            "postgresql",
            problems=(f"cannot read {redact_url(settings.database_url)}: {type(exc).__name__}",),
        )
    if not settings.prometheus_url:
        return from_pg
    prom = PrometheusSource(
        settings.prometheus_url, settings.ops_plot_minutes, settings.ops_timeout
    )
    try:
        from_prom = await prom.overview()
    except PrometheusError as exc:
        return replace(from_pg, problems=(*from_pg.problems, f"{exc}; showing PostgreSQL state"))
    return merge(from_prom, from_pg)


def merge(prom: Overview, pg: Overview) -> Overview:
    """Prometheus' overview, with what PostgreSQL adds for the same outboxes and groups."""
    pg_outboxes = {o.schema: o for o in pg.outboxes}
    outboxes = tuple(
        replace(
            o,
            pending_by_type=pg_outboxes[o.schema].pending_by_type,
            relay_holder=pg_outboxes[o.schema].relay_holder,
        )
        if o.schema in pg_outboxes
        else o
        for o in prom.outboxes
    )
    pg_groups = {g.group: g for g in pg.groups}
    groups = tuple(
        replace(
            g,
            dead_letters_stored=pg_groups[g.group].dead_letters_stored,
            last_dead_letter=pg_groups[g.group].last_dead_letter,
        )
        if g.group in pg_groups
        else g
        for g in prom.groups
    )
    # A missing outbox or store in PostgreSQL is expected when it is elsewhere: not a problem.
    problems = tuple(p for p in pg.problems if p.startswith("cannot read"))
    return replace(prom, outboxes=outboxes, groups=groups, problems=(*prom.problems, *problems))
