"""Prometheus metrics of the worker (process-wide, labelled by group)."""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client import Counter, Gauge, Histogram

from ..metrics import metric_name

# Label values known in advance are exported as 0 from the start: a counter that is born at 1
# has no increase() in Prometheus, so a group's first dead letter would go unnoticed.
OUTCOMES = ("success", "skipped", "duplicate", "ignored", "retry", "dead_letter")
RETRY_KINDS = ("immediate", "delayed")

HANDLED = Counter(
    metric_name("worker_messages_total"),
    "Messages finished, by outcome (success, skipped, duplicate, ignored, retry, dead_letter)",
    ["group", "outcome"],
)
DURATION = Histogram(
    metric_name("worker_handler_seconds"),
    "Handler run time per attempt",
    ["group", "event_type"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RETRIES = Counter(
    metric_name("worker_retries_total"),
    "Retries, immediate or through a delayed-retry topic",
    ["group", "kind"],
)
DEAD_LETTERS = Counter(
    metric_name("worker_dead_letters_total"),
    "Messages sent to the dead-letter topic, by error type",
    ["group", "error_type"],
)
IN_FLIGHT = Gauge(
    metric_name("worker_in_flight"),
    "Messages fetched and not yet finished",
    ["group"],
)
LAG = Gauge(
    metric_name("worker_consumer_lag"),
    "High watermark minus committed offset",
    ["group", "topic", "partition"],
)


class GroupMetrics:
    """One group's counts, kept in plain numbers on the hot path and added to the Prometheus
    metrics above in one step per batch (`flush`): no lock and no label lookup per message."""

    __slots__ = ("_bounds", "_durations", "_handled_children", "group", "handled")

    def __init__(self, group: str) -> None:
        self.group = group
        outcomes = (*OUTCOMES, "parked")
        self.handled = dict.fromkeys(outcomes, 0)
        self._handled_children = {o: HANDLED.labels(group, o) for o in outcomes}
        # event type -> [count per bucket..., sum]; buckets as the histogram's, +Inf last.
        self._durations: dict[str, list[float]] = {}
        self._bounds = (*DURATION._upper_bounds[:-1],)
        for kind in RETRY_KINDS:
            RETRIES.labels(group, kind)

    def observe(self, event_type: str, seconds: float) -> None:
        """A handler attempt's run time."""
        counts = self._durations.get(event_type)
        if counts is None:
            counts = self._durations[event_type] = [0.0] * (len(self._bounds) + 2)
        # Prometheus buckets are "<= bound": the first bound not below the value.
        counts[bisect_left(self._bounds, seconds)] += 1.0
        counts[-1] += seconds

    def flush(self) -> None:
        handled = self.handled
        for outcome, n in handled.items():
            if n:
                handled[outcome] = 0
                self._handled_children[outcome].inc(n)
        for event_type, counts in self._durations.items():
            if not any(counts):
                continue
            child = DURATION.labels(self.group, event_type)
            for i, count in enumerate(counts[:-1]):
                if count:
                    child._buckets[i].inc(count)
            child._sum.inc(counts[-1])
            counts[:] = [0.0] * len(counts)
