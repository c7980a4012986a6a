"""`bizevents relay` and `bizevents outbox migrate|status`."""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import typer

from ..logging import configure_logging, get_logger
from ..metrics import serve_metrics
from ..outbox import migrate_outbox
from ..relay import Relay
from ..settings import RelaySettings

outbox_app = typer.Typer(no_args_is_help=True, help="The transactional outbox in your database.")


def relay(
    log_json: bool = typer.Option(False, "--log-json", help="JSON log lines."),
) -> None:
    """Move committed outbox rows to Kafka (one active relay per outbox; others stand by)."""
    configure_logging(json=log_json)
    settings = RelaySettings()
    serve_metrics(settings.relay_metrics_port)
    asyncio.run(_run_relay(settings))


async def _run_relay(settings: RelaySettings) -> None:
    relay = Relay(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, relay.stop)
    get_logger("bizevents.relay").info(
        "relay.start", schema=settings.outbox_schema, kafka=settings.kafka_bootstrap
    )
    await relay.run()


@outbox_app.command()
def migrate() -> None:
    """Create or upgrade the outbox table (idempotent)."""
    settings = RelaySettings()

    async def go() -> int:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await migrate_outbox(conn, settings.outbox_schema)
        finally:
            await conn.close()

    version = asyncio.run(go())
    typer.echo(f"outbox in schema {settings.outbox_schema!r} at version {version}")


@outbox_app.command()
def status() -> None:
    """Pending rows and the age of the oldest one."""
    settings = RelaySettings()

    async def go() -> tuple[int, float]:
        conn = await asyncpg.connect(settings.database_url)
        try:
            row = await conn.fetchrow(
                f"SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(time)), 0) AS age "
                f"FROM {settings.outbox_schema}.outbox"
            )
            return int(row["n"]), float(row["age"])
        finally:
            await conn.close()

    pending, age = asyncio.run(go())
    typer.echo(f"pending={pending} oldest_age_seconds={age:.3f}")
