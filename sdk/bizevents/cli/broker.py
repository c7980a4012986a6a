"""`bizevents broker serve`: the broker service (needs the [broker] extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..errors import BizEventsError
from ..settings_doc import epilog
from .base import command_group

app = command_group("The broker: HTTP gateway, contract registry API and served docs.")


def _reads() -> str:
    try:
        from bizevents_broker.settings import BrokerSettings
    except ImportError:  # the broker's extra is not installed
        return ""
    return epilog(BrokerSettings)


@app.command(epilog=_reads())
def serve(
    host: str | None = typer.Option(None, help="Listen address (BIZEVENTS_BROKER_HOST)."),
    port: int | None = typer.Option(None, help="Listen port (BIZEVENTS_BROKER_PORT)."),
    contracts: Path | None = typer.Option(
        None, help="Register this contracts folder at start-up (BIZEVENTS_CONTRACTS_PATH)."
    ),
    log_json: bool = typer.Option(False, "--log-json", help="JSON log lines."),
) -> None:
    """Serve the HTTP gateway (/events, /api/apps, /openapi.json), the registry API, AsyncAPI
    documents, the docs pages, /healthz and /metrics; relay the gateway's outbox to Kafka."""
    try:
        # Imported here: the SDK must work without the broker's dependencies installed.
        from bizevents_broker.server import serve as run
        from bizevents_broker.settings import BrokerSettings
    except ImportError as exc:
        typer.secho(
            f"error: the broker needs the [broker] extra ({exc.name} is missing): "
            "pip install 'bizevents[broker]'",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(2) from exc
    overrides: dict[str, Any] = {
        k: v
        for k, v in {"broker_host": host, "broker_port": port, "contracts_path": contracts}.items()
        if v is not None
    }
    if log_json:
        overrides["log_json"] = True
    try:
        run(BrokerSettings(**overrides))
    except BizEventsError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc
