"""API keys (pure): `bze_<12 hex id>_<43 url-safe chars>`, 256 random bits.

The id part is the key's public prefix: it names the key in listings and logs and finds its row;
only a SHA-256 of the whole key is stored. A fast hash is right here because the secret is random
and long (no dictionary to try); the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_PREFIX = "bze_"
_KEY = re.compile(r"^bze_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewKey:
    key_id: str  # the public part, e.g. "bze_3f9a0c1d2e4b"
    secret: str  # the whole key: shown once, never stored
    digest: bytes


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def generate() -> NewKey:
    key_id = f"{KEY_PREFIX}{secrets.token_hex(6)}"
    secret = f"{key_id}_{secrets.token_urlsafe(32)}"
    return NewKey(key_id, secret, digest(secret))


def key_id_of(key: str) -> str | None:
    """The public id of a well-formed key, or None (nothing about a malformed one is echoed)."""
    match = _KEY.match(key)
    return f"{KEY_PREFIX}{match.group(1)}" if match else None


def matches(key: str, stored: bytes) -> bool:
    return hmac.compare_digest(digest(key), stored)
