"""One event to one webhook endpoint, as a worker handler: the receiver's answer becomes the
worker's outcome.

    2xx                      done
    429, 503                 Retry(after=Retry-After): the first delayed-retry tier that long
    408, other 5xx, timeout, connection error
                             an exception: immediate retries with backoff, then the delayed tiers
    3xx                      dead letter (redirects are not followed)
    other 4xx                dead letter with the status and the start of the body (or retried
                             like a 5xx when `dead_letter_4xx` is off)
    target not allowed       dead letter
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from ..envelope import STRUCTURED, Envelope, Mode, to_kafka
from ..errors import BizEventsError
from ..worker import Context, DeadLetter, Retry, Skip
from .signing import signature_headers
from .targets import UnsafeTargetError

USER_AGENT = "bizevents-webhooks/1"
REASON_BODY = 200  # characters of a refusing receiver's body kept in the dead-letter reason


class DeliveryError(BizEventsError):
    """The receiver did not take the event this time (retried)."""


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook subscription as the dispatcher needs it."""

    id: str
    group: str
    event_types: tuple[str, ...]
    url: str
    secrets: tuple[str, ...]
    filters: Mapping[str, str] = field(default_factory=dict)
    dead_letter_4xx: bool = True


def matches(filters: Mapping[str, str], envelope: Envelope) -> bool:
    """Exact match on CloudEvents attributes (as Knative triggers filter)."""
    if not filters:
        return True
    attributes = envelope.attributes()
    attributes["datacontenttype"] = envelope.datacontenttype
    return all(attributes.get(name) == value for name, value in filters.items())


def body_of(envelope: Envelope) -> bytes:
    """The event in the CloudEvents JSON format (structured mode)."""
    _, value, _ = to_kafka(envelope, Mode.STRUCTURED)
    return value


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def outcome_of(response: httpx.Response, dead_letter_4xx: bool) -> None:
    """Raise the worker outcome for a non-2xx answer; return for 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return
    if status in (429, 503):
        raise Retry(
            after=retry_after(response.headers.get("retry-after")),
            reason=f"receiver answered {status}",
        )
    if 300 <= status < 400:
        raise DeadLetter(f"receiver answered {status} (redirects are not followed)")
    if 400 <= status < 500 and status != 408 and dead_letter_4xx:
        snippet = response.text[:REASON_BODY]
        raise DeadLetter(f"receiver answered {status}: {snippet}".rstrip(": "))
    raise DeliveryError(f"receiver answered {status}")


def deliverer(
    target: WebhookTarget,
    client: httpx.AsyncClient,
    current_secrets: Callable[[], Sequence[str]] | None = None,
) -> Callable[[Any, Context], Awaitable[Skip | None]]:
    """The worker handler that delivers `target`'s events."""

    async def deliver(event: Any, ctx: Context) -> Skip | None:
        envelope = ctx.envelope
        if not matches(target.filters, envelope):
            return Skip("filtered out")
        body = body_of(envelope)
        secrets = current_secrets() if current_secrets is not None else target.secrets
        headers = {
            **signature_headers(secrets, envelope.id, int(time.time()), body),
            "content-type": STRUCTURED,
            "user-agent": USER_AGENT,
        }
        try:
            response = await client.post(target.url, content=body, headers=headers)
        except UnsafeTargetError as exc:
            raise DeadLetter(f"webhook target refused: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"no answer within the timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise DeliveryError(f"cannot reach the receiver: {type(exc).__name__}: {exc}") from exc
        outcome_of(response, target.dead_letter_4xx)
        return None

    deliver.__qualname__ = f"webhook:{target.id}"
    return deliver


def describe(target: WebhookTarget) -> dict[str, Any]:
    """For logs: never the secrets."""
    return {"webhook": target.id, "url": target.url, "types": json.dumps(target.event_types)}
