"""Prometheus metrics: the shared prefix and the HTTP endpoint every process can expose.

Each component declares its own metrics next to its code, named with `metric_name`.
"""

from __future__ import annotations

from prometheus_client import start_http_server

PREFIX = "bizevents"


def metric_name(name: str) -> str:
    return f"{PREFIX}_{name}"


def serve_metrics(port: int, addr: str = "127.0.0.1") -> None:
    """Expose /metrics on `port` (0 disables) in a background thread."""
    if port:
        start_http_server(port, addr=addr)
