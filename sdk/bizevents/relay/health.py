"""Kafka reachability as the relay sees it: said once when sends stall, once when they recover.

aiokafka retries a send internally while the broker is away, so a send does not fail, it hangs.
The relay watches how long a send has been in flight instead of waiting for an error.
"""

from __future__ import annotations

import time

from ..logging import get_logger
from . import metrics

log = get_logger("bizevents.relay")


class KafkaHealth:
    def __init__(self, labels: dict[str, str]) -> None:
        self._labels = labels
        self._down_since: float | None = None
        metrics.KAFKA_UP.labels(**labels).set(1)

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def stalled(self, *, waited: float, pending_rows: int, error: str | None = None) -> None:
        """A send has waited `waited` seconds, or failed: Kafka counts as unreachable."""
        if self._down_since is None:
            self._down_since = time.monotonic() - waited
            metrics.KAFKA_UP.labels(**self._labels).set(0)
            log.warning(
                "relay.kafka_unreachable",
                waited_seconds=round(waited, 1),
                rows_waiting=pending_rows,
                **({"error": error} if error else {}),
            )

    def sent(self) -> None:
        metrics.LAST_SEND.labels(**self._labels).set(time.time())
        if self._down_since is not None:
            outage = time.monotonic() - self._down_since
            self._down_since = None
            metrics.KAFKA_UP.labels(**self._labels).set(1)
            log.info("relay.kafka_recovered", outage_seconds=round(outage, 1))
