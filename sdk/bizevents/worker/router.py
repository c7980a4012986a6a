"""Subscriptions: which async function handles which event types, in which consumer group.

    router = Router()

    @router.subscriber("com.acme.orders.OrderShipped.v1", group="billing", inbox=True)
    async def on_shipped(event: OrderShipped, ctx: Context) -> None: ...

The handler's first parameter annotation decides what it receives: a pydantic model gets
`Model.model_validate(payload)`, anything else (dict, no annotation) the decoded JSON payload.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel

from ..errors import ConfigurationError
from .settings import WorkerSettings

Handler = Callable[..., Awaitable[Any]]


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
    ) -> Callable[[Handler], Handler]:
        if not event_types:
            raise ConfigurationError("subscriber() needs at least one event type")
        if not group:
            raise ConfigurationError("subscriber() needs a consumer group")

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
            models, default = _models(handler)
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


def _models(handler: Handler) -> tuple[dict[str, type[BaseModel]], type[BaseModel] | None]:
    """Pydantic models named by the first parameter's annotation.

    A union of several models is told apart by each model's `event_type` class attribute;
    a single model applies to every event type of the subscriber.
    """
    params = list(inspect.signature(handler).parameters.values())
    if not params:
        raise ConfigurationError(f"handler {handler!r} must take (event, ctx)")
    try:
        hints = get_type_hints(handler)
    except Exception as exc:
        raise ConfigurationError(f"handler {handler!r}: cannot resolve annotations: {exc}") from exc
    annotation = hints.get(params[0].name)
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


__all__ = ["Handler", "RetryPolicy", "Router", "Subscription"]
