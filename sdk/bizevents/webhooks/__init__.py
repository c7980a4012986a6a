"""Webhooks out: events pushed to HTTP endpoints by the worker machinery (per-key order,
immediate retries, delayed retry topics, dead letters, replay), signed per the Standard Webhooks
specification, to targets checked against SSRF.

- `signing.py`: Standard Webhooks signatures (pure).
- `targets.py`: which addresses a webhook may reach, checked when the socket connects.
- `delivery.py`: one event to one endpoint, the response mapped to a worker outcome.
- `dispatcher.py`: one `Worker` per webhook subscription, kept in line with the subscriptions.
"""

from .delivery import WebhookTarget, deliverer
from .dispatcher import WebhookDispatcher, WebhookSource
from .signing import new_secret, sign, signature_headers
from .targets import AddressPolicy, UnsafeTargetError, check_url

__all__ = [
    "AddressPolicy",
    "UnsafeTargetError",
    "WebhookDispatcher",
    "WebhookSource",
    "WebhookTarget",
    "check_url",
    "deliverer",
    "new_secret",
    "sign",
    "signature_headers",
]
