"""Subscriptions: which async function handles which event types, in which consumer group.

    router = Router()

    @router.subscriber("com.acme.orders.OrderShipped.v1", group="billing", inbox=True)
    async def on_shipped(event: OrderShipped, ctx: Context) -> None: ...

The handler's first parameter annotation decides what it receives: a pydantic model gets
`Model.model_validate(payload)`, anything else (dict, no annotation) the decoded JSON payload.

A batch subscriber (`batch=True`) gets a list of events (of at most `batch_size`, gathered for at
most `batch_wait` seconds) and a `BatchContext`; its first parameter is annotated `list[...]`
(or left bare), the element type deciding each event's model as above. See `batching.py`.
"""

from __future__ import annotations

import collections.abc
import inspect
import math
import types
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel

from ..errors import ConfigurationError
from .settings import WorkerSettings

Handler = Callable[..., Awaitable[Any]]

DEFAULT_BATCH_SIZE = 100
DEFAULT_BATCH_WAIT = 0.05  # seconds a partial batch waits for more events
_LIST_TYPES = (
    list,
    collections.abc.Sequence,
    collections.abc.Iterable,
    collections.abc.Collection,
    collections.abc.MutableSequence,
)


@dataclass(frozen=True)
class RetryPolicy:
    """Immediate attempts with backoff, then delayed retry topics, then the dead-letter topic.

    Fields left None take the worker's settings (BIZEVENTS_RETRY_*).
    """

    attempts: int | None = None
    backoff_initial: float | None = None
    backoff_max: float | None = None
    delays: tuple[float, ...] | None = None

    def resolve(self, settings: WorkerSettings) -> RetryPolicy:
        policy = RetryPolicy(
            attempts=settings.retry_attempts if self.attempts is None else self.attempts,
            backoff_initial=(
                settings.retry_backoff_initial
                if self.backoff_initial is None
                else self.backoff_initial
            ),
            backoff_max=settings.retry_backoff_max
            if self.backoff_max is None
            else self.backoff_max,
            delays=tuple(settings.retry_delays) if self.delays is None else tuple(self.delays),
        )
        if (policy.attempts or 0) < 1 or any(d <= 0 for d in policy.delays or ()):
            raise ConfigurationError(f"invalid retry policy {policy}: attempts >= 1, delays > 0")
        return policy


@dataclass(frozen=True)
class Subscription:
    handler: Handler
    event_types: tuple[str, ...]
    group: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    inbox: bool = False
    ordered: bool = True
    never_retry: tuple[type[BaseException], ...] = ()
    models: dict[str, type[BaseModel]] = field(default_factory=dict)
    default_model: type[BaseModel] | None = None
    batch: bool = False  # the handler takes (events: list, ctx: BatchContext)
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_wait: float = DEFAULT_BATCH_WAIT

    @property
    def name(self) -> str:
        return getattr(self.handler, "__qualname__", repr(self.handler))

    def model_for(self, event_type: str) -> type[BaseModel] | None:
        return self.models.get(event_type, self.default_model)


class Router:
    def __init__(self) -> None:
        self.subscriptions: list[Subscription] = []

    def subscriber(
        self,
        *event_types: str,
        group: str,
        retry: RetryPolicy | None = None,
        inbox: bool = False,
        ordered: bool = True,
        never_retry: tuple[type[BaseException], ...] = (),
        batch: bool = False,
        batch_size: int | None = None,
        batch_wait: float | None = None,
    ) -> Callable[[Handler], Handler]:
        if not event_types:
            raise ConfigurationError("subscriber() needs at least one event type")
        if not group:
            raise ConfigurationError("subscriber() needs a consumer group")
        size, wait = _batch_bounds(batch, batch_size, batch_wait)

        def register(handler: Handler) -> Handler:
            if not inspect.iscoroutinefunction(handler):
                raise ConfigurationError(f"handler {handler!r} must be an async function")
            for existing in self.subscriptions:
                clash = set(existing.event_types) & set(event_types)
                if existing.group == group and clash:
                    raise ConfigurationError(
                        f"group {group!r} already handles {sorted(clash)} in {existing.name}; "
                        "one handler per event type and group"
                    )
            models, default = _models(handler, batch)
            self.subscriptions.append(
                Subscription(
                    handler=handler,
                    event_types=tuple(event_types),
                    group=group,
                    retry=retry or RetryPolicy(),
                    inbox=inbox,
                    ordered=ordered,
                    never_retry=tuple(never_retry),
                    models=models,
                    default_model=default,
                    batch=batch,
                    batch_size=size,
                    batch_wait=wait,
                )
            )
            return handler

        return register

    def groups(self) -> list[str]:
        return sorted({s.group for s in self.subscriptions})

    def for_group(self, group: str) -> dict[str, Subscription]:
        """event type -> subscription, for one group."""
        return {t: s for s in self.subscriptions if s.group == group for t in s.event_types}

    def with_policy(self, settings: WorkerSettings) -> Router:
        """A copy whose retry policies are resolved against the settings."""
        resolved = Router()
        resolved.subscriptions = [
            replace(s, retry=s.retry.resolve(settings)) for s in self.subscriptions
        ]
        return resolved


def _batch_bounds(batch: bool, size: int | None, wait: float | None) -> tuple[int, float]:
    """The batch bounds, checked: a size of at least 1 and a finite wait of at least 0, given
    only with `batch=True`."""
    if not isinstance(batch, bool):
        raise ConfigurationError(f"subscriber(batch=...) is True or False, not {batch!r}")
    if not batch:
        if size is not None or wait is not None:
            raise ConfigurationError("batch_size and batch_wait need batch=True")
        return DEFAULT_BATCH_SIZE, DEFAULT_BATCH_WAIT
    size = DEFAULT_BATCH_SIZE if size is None else size
    wait = DEFAULT_BATCH_WAIT if wait is None else wait
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigurationError(f"batch_size must be a whole number of at least 1, not {size!r}")
    if (
        isinstance(wait, bool)
        or not isinstance(wait, int | float)
        or not math.isfinite(wait)
        or wait < 0
    ):
        raise ConfigurationError(f"batch_wait must be seconds, 0 or more, not {wait!r}")
    return size, float(wait)


def _is_list_type(annotation: Any) -> bool:
    origin = get_origin(annotation) or annotation
    return isinstance(origin, type) and origin in _LIST_TYPES


def _models(
    handler: Handler, batch: bool = False
) -> tuple[dict[str, type[BaseModel]], type[BaseModel] | None]:
    """Pydantic models named by the first parameter's annotation (for a batch handler, by the
    element type of its list).

    A union of several models is told apart by each model's `event_type` class attribute;
    a single model applies to every event type of the subscriber.
    """
    name = getattr(handler, "__qualname__", repr(handler))
    params = list(inspect.signature(handler).parameters.values())
    if not params:
        shape = "(events: list[...], ctx)" if batch else "(event, ctx)"
        raise ConfigurationError(f"handler {name} must take {shape}")
    try:
        hints = get_type_hints(handler)
    except Exception as exc:
        raise ConfigurationError(f"handler {name}: cannot resolve annotations: {exc}") from exc
    annotation = hints.get(params[0].name)
    if batch:
        if annotation is not None and not _is_list_type(annotation):
            raise ConfigurationError(
                f"handler {name}: batch=True passes a list of events, but its first parameter "
                f"takes one ({_describe(annotation)}); annotate it list[...]"
            )
        args = get_args(annotation)
        annotation = args[0] if args else None
    elif annotation is not None and _is_list_type(annotation):
        raise ConfigurationError(
            f"handler {name} takes a list of events ({_describe(annotation)}): "
            "declare it with batch=True, or take one event"
        )
    candidates = (
        get_args(annotation)
        if get_origin(annotation) in (Union, types.UnionType)
        else (annotation,)
    )
    found = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    by_type: dict[str, type[BaseModel]] = {}
    for model in found:
        event_type = getattr(model, "event_type", None)
        if isinstance(event_type, str):
            by_type[event_type] = model
    default = found[0] if len(found) == 1 else None
    return by_type, default


def _describe(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else repr(annotation)


__all__ = ["Handler", "RetryPolicy", "Router", "Subscription"]
