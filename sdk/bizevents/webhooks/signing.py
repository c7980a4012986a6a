"""Standard Webhooks signatures (https://www.standardwebhooks.com), pure.

    webhook-id:        the event id (receivers dedupe by it)
    webhook-timestamp: unix seconds
    webhook-signature: "v1,<base64 HMAC-SHA256(key, f'{id}.{timestamp}.{body}')>", space-separated
                       when several secrets are active (rotation)
Secrets are `whsec_` + base64 of 32 random bytes; the HMAC key is the decoded bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signature_headers(
    secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets_),
    }
