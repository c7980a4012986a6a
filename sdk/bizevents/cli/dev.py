"""`bizevents dev up|down|status`: the local Kafka and PostgreSQL."""

from __future__ import annotations

import json

import typer

from ..devservices import KafkaServer, PostgresServer
from ..errors import BizEventsError
from ..settings import DevSettings
from ..settings_doc import epilog
from .base import command_group

app = command_group("Start and stop the local Kafka and PostgreSQL.")
READS = epilog(DevSettings)


def _servers(secure: bool = False) -> tuple[KafkaServer, PostgresServer]:
    settings = DevSettings()
    if secure:
        settings = settings.model_copy(update={"kafka_secure": True})
    return KafkaServer(settings), PostgresServer(settings)


def _fail(exc: BizEventsError) -> typer.Exit:
    typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def _print_env(kafka: KafkaServer, pg: PostgresServer) -> None:
    typer.echo(f"export BIZEVENTS_KAFKA_BOOTSTRAP={kafka.bootstrap}")
    if kafka.secure:
        # The password stays in its file: these lines may end up in a CI log.
        admin = kafka.admin_settings()
        typer.echo(f"export BIZEVENTS_KAFKA_SASL_MECHANISM={admin.kafka_sasl_mechanism}")
        typer.echo(f"export BIZEVENTS_KAFKA_SASL_USERNAME={admin.kafka_sasl_username}")
        typer.echo(f'export BIZEVENTS_KAFKA_SASL_PASSWORD="$(cat {kafka.admin_password_file})"')
    typer.echo(f"export BIZEVENTS_DATABASE_URL={pg.url}")


@app.command(epilog=READS)
def up(
    secure: bool = typer.Option(
        False,
        "--secure",
        help="Kafka with SASL/SCRAM-SHA-512 and ACLs (StandardAuthorizer); the admin is the "
        "only super user. Use its own BIZEVENTS_STATE_DIR and ports beside a plain stack.",
    ),
) -> None:
    """Start both services (a second `up` is harmless) and print the connection settings."""
    try:
        kafka, pg = _servers(secure)
        kafka.preflight()
    except BizEventsError as exc:
        raise _fail(exc) from exc
    pg_was_running = pg.running_pid() is not None
    try:
        pg.start()
        typer.echo(f"postgres {pg.version()} up on {pg.url}", err=True)
        kafka.start()
        mode = " (SASL/SCRAM-SHA-512, ACLs)" if kafka.secure else ""
        typer.echo(f"kafka {kafka.version} up on {kafka.bootstrap}{mode}", err=True)
    except BizEventsError as exc:
        # Nothing half-started: what this command started is stopped again.
        if not pg_was_running:
            pg.stop()
        raise _fail(exc) from exc
    _print_env(kafka, pg)


@app.command(epilog=READS)
def down(
    wipe: bool = typer.Option(False, "--wipe", help="Also delete their data (topics, databases)."),
) -> None:
    """Stop both services; no process of ours is left."""
    try:
        kafka, pg = _servers()
        kafka.stop()
        pg.stop()
        if wipe:
            kafka.wipe()
            pg.wipe()
    except BizEventsError as exc:
        raise _fail(exc) from exc
    typer.echo("kafka and postgres stopped" + (", data deleted" if wipe else ""), err=True)


@app.command(epilog=READS)
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Report whether each service answers; exit 1 when one is down."""
    try:
        kafka, pg = _servers()
        k, p = kafka.status(), pg.status()
    except BizEventsError as exc:
        raise _fail(exc) from exc
    report = {
        "kafka": {
            "running": k.running,
            "pid": k.pid,
            "bootstrap": k.bootstrap,
            "version": k.version,
            "secure": k.secure,
        },
        "postgres": {
            "running": p.running,
            "pid": p.pid,
            "url": p.url,
            "version": p.version,
            "data_dir": str(p.data_dir),
        },
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        for name, info in report.items():
            state = "up" if info["running"] else "down"
            where = info.get("bootstrap") or info.get("url")
            typer.echo(f"{name:9} {state:5} {info['version']:8} {where}  pid={info['pid']}")
    if not (k.running and p.running):
        raise typer.Exit(1)
