"""SCRAM credentials computed on the client: only the salted hash ever leaves this process."""

from __future__ import annotations

import hashlib

HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
# Kafka refuses fewer than 4096 iterations; the broker default for new credentials is 4096.
MIN_ITERATIONS = 4096


def salted_password(mechanism: str, password: str, salt: bytes, iterations: int) -> bytes:
    """RFC 5802 Hi(): PBKDF2 with the mechanism's HMAC, as Kafka stores it."""
    if mechanism not in HASHES:
        raise ValueError(f"unknown SCRAM mechanism {mechanism!r} (use {', '.join(HASHES)})")
    if iterations < MIN_ITERATIONS:
        raise ValueError(f"SCRAM needs at least {MIN_ITERATIONS} iterations")
    return hashlib.pbkdf2_hmac(HASHES[mechanism], password.encode(), salt, iterations)
