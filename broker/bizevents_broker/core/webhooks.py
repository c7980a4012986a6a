"""Webhook subscriptions in the core: create (URL checked against SSRF, secret shown once),
rotate the signing secret, and the `WebhookSource` the SDK's dispatcher reads (only apps that
are still active and still allowed to subscribe get deliveries)."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bizevents.contracts import ContractSet
from bizevents.envelope import text_problem
from bizevents.webhooks import (
    AddressPolicy,
    UnsafeTargetError,
    WebhookTarget,
    check_url,
)

from .errors import ErrorKind, GatewayError, ProblemDetail
from .permissions import Action, allowed
from .subscriptions import Subscription

if TYPE_CHECKING:
    from .gateway import Gateway

FILTER_NAME = re.compile(r"^[a-z0-9]{1,20}$")
MAX_FILTERS = 10


def check_filters(filters: Any) -> dict[str, str]:
    if filters is None:
        return {}
    if not isinstance(filters, dict) or len(filters) > MAX_FILTERS:
        raise GatewayError(
            ErrorKind.BAD_REQUEST, f"'filters' is an object of at most {MAX_FILTERS} attributes"
        )
    for name, value in filters.items():
        if not FILTER_NAME.match(name) or not isinstance(value, str) or text_problem(value):
            raise GatewayError(
                ErrorKind.BAD_REQUEST,
                "a filter is a CloudEvents attribute name (lower-case letters and digits) and "
                "a string value to match exactly",
                problems=[ProblemDetail("bad filter", f"/filters/{name}")],
            )
    return dict(filters)


def active_secrets(config: Mapping[str, Any], now: float | None = None) -> tuple[str, ...]:
    now = time.time() if now is None else now
    return tuple(
        s["secret"]
        for s in config.get("secrets", [])
        if s.get("expires_at") is None or s["expires_at"] > now
    )


async def checked_url(url: Any, policy: AddressPolicy) -> str:
    if not isinstance(url, str) or len(url) > 2000 or text_problem(url):
        raise GatewayError(ErrorKind.BAD_REQUEST, "'url' must be an http(s) URL")
    try:
        return await check_url(url, policy)
    except UnsafeTargetError as exc:
        raise GatewayError(
            ErrorKind.BAD_REQUEST,
            f"webhook URL refused: {exc}",
            problems=[ProblemDetail(str(exc), "/url")],
        ) from None


def target_of(subscription: Subscription) -> WebhookTarget:
    config = subscription.config
    return WebhookTarget(
        id=subscription.id,
        group=subscription.group,
        event_types=subscription.event_types,
        url=str(config["url"]),
        secrets=active_secrets(config),
        filters=dict(config.get("filters") or {}),
        dead_letter_4xx=bool(config.get("dead_letter_4xx", True)),
    )


class GatewayWebhooks:
    """The `WebhookSource` over the gateway's tables."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def contracts(self) -> ContractSet:
        return await self.gateway.contracts.current()

    async def targets(self) -> Sequence[WebhookTarget]:
        contracts = await self.gateway.contracts.current()
        async with self.gateway.connection() as conn:
            subscriptions = await self.gateway.subscriptions.list(conn, None, "webhook")
            principals = {
                app: await self.gateway.apps.principal(conn, app)
                for app in {s.app for s in subscriptions}
            }
        targets = []
        for subscription in subscriptions:
            principal = principals.get(subscription.app)
            if principal is None:
                continue  # the app was revoked
            if all(
                t in contracts and allowed(principal, Action.SUBSCRIBE, contracts.get(t))
                for t in subscription.event_types
            ):
                targets.append(target_of(subscription))
        return targets
