"""Run the broker with uvicorn (`bizevents broker serve`)."""

from __future__ import annotations

import asyncio

import asyncpg
import uvicorn

from bizevents.contracts.registry import Registry
from bizevents.errors import ServiceError, ServiceUnavailableError
from bizevents.kafka import login_refused
from bizevents.logging import configure_logging, redact_url
from bizevents.startup import DATABASE_DOWN, StartupWait

from .app import create_app, open_registry
from .settings import BrokerSettings

PREFLIGHT_TIMEOUT = 30.0  # seconds to reach PostgreSQL and register the contracts


async def preflight(settings: BrokerSettings) -> None:
    """Reach the registry and register the configured contracts once before serving, so a bad
    database URL, an incompatible contract or a Kafka login that Kafka refuses is one clear error
    instead of a startup traceback (or a relay retrying forever). A database that does not answer
    yet (still starting, restarting) is waited for, said once; Kafka being away is no reason not
    to start: the registry and the docs work without it."""
    refused = await login_refused(settings)
    if refused is not None:
        raise ServiceError(refused)

    async def reach() -> Registry:
        return await asyncio.wait_for(open_registry(settings), PREFLIGHT_TIMEOUT)

    try:
        registry = await StartupWait(settings.start_timeout).until_ready(
            "database", reach, DATABASE_DOWN
        )
    except ServiceUnavailableError as exc:
        raise ServiceError(
            f"cannot open the registry at {redact_url(settings.database_url)}: {exc}"
        ) from exc
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise ServiceError(
            f"cannot open the registry at {redact_url(settings.database_url)}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    await registry.close()


def serve(settings: BrokerSettings | None = None) -> None:
    settings = settings or BrokerSettings()
    configure_logging(settings.log_level, settings.log_json, settings.library_log_level)
    asyncio.run(preflight(settings))
    uvicorn.run(
        create_app(settings),
        host=settings.broker_host,
        port=settings.broker_port,
        log_config=None,  # uvicorn's lines go through our logging set-up like everyone's
        log_level=settings.log_level.lower(),
        access_log=False,  # request counts and latency are in /metrics
    )
