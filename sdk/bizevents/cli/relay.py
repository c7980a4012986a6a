"""`bizevents relay` and `bizevents outbox migrate|status`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

import asyncpg
import typer

from ..errors import BizEventsError
from ..logging import configure_logging, get_logger, redact_url
from ..metrics import serve_metrics
from ..migrations import checked_identifier
from ..outbox import migrate_outbox
from ..relay import Relay
from ..settings import RelaySettings
from ..settings_doc import epilog
from .base import command_group

outbox_app = command_group("The transactional outbox in your database.")
READS = epilog(RelaySettings)


@contextlib.contextmanager
def _clear_errors(settings: RelaySettings | None = None) -> Iterator[None]:
    """One line on stderr and exit 1 for what a user can fix (settings, an unreachable database)."""
    try:
        yield
    except BizEventsError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = redact_url(settings.database_url) if settings else "the database"
        typer.secho(f"error: cannot use {where}: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc


def _settings() -> RelaySettings:
    with _clear_errors():
        settings = RelaySettings()
        checked_identifier(settings.outbox_schema)
        return settings


def relay(
    log_json: bool = typer.Option(False, "--log-json", help="JSON log lines."),
) -> None:
    """Move committed outbox rows to Kafka (one active relay per outbox; others stand by)."""
    settings = _settings()
    configure_logging(settings.log_level, log_json or settings.log_json, settings.library_log_level)
    serve_metrics(settings.relay_metrics_port, ("relay", "outbox"), settings.metrics_host)
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
    get_logger("bizevents.relay").info("relay.stopped", schema=settings.outbox_schema)


@outbox_app.command(epilog=READS)
def migrate() -> None:
    """Create or upgrade the outbox table (idempotent)."""
    settings = _settings()

    async def go() -> int:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await migrate_outbox(conn, settings.outbox_schema)
        finally:
            await conn.close()

    with _clear_errors(settings):
        version = asyncio.run(go())
    typer.echo(f"outbox in schema {settings.outbox_schema!r} at version {version}")


@outbox_app.command(epilog=READS)
def status() -> None:
    """Pending rows and the age of the oldest one."""
    settings = _settings()

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

    with _clear_errors(settings):
        pending, age = asyncio.run(go())
    typer.echo(f"pending={pending} oldest_age_seconds={age:.3f}")
