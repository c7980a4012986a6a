"""The broker's ASGI app: the HTTP gateway (publish, apps), the registry API, served contract
docs, the OpenAPI document, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from bizevents.contracts import load_contracts
from bizevents.contracts.registry import Registry
from bizevents.dlq import DeadLetterStore
from bizevents.logging import get_logger
from bizevents.mesh import Naming
from bizevents.relay import Relay
from bizevents.settings import RelaySettings
from bizevents.webhooks import AddressPolicy, WebhookDispatcher
from bizevents.worker import RetryPolicy, WorkerSettings

from . import docs_routes, observability, ops, registry_api
from .core import Gateway, Limits, RegistryContracts
from .core.errors import ErrorKind
from .core.webhooks import GatewayWebhooks
from .eventlog import EventLogFeeder, migrate_event_log
from .ingress import docs as api_docs
from .ingress import odata, rest, soap
from .ingress import pull as pull_api
from .ingress import webhooks as webhooks_api
from .ingress.problems import PROBLEM_JSON, problem_body
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


def gateway_limits(settings: BrokerSettings) -> Limits:
    return Limits(
        max_batch=settings.gateway_max_batch,
        rate=settings.gateway_rate_limit,
        burst=settings.gateway_rate_burst,
        idempotency_retention=settings.gateway_idempotency_retention,
        commit_timeout=settings.gateway_commit_timeout,
        session_idle=settings.gateway_session_idle,
    )


async def open_gateway(settings: BrokerSettings, registry: Registry) -> Gateway:
    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    return await Gateway.open(
        settings.database_url,
        settings.gateway_schema,
        RegistryContracts(registry, settings.gateway_contracts_refresh),
        limits=gateway_limits(settings),
        admin_token=token,
        pool_size=settings.gateway_pool_size,
        kafka=settings,
        webhook_policy=AddressPolicy(settings.gateway_webhook_allow),
        naming=Naming(settings.space, settings.mendix_topic_prefix),
    )


def gateway_relay(settings: BrokerSettings) -> Relay:
    return Relay(
        RelaySettings(**settings.connection_values(), outbox_schema=settings.gateway_schema)
    )


def webhook_dispatcher(settings: BrokerSettings, gateway: Gateway) -> WebhookDispatcher:
    """The webhook workers; the gateway tells it when subscriptions change."""
    dispatcher = WebhookDispatcher(
        GatewayWebhooks(gateway),
        WorkerSettings(**settings.connection_values()),
        policy=gateway.webhook_policy,
        timeout=settings.gateway_webhook_timeout,
        retry=RetryPolicy(
            attempts=settings.gateway_webhook_attempts,
            delays=tuple(settings.gateway_webhook_retry_delays),
        ),
    )
    gateway.on_webhooks_changed = dispatcher.changed
    return dispatcher


async def _http_problem(request: Request, exc: Exception) -> Response:
    """Unmatched routes and methods answer in problem+json like everything else."""
    assert isinstance(exc, HTTPException)
    kind = ErrorKind.NOT_FOUND if exc.status_code == 404 else ErrorKind.BAD_REQUEST
    body = problem_body(kind, str(exc.detail), [])
    body["status"] = exc.status_code
    body["title"] = str(exc.detail)
    return Response(json.dumps(body), exc.status_code, headers=exc.headers, media_type=PROBLEM_JSON)


def _run_in_background(dispatcher: WebhookDispatcher) -> Callable[[], Awaitable[None]]:
    task = asyncio.create_task(dispatcher.run(), name="webhooks")

    async def stop() -> None:
        dispatcher.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 60)

    return stop


def create_app(
    settings: BrokerSettings | None = None,
    registry: Registry | None = None,
    gateway: Gateway | None = None,
) -> Starlette:
    """The app; it opens (and closes) its own registry, gateway and relay unless given."""
    settings = settings or BrokerSettings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if registry is None:
                app.state.registry = await open_registry(settings)
                stack.push_async_callback(app.state.registry.close)
            if gateway is None:
                app.state.gateway = await open_gateway(settings, app.state.registry)
                stack.push_async_callback(app.state.gateway.close)
                if settings.gateway_relay:
                    relay = gateway_relay(settings)
                    task = asyncio.create_task(relay.run(), name="gateway-relay")

                    async def stop_relay() -> None:
                        relay.stop()
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(task, 30)

                    stack.push_async_callback(stop_relay)
                if settings.gateway_webhooks:
                    stack.push_async_callback(
                        _run_in_background(webhook_dispatcher(settings, app.state.gateway))
                    )
            gw: Gateway = app.state.gateway
            async with gw.connection() as conn:
                await migrate_event_log(conn, gw.schema)
            await DeadLetterStore(gw.pool, settings.dlq_schema).migrate()
            if settings.event_log and gateway is None:
                feeder = EventLogFeeder(
                    gw.pool,
                    gw.schema,
                    gw.contracts,
                    settings,
                    retention=settings.event_log_retention,
                )
                feeding = asyncio.create_task(feeder.run(), name="event-log")

                async def stop_feeder() -> None:
                    feeder.stop()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(feeding, 30)

                stack.push_async_callback(stop_feeder)
            yield

    app = Starlette(
        routes=[
            *rest.routes,
            *pull_api.routes,
            *webhooks_api.routes,
            *odata.routes,
            *soap.routes,
            *api_docs.routes,
            *registry_api.routes,
            *docs_routes.routes,
            *observability.routes,
            *ops.routes,
        ],
        middleware=[Middleware(observability.RequestMetrics)],
        exception_handlers={HTTPException: _http_problem},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.max_body_bytes = settings.gateway_max_body_bytes
    app.state.odata_page_size = settings.odata_page_size
    app.state.odata_max_top = settings.odata_max_top
    app.state.odata_timeout = settings.odata_timeout
    app.state.dlq_schema = settings.dlq_schema
    if registry is not None:
        app.state.registry = registry
    if gateway is not None:
        app.state.gateway = gateway
    return app
