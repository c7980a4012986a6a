"""/healthz, Prometheus /metrics, and per-route request metrics."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bizevents.contracts.registry import Registry
from bizevents.metrics import metric_name

HEALTH_TIMEOUT = 2.0  # seconds: a probe must answer even when PostgreSQL hangs

REQUESTS = Counter(
    metric_name("broker_http_requests_total"),
    "HTTP requests served by the broker",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    metric_name("broker_http_request_seconds"),
    "Time to serve an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)


class RequestMetrics:
    """ASGI middleware: counts requests by route template (bounded label values), not raw path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            # Any token is a method to HTTP: made-up ones would each add series.
            method = scope["method"] if scope["method"] in HTTP_METHODS else "other"
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - start)


async def healthz(request: Request) -> JSONResponse:
    registry: Registry = request.app.state.registry
    try:
        await asyncio.wait_for(registry.ping(), HEALTH_TIMEOUT)
    except Exception as exc:  # any failure to reach PostgreSQL means "not healthy"
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, 503)
    return JSONResponse({"status": "ok", "database": "ok"})


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/healthz", healthz), Route("/metrics", metrics)]
