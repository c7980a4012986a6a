"""The public surface: each package's `__all__` is exactly what we mean to offer, every name in it
resolves, and `import bizevents` stays light for an app that only publishes."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

PUBLIC = {
    "bizevents": {
        "BizEventsError", "ConfigurationError", "ContractError", "Envelope", "EnvelopeError",
        "Event", "Events", "IncompatibleChangeError", "Mode", "PayloadValidationError",
        "PermissionDeniedError", "PublishError", "UnknownEventTypeError",
    },
    "bizevents.worker": {
        "BatchContext", "Context", "DeadLetter", "DeadLetterRecord", "DeadLetterSink", "Outcome",
        "Retry", "RetryPolicy", "Router", "Skip", "Subscription", "Worker", "WorkerSettings",
    },
    "bizevents.testing": {"Call", "MemoryConsumer", "MemoryKafka", "MemoryProducer", "TestEvents"},
}  # fmt: skip


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_all_is_the_intended_surface_and_every_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert set(module.__all__) == PUBLIC[package]
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        assert getattr(module, name) is not None, name


# What a publishing app must not pay for: the consumer side, metrics, the CLI's output stack.
HEAVY = ("aiokafka", "prometheus_client", "structlog", "rich", "starlette", "bizevents.worker",
         "bizevents.relay", "bizevents.contracts")  # fmt: skip


def test_import_bizevents_leaves_the_worker_kafka_and_metrics_unloaded() -> None:
    code = (
        "import sys, json, bizevents\n"
        "events = bizevents.Events(app='shop')\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == []


def test_declaring_a_subscriber_builds_the_router_on_first_use() -> None:
    from bizevents import Events
    from bizevents.worker import Router

    events = Events(app="shop", space="", mendix_topic_prefix="x")

    @events.subscriber("com.acme.shop.OrderPlaced.v1", group="billing")
    async def on_placed(event: dict[str, object], ctx: object) -> None:
        return None

    assert isinstance(events.router, Router)
    assert [s.group for s in events.router.subscriptions] == ["billing"]
