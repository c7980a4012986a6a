"""Settings of the dead-letter tools (`bizevents dlq ...`, `bizevents replay`, the ingester)."""

from __future__ import annotations

from ..settings import ConnectionSettings


class DeadLetterSettings(ConnectionSettings):
    dlq_schema: str = "bizevents"
    dlq_ingester_group: str = "bizevents-dlq-ingester"
    dlq_topic_pattern: str = r"^bizevents\.dlq\..+"
    # How often the ingester looks for new dead-letter topics (new groups).
    dlq_metadata_max_age_ms: int = 30_000
    # Partitions of a replay topic we create (when the worker has not created it yet).
    replay_topic_partitions: int = 3
    replay_batch: int = 500
