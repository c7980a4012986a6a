"""Prometheus metrics: the shared prefix and the HTTP endpoint every process can expose.

Each component declares its own metrics next to its code, named with `metric_name`. A process
serves only its own families: the relay its relay and outbox metrics, a worker its worker
metrics (every module's metrics live in one client registry, and a process may import more than
it runs). No `_created` series: they double the series count and no dashboard uses them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY, disable_created_metrics, start_http_server
from prometheus_client.registry import Collector

PREFIX = "bizevents"

disable_created_metrics()  # type: ignore[no-untyped-call]


def metric_name(name: str) -> str:
    return f"{PREFIX}_{name}"


class ProcessMetrics(Collector):
    """The default registry's families, without other components' `bizevents_*` families."""

    def __init__(self, components: Iterable[str], source: Any = REGISTRY) -> None:
        self.prefixes = tuple(metric_name(c) + "_" for c in components)
        self.source = source

    def collect(self) -> Iterator[Any]:
        for family in self.source.collect():
            ours = family.name.startswith(PREFIX + "_")
            if not ours or family.name.startswith(self.prefixes):
                yield family


def serve_metrics(port: int, components: Iterable[str], addr: str = "127.0.0.1") -> None:
    """Expose /metrics on `port` (0 disables) in a background thread, with the families of
    `components` (e.g. ("relay", "outbox")) and the process and Python collectors."""
    if port:
        start_http_server(port, addr=addr, registry=ProcessMetrics(components))
