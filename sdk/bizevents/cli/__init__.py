"""The `bizevents` command."""

from __future__ import annotations

import sys

import typer

from ..dlq.settings import DeadLetterSettings
from ..errors import BizEventsError
from ..settings import RelaySettings
from ..settings_doc import epilog
from ..worker.settings import WorkerSettings
from . import apps, broker, contracts, db, dev, dlq, kafka, relay, status, topics
from .base import command_group
from .init import init
from .settings import settings
from .worker import worker

app = command_group("bizevents: business events between applications.")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"bizevents {version('bizevents')}")
        raise typer.Exit()


@app.callback()
def _root(
    _: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """bizevents: business events between applications."""


app.add_typer(dev.app, name="dev")
app.add_typer(contracts.app, name="contracts")
app.add_typer(broker.app, name="broker")
app.add_typer(apps.app, name="apps")
app.add_typer(dlq.app, name="dlq")
app.add_typer(kafka.app, name="kafka")
app.add_typer(db.app, name="db")
app.command("replay", epilog=epilog(DeadLetterSettings))(dlq.replay_group)
app.add_typer(relay.outbox_app, name="outbox")
app.add_typer(topics.app, name="topics")
app.command("relay", epilog=epilog(RelaySettings))(relay.relay)
app.command("worker", epilog=epilog(WorkerSettings))(worker)
app.command("status")(status.status)
app.command("settings")(settings)
app.command("init")(init)


def main() -> None:
    try:
        app()
    except BizEventsError as exc:
        # The safety net: whatever a command did not report itself is still one clear line.
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(1)
