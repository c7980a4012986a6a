"""The broker's ASGI app: registry API, served contract docs, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from bizevents.contracts import load_contracts
from bizevents.contracts.registry import Registry
from bizevents.logging import get_logger

from . import docs_routes, observability, registry_api
from .settings import BrokerSettings

log = get_logger("bizevents.broker")


async def open_registry(settings: BrokerSettings) -> Registry:
    registry = await Registry.connect(settings.database_url, settings.registry_schema)
    if settings.contracts_path is not None:
        try:
            registrations = await registry.register(load_contracts(settings.contracts_path))
        except BaseException:
            await registry.close()
            raise
        log.info(
            "broker.contracts_registered",
            path=str(settings.contracts_path),
            event_types=len(registrations),
            created=sum(r.created for r in registrations),
        )
    return registry


def create_app(
    settings: BrokerSettings | None = None, registry: Registry | None = None
) -> Starlette:
    """The app; it opens (and closes) its own registry unless one is given."""
    settings = settings or BrokerSettings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if registry is not None:  # the caller's: already open, and theirs to close
            yield
            return
        app.state.registry = await open_registry(settings)
        try:
            yield
        finally:
            await app.state.registry.close()

    app = Starlette(
        routes=[*registry_api.routes, *docs_routes.routes, *observability.routes],
        middleware=[Middleware(observability.RequestMetrics)],
        lifespan=lifespan,
    )
    app.state.settings = settings
    if registry is not None:
        app.state.registry = registry
    return app
