"""`bizevents status`: the operations overview in the terminal (`/ops` without a browser)."""

from __future__ import annotations

import asyncio
import json

import pydantic
import typer
from rich.console import Console
from rich.table import Table

from ..ops.overview import OpsSettings, Overview


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render(overview: Overview, console: Console) -> None:
    console.print(f"[bold]bizevents status[/] (data from {overview.source})")
    for problem in overview.problems:
        console.print(f"[yellow]! {problem}[/]")
    outboxes = Table(
        "outbox",
        "pending",
        "oldest waits (s)",
        "active relays",
        "standing by",
        "relayed/s",
        "lock held by",
        title="Outbox and relay",
    )
    for o in overview.outboxes:
        leader = "-" if o.active_relays is None else str(o.active_relays)
        style = "green" if o.active_relays == 1 else "red"
        outboxes.add_row(
            o.schema,
            _num(o.pending),
            _num(o.oldest_age_seconds, 1),
            f"[{style}]{leader}[/]",
            _num(o.standby_relays),
            _num(o.relayed_per_second, 1),
            o.relay_holder or "-",
        )
    console.print(outboxes)
    groups = Table(
        "group",
        "lag",
        "handled/s by outcome",
        "dead letters 1h",
        "dead letters waiting",
        title="Subscriber groups",
    )
    for g in overview.groups:
        outcomes = ", ".join(f"{k} {v:.2f}" for k, v in g.per_second.items() if v) or "-"
        waiting = g.dead_letters_stored
        groups.add_row(
            g.group,
            _num(g.lag),
            outcomes,
            _num(g.dead_letters_last_hour),
            f"[red]{waiting}[/]" if waiting else _num(waiting),
        )
    console.print(groups)
    if overview.flows:
        flows = Table("event type", "group", "handler runs/s", "since start", title="Flows")
        for f in overview.flows:
            flows.add_row(f.event_type, f.group, f"{f.per_second:.2f}", _num(f.total))
        console.print(flows)


def status(
    as_json: bool = typer.Option(False, "--json", help="The overview as JSON."),
) -> None:
    """Outbox backlog, relay leader, lag, flows and dead letters at a glance (from Prometheus when
    BIZEVENTS_PROMETHEUS_URL is set, else from PostgreSQL)."""
    from ..ops.collect import collect

    try:
        settings = OpsSettings()
    except pydantic.ValidationError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc
    overview = asyncio.run(collect(settings))
    if as_json:
        typer.echo(json.dumps(overview.to_dict(), indent=2))
    else:
        render(overview, Console())
    if any(p.startswith("cannot") for p in overview.problems):
        raise typer.Exit(1)
