"""Requests per second per app: a token bucket per app, in memory (pure; the clock is given).

Per gateway process: N gateways behind a load balancer admit up to N times the rate. That is the
usual trade for not putting a shared counter on every request's path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, rate: float, burst: float, max_apps: int = 100_000) -> None:
        self.rate = rate  # tokens per second; 0 turns limiting off
        self.burst = max(burst, 1.0)
        self.max_apps = max_apps
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, app: str, now: float, cost: float = 1.0) -> float:
        """0 when admitted; otherwise the seconds until `cost` tokens are back (nothing taken)."""
        if self.rate <= 0:
            return 0.0
        bucket = self._buckets.get(app)
        if bucket is None:
            if len(self._buckets) >= self.max_apps:
                self._buckets.clear()  # bounded memory: forgetting only ever admits more
            bucket = self._buckets[app] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
