"""Settings of the `bizevents worker` process."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, field_validator

from ..settings import ConnectionSettings
from .membership import for_process, group_instance_id


class WorkerSettings(ConnectionSettings):
    """Environment variables BIZEVENTS_<FIELD>, e.g. BIZEVENTS_CONCURRENCY=32."""

    concurrency: int = Field(
        default=64, ge=1, description="Handlers running at once across all keys and partitions"
    )
    max_pending_per_partition: int = Field(
        default=1000,
        ge=1,
        description="Backpressure: a partition pauses at this many fetched, uncommitted records",
    )
    fetch_max_records: int = Field(default=500, ge=1, description="Records per fetch")
    # A resumed partition is fetched only after the pending long-poll returns: keep it short.
    fetch_max_wait_ms: int = Field(
        default=100, ge=0, description="Longest wait of a fetch for new records (ms)"
    )
    # Default retry policy (a subscriber's RetryPolicy overrides any of these).
    retry_attempts: int = Field(
        default=3, ge=1, description="Immediate attempts per message, the first included"
    )
    retry_backoff_initial: float = Field(
        default=0.1, ge=0, description="Seconds before the second immediate attempt (doubling)"
    )
    retry_backoff_max: float = Field(
        default=2.0, ge=0, description="Longest wait between immediate attempts"
    )
    retry_delays: list[float] = Field(
        default_factory=lambda: [10.0, 60.0, 600.0],
        description="Delayed retries in seconds, one retry topic each, e.g. 10,60,600",
    )
    commit_interval: float = Field(
        default=0.5, gt=0, description="Seconds between offset commits (never one per message)"
    )
    shutdown_timeout: float = Field(
        default=30.0, ge=0, description="Seconds in-flight handlers get to finish on SIGTERM"
    )
    # Kafka or PostgreSQL still starting (a fresh cluster, a pod scheduled first): wait, saying so
    # once, instead of exiting with a traceback.
    start_timeout: float = Field(
        default=120.0,
        ge=0,
        description="Seconds to wait at start for Kafka and the database to answer (0: forever)",
    )
    revoke_timeout: float = Field(
        default=10.0, ge=0, description="Seconds in-flight handlers get on a rebalance"
    )
    metrics_port: int = Field(
        default=0, ge=0, le=65535, description="Port of the worker's /metrics (0: none)"
    )
    groups: list[str] = Field(
        default_factory=list,
        description="Only these subscriber groups, e.g. billing,audit (default: all)",
    )
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="Where a new group starts: earliest or latest",
    )
    session_timeout_ms: int = Field(
        default=10_000,
        ge=1000,
        description="A crashed worker's partitions move after this long (ms, broker min 6000)",
    )
    # Static group membership: a restarted worker with the same id takes its partitions back
    # without waiting out the session timeout. Empty: the pod name in a Kubernetes StatefulSet,
    # none elsewhere; "off": never (see membership.py).
    group_instance_id: str = Field(
        default="",
        description="Static membership id (empty: the StatefulSet pod name, else none; off)",
    )
    # Set by `bizevents worker --processes N` in each child (0..N-1).
    process_index: int | None = Field(
        default=None, ge=0, description="Set by `bizevents worker --processes N` in each child"
    )
    topic_partitions: int = Field(
        default=0,
        ge=0,
        description="Partitions of new retry/dead-letter/replay topics (0: as the source topic)",
    )
    topic_replication_factor: int = Field(
        default=1,
        ge=1,
        description="Replication factor of the topics bizevents creates (3 in production)",
    )
    topic_timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for created topics to show up"
    )
    metadata_max_age_ms: int = Field(
        default=30_000, ge=1000, description="How soon a topic created after start is noticed (ms)"
    )
    inbox_schema: str = Field(default="bizevents", description="Schema of the inbox table")
    dlq_store: bool = Field(
        default=False,
        description="Also store dead letters in PostgreSQL directly (else `dlq ingest` does)",
    )
    dlq_schema: str = Field(default="bizevents", description="Schema of the dead-letter store")
    inbox_retention_seconds: float = Field(
        default=7 * 24 * 3600, gt=0, description="Inbox rows older than this are deleted"
    )
    inbox_cleanup_interval: float = Field(
        default=600.0, gt=0, description="Seconds between inbox clean-ups"
    )

    def static_member_id(self) -> str | None:
        """This process's `group.instance.id`, or None for dynamic membership."""
        configured = group_instance_id(self.group_instance_id, os.environ)
        return for_process(configured, self.process_index)

    @field_validator("retry_delays")
    @classmethod
    def _positive(cls, delays: list[float]) -> list[float]:
        if any(d <= 0 for d in delays):
            raise ValueError("retry delays must be positive seconds")
        return delays
