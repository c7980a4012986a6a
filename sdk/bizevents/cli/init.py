"""`bizevents init`: scaffold a service (contract, app module, unit test, CI step)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..scaffold import check_names, scaffold


def init(
    service: str = typer.Argument(..., help="The service (app) name, e.g. orders."),
    org: str = typer.Option("example", help="Your organisation, for event types com.<org>..."),
    event: str = typer.Option("ThingHappened", help="The first event's name (CamelCase)."),
    folder: Path = typer.Option(Path(), "--dir", help="Where to write (default: here)."),
) -> None:
    """Write a starting point: contracts/<service>.yaml, <service>/app.py with a publisher and a
    subscriber, a unit test on TestEvents, and a GitHub workflow running the contracts gate.
    Existing files are never overwritten."""
    problems = check_names(service, org, event)
    if problems:
        typer.secho("error: " + "; ".join(problems), err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    files = scaffold(service, org, event)
    taken = [name for name in files if (folder / name).exists()]
    if taken:
        typer.secho(
            f"error: would overwrite {', '.join(taken)}; nothing written", err=True, fg="red"
        )
        raise typer.Exit(1)
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {path}")
    package = service.replace("-", "_")
    typer.echo(
        "next: bizevents contracts lint; python -m pytest tests; "
        f"bizevents worker {package}.app:events (after bizevents dev up)"
    )
