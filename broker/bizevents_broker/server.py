"""Run the broker with uvicorn (`bizevents broker serve`)."""

from __future__ import annotations

import uvicorn

from bizevents.logging import configure_logging

from .app import create_app
from .settings import BrokerSettings


def serve(settings: BrokerSettings | None = None) -> None:
    settings = settings or BrokerSettings()
    configure_logging(json=settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=settings.broker_host,
        port=settings.broker_port,
        log_level="info",
        access_log=False,  # request counts and latency are in /metrics
    )
