"""A process's /metrics shows its own families (not every module's it happens to import), with
the process and Python collectors, and no `_created` series."""

from __future__ import annotations

from prometheus_client import generate_latest

import bizevents.relay.metrics as relay_metrics
import bizevents.worker.metrics as worker_metrics
from bizevents.metrics import ProcessMetrics


def test_each_process_serves_only_its_families() -> None:
    worker_metrics.HANDLED.labels("g", "success").inc()
    relay_metrics.LEADER.labels("s").set(1)
    worker = generate_latest(ProcessMetrics(("worker",))).decode()  # type: ignore[arg-type]
    relay = generate_latest(ProcessMetrics(("relay", "outbox"))).decode()  # type: ignore[arg-type]
    assert "bizevents_worker_messages_total" in worker and "bizevents_relay_" not in worker
    assert "bizevents_relay_leader" in relay and "bizevents_worker_" not in relay
    for text in (worker, relay):
        assert "_created" not in text
        assert "python_info" in text  # the standard collectors stay
