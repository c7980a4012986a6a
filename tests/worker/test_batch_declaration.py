"""Batch subscribers are declared with bounds and a handler that takes a list: anything else is
refused at declaration, with an error that says what to change."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from bizevents.errors import ConfigurationError
from bizevents.worker import BatchContext, Context, Router


class Placed(BaseModel):
    event_type: ClassVar[str] = "com.acme.orders.OrderPlaced.v1"
    order_id: str


class Paid(BaseModel):
    event_type: ClassVar[str] = "com.acme.orders.OrderPaid.v1"
    order_id: str


def test_batch_subscriber_with_bounds_and_element_models() -> None:
    router = Router()

    @router.subscriber(Placed.event_type, Paid.event_type, group="g", batch=True, batch_size=7,
                       batch_wait=0.2)  # fmt: skip
    async def handle(events: list[Placed | Paid], ctx: BatchContext) -> None: ...

    (sub,) = router.subscriptions
    assert (sub.batch, sub.batch_size, sub.batch_wait) == (True, 7, 0.2)
    assert sub.model_for(Placed.event_type) is Placed
    assert sub.model_for(Paid.event_type) is Paid


def test_batch_defaults_and_other_list_types() -> None:
    router = Router()

    @router.subscriber("a.b.C.v1", group="g", batch=True)
    async def plain(events, ctx):  # type: ignore[no-untyped-def]  # no annotation: dict payloads
        ...

    @router.subscriber("a.b.D.v1", group="g", batch=True)
    async def seq(events: Sequence[Placed], ctx: BatchContext) -> None: ...

    plain_sub, seq_sub = router.subscriptions
    assert (plain_sub.batch_size, plain_sub.batch_wait) == (100, 0.05)
    assert plain_sub.default_model is None
    assert seq_sub.default_model is Placed


@pytest.mark.parametrize(
    ("annotation", "shown"),
    [(Placed, "Placed"), (dict[str, Any], "dict[str, typing.Any]"), (dict, "dict")],
)
def test_batch_handler_taking_one_event_is_refused(annotation: Any, shown: str) -> None:
    async def handle(event, ctx):  # type: ignore[no-untyped-def]
        ...

    handle.__annotations__ = {"event": annotation, "ctx": BatchContext}
    message = (
        f"handler test_batch_handler_taking_one_event_is_refused.<locals>.handle: batch=True "
        f"passes a list of events, but its first parameter takes one ({shown}); annotate it "
        "list[...]"
    )
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Router().subscriber("a.b.C.v1", group="g", batch=True)(handle)


def test_list_handler_without_batch_is_refused() -> None:
    async def handle(events: list[Placed], ctx: Context) -> None: ...

    with pytest.raises(ConfigurationError, match=r"takes a list of events .*batch=True"):
        Router().subscriber("a.b.C.v1", group="g")(handle)


def test_batch_handler_without_parameters_is_refused() -> None:
    async def handle() -> None: ...

    with pytest.raises(ConfigurationError, match=re.escape("must take (events: list[...], ctx)")):
        Router().subscriber("a.b.C.v1", group="g", batch=True)(handle)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (
            {"batch": True, "batch_size": 0},
            "batch_size must be a whole number of at least 1, not 0",
        ),
        ({"batch": True, "batch_size": -5}, "batch_size must be a whole number of at least 1"),
        ({"batch": True, "batch_size": 2.5}, "batch_size must be a whole number of at least 1"),
        ({"batch": True, "batch_size": True}, "batch_size must be a whole number"),
        ({"batch": True, "batch_wait": -1}, "batch_wait must be seconds, 0 or more, not -1"),
        ({"batch": True, "batch_wait": float("inf")}, "batch_wait must be seconds, 0 or more"),
        ({"batch": True, "batch_wait": "1s"}, "batch_wait must be seconds, 0 or more"),
        ({"batch_size": 10}, "batch_size and batch_wait need batch=True"),
        ({"batch_wait": 0.5}, "batch_size and batch_wait need batch=True"),
        ({"batch": "yes"}, "subscriber(batch=...) is True or False"),
    ],
)
def test_bad_bounds_are_refused_before_any_handler(options: dict[str, Any], error: str) -> None:
    router = Router()
    with pytest.raises(ConfigurationError, match=re.escape(error)):
        router.subscriber("a.b.C.v1", group="g", **options)
    assert router.subscriptions == []
